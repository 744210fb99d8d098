//! A UnionPay-style (银联) terminal: TMK held locally, sign-on receiving PIK/MAK/TDK in
//! field 62, requests with a format-0 PIN block under the PIK and the MAC in field 64,
//! replies checked (MTI + 10, 11 and 41 match, MAC when 39 = 00). Used by tests and
//! loadgen; pure (the caller owns the socket).

use iso8583::unionpay::{PREAMBLE_BYTES, Preamble};
use iso8583::{MessageBuilder, Spec};
use paycrypto::mac::DesMacScheme;
use paycrypto::unionpay::{KeyLayout, WorkingKeys};
use paycrypto::{Pan, Pin, TdesKey};

/// MAC bytes (field 64).
const MAC_BYTES: usize = 8;

/// Why a reply was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    #[error("reply does not decode: {0}")]
    Decode(String),
    #[error("reply does not match the request ({0})")]
    Mismatch(&'static str),
    #[error("reply MAC does not verify")]
    Mac,
    #[error("sign-on keys do not check: {0}")]
    Keys(String),
}

/// A decoded reply: field 39 and the fields a terminal keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: String,
    pub rrn: Option<String>,
    pub f48: Option<String>,
    pub preamble: Preamble,
}

/// What a terminal sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Balance,
    Purchase,
    Void,
    Refund,
    PreAuth,
    PreAuthVoid,
    Completion,
    CompletionNotice,
    /// 0200/20 with 60.1 = 21: the void of an online completion (37 = its RRN).
    CompletionVoid,
    Reversal,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Balance,
        Kind::Purchase,
        Kind::Void,
        Kind::Refund,
        Kind::PreAuth,
        Kind::PreAuthVoid,
        Kind::Completion,
        Kind::CompletionNotice,
        Kind::CompletionVoid,
        Kind::Reversal,
    ];
}

impl Kind {
    /// MTI, processing code, 25, 60.1 (UNIONPAY.md's table).
    fn codes(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Kind::Balance => ("0200", "310000", "00", "01"),
            Kind::Purchase => ("0200", "000000", "00", "22"),
            Kind::Void => ("0200", "200000", "00", "23"),
            Kind::Refund => ("0220", "200000", "00", "25"),
            Kind::PreAuth => ("0100", "030000", "06", "10"),
            Kind::PreAuthVoid => ("0100", "200000", "06", "11"),
            Kind::Completion => ("0200", "000000", "06", "20"),
            Kind::CompletionNotice => ("0220", "000000", "06", "24"),
            Kind::CompletionVoid => ("0200", "200000", "06", "21"),
            Kind::Reversal => ("0400", "000000", "00", "22"),
        }
    }
}

/// One transaction's inputs.
pub struct Txn<'a> {
    pub kind: Kind,
    pub pan: &'a str,
    pub amount_minor: i64,
    pub pin: Option<&'a str>,
    /// The original's RRN (void, refund, completion).
    pub original_rrn: Option<&'a str>,
    /// Reversal: the original's STAN; others take the next one.
    pub stan: Option<u32>,
}

pub struct UnionPayTerminal {
    pub terminal_id: String,
    pub merchant_id: String,
    tmk: TdesKey,
    pub scheme: DesMacScheme,
    pub keys: Option<WorkingKeys>,
    pub batch: String,
    pub stan: u32,
    spec: Spec,
    preamble: Preamble,
}

impl UnionPayTerminal {
    pub fn new(terminal_id: &str, merchant_id: &str, tmk: TdesKey, scheme: DesMacScheme) -> Self {
        UnionPayTerminal {
            terminal_id: terminal_id.into(),
            merchant_id: merchant_id.into(),
            tmk,
            scheme,
            keys: None,
            batch: "000001".into(),
            stan: 0,
            spec: Spec::unionpay(),
            preamble: Preamble::terminal([0x00, 0x03], [0x00, 0x00]),
        }
    }

    pub fn next_stan(&mut self) -> u32 {
        self.stan = self.stan % 999_999 + 1;
        self.stan
    }

