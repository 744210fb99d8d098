//! The journal's encoding of a batch: postcard, laid out exactly as `Vec<Write>`
//! encodes, through mirrors of `Write` that the journal owns.
//!
//! postcard is not self-describing: a field that serde skips when serializing is not
//! there to read back, and decoding the record then fails (at recovery, when it is too
//! late). `RuleHit` skips an absent `error` (for the API's JSON), so a decision is
//! written and read here through `DecisionOut`/`DecisionIn`, which keep every field.
//! Every other write is its model type as is; `tests` checks that each one, optional
//! fields unset, comes back equal. The mirrors list `Write`'s variants in its order
//! (postcard writes the variant's index), and the conversions match exhaustively, so a
//! new variant in the model does not compile here until it is given its place.

use model::{
    Alert, ApiToken, Card, Case, CaseEvent, Entry, FraudLabel, Merchant, RiskDecision, RuleHit,
    Settlement, Terminal, TimestampMs, TxnContext, TxnId, TxnRecord, TxnUpdate, Write,
};
use serde::{Deserialize, Serialize};

/// A batch as a journal record's payload.
pub(super) fn encode(batch: &[Write]) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(&Batch(batch))
}

/// Serializes as `Vec<WriteOut>` would, each mirror made as it is written.
struct Batch<'a>(&'a [Write]);

impl Serialize for Batch<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(WriteOut::from))
    }
}

/// A record's payload as the batch it was; an error if it is not one, in full.
pub(super) fn decode(payload: &[u8]) -> Result<Vec<Write>, postcard::Error> {
    let (writes, rest): (Vec<WriteIn>, &[u8]) = postcard::take_from_bytes(payload)?;
    if !rest.is_empty() {
        return Err(postcard::Error::DeserializeBadEncoding);
    }
    Ok(writes.into_iter().map(Write::from).collect())
}

