//! A load terminal's UnionPay (银联) side: the `terminal` crate's UnionPay terminal
//! behind the run's request kinds. It signs on for its working keys (under its TMK),
//! MACs every request under the MAK and checks every answer's MAC; an answer 77 (sign
//! on again) makes it sign on and send the request again.

use crate::config::UnionPayConfig;
use crate::message::{Answer, MacCheck, Txn};
use crate::mix::Kind;
use iso8583::frame::FrameFormat;
use iso8583::unionpay::{PREAMBLE_BYTES, Preamble, Processing};
use paycrypto::unionpay::KeyLayout;
use paycrypto::{Pin, TdesKey};
use terminal::unionpay::{Kind as UpKind, ReplyError, Txn as UpTxn, UnionPayTerminal};

/// Field 39 asking the terminal to sign on again (with processing requirement 3).
pub(crate) const SIGN_ON_AGAIN: &str = "77";
/// Answers the host sends without a MAC: to a request it could not authenticate (A0
/// wrong MAC, 77 no session) or whose sub-fields it could not read (30).
const UNSIGNED_REFUSALS: [&str; 3] = ["A0", SIGN_ON_AGAIN, "30"];

/// One connection's UnionPay terminal.
pub(crate) struct Device {
    terminal: UnionPayTerminal,
    layout: KeyLayout,
    pin: Pin,
}

impl Device {
    pub(crate) fn new(cfg: &UnionPayConfig, tmk: TdesKey, terminal: &str, merchant: &str) -> Self {
        let mut t = UnionPayTerminal::new(terminal, merchant, tmk, cfg.mac);
        t.batch = format!("{:06}", cfg.batch);
        Device {
            terminal: t,
            layout: cfg.layout,
            pin: cfg.pin.clone(),
        }
    }

    /// The framed sign-on (0800 asking for the run's key layout).
    pub(crate) fn sign_on(&mut self, framing: FrameFormat, out: &mut Vec<u8>) {
        let frame = self.terminal.sign_on(self.layout);
        wrap(framing, &frame, out);
    }

    /// Takes the keys of a sign-on answer (TPDU, header and message); their check
    /// values must verify under the TMK.
    pub(crate) fn accept_sign_on(&mut self, frame: &[u8]) -> Result<String, ReplyError> {
        let reply = self.terminal.accept_sign_on(frame, self.layout)?;
        Ok(reply.code)
    }

    /// The framed request of `txn` (MACed under the session's MAK). A reversal is sent
    /// with its original's trace number, as UnionPay terminals do.
    pub(crate) fn encode(&mut self, txn: &Txn, pan: &str, framing: FrameFormat, out: &mut Vec<u8>) {
        let kind = match txn.kind {
            Kind::Refund => UpKind::Refund,
            Kind::Reversal => UpKind::Reversal,
            _ => UpKind::Purchase,
        };
        let t = UpTxn {
            kind,
            pan,
            amount_minor: txn.amount_minor as i64,
            pin: None,
            original_rrn: match txn.kind {
                Kind::Refund => txn.original.as_ref().map(|o| o.rrn.as_str()),
                _ => None,
            },
            stan: txn.stan.parse().ok(),
        };
        let pin = txn.pin.then_some(&self.pin);
        let frame = self.terminal.transaction_with_pin(&t, pin);
        wrap(framing, &frame, out);
    }

    /// Reads an answer: its preamble must be a UnionPay one and its MAC verify under
    /// the MAK (refusals of unauthenticated requests come without one).
    pub(crate) fn read_answer(
        &self,
        head: &[u8],
        body: &[u8],
        spec: &iso8583::Spec,
    ) -> Result<Answer, iso8583::DecodeError> {
        let msg = spec.decode(body)?;
        let text = |n| msg.field_str(n).map(|v| v.into_owned());
        let code = text(39).unwrap_or_default();
        let preamble = Preamble::parse(head).ok();
        let mac = match self.terminal.reply_mac(&msg, body) {
            Some(true) => MacCheck::Verified,
            Some(false) => MacCheck::Invalid,
            None if UNSIGNED_REFUSALS.contains(&code.as_str()) => MacCheck::UnsignedRefusal,
            None => MacCheck::Missing,
        };
        Ok(Answer {
            mti: msg.mti().into_owned(),
            stan: text(11),
            rrn: text(37),
            // A reply without a readable preamble cannot come from a UnionPay host.
            mac: if preamble.is_some() {
                mac
            } else {
                MacCheck::Invalid
            },
            sign_on_again: code == SIGN_ON_AGAIN
                || preamble.is_some_and(|p| p.processing == Processing::SignOnAgain),
            code,
        })
    }
}

