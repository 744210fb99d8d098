//! Requests routed to an upstream issuer: the engine checks what it can locally (the
//! key, the terminal, the original and its limits), the host forwards the request,
//! and the upstream's answer (or its absence) is recorded like any other decision.

use crate::issuer::Decline;
use crate::request::{Answer, MsgClass, Request};
use crate::{Engine, Step};
use model::{ResponseCode, TimestampMs, TxnKind, TxnRecord, Write};

/// What the host must do next with a request.
// Begin lives briefly on the stack between the engine and the host; boxing the larger
// variant would cost an allocation per forwarded request for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Begin {
    /// Decided here (a duplicate, a refusal, a local decision).
    Answer(Answer),
    /// Ask the upstream issuer, then call `Engine::finish_forwarded`.
    Forward(Forward),
}

/// A forwarded request's context, carried by the host to `finish_forwarded`.
#[derive(Clone, Debug)]
pub struct Forward {
    pub draft: TxnRecord,
    /// The original a completion, refund or void acts on (the host names it upstream
    /// by its STAN and field 7 in field 90).
    pub original: Option<TxnRecord>,
}

/// What the upstream said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamResult {
    Answered {
        code: ResponseCode,
        auth_code: Option<String>,
        balance_minor: Option<i64>,
    },
    /// Down, or no answer within the timeout (the host reverses it upstream).
    Unavailable,
}

/// What to do when the upstream cannot answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamPolicy {
    /// Decide with the stand-in issuer for cards posguard holds; 91 for the rest.
    StandIn,
    /// Answer 91 (issuer unavailable).
    Decline,
}

impl Engine {
    /// Starts a request whose card routes to the upstream issuer (`routed`), or decides
    /// it here when it does not need the upstream.
    pub fn begin(
        &mut self,
        req: &Request,
        routed: bool,
        now: TimestampMs,
        out: &mut Vec<Write>,
    ) -> Begin {
        if !routed || req.class == MsgClass::Reversal || self.terminal_inactive(&req.terminal_id) {
            return Begin::Answer(self.authorize(req, now, out));
        }
        let mut draft = match self.admit(req, now) {
            Ok(draft) => draft,
            Err(answer) => return Begin::Answer(answer),
        };
        if self
            .state
            .reversed_before_arrival
            .contains_key(&draft.idem_key)
        {
            let step = Step::Declined(ResponseCode::InvalidTransaction, "reversed_before_arrival");
            return Begin::Answer(self.record(draft, step, out));
        }
        let original = match self.check_forwardable(req, &draft) {
            Ok(original) => original,
            Err((code, reason)) => {
                return Begin::Answer(self.record(draft, Step::Declined(code, reason), out));
            }
        };
        if original.as_ref().is_some_and(|o| !o.upstream) {
            // The original was decided here (stand-in): so is what acts on it.
            return Begin::Answer(self.authorize(req, now, out));
        }
        draft.upstream = true;
        self.pending.insert(draft.idem_key.clone());
        Begin::Forward(Forward { draft, original })
    }

    /// The local checks of a forwarded request; returns its original, if it has one.
    fn check_forwardable(
        &self,
        req: &Request,
        draft: &TxnRecord,
    ) -> Result<Option<TxnRecord>, Decline> {
        match (req.class, req.kind) {
            (_, TxnKind::Balance) => Ok(None),
            (MsgClass::Authorization, TxnKind::PreAuth)
            | (MsgClass::Financial | MsgClass::Advice, TxnKind::Purchase) => {
                self.amount(req).map(|_| None)
            }
            (MsgClass::Financial | MsgClass::Advice, TxnKind::Completion) => {
                self.check_completion(req, draft).map(Some)
            }
            (MsgClass::Financial | MsgClass::Advice, TxnKind::Refund) => {
                self.check_refund(req, draft).map(Some)
            }
            (MsgClass::Financial, TxnKind::Void) => self.check_void(req, draft).map(Some),
            _ => Err((
                ResponseCode::InvalidTransaction,
                "kind_not_allowed_for_message",
            )),
        }
    }

    /// Records the upstream's decision on a forwarded request, or, when it could not
    /// answer, decides with the stand-in issuer or answers 91 as `policy` says.
    pub fn finish_forwarded(
        &mut self,
        req: &Request,
        forward: Forward,
        result: UpstreamResult,
        policy: UpstreamPolicy,
        now: TimestampMs,
        out: &mut Vec<Write>,
    ) -> Answer {
        let Forward {
            mut draft,
            original,
        } = forward;
        assert!(self.pending.remove(&draft.idem_key), "finish follows begin");
        match result {
            UpstreamResult::Answered {
                code,
                auth_code,
                balance_minor,
            } => {
                draft.balance_minor = balance_minor;
                let step = if code.is_approved() {
                    self.apply_upstream_approval(req, &mut draft, original.as_ref(), auth_code, now)
                } else {
                    Step::Declined(code, "upstream_declined")
                };
                self.record(draft, step, out)
            }
            UpstreamResult::Unavailable => {
                draft.upstream = false;
                let held = req
                    .card
                    .as_ref()
                    .is_some_and(|c| self.state.cards.contains_key(&c.token));
                let step = match policy {
                    UpstreamPolicy::StandIn if held && original.is_none() => {
                        draft.stand_in = true;
                        self.run_flow(req, &mut draft, now)
                    }
                    _ => Step::Declined(ResponseCode::IssuerUnavailable, "upstream_unavailable"),
                };
                self.record(draft, step, out)
            }
        }
    }

    fn apply_upstream_approval(
        &mut self,
        req: &Request,
        draft: &mut TxnRecord,
        original: Option<&TxnRecord>,
        auth_code: Option<String>,
        now: TimestampMs,
    ) -> Step {
        // The original may have changed while the upstream was asked; check again.
        let original = match original {
            Some(_) => match self.check_forwardable(req, draft) {
                Ok(o) => o,
                Err((code, reason)) => return Step::Declined(code, reason),
            },
            None => None,
        };
        let step = match (req.kind, &original) {
            (TxnKind::Completion, Some(pre)) => self.apply_completion(draft, pre),
            (TxnKind::Refund, Some(sale)) => self.apply_refund(draft, sale),
            (TxnKind::Void, Some(target)) => self.apply_void(draft, target, now),
            (TxnKind::Balance, _) => return Step::Acknowledged { reason: "balance" },
            _ => {
                if draft.kind == TxnKind::Purchase {
                    draft.fee_minor = self.fee_for(draft);
                }
                Step::Approved {
                    legs: self.legs_if_approved(draft),
                    updates: Vec::new(),
                    auth_code: None,
                }
            }
        };
        match step {
            Step::Approved { legs, updates, .. } => Step::Approved {
                legs,
                updates,
                auth_code,
            },
            other => other,
        }
    }
}
