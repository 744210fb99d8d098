//! Reversals (0400/0420): idempotent, matched through field 90 or the reversal's own
//! STAN and field 7, and remembered when they arrive before their original.

use crate::request::{OriginalRef, Request};
use crate::{Engine, Step};
use model::{IdemKey, TxnKind, TxnRecord, TxnStatus};

impl Engine {
    pub(crate) fn reverse(&mut self, req: &Request, draft: &mut TxnRecord) -> Step {
        let original_key = match &req.original {
            Some(OriginalRef::Key { stan, transmitted }) => IdemKey::Iso {
                reversal: false,
                terminal: req.terminal_id.clone(),
                stan: stan.clone(),
                transmitted: transmitted.clone(),
            },
            Some(OriginalRef::Rrn(_)) => return self.reverse_found(req, draft),
            None => IdemKey::Iso {
                reversal: false,
                terminal: req.terminal_id.clone(),
                stan: req.stan.clone(),
                transmitted: req.transmitted.clone(),
            },
        }
        .to_string();
        match self.state.by_key.get(&original_key) {
            Some(id) => {
                let original = self
                    .state
                    .txn(id)
                    .expect("keys point at transactions")
                    .clone();
                self.reverse_original(draft, &original)
            }
            None => {
                draft.original_key = Some(original_key);
                Step::Acknowledged {
                    reason: "original_unknown",
                }
            }
        }
    }

    fn reverse_found(&mut self, req: &Request, draft: &mut TxnRecord) -> Step {
        match self.find_original(req, draft) {
            Ok(original) => self.reverse_original(draft, &original),
            // A reversal is always acknowledged: the terminal must stop resending it.
            Err(_) => Step::Acknowledged {
                reason: "original_unknown",
            },
        }
    }

    fn reverse_original(&mut self, draft: &mut TxnRecord, original: &TxnRecord) -> Step {
        self.adopt_original(draft, original);
        let reversible = original.status == TxnStatus::Approved
            && original.refunded_minor == 0
            && !matches!(original.kind, TxnKind::Balance | TxnKind::Reversal);
        if !reversible {
            return Step::Acknowledged {
                reason: "nothing_to_reverse",
            };
        }
        let legs = self.legs_if_approved(draft);
        let updates = self.undo_updates(original, TxnStatus::Reversed, draft.created_ms);
        Step::Approved {
            legs,
            updates,
            auth_code: None,
        }
    }
}
