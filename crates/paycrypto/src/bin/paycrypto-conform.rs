//! Conformance driver: reads JSON lines `{"op": "...", ...hex args}` on stdin and writes
//! one JSON line per request: `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
//! Used by conformance/test_paycrypto.py to cross-check against Python oracles. Test
//! keys only: it prints clear keys and PINs by design.

use std::io::{BufRead, Write};

use paycrypto::dukpt_aes::{self, AesKsn, InitialKeyId, KeyType, WorkingKey, WorkingKeyUsage};
use paycrypto::dukpt_tdes::{self, Ksn};
use paycrypto::mac::{self, Padding};
use paycrypto::pinverify::{self, DecimalisationTable, PinOffset, Pvv, ValidationData};
use paycrypto::tr31::{self, Kbpk};
use paycrypto::{AesKey, Bound, KeyUsage, Pan, Pin, TdesKey, hexutil, pinblock};
use serde_json::{Value, json};

type OpResult = Result<Value, String>;

/// Replays caller-supplied bytes as "randomness", so Python controls the fill.
struct Replay(Vec<u8>, usize);

impl rand::RngCore for Replay {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_be_bytes(b)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for d in dst {
            *d = self.0.get(self.1).copied().unwrap_or(0);
            self.1 += 1;
        }
    }
}

fn s<'a>(req: &'a Value, name: &str) -> Result<&'a str, String> {
    req.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string field {name}"))
}

fn bytes(req: &Value, name: &str) -> Result<Vec<u8>, String> {
    hex::decode(s(req, name)?).map_err(|e| format!("{name}: {e}"))
}

fn fixed<const N: usize>(req: &Value, name: &str) -> Result<[u8; N], String> {
    bytes(req, name)?
        .try_into()
        .map_err(|_| format!("{name}: wrong length"))
}

fn e(err: paycrypto::Error) -> String {
    err.to_string()
}

fn h(b: &[u8]) -> String {
    hexutil::encode_upper(b)
}

fn tdes(req: &Value, name: &str) -> Result<TdesKey, String> {
    TdesKey::from_hex(s(req, name)?).map_err(e)
}

fn aes(req: &Value, name: &str) -> Result<AesKey, String> {
    AesKey::from_hex(s(req, name)?).map_err(e)
}

fn pin(req: &Value) -> Result<Pin, String> {
    Pin::new(s(req, "pin")?).map_err(e)
}

fn pan(req: &Value) -> Result<Pan, String> {
    Pan::new(s(req, "pan")?).map_err(e)
}

fn rng(req: &Value) -> Result<Replay, String> {
    Ok(Replay(bytes(req, "rand")?, 0))
}

fn tdes_dukpt(req: &Value, op: &str) -> OpResult {
    let ksn = Ksn::from_hex(s(req, "ksn")?).map_err(e)?;
    if op == "tdes_ipek" {
        let ipek = dukpt_tdes::derive_ipek(&tdes(req, "bdk")?, &ksn).map_err(e)?;
        return Ok(json!({"ipek": h(ipek.key().expose_bytes())}));
    }
    let ipek = dukpt_tdes::Ipek::from_key(tdes(req, "ipek")?).map_err(e)?;
    let txn = dukpt_tdes::derive_transaction_key(&ipek, &ksn).map_err(e)?;
    let raw = |b: Bound<TdesKey>, u| b.require(u).map(|k| h(k.expose_bytes())).map_err(e);
    match op {
        "tdes_key" => Ok(json!({
            "key": h(txn.key().expose_bytes()),
            "pin": raw(txn.pin_key(), KeyUsage::PinEncryption)?,
            "mac_request": raw(txn.mac_request_key(), KeyUsage::Mac)?,
            "mac_response": raw(txn.mac_response_key(), KeyUsage::Mac)?,
            "data_request": raw(txn.data_request_key(), KeyUsage::Data)?,
            "data_response": raw(txn.data_response_key(), KeyUsage::Data)?,
        })),
        "tdes_encrypt_pin" => {
            let k = txn.pin_key();
            let k = k.require(KeyUsage::PinEncryption).map_err(e)?;
            let block = pinblock::encrypt_format0(k, &pin(req)?, &pan(req)?).map_err(e)?;
            Ok(json!({"block": h(&block)}))
        }
        "tdes_decrypt_pin" => {
            let k = txn.pin_key();
            let k = k.require(KeyUsage::PinEncryption).map_err(e)?;
            let p = pinblock::decrypt_format0(k, &fixed(req, "block")?, &pan(req)?).map_err(e)?;
            Ok(json!({"pin": p.expose_ascii().as_str()}))
        }
        _ => Err(format!("unknown op {op}")),
    }
}

