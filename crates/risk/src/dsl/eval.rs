//! Evaluation of compiled conditions. Integer arithmetic is checked; a field that is
//! absent, an overflow or a division by zero is an `EvalError`, never a panic.

use super::error::EvalError;
use super::schema::{Field, Inputs};
use super::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    /// Always a float division, so `refunds / count` is a ratio and not 0.
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Lit(Value),
    /// A field and its name, for the "missing field" error.
    Field(Field, Box<str>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Arith(Arith, Box<Expr>, Box<Expr>),
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    InNum(Box<Expr>, Vec<Value>),
    StrIn {
        field: Field,
        name: Box<str>,
        lits: Vec<Box<str>>,
        negate: bool,
    },
    Has(Field),
}

impl Expr {
    pub(crate) fn eval(&self, x: &Inputs<'_>) -> Result<Value, EvalError> {
        Ok(match self {
            Expr::Lit(v) => *v,
            Expr::Field(f, name) => f
                .read(x)
                .ok_or_else(|| EvalError::Missing(name.to_string()))?,
            Expr::Not(e) => Value::Bool(!e.eval(x)?.truthy()),
            Expr::Neg(e) => match e.eval(x)? {
                Value::Int(i) => Value::Int(i.checked_neg().ok_or(EvalError::Overflow)?),
                v => Value::Float(-v.as_f64()),
            },
            Expr::Arith(op, l, r) => arith(*op, l.eval(x)?, r.eval(x)?)?,
            Expr::Cmp(op, l, r) => Value::Bool(compare(*op, l.eval(x)?, r.eval(x)?)),
            Expr::And(l, r) => Value::Bool(l.eval(x)?.truthy() && r.eval(x)?.truthy()),
            Expr::Or(l, r) => Value::Bool(l.eval(x)?.truthy() || r.eval(x)?.truthy()),
            Expr::InNum(e, list) => {
                let v = e.eval(x)?;
                Value::Bool(list.iter().any(|&item| compare(Cmp::Eq, v, item)))
            }
            Expr::StrIn {
                field,
                name,
                lits,
                negate,
            } => {
                let v = field
                    .read(x)
                    .ok_or_else(|| EvalError::Missing(name.to_string()))?;
                let hit = matches!(v, Value::Str(s) if lits.iter().any(|l| **l == *s));
                Value::Bool(hit != *negate)
            }
            Expr::Has(f) => Value::Bool(f.read(x).is_some()),
        })
    }
}

impl Value {
    /// The type checker lets only bools reach the places that call this.
    fn truthy(self) -> bool {
        matches!(self, Value::Bool(true))
    }
}

fn arith(op: Arith, l: Value, r: Value) -> Result<Value, EvalError> {
    if let (Value::Int(a), Value::Int(b), false) = (l, r, op == Arith::Div) {
        let out = match op {
            Arith::Add => a.checked_add(b),
            Arith::Sub => a.checked_sub(b),
            Arith::Mul => a.checked_mul(b),
            Arith::Rem if b == 0 => return Err(EvalError::DivisionByZero),
            Arith::Rem => a.checked_rem(b),
            Arith::Div => None,
        };
        return out.map(Value::Int).ok_or(EvalError::Overflow);
    }
    let (a, b) = (l.as_f64(), r.as_f64());
    let out = match op {
        Arith::Add => a + b,
        Arith::Sub => a - b,
        Arith::Mul => a * b,
        Arith::Div if b == 0.0 => return Err(EvalError::DivisionByZero),
        Arith::Div => a / b,
        Arith::Rem => a % b,
    };
    if out.is_finite() {
        Ok(Value::Float(out))
    } else {
        Err(EvalError::Overflow)
    }
}

fn compare(op: Cmp, l: Value, r: Value) -> bool {
    let ord = match (l, r) {
        (Value::Int(a), Value::Int(b)) => a.partial_cmp(&b),
        (Value::Bool(a), Value::Bool(b)) => a.partial_cmp(&b),
        (Value::Str(a), Value::Str(b)) => a.partial_cmp(b),
        (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
    };
    let Some(ord) = ord else {
        return op == Cmp::Ne;
    };
    match op {
        Cmp::Eq => ord.is_eq(),
        Cmp::Ne => ord.is_ne(),
        Cmp::Lt => ord.is_lt(),
        Cmp::Le => ord.is_le(),
        Cmp::Gt => ord.is_gt(),
        Cmp::Ge => ord.is_ge(),
    }
}
