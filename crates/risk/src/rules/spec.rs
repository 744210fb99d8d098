//! A rule as risk officers write it (text file or API object) and as it runs (compiled).

use std::fmt;
use std::sync::Arc;

use model::ResponseCode;
use serde::{Deserialize, Serialize};

use crate::dsl::Condition;

/// Highest score contribution of a rule, and the cap of a decision's score.
pub const SCORE_MAX: u16 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Active rules decide; shadow rules are evaluated and reported but change nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Active,
    Shadow,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "active" => Some(Mode::Active),
            "shadow" => Some(Mode::Shadow),
            _ => None,
        }
    }
}

/// What a rule asks for when it fires.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RuleAction {
    Decline(ResponseCode),
    Review,
    /// Only marks the transaction (for cases, reports and back-tests).
    Tag(String),
}

impl RuleAction {
    /// `decline 59`, `review` or `tag cash_out`.
    pub fn parse(s: &str) -> Result<RuleAction, String> {
        let mut words = s.split_whitespace();
        let action = match (words.next(), words.next()) {
            (Some("review"), None) => RuleAction::Review,
            (Some("decline"), Some(code)) => match ResponseCode::from_iso(code) {
                Some(ResponseCode::Approved) | None => {
                    return Err(format!("`{code}` is not an ISO 8583 decline response code"));
                }
                Some(rc) => RuleAction::Decline(rc),
            },
            (Some("tag"), Some(name)) if is_name(name) => RuleAction::Tag(name.to_owned()),
            _ => return Err("expected `decline <code>`, `review` or `tag <name>`".to_owned()),
        };
        match words.next() {
            Some(extra) => Err(format!("unexpected `{extra}` after the action")),
            None => Ok(action),
        }
    }
}

impl fmt::Display for RuleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleAction::Decline(rc) => write!(f, "decline {}", rc.iso()),
            RuleAction::Review => f.write_str("review"),
            RuleAction::Tag(t) => write!(f, "tag {t}"),
        }
    }
}

/// Rule ids and tags: lowercase ASCII letters, digits, `_`, `.` and `-`, up to 64 bytes.
pub fn is_name(s: &str) -> bool {
    const NAME_LEN_MAX_BYTES: usize = 64;
    !s.is_empty()
        && s.len() <= NAME_LEN_MAX_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

/// A rule as the API carries it. The same fields as the text format; `action` is the
/// same text (`"decline 59"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub version: u32,
    pub severity: Severity,
    pub score: u16,
    pub action: String,
    pub mode: Mode,
    pub when: String,
    #[serde(default)]
    pub description: String,
}

/// A loaded, checked rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub id: Arc<str>,
    pub version: u32,
    pub severity: Severity,
    pub score: u16,
    pub action: RuleAction,
    pub mode: Mode,
    pub description: String,
    /// The condition's source text, for display.
    pub when: String,
    pub(crate) condition: Condition,
}
