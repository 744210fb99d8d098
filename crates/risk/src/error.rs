//! Why a rule set did not load. Every error has a place: file, line and column.

use std::fmt;

use thiserror::Error;

use crate::dsl::ExprErrorKind;

#[derive(Clone, Debug, PartialEq, Error)]
#[error("{source_name}:{line}:{column}: {kind}")]
pub struct LoadError {
    /// The file name, or `api:<rule id>.<field>` for API objects.
    pub source_name: String,
    /// 1-based; for API objects, within the field's text.
    pub line: u32,
    /// 1-based, in characters.
    pub column: u32,
    pub kind: LoadErrorKind,
}

#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum LoadErrorKind {
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("unknown field `{0}`")]
    UnknownField(String),
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("field `{0}` given twice")]
    DuplicateField(String),
    #[error("bad value for `{field}`: {message}")]
    BadValue {
        field: &'static str,
        message: String,
    },
    #[error("rule `{0}` is defined twice")]
    DuplicateRule(String),
    #[error("{0}")]
    Condition(ExprErrorKind),
    #[error("too large: {0}")]
    TooLarge(String),
}

/// All the errors of one load; the running rule set stays as it was.
#[derive(Clone, Debug, PartialEq, Error)]
pub struct RuleSetError {
    pub errors: Vec<LoadError>,
}

impl fmt::Display for RuleSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}