    fn frame(&self, body: &[u8]) -> Vec<u8> {
        let mut out = self.preamble.to_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    /// 0800 sign-on asking for `layout`'s keys: TPDU, header and message.
    pub fn sign_on(&mut self, layout: KeyLayout) -> Vec<u8> {
        let stan = format!("{:06}", self.next_stan());
        let f60 = format!("00{}{}", self.batch, layout.network_code());
        let mut b = MessageBuilder::new();
        b.set_mti("0800")
            .set(11, stan.as_str())
            .set(41, self.terminal_id.as_str())
            .set(42, self.merchant_id.as_str())
            .set(60, f60.as_str())
            .set_data(63, b"01 ");
        let mut out = Vec::new();
        b.encode_into(&self.spec, &mut out)
            .expect("a sign-on encodes");
        self.frame(&out)
    }

    /// Takes the keys of a sign-on reply (checking their KCVs under the TMK).
    pub fn accept_sign_on(&mut self, frame: &[u8], layout: KeyLayout) -> Result<Reply, ReplyError> {
        let body = frame
            .get(PREAMBLE_BYTES..)
            .ok_or(ReplyError::Mismatch("short"))?;
        let msg = self
            .spec
            .decode(body)
            .map_err(|e| ReplyError::Decode(e.to_string()))?;
        let reply = self.reply_of(frame, &msg)?;
        if reply.code == "00" {
            let f62 = msg
                .field(62)
                .ok_or(ReplyError::Keys("no field 62".into()))?;
            let keys = WorkingKeys::from_field62(&self.tmk, layout, f62)
                .map_err(|e| ReplyError::Keys(e.to_string()))?;
            self.keys = Some(keys);
            if let Some(f60) = msg.field_str(60) {
                self.batch = f60.get(2..8).unwrap_or("000001").to_owned();
            }
        }
        Ok(reply)
    }

    fn reply_of(&self, frame: &[u8], msg: &iso8583::Message<'_>) -> Result<Reply, ReplyError> {
        let preamble = Preamble::parse(frame).map_err(|e| ReplyError::Decode(e.to_string()))?;
        Ok(Reply {
            code: msg
                .field_str(39)
                .ok_or(ReplyError::Mismatch("no 39"))?
                .into_owned(),
            rrn: msg.field_str(37).map(|r| r.into_owned()),
            f48: msg.field_str(48).map(|r| r.into_owned()),
            preamble,
        })
    }

    /// A 0820 sign-off (002) or echo (301).
    pub fn management(&mut self, code: &str) -> Vec<u8> {
        let stan = format!("{:06}", self.next_stan());
        let f60 = format!("00{}{code}", self.batch);
        let mut b = MessageBuilder::new();
        b.set_mti("0820")
            .set(11, stan.as_str())
            .set(41, self.terminal_id.as_str())
            .set(42, self.merchant_id.as_str())
            .set(60, f60.as_str());
        let mut out = Vec::new();
        b.encode_into(&self.spec, &mut out)
            .expect("management encodes");
        self.frame(&out)
    }

    /// A transaction request, MACed under the MAK (all zeros without a session, which
    /// the host refuses).
    pub fn transaction(&mut self, t: &Txn<'_>) -> Vec<u8> {
        let pin = t.pin.and_then(|p| Pin::new(p).ok());
        self.transaction_with_pin(t, pin.as_ref())
    }

    /// [`Self::transaction`] with the PIN entered (`t.pin` is not read): for callers
    /// that keep PINs in their zeroizing type.
    pub fn transaction_with_pin(&mut self, t: &Txn<'_>, pin: Option<&Pin>) -> Vec<u8> {
        let (mti, proc_code, cond, type_code) = t.kind.codes();
        let stan = format!("{:06}", t.stan.unwrap_or_else(|| self.next_stan()));
        let amount = format!("{:012}", t.amount_minor);
        let f60 = format!("{type_code}{}", self.batch);
        let pin_block = pin.and_then(|p| self.pin_block(t.pan, p));
        let mut b = MessageBuilder::new();
        b.set_mti(mti)
            .set(2, t.pan)
            .set(3, proc_code)
            .set(11, stan.as_str())
            .set(22, if pin.is_some() { "021" } else { "022" })
            .set(25, cond)
            .set(41, self.terminal_id.as_str())
            .set(42, self.merchant_id.as_str())
            .set(49, "156")
            .set(60, f60.as_str());
        if t.kind != Kind::Balance {
            b.set(4, amount.as_str());
        }
        if let Some(rrn) = t.original_rrn {
            b.set(37, rrn);
        }
        if let Some(block) = &pin_block {
            b.set_data(52, block).set(53, "2600000000000000");
        }
        if t.kind == Kind::Reversal {
            b.set(39, "98");
        }
        let zeros = [0u8; MAC_BYTES];
        b.set_data(64, &zeros);
        let mut out = Vec::new();
        b.encode_into(&self.spec, &mut out)
            .expect("a request encodes");
        self.stamp(&mut out);
        self.frame(&out)
    }

    /// A 0500 settlement with these domestic totals.
    pub fn settlement(&mut self, totals: &iso8583::unionpay::Totals) -> Vec<u8> {
        let stan = format!("{:06}", self.next_stan());
        let f60 = format!("00{}201", self.batch);
        let f48 = totals.to_digits();
        let mut b = MessageBuilder::new();
        b.set_mti("0500")
            .set(11, stan.as_str())
            .set(41, self.terminal_id.as_str())
            .set(42, self.merchant_id.as_str())
            .set(48, f48.as_str())
            .set(49, "156")
            .set(60, f60.as_str())
            .set_data(63, b"01 ");
        let zeros = [0u8; MAC_BYTES];
        b.set_data(64, &zeros);
        let mut out = Vec::new();
        b.encode_into(&self.spec, &mut out)
            .expect("a settlement encodes");
        self.stamp(&mut out);
        self.frame(&out)
    }

    /// A 0320 batch upload (201) of one record.
    pub fn batch_upload(&mut self, pan: &str, trace: u32, amount_minor: i64) -> Vec<u8> {
        let stan = format!("{:06}", self.next_stan());
        let f60 = format!("00{}201", self.batch);
        let f48 = format!("0100{:0>20}{trace:06}{amount_minor:012}", pan);
        let mut b = MessageBuilder::new();
        b.set_mti("0320")
            .set(11, stan.as_str())
            .set(41, self.terminal_id.as_str())
            .set(42, self.merchant_id.as_str())
            .set(48, f48.as_str())
            .set(60, f60.as_str())
            .set_data(63, b"CUP");
        let zeros = [0u8; MAC_BYTES];
        b.set_data(64, &zeros);
        let mut out = Vec::new();
        b.encode_into(&self.spec, &mut out)
            .expect("a batch upload encodes");
        self.stamp(&mut out);
        self.frame(&out)
    }

    fn stamp(&self, body: &mut [u8]) {
        let end = body.len() - MAC_BYTES;
        let mac = match &self.keys {
            Some(k) => self.scheme.compute(&k.mak, &body[..end]),
            None => [0u8; MAC_BYTES],
        };
        body[end..].copy_from_slice(&mac);
    }

    fn pin_block(&self, pan: &str, pin: &Pin) -> Option<Vec<u8>> {
        let keys = self.keys.as_ref()?;
        let clear = paycrypto::pinblock::encode_format0(pin, &Pan::new(pan).ok()?).ok()?;
        Some(clear.encrypt(&keys.pik).to_vec())
    }

    /// A reply's MAC (field 64) under the session's MAK: None when the reply has none
    /// (the host signs no refusal of a request it could not authenticate).
    pub fn reply_mac(&self, msg: &iso8583::Message<'_>, body: &[u8]) -> Option<bool> {
        let mac = msg.field(64)?;
        let end = body.len().checked_sub(MAC_BYTES)?;
        let keys = self.keys.as_ref()?;
        Some(self.scheme.compute(&keys.mak, &body[..end]) == mac)
    }

    /// Checks a reply the way terminals do: MTI + 10, 11 and 41 match, MAC when 39 = 00.
    pub fn check_reply(&self, request: &[u8], frame: &[u8]) -> Result<Reply, ReplyError> {
        let body = frame
            .get(PREAMBLE_BYTES..)
            .ok_or(ReplyError::Mismatch("short"))?;
        let req = self
            .spec
            .decode(&request[PREAMBLE_BYTES..])
            .map_err(|e| ReplyError::Decode(e.to_string()))?;
        let msg = self
            .spec
            .decode(body)
            .map_err(|e| ReplyError::Decode(e.to_string()))?;
        let want_mti = format!("{:04}", req.mti().parse::<u32>().unwrap_or(0) + 10);
        if msg.mti() != want_mti {
            return Err(ReplyError::Mismatch("mti"));
        }
        for n in [11, 41] {
            if msg.field(n) != req.field(n) {
                return Err(ReplyError::Mismatch("11 or 41"));
            }
        }
        let reply = self.reply_of(frame, &msg)?;
        if reply.code == "00" {
            let (Some(keys), Some(mac)) = (&self.keys, msg.field(64)) else {
                return Err(ReplyError::Mac);
            };
            let end = body.len() - MAC_BYTES;
            if self.scheme.compute(&keys.mak, &body[..end]) != mac {
                return Err(ReplyError::Mac);
            }
        }
        Ok(reply)
    }
}
