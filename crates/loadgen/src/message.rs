//! The messages a simulated terminal sends, and the few answer fields it reads.
//! Pure: no sockets, no clock (field 7 comes in as text).

use crate::mix::Kind;
use iso8583::frame::{FrameFormat, LengthPrefix};
use iso8583::{EncodeError, MessageBuilder, Spec};
use std::sync::Arc;
use terminal::{PendingResponse, TerminalError, Transaction};

/// Original data elements (field 90) after MTI, STAN and field 7: acquirer and
/// forwarding institution ids, which posguard does not use.
const F90_TRAILER: &str = "0000000000000000000000";
/// POS entry mode (field 22): contactless chip, no PIN entry capability, as most
/// card-present sales are read (a load of manual key entries would be a risk pattern).
const ENTRY_MODE: &str = "072";
/// POS entry mode of a DUKPT terminal: chip, with a PIN pad.
const ENTRY_MODE_PIN_PAD: &str = "051";

/// What a request refers to: a recent approved purchase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Original {
    pub rrn: String,
    pub stan: String,
    pub f7: String,
}

/// A financial request as the terminal keeps it until it is answered: enough to send
/// it again, byte for byte, as a repeat (only the MTI and so the MAC change).
#[derive(Clone, Debug)]
pub(crate) struct Txn {
    /// Purchase, Refund or Reversal.
    pub kind: Kind,
    pub stan: String,
    /// Transmission date and time, MMDDhhmmss UTC.
    pub f7: String,
    pub amount_minor: u64,
    /// Index into the run's cards.
    pub card: usize,
    pub original: Option<Original>,
    /// The DUKPT KSN, PIN block and MAC keys every sending of this request uses.
    pub security: Option<Arc<Transaction>>,
    /// UnionPay runs: the request carries a PIN block (under the session's PIK).
    pub pin: bool,
}

/// What every message of one terminal shares.
#[derive(Clone, Debug)]
pub(crate) struct Station {
    pub spec: Spec,
    pub framing: FrameFormat,
    /// Field 41, padded to its 8 characters.
    pub terminal: String,
    /// Field 42, padded to its 15 characters.
    pub merchant: Option<String>,
    pub currency: String,
}

/// Bad frames, each answered differently by a correct host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadFrame {
    /// A readable MTI, then a bitmap that is not hex: answered 30.
    Garbage,
    /// A real request cut short: the bitmap announces fields that are missing;
    /// answered 30.
    Truncated,
    /// A length prefix the link refuses: the host closes the connection.
    BadLength,
}

impl Station {
    /// The framed request, as first sent (`repeat` false) or repeated (MTI x2x1); for a
    /// DUKPT request, signed, with what verifies its answer.
    pub(crate) fn encode(
        &self,
        txn: &Txn,
        pan: (&str, &str),
        repeat: bool,
        out: &mut Vec<u8>,
    ) -> Result<Option<PendingResponse>, TerminalError> {
        let mti = match (txn.kind, repeat) {
            (Kind::Reversal, false) => "0400",
            (Kind::Reversal, true) => "0401",
            (_, false) => "0200",
            (_, true) => "0201",
        };
        let proc_code = if txn.kind == Kind::Refund {
            "200000"
        } else {
            "000000"
        };
        let amount = format!("{:012}", txn.amount_minor);
        let mut msg = MessageBuilder::new();
        msg.set_mti(mti)
            .set(2, pan.0)
            .set(3, proc_code)
            .set(4, amount.as_str())
            .set(7, txn.f7.as_str())
            .set(11, txn.stan.as_str())
            .set(14, pan.1)
            .set(
                22,
                match txn.security {
                    Some(_) => ENTRY_MODE_PIN_PAD,
                    None => ENTRY_MODE,
                },
            )
            .set(41, self.terminal.as_str())
            .set(49, self.currency.as_str());
        if let Some(m) = &self.merchant {
            msg.set(42, m.as_str());
        }
        let f90;
        match (&txn.original, txn.kind) {
            (Some(o), Kind::Refund) => {
                msg.set(37, o.rrn.as_str());
            }
            (Some(o), Kind::Reversal) => {
                f90 = format!("0200{}{}{F90_TRAILER}", o.stan, o.f7);
                msg.set(90, f90.as_str());
            }
            _ => {}
        }
        let Some(security) = &txn.security else {
            self.frame(&msg, out)?;
            return Ok(None);
        };
        let mut body = Vec::with_capacity(256);
        let pending = security.sign_request(&mut msg, &self.spec, &mut body)?;
        self.wrap(&body, out);
        Ok(Some(pending))
    }