#[derive(Serialize)]
#[serde(rename = "Write")]
enum WriteOut<'a> {
    Merchant(&'a Merchant),
    Terminal(&'a Terminal),
    Card(&'a Card),
    Txn(&'a TxnRecord),
    TxnUpdate(&'a TxnUpdate),
    Entries(&'a [Entry]),
    Settlement(&'a Settlement),
    ApiToken(&'a ApiToken),
    Meta { key: &'a str, value: &'a str },
    Decision(DecisionOut<'a>),
    Alert(&'a Alert),
    Case(&'a Case),
    CaseEvent(&'a CaseEvent),
    Label(&'a FraudLabel),
    TxnContext(&'a TxnContext),
}

#[derive(Deserialize)]
#[serde(rename = "Write")]
enum WriteIn {
    Merchant(Merchant),
    Terminal(Terminal),
    Card(Card),
    Txn(TxnRecord),
    TxnUpdate(TxnUpdate),
    Entries(Vec<Entry>),
    Settlement(Settlement),
    ApiToken(ApiToken),
    Meta { key: String, value: String },
    Decision(DecisionIn),
    Alert(Alert),
    Case(Case),
    CaseEvent(CaseEvent),
    Label(FraudLabel),
    TxnContext(TxnContext),
}

impl<'a> From<&'a Write> for WriteOut<'a> {
    fn from(w: &'a Write) -> WriteOut<'a> {
        match w {
            Write::Merchant(x) => WriteOut::Merchant(x),
            Write::Terminal(x) => WriteOut::Terminal(x),
            Write::Card(x) => WriteOut::Card(x),
            Write::Txn(x) => WriteOut::Txn(x),
            Write::TxnUpdate(x) => WriteOut::TxnUpdate(x),
            Write::Entries(x) => WriteOut::Entries(x),
            Write::Settlement(x) => WriteOut::Settlement(x),
            Write::ApiToken(x) => WriteOut::ApiToken(x),
            Write::Meta { key, value } => WriteOut::Meta { key, value },
            Write::Decision(x) => WriteOut::Decision(DecisionOut::from(&**x)),
            Write::Alert(x) => WriteOut::Alert(x),
            Write::Case(x) => WriteOut::Case(x),
            Write::CaseEvent(x) => WriteOut::CaseEvent(x),
            Write::Label(x) => WriteOut::Label(x),
            Write::TxnContext(x) => WriteOut::TxnContext(x),
        }
    }
}

impl From<WriteIn> for Write {
    fn from(w: WriteIn) -> Write {
        match w {
            WriteIn::Merchant(x) => Write::Merchant(x),
            WriteIn::Terminal(x) => Write::Terminal(x),
            WriteIn::Card(x) => Write::Card(x),
            WriteIn::Txn(x) => Write::Txn(x),
            WriteIn::TxnUpdate(x) => Write::TxnUpdate(x),
            WriteIn::Entries(x) => Write::Entries(x),
            WriteIn::Settlement(x) => Write::Settlement(x),
            WriteIn::ApiToken(x) => Write::ApiToken(x),
            WriteIn::Meta { key, value } => Write::Meta { key, value },
            WriteIn::Decision(x) => Write::Decision(Box::new(x.into())),
            WriteIn::Alert(x) => Write::Alert(x),
            WriteIn::Case(x) => Write::Case(x),
            WriteIn::CaseEvent(x) => Write::CaseEvent(x),
            WriteIn::Label(x) => Write::Label(x),
            WriteIn::TxnContext(x) => Write::TxnContext(x),
        }
    }
}

/// `RiskDecision` with every field of its rule hits always present.
#[derive(Serialize)]
struct DecisionOut<'a> {
    txn_id: TxnId,
    score: u16,
    action: &'a str,
    response_code: Option<&'a str>,
    reasons: Vec<HitOut<'a>>,
    shadow_hits: Vec<HitOut<'a>>,
    errors: Vec<HitOut<'a>>,
    tags: &'a [String],
    rule_set_version: u64,
    engine_failed: bool,
    decided_ms: TimestampMs,
}

#[derive(Deserialize)]
struct DecisionIn {
    txn_id: TxnId,
    score: u16,
    action: String,
    response_code: Option<String>,
    reasons: Vec<HitIn>,
    shadow_hits: Vec<HitIn>,
    errors: Vec<HitIn>,
    tags: Vec<String>,
    rule_set_version: u64,
    engine_failed: bool,
    decided_ms: TimestampMs,
}

#[derive(Serialize)]
struct HitOut<'a> {
    rule_id: &'a str,
    version: u32,
    severity: &'a str,
    score: u16,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
struct HitIn {
    rule_id: String,
    version: u32,
    severity: String,
    score: u16,
    error: Option<String>,
}

fn hits_out(hits: &[RuleHit]) -> Vec<HitOut<'_>> {
    hits.iter()
        .map(|h| {
            let RuleHit {
                rule_id,
                version,
                severity,
                score,
                error,
            } = h;
            HitOut {
                rule_id,
                version: *version,
                severity,
                score: *score,
                error: error.as_deref(),
            }
        })
        .collect()
}

fn hits_in(hits: Vec<HitIn>) -> Vec<RuleHit> {
    hits.into_iter()
        .map(|h| RuleHit {
            rule_id: h.rule_id,
            version: h.version,
            severity: h.severity,
            score: h.score,
            error: h.error,
        })
        .collect()
}

impl<'a> From<&'a RiskDecision> for DecisionOut<'a> {
    fn from(d: &'a RiskDecision) -> DecisionOut<'a> {
        // Spelled out so that a field added to the model does not compile until it is here.
        let RiskDecision {
            txn_id,
            score,
            action,
            response_code,
            reasons,
            shadow_hits,
            errors,
            tags,
            rule_set_version,
            engine_failed,
            decided_ms,
        } = d;
        DecisionOut {
            txn_id: *txn_id,
            score: *score,
            action,
            response_code: response_code.as_deref(),
            reasons: hits_out(reasons),
            shadow_hits: hits_out(shadow_hits),
            errors: hits_out(errors),
            tags,
            rule_set_version: *rule_set_version,
            engine_failed: *engine_failed,
            decided_ms: *decided_ms,
        }
    }
}

impl From<DecisionIn> for RiskDecision {
    fn from(d: DecisionIn) -> RiskDecision {
        RiskDecision {
            txn_id: d.txn_id,
            score: d.score,
            action: d.action,
            response_code: d.response_code,
            reasons: hits_in(d.reasons),
            shadow_hits: hits_in(d.shadow_hits),
            errors: hits_in(d.errors),
            tags: d.tags,
            rule_set_version: d.rule_set_version,
            engine_failed: d.engine_failed,
            decided_ms: d.decided_ms,
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use model::{Currency, MerchantId};

    fn hit(rule: &str, error: Option<&str>) -> RuleHit {
        RuleHit {
            rule_id: rule.into(),
            version: 2,
            severity: "high".into(),
            score: 300,
            error: error.map(str::to_owned),
        }
    }

    /// One of each risk write, with optional fields both set and unset.
    pub(in crate::journal) fn risk_writes() -> Vec<Write> {
        let decision = |txn: u64, error: Option<&str>| {
            Write::Decision(Box::new(RiskDecision {
                txn_id: TxnId(txn),
                score: 700,
                action: "decline".into(),
                response_code: error.is_none().then(|| "59".into()),
                reasons: vec![hit("velocity", None), hit("amount", None)],
                shadow_hits: vec![hit("new_rule", None)],
                errors: vec![hit("geo", error)],
                tags: vec!["card_testing".into()],
                rule_set_version: 4,
                engine_failed: error.is_some(),
                decided_ms: 1_000,
            }))
        };
        vec![
            decision(1, None),
            decision(2, Some("no location")),
            Write::Alert(Alert {
                id: 1,
                created_ms: 1_000,
                txn_id: TxnId(1),
                severity: "high".into(),
                score: 700,
                action: "decline".into(),
                rules: vec!["velocity".into()],
                card_token: None,
                terminal_id: "T1".into(),
                merchant_id: "M1".into(),
                case_id: 1,
            }),
            Write::Case(Case {
                id: 1,
                entity_kind: "card".into(),
                entity_id: "tok1".into(),
                status: "open".into(),
                severity: "high".into(),
                assignee: None,
                outcome: Some("fraud".into()),
                alert_count: 1,
                opened_ms: 1_000,
                updated_ms: 1_000,
            }),
            Write::CaseEvent(CaseEvent {
                id: 1,
                case_id: 1,
                at_ms: 1_000,
                actor: "posguard".into(),
                action: "opened".into(),
                detail: String::new(),
            }),
            Write::Label(FraudLabel {
                txn_id: TxnId(1),
                fraud: true,
                at_ms: 2_000,
                source: "case:1".into(),
            }),
            Write::Meta {
                key: "k".into(),
                value: "v".into(),
            },
            Write::TxnContext(TxnContext {
                txn_id: TxnId(1),
                entry_mode: Some("801".into()),
                location: Some((39_904_200, -116_407_400)),
                operator: Some("01".into()),
            }),
            Write::TxnContext(TxnContext {
                txn_id: TxnId(2),
                entry_mode: None,
                location: None,
                operator: None,
            }),
        ]
    }

    fn merchant() -> Write {
        Write::Merchant(Merchant {
            id: MerchantId("M1".into()),
            name: "shop".into(),
            mcc: "5411".into(),
            currency: Currency::CNY,
            fee_bps: 60,
        })
    }

    #[test]
    fn every_write_decodes_as_it_was() {
        let mut batch = risk_writes();
        batch.push(merchant());
        batch.push(Write::Entries(Vec::new()));
        batch.push(Write::TxnUpdate(TxnUpdate {
            id: TxnId(3),
            status: model::TxnStatus::Voided,
            refunded_minor: 5,
        }));
        let bytes = encode(&batch).unwrap();
        assert_eq!(decode(&bytes).unwrap(), batch);
        assert_eq!(decode(&[]).ok(), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err(), "a payload is one batch, in full");
    }

    /// Journals written before the mirrors (and by model-derived postcard) still read.
    #[test]
    fn writes_without_decisions_encode_as_the_model_does() {
        let batch: Vec<Write> = risk_writes()
            .into_iter()
            .filter(|w| !matches!(w, Write::Decision(_)))
            .chain([merchant(), Write::Entries(Vec::new())])
            .collect();
        let model_bytes = postcard::to_allocvec(&batch).unwrap();
        assert_eq!(encode(&batch).unwrap(), model_bytes);
        assert_eq!(decode(&model_bytes).unwrap(), batch);
    }
}