fn key_type(name: &str) -> Result<KeyType, String> {
    Ok(match name {
        "TDES2" => KeyType::Tdes2,
        "TDES3" => KeyType::Tdes3,
        "AES128" => KeyType::Aes128,
        "AES192" => KeyType::Aes192,
        "AES256" => KeyType::Aes256,
        "HMAC128" => KeyType::Hmac128,
        "HMAC192" => KeyType::Hmac192,
        "HMAC256" => KeyType::Hmac256,
        _ => return Err(format!("unknown key type {name}")),
    })
}

fn working_usage(name: &str) -> Result<WorkingKeyUsage, String> {
    use WorkingKeyUsage::*;
    Ok(match name {
        "KEK" => KeyEncryption,
        "PIN" => PinEncryption,
        "MAC_GEN" => MacGenerate,
        "MAC_VER" => MacVerify,
        "MAC_BOTH" => MacBoth,
        "ENC" => DataEncrypt,
        "DEC" => DataDecrypt,
        "ENC_DEC" => DataBoth,
        _ => return Err(format!("unknown usage {name}")),
    })
}

fn aes_dukpt(req: &Value, op: &str) -> OpResult {
    if op == "aes_ik" {
        let id = InitialKeyId(fixed(req, "id")?);
        let ik = dukpt_aes::derive_initial_key(&aes(req, "bdk")?, &id);
        return Ok(json!({"ik": h(ik.key().expose_bytes())}));
    }
    let ik = dukpt_aes::AesDukptInitialKey::from_key(aes(req, "ik")?);
    let ksn = AesKsn::from_hex(s(req, "ksn")?).map_err(e)?;
    let txn = dukpt_aes::derive_transaction_key(&ik, &ksn).map_err(e)?;
    if op == "aes_key" {
        return Ok(json!({"key": h(txn.key().expose_bytes())}));
    }
    let usage = working_usage(s(req, "usage")?)?;
    let wk = txn
        .working_key(usage, key_type(s(req, "type")?)?)
        .map_err(e)?;
    let any = [
        KeyUsage::KeyEncryption,
        KeyUsage::PinEncryption,
        KeyUsage::MacGenerate,
        KeyUsage::MacVerify,
        KeyUsage::DataEncrypt,
        KeyUsage::DataDecrypt,
    ];
    let first_ok = |f: &dyn Fn(KeyUsage) -> Option<String>| any.iter().find_map(|&u| f(u));
    let out = match &wk {
        WorkingKey::Tdes(b) => first_ok(&|u| b.require(u).ok().map(|k| h(k.expose_bytes()))),
        WorkingKey::Aes(b) => first_ok(&|u| b.require(u).ok().map(|k| h(k.expose_bytes()))),
        WorkingKey::Hmac(b) => first_ok(&|u| b.require(u).ok().map(|k| h(k.expose_bytes()))),
    };
    Ok(json!({"key": out.ok_or("unbound working key")?}))
}

