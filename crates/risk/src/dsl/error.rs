//! Errors of the condition language: at load time with a position, at run time as values.

use thiserror::Error;

/// A condition that does not compile; `offset` is a byte offset into its text.
#[derive(Clone, Debug, PartialEq, Error)]
#[error("{kind}")]
pub struct ExprError {
    pub offset: usize,
    pub kind: ExprErrorKind,
}

impl ExprError {
    pub(crate) fn new(offset: usize, kind: ExprErrorKind) -> ExprError {
        ExprError { offset, kind }
    }
}

#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum ExprErrorKind {
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("unknown field `{0}`")]
    UnknownField(String),
    #[error("type mismatch: {0}")]
    Type(String),
    #[error("expression nests deeper than {0} levels")]
    TooDeep(usize),
}

/// Why a condition could not be evaluated for one transaction. The rule is skipped and
/// the error reported in the decision; the evaluation of the other rules goes on.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EvalError {
    #[error("integer overflow")]
    Overflow,
    #[error("division by zero")]
    DivisionByZero,
    #[error("missing field `{0}`")]
    Missing(String),
}
