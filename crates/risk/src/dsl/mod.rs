//! The condition language of rules: a small, statically typed expression language over
//! transaction facts and features. See `rules/README.md` for the user's view and
//! `DECISION.md` for why it is hand-written rather than CEL.

mod compile;
mod error;
mod eval;
mod lexer;
mod schema;
mod value;

pub use compile::NESTING_MAX;
pub use error::{EvalError, ExprError, ExprErrorKind};
pub use schema::{Inputs, Schema};
pub use value::Ty;

/// Longest condition text accepted, bytes.
pub const CONDITION_LEN_MAX_BYTES: usize = 8 * 1024;

/// A condition, parsed and type-checked against a `Schema`.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    expr: eval::Expr,
}

impl Condition {
    pub fn compile(text: &str, schema: &Schema) -> Result<Condition, ExprError> {
        if text.len() > CONDITION_LEN_MAX_BYTES {
            let kind =
                ExprErrorKind::Syntax(format!("longer than {CONDITION_LEN_MAX_BYTES} bytes"));
            return Err(ExprError::new(0, kind));
        }
        compile::compile(text, schema).map(|expr| Condition { expr })
    }

    pub fn eval(&self, inputs: &Inputs<'_>) -> Result<bool, EvalError> {
        self.expr
            .eval(inputs)
            .map(|v| v == value::Value::Bool(true))
    }
}