fn pin_blocks(req: &Value, op: &str) -> OpResult {
    match op {
        "pin_f0_encode" => {
            let b = pinblock::encode_format0(&pin(req)?, &pan(req)?).map_err(e)?;
            Ok(json!({"block": h(b.expose_bytes())}))
        }
        "pin_f3_encode" => {
            let b = pinblock::encode_format3(&pin(req)?, &pan(req)?, &mut rng(req)?).map_err(e)?;
            Ok(json!({"block": h(b.expose_bytes())}))
        }
        "pin_f0_decode" | "pin_f3_decode" | "pin_f1_decode" => {
            let b = pinblock::PinBlock::from_hex(s(req, "block")?).map_err(e)?;
            let p = match op {
                "pin_f0_decode" => pinblock::decode_format0(&b, &pan(req)?),
                "pin_f3_decode" => pinblock::decode_format3(&b, &pan(req)?),
                _ => pinblock::decode_format1(&b),
            }
            .map_err(e)?;
            Ok(json!({"pin": p.expose_ascii().as_str()}))
        }
        "pin_f4_encipher" => {
            let b = pinblock::encipher_format4(
                &aes(req, "key")?,
                &pin(req)?,
                &pan(req)?,
                &mut rng(req)?,
            );
            Ok(json!({"block": h(&b)}))
        }
        "pin_f4_decipher" => {
            let p =
                pinblock::decipher_format4(&aes(req, "key")?, &fixed(req, "block")?, &pan(req)?)
                    .map_err(e)?;
            Ok(json!({"pin": p.expose_ascii().as_str()}))
        }
        _ => Err(format!("unknown op {op}")),
    }
}

fn macs(req: &Value, op: &str) -> OpResult {
    let data = bytes(req, "data")?;
    match op {
        "retail_mac" => {
            let padding = match req.get("padding").and_then(Value::as_u64) {
                Some(1) => Padding::Method1,
                Some(2) => Padding::Method2,
                _ => return Err("padding must be 1 or 2".into()),
            };
            Ok(json!({"mac": h(&mac::retail_mac(&tdes(req, "key")?, &data, padding))}))
        }
        "aes_cmac" => Ok(json!({"mac": h(&mac::aes_cmac(&aes(req, "key")?, &data))})),
        _ => Err(format!("unknown op {op}")),
    }
}

fn pin_verify(req: &Value, op: &str) -> OpResult {
    let pvk = tdes(req, "pvk")?;
    match op {
        "ibm3624_offset" | "ibm3624_verify" => {
            let table = DecimalisationTable::new(s(req, "table")?).map_err(e)?;
            let pad = s(req, "pad")?.chars().next().ok_or("empty pad")?;
            let data = ValidationData::new(s(req, "validation")?, pad).map_err(e)?;
            if op == "ibm3624_offset" {
                let off = pinverify::ibm3624_offset(&pvk, &table, &data, &pin(req)?);
                return Ok(json!({"offset": off.to_ascii()}));
            }
            let offset = PinOffset::new(s(req, "offset")?).map_err(e)?;
            let bound = Bound::new(pvk, KeyUsage::PinVerificationIbm3624);
            let ok = pinverify::ibm3624_verify(&bound, &table, &data, &pin(req)?, &offset).is_ok();
            Ok(json!({"verified": ok}))
        }
        "visa_pvv" | "visa_pvv_verify" => {
            let pvki = s(req, "pvki")?.parse::<u8>().map_err(|x| x.to_string())?;
            if op == "visa_pvv" {
                let pvv = pinverify::visa_pvv(&pvk, &pan(req)?, pvki, &pin(req)?).map_err(e)?;
                return Ok(json!({"pvv": pvv.to_ascii()}));
            }
            let pvv = Pvv::new(s(req, "pvv")?).map_err(e)?;
            let bound = Bound::new(pvk, KeyUsage::PinVerificationVisaPvv);
            let ok = pinverify::visa_pvv_verify(&bound, &pan(req)?, pvki, &pin(req)?, &pvv).is_ok();
            Ok(json!({"verified": ok}))
        }
        _ => Err(format!("unknown op {op}")),
    }
}