    fn frame(&self, msg: &MessageBuilder<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut body = Vec::with_capacity(256);
        msg.encode_into(&self.spec, &mut body)?;
        self.wrap(&body, out);
        Ok(())
    }

    fn wrap(&self, body: &[u8], out: &mut Vec<u8>) {
        out.clear();
        let header = vec![0u8; self.framing.header_bytes];
        // Bodies here are far below the frame limit, so writing cannot fail.
        let framed = self.framing.write(&header, body, out);
        debug_assert!(framed.is_ok(), "{framed:?}");
    }

    /// A bad frame of the given sort; `sample` is a well-formed request to damage.
    pub(crate) fn bad_frame(
        &self,
        which: BadFrame,
        sample: &Txn,
        pan: (&str, &str),
        out: &mut Vec<u8>,
    ) -> Result<(), TerminalError> {
        match which {
            BadFrame::Garbage => self.wrap(b"0200ZZZZZZZZZZZZZZZZ0000", out),
            BadFrame::Truncated => {
                self.encode(sample, pan, false, out)?;
                let cut = out.len() - 12;
                let body =
                    out[self.framing.prefix.width() + self.framing.header_bytes..cut].to_vec();
                self.wrap(&body, out);
            }
            BadFrame::BadLength => {
                out.clear();
                match self.framing.prefix {
                    LengthPrefix::Binary2 => out.extend_from_slice(&[0xFF, 0xFF]),
                    LengthPrefix::Ascii4 => out.extend_from_slice(b"ZZZZ"),
                }
                out.extend_from_slice(b"0200garbage");
            }
        }
        Ok(())
    }
}

/// Answers of the security gate (docs/terminal-security.md): 58 (terminal, KSN,
/// transport) and 63 (MAC, counter).
const SECURITY_REFUSALS: [&str; 2] = ["58", "63"];

/// What the response MAC check found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum MacCheck {
    /// A plain request: no MAC expected.
    #[default]
    NotExpected,
    Verified,
    /// A security refusal (58 or 63) without a MAC: the host does not sign answers to
    /// requests whose keys it could not trust.
    UnsignedRefusal,
    /// Any other answer to a DUKPT request without a MAC.
    Missing,
    /// A MAC that does not verify under the request's KSN (or is malformed).
    Invalid,
}

/// The answer fields the terminal acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Answer {
    pub mti: String,
    pub stan: Option<String>,
    pub rrn: Option<String>,
    pub code: String,
    pub mac: MacCheck,
    /// UnionPay: the host asked the terminal to sign on again (77 or processing 3).
    pub sign_on_again: bool,
}

