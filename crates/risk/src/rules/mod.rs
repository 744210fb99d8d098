//! Rules risk officers write: loading, checking, evaluating.

mod decision;
mod set;
mod spec;
mod text;

pub use decision::{Action, Decision, Reason, RuleFault, evaluate};
pub use set::{RULES_MAX, RuleSet};
pub use spec::{Mode, Rule, RuleAction, RuleSpec, SCORE_MAX, Severity};
pub use text::RULE_FILE_LEN_MAX_BYTES;