fn key_blocks(req: &Value, op: &str) -> OpResult {
    let kbpk_hex = s(req, "kbpk")?;
    let (tk, ak);
    let kbpk = if s(req, "kind")? == "tdes" {
        tk = TdesKey::from_hex(kbpk_hex).map_err(e)?;
        Kbpk::Tdes(&tk)
    } else {
        ak = AesKey::from_hex(kbpk_hex).map_err(e)?;
        Kbpk::Aes(&ak)
    };
    match op {
        "tr31_unwrap" => {
            let u = tr31::unwrap(kbpk, s(req, "block")?).map_err(e)?;
            let hd = &u.header;
            let blocks: Vec<Value> = hd
                .optional_blocks
                .iter()
                .map(|b| json!([b.id, b.data]))
                .collect();
            Ok(json!({
                "key": h(u.expose_bytes()),
                "version": format!("{:?}", hd.version),
                "usage": hd.key_usage,
                "algorithm": hd.algorithm.to_string(),
                "mode": hd.mode_of_use.to_string(),
                "key_version": hd.key_version,
                "exportability": hd.exportability.to_string(),
                "blocks": blocks,
            }))
        }
        "tr31_wrap" => {
            // "header" carries the first 12 characters of the fixed header; length and
            // block count are recomputed by wrap, so only the field characters matter.
            let text = s(req, "header")?;
            if text.len() < 12 || !text.is_ascii() {
                return Err("header must be at least 12 ASCII characters".into());
            }
            let version = match &text[0..1] {
                "B" => tr31::Version::B,
                "D" => tr31::Version::D,
                _ => return Err("bad version".into()),
            };
            let field = |r: std::ops::Range<usize>| &text[r];
            let ch = |i: usize| char::from(text.as_bytes()[i]);
            let mut header = tr31::Header::new(version, field(5..7), ch(7), ch(8));
            header.key_version = field(9..11).to_owned();
            header.exportability = ch(11);
            if let Some(list) = req.get("blocks").and_then(Value::as_array) {
                for b in list {
                    let id = b.get(0).and_then(Value::as_str).ok_or("block id")?;
                    let data = b.get(1).and_then(Value::as_str).ok_or("block data")?;
                    header.optional_blocks.push(tr31::OptionalBlock {
                        id: id.into(),
                        data: data.into(),
                    });
                }
            }
            let key = bytes(req, "key")?;
            let out = tr31::wrap(kbpk, &header, &key, None, &mut rng(req)?).map_err(e)?;
            Ok(json!({"block": out}))
        }
        _ => Err(format!("unknown op {op}")),
    }
}

fn kcv(req: &Value) -> OpResult {
    let k = s(req, "key")?;
    let out = if s(req, "kind")? == "tdes" {
        TdesKey::from_hex(k).map_err(e)?.kcv()
    } else {
        AesKey::from_hex(k).map_err(e)?.kcv()
    };
    Ok(json!({"kcv": out.to_string()}))
}

fn handle(req: &Value) -> OpResult {
    let op = s(req, "op")?;
    match op {
        "tdes_ipek" | "tdes_key" | "tdes_encrypt_pin" | "tdes_decrypt_pin" => tdes_dukpt(req, op),
        "aes_ik" | "aes_key" | "aes_working" => aes_dukpt(req, op),
        o if o.starts_with("pin_") => pin_blocks(req, op),
        "retail_mac" | "aes_cmac" => macs(req, op),
        o if o.starts_with("ibm3624") || o.starts_with("visa") => pin_verify(req, op),
        "tr31_unwrap" | "tr31_wrap" => key_blocks(req, op),
        "kcv" => kcv(req),
        _ => Err(format!("unknown op {op}")),
    }
}

fn try_main() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Value>(&line) {
            Ok(req) => match handle(&req) {
                Ok(mut v) => {
                    v["ok"] = json!(true);
                    v
                }
                Err(msg) => json!({"ok": false, "error": msg}),
            },
            Err(err) => json!({"ok": false, "error": format!("bad JSON: {err}")}),
        };
        writeln!(out, "{reply}")?;
    }
    out.flush()
}

fn main() {
    if let Err(err) = try_main() {
        eprintln!("paycrypto-conform: {err}");
        std::process::exit(1);
    }
}