/// How an answer is checked: as the request was protected.
#[derive(Clone, Copy)]
pub(crate) enum Check<'a> {
    Plain,
    /// The DUKPT request's KSN verifies the answer's MAC.
    Dukpt(&'a PendingResponse),
    /// The UnionPay terminal's session MAK verifies it.
    UnionPay(&'a crate::unionpay::Device),
}

/// Reads an answer (`head`: the frame's fixed header, the UnionPay TPDU and header)
/// and checks it as `check` says.
pub(crate) fn read_answer(
    spec: &Spec,
    head: &[u8],
    body: &[u8],
    check: Check<'_>,
) -> Result<Answer, iso8583::DecodeError> {
    let pending = match check {
        Check::Plain => None,
        Check::Dukpt(p) => Some(p),
        Check::UnionPay(device) => return device.read_answer(head, body, spec),
    };
    let msg = spec.decode(body)?;
    let text = |n| msg.field_str(n).map(|v| v.into_owned());
    let code = text(39).unwrap_or_default();
    let mac = match pending.map(|p| p.verify_response(&msg)) {
        None => MacCheck::NotExpected,
        Some(Ok(())) => MacCheck::Verified,
        Some(Err(TerminalError::MacMissing)) if SECURITY_REFUSALS.contains(&code.as_str()) => {
            MacCheck::UnsignedRefusal
        }
        Some(Err(TerminalError::MacMissing)) => MacCheck::Missing,
        Some(Err(_)) => MacCheck::Invalid,
    };
    Ok(Answer {
        mti: msg.mti().into_owned(),
        stan: text(11),
        rrn: text(37),
        code,
        mac,
        sign_on_again: false,
    })
}

/// Field 7 (MMDDhhmmss, UTC) for a time in whole seconds since the Unix epoch.
pub(crate) fn transmission_time(unix_secs: u64) -> String {
    model::time::transmission_time(unix_secs as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paycrypto::{Pan, Pin};
    use terminal::{DukptTerminal, MacField, PinEntry, Scheme};

    fn station() -> Station {
        Station {
            spec: Spec::posguard_ascii(),
            framing: FrameFormat::default(),
            terminal: "LG000001".into(),
            merchant: Some("LOADGEN00000001".into()),
            currency: "156".into(),
        }
    }

    fn body(out: &[u8]) -> &[u8] {
        &out[2..]
    }

    const PAN: (&str, &str) = ("9990000000000007", "3012");

    #[test]
    fn reversals_and_refunds_name_their_original() {
        let s = station();
        let original = Original {
            rrn: "000000000042".into(),
            stan: "000007".into(),
            f7: "1122083000".into(),
        };
        let mut out = Vec::new();
        let reversal = Txn {
            kind: Kind::Reversal,
            stan: "000009".into(),
            f7: "1122083005".into(),
            amount_minor: 1250,
            card: 0,
            original: Some(original.clone()),
            security: None,
            pin: false,
        };
        s.encode(&reversal, PAN, true, &mut out).unwrap();
        let msg = s.spec.decode(body(&out)).unwrap();
        assert_eq!(msg.mti(), "0401");
        let f90 = msg.field_str(90).unwrap();
        assert_eq!(f90, "02000000071122083000".to_owned() + F90_TRAILER);
        let refund = Txn {
            kind: Kind::Refund,
            ..reversal
        };
        s.encode(&refund, PAN, false, &mut out).unwrap();
        let msg = s.spec.decode(body(&out)).unwrap();
        assert_eq!(
            [
                msg.mti(),
                msg.field_str(3).unwrap(),
                msg.field_str(37).unwrap()
            ],
            ["0200", "200000", "000000000042"]
        );
        assert_eq!(msg.field_str(4).unwrap(), "000000001250");
    }

    #[test]
    fn bad_frames_do_not_decode() {
        let s = station();
        let sample = Txn {
            kind: Kind::Purchase,
            stan: "000001".into(),
            f7: "1122083000".into(),
            amount_minor: 1,
            card: 0,
            original: None,
            security: None,
            pin: false,
        };
        let mut out = Vec::new();
        for which in [BadFrame::Garbage, BadFrame::Truncated] {
            s.bad_frame(which, &sample, PAN, &mut out).unwrap();
            let frame = s.framing.parse(&out).unwrap().unwrap();
            assert_eq!(frame.consumed, out.len());
            assert!(s.spec.decode(&out[frame.body]).is_err(), "{which:?}");
            assert_eq!(&body(&out)[..4], b"0200");
        }
        s.bad_frame(BadFrame::BadLength, &sample, PAN, &mut out)
            .unwrap();
        assert!(s.framing.parse(&out).is_err());
    }

    /// A response as the host signs it: retail MAC under the KSN's response variant.
    fn host_response(ksn_hex: &str, code: &str, stan: &str) -> Vec<u8> {
        use paycrypto::dukpt_tdes::{Ksn, derive_ipek, derive_transaction_key};
        let terminal::Bdk::Tdes(bdk) = crate::fixtures::test_bdk(Scheme::Tdes) else {
            unreachable!("a TDES BDK")
        };
        let ksn = Ksn::from_hex(ksn_hex).unwrap();
        let key = derive_transaction_key(&derive_ipek(&bdk, &ksn).unwrap(), &ksn).unwrap();
        let spec = Spec::posguard_ascii();
        let mut out = Vec::new();
        MessageBuilder::new()
            .set_mti("0210")
            .set(11, stan)
            .set(39, code)
            .set(64, "0000000000000000")
            .encode_into(&spec, &mut out)
            .unwrap();
        let n = out.len() - 16;
        let mac_key = key.mac_response_key();
        let mac_key = mac_key.require(paycrypto::KeyUsage::MacVerify).unwrap();
        let mac = paycrypto::mac::x9_19_mac(mac_key, &out[..n]);
        out[n..].copy_from_slice(hex::encode_upper(mac).as_bytes());
        out
    }

    #[test]
    fn dukpt_requests_are_signed_and_answers_checked() {
        let s = station();
        let key_id = crate::fixtures::key_id(Scheme::Tdes, 0).unwrap();
        let mut device =
            DukptTerminal::from_bdk(&crate::fixtures::test_bdk(Scheme::Tdes), &key_id).unwrap();
        let (pin, pan) = (Pin::new("1234").unwrap(), Pan::new(PAN.0).unwrap());
        let entry = PinEntry {
            pin: &pin,
            pan: &pan,
        };
        let mut rng = crate::rng::SplitMix64::new(1);
        let security = device
            .next_transaction(Some(entry), MacField::F64, &mut rng)
            .unwrap();
        let txn = Txn {
            kind: Kind::Purchase,
            stan: "000001".into(),
            f7: "1122083000".into(),
            amount_minor: 1250,
            card: 0,
            original: None,
            security: Some(Arc::new(security)),
            pin: false,
        };
        let mut out = Vec::new();
        let pending = s.encode(&txn, PAN, false, &mut out).unwrap().unwrap();
        let first = body(&out).to_vec();
        let msg = s.spec.decode(&first).unwrap();
        assert_eq!(msg.field_str(62).unwrap(), "FFFF4C47310000000001");
        assert_eq!(msg.field_str(22).unwrap(), ENTRY_MODE_PIN_PAD);
        assert_eq!(
            (msg.field(52).unwrap().len(), msg.fields().last()),
            (16, Some(64))
        );
        // The repeat: same KSN and PIN block, MTI 0201, so another MAC.
        s.encode(&txn, PAN, true, &mut out).unwrap();
        let again = s.spec.decode(body(&out)).unwrap();
        assert_eq!(again.mti(), "0201");
        assert_eq!(
            (again.field(62), again.field(52)),
            (msg.field(62), msg.field(52))
        );
        assert_ne!(again.field(64), msg.field(64));

        let answer = host_response("FFFF4C47310000000001", "00", "000001");
        let check = |body: &[u8], pending: Option<&PendingResponse>| {
            let check = pending.map_or(Check::Plain, Check::Dukpt);
            read_answer(&s.spec, &[], body, check).unwrap().mac
        };
        assert_eq!(check(&answer, Some(&pending)), MacCheck::Verified);
        assert_eq!(check(&answer, None), MacCheck::NotExpected);
        let mut tampered = answer.clone();
        let last_before_mac = tampered.len() - 17;
        tampered[last_before_mac] = b'9';
        assert_eq!(check(&tampered, Some(&pending)), MacCheck::Invalid);
        let other_ksn = host_response("FFFF4C47310000000002", "00", "000001");
        assert_eq!(check(&other_ksn, Some(&pending)), MacCheck::Invalid);
        let mut plain = Vec::new();
        MessageBuilder::new()
            .set_mti("0210")
            .set(39, "58")
            .encode_into(&s.spec, &mut plain)
            .unwrap();
        assert_eq!(check(&plain, Some(&pending)), MacCheck::UnsignedRefusal);
        let mut approval = Vec::new();
        MessageBuilder::new()
            .set_mti("0210")
            .set(39, "00")
            .encode_into(&s.spec, &mut approval)
            .unwrap();
        assert_eq!(check(&approval, Some(&pending)), MacCheck::Missing);
    }

    #[test]
    fn field_7_is_utc_month_day_and_time() {
        // 2024-02-29 23:59:58 UTC
        assert_eq!(transmission_time(1_709_251_198), "0229235958");
        assert_eq!(transmission_time(0), "0101000000");
    }
}