/// Length prefix, then the TPDU and header as the frame's header, then the message.
fn wrap(framing: FrameFormat, frame: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let (head, body) = frame.split_at(PREAMBLE_BYTES.min(frame.len()));
    // The terminal's frames are far below the frame limit and have a whole preamble.
    let framed = framing.write(head, body, out);
    debug_assert!(framed.is_ok(), "{framed:?}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Original;
    use iso8583::frame::LengthPrefix;
    use iso8583::{MessageBuilder, Spec};
    use paycrypto::mac::DesMacScheme;

    fn config() -> UnionPayConfig {
        UnionPayConfig {
            tmks: vec![crate::fixtures::test_tmk(0)],
            layout: KeyLayout::DoubleDes,
            mac: DesMacScheme::UnionPayEcb,
            pin_percent: 10,
            pin: Pin::new("1234").unwrap(),
            batch: 42,
        }
    }

    const FRAMING: FrameFormat = FrameFormat {
        prefix: LengthPrefix::Binary2,
        header_bytes: PREAMBLE_BYTES,
    };

    /// The host's side of a sign-on: fresh keys under the TMK in field 62.
    fn host_sign_on(keys: &paycrypto::unionpay::WorkingKeys) -> Vec<u8> {
        let f62 = keys.to_field62(&crate::fixtures::test_tmk(0), KeyLayout::DoubleDes);
        let mut out = Preamble::terminal([0, 0], [0, 3]).to_bytes().to_vec();
        let mut body = Vec::new();
        MessageBuilder::new()
            .set_mti("0810")
            .set(11, "000001")
            .set(39, "00")
            .set(41, "LU000001")
            .set(60, "00000042003")
            .set_data(62, &f62)
            .encode_into(&Spec::unionpay(), &mut body)
            .unwrap();
        out.extend_from_slice(&body);
        out
    }

    /// A reply signed (or not) under `mak`.
    fn host_reply(code: &str, mak: Option<&TdesKey>) -> Vec<u8> {
        let mut b = MessageBuilder::new();
        b.set_mti("0210")
            .set(11, "000007")
            .set(37, "000000000001")
            .set(39, code)
            .set(41, "LU000001");
        if mak.is_some() {
            b.set_data(64, &[0u8; 8]);
        }
        let mut body = Vec::new();
        b.encode_into(&Spec::unionpay(), &mut body).unwrap();
        if let Some(mak) = mak {
            let end = body.len() - 8;
            let mac = DesMacScheme::UnionPayEcb.compute(mak, &body[..end]);
            body[end..].copy_from_slice(&mac);
        }
        body
    }

    #[test]
    fn signs_on_then_macs_requests_and_checks_answers() {
        let mut d = Device::new(
            &config(),
            crate::fixtures::test_tmk(0),
            "LU000001",
            "LOADGEN00000001",
        );
        let mut out = Vec::new();
        d.sign_on(FRAMING, &mut out);
        let frame = FRAMING.parse(&out).unwrap().unwrap();
        let spec = Spec::unionpay();
        let sent = spec.decode(&out[frame.body]).unwrap();
        assert_eq!(sent.field_str(60).unwrap(), "00000042003");

        let keys = paycrypto::unionpay::WorkingKeys::generate(
            KeyLayout::DoubleDes,
            &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1),
        );
        assert_eq!(d.accept_sign_on(&host_sign_on(&keys)).unwrap(), "00");

        let txn = Txn {
            kind: Kind::Reversal,
            stan: "000007".into(),
            f7: String::new(),
            amount_minor: 1250,
            card: 0,
            original: Some(Original {
                rrn: "000000000001".into(),
                stan: "000007".into(),
                f7: String::new(),
            }),
            security: None,
            pin: false,
        };
        d.encode(&txn, "9991000000000001", FRAMING, &mut out);
        let frame = FRAMING.parse(&out).unwrap().unwrap();
        let body = &out[frame.body.clone()];
        let msg = spec.decode(body).unwrap();
        assert_eq!(
            (msg.mti(), msg.field_str(11).unwrap()),
            ("0400".into(), "000007".into())
        );
        let mac = DesMacScheme::UnionPayEcb.compute(&keys.mak, &body[..body.len() - 8]);
        assert_eq!(msg.field(64).unwrap(), mac);

        let head = Preamble::terminal([0, 0], [0, 3]).to_bytes();
        let read = |body: &[u8]| d.read_answer(&head, body, &spec).unwrap();
        assert_eq!(
            read(&host_reply("00", Some(&keys.mak))).mac,
            MacCheck::Verified
        );
        let other = crate::fixtures::test_tmk(1);
        assert_eq!(read(&host_reply("00", Some(&other))).mac, MacCheck::Invalid);
        assert_eq!(read(&host_reply("00", None)).mac, MacCheck::Missing);
        assert_eq!(read(&host_reply("51", None)).mac, MacCheck::Missing);
        let refused = read(&host_reply("77", None));
        assert_eq!(refused.mac, MacCheck::UnsignedRefusal);
        assert!(refused.sign_on_again);
        assert_eq!(read(&host_reply("A0", None)).mac, MacCheck::UnsignedRefusal);
        // A reply whose TPDU is not UnionPay's is not trusted.
        let mut bad_head = head;
        bad_head[0] = 0x61;
        let answer = d.read_answer(&bad_head, &host_reply("00", Some(&keys.mak)), &spec);
        assert_eq!(answer.unwrap().mac, MacCheck::Invalid);
    }
}
