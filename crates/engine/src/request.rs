use model::{
    CardToken, IdemKey, MaskedPan, MerchantId, Money, ResponseCode, TerminalId, TxnId, TxnKind,
};

/// The message class, from the MTI's second and third digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgClass {
    /// 01xx: authorization only (pre-authorization, balance).
    Authorization,
    /// 02xx request: financial, money moves now.
    Financial,
    /// 0220: an advice of something the terminal already did (offline sale, completion).
    Advice,
    /// 04xx: reversal or reversal advice.
    Reversal,
}

/// What the host learned about the card, without the card number itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardInput {
    pub token: CardToken,
    pub masked: MaskedPan,
    pub luhn_ok: bool,
    /// YYMM from field 14 or track 2, when the terminal sent it.
    pub expiry: Option<String>,
    /// What the host found when it checked an encrypted PIN the terminal sent.
    pub pin: PinCheck,
    /// POS entry mode (ISO 8583 field 22, e.g. `051` chip, `021` magstripe, `801`
    /// fallback to magstripe, `071` contactless), when the terminal sent it.
    pub entry_mode: Option<String>,
}

/// The outcome of the host's PIN check (the engine never sees a PIN or a key): the
/// stand-in issuer declines 55 unless a PIN that was sent verified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PinCheck {
    /// No PIN was sent (signature, contactless under the CVM limit...).
    #[default]
    NotPresent,
    Verified,
    Incorrect,
    /// A PIN was sent but the card has no PIN verification data.
    Unverifiable,
    /// The PIN block did not decrypt to a valid PIN block.
    Malformed,
}

/// How a message names the transaction it acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginalRef {
    /// posguard's retrieval reference number (field 37 of the original's answer).
    Rrn(TxnId),
    /// STAN and field 7 of the original, from the same terminal (field 90, or the
    /// reversal's own fields when field 90 is absent).
    Key { stan: String, transmitted: String },
}

/// One transaction request, already parsed and validated for format by the host.
#[derive(Clone, Debug)]
pub struct Request {
    pub mti: String,
    pub class: MsgClass,
    pub kind: TxnKind,
    pub key: IdemKey,
    pub terminal_id: TerminalId,
    pub merchant_id: Option<MerchantId>,
    pub stan: String,
    pub transmitted: String,
    pub card: Option<CardInput>,
    pub amount: Option<Money>,
    pub original: Option<OriginalRef>,
    /// Where the terminal says it is (microdegrees of latitude, longitude), for mobile
    /// terminals' risk features.
    pub location: Option<(i32, i32)>,
    /// The operator (cashier) logged in on the terminal, for per-operator risk features;
    /// printable ASCII, at most [`OPERATOR_LEN_MAX`] characters.
    pub operator: Option<String>,
}

/// Longest operator id a terminal or the API may send (characters).
pub const OPERATOR_LEN_MAX: usize = 20;

/// The engine's answer. A decline is an answer, not an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub code: ResponseCode,
    /// The recorded transaction; `None` when the request was refused before it could
    /// be recorded (unknown terminal, a key reused with a different amount...).
    pub txn_id: Option<TxnId>,
    pub auth_code: Option<String>,
    pub balance_minor: Option<i64>,
    /// The answer repeats the one given to an earlier request with the same key.
    pub duplicate: bool,
    pub reason: &'static str,
    /// When this reversal undid a transaction the upstream issuer authorized: that
    /// original, for the host to send the reversal upstream too.
    pub reverse_upstream: Option<TxnId>,
}

impl Answer {
    pub fn refused(code: ResponseCode, reason: &'static str) -> Answer {
        Answer {
            code,
            txn_id: None,
            auth_code: None,
            balance_minor: None,
            duplicate: false,
            reason,
            reverse_upstream: None,
        }
    }
}

/// A terminal's totals for its open batch (0500), as it counted them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BatchTotals {
    pub debit_count: i64,
    pub debit_minor: i64,
    pub credit_count: i64,
    pub credit_minor: i64,
}
