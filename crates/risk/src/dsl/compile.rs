//! Parser and type checker in one pass: text to a typed `Expr` with resolved fields.
//!
//! Grammar, loosest first:
//! ```text
//! or    = and ("||" and)*
//! and   = cmp ("&&" cmp)*
//! cmp   = sum [("==" | "!=" | "<" | "<=" | ">" | ">=") sum | "in" "[" literal ("," literal)* "]"]
//! sum   = prod (("+" | "-") prod)*
//! prod  = unary (("*" | "/" | "%") unary)*
//! unary = ("!" | "-") unary | atom
//! atom  = number | duration | string | "true" | "false" | path | "has" "(" path ")" | "(" or ")"
//! ```

use super::error::{ExprError, ExprErrorKind as K};
use super::eval::{Arith, Cmp, Expr};
use super::lexer::{Tok, lex};
use super::schema::{Field, Schema};
use super::value::{Ty, Value};

/// Deep enough for any rule a person writes; shallow enough to never exhaust the stack.
pub const NESTING_MAX: usize = 48;

/// A parsed operand. Strings exist only to be compared, so they stay apart from `Expr`.
enum Node {
    Typed(Expr, Ty),
    StrLit(String),
    StrField(Field, String),
}

struct Parser<'s> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
    schema: &'s Schema,
}

pub(crate) fn compile(src: &str, schema: &Schema) -> Result<Expr, ExprError> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
        depth: 0,
        schema,
    };
    let (node, at) = p.or()?;
    if !matches!(p.peek(), Tok::End) {
        return Err(p.syntax("expected an operator or the end of the condition"));
    }
    match node {
        Node::Typed(e, Ty::Bool) => Ok(e),
        other => Err(type_err(
            at,
            format!("a condition must be bool, this is {}", ty_of(&other)),
        )),
    }
}

fn ty_of(n: &Node) -> Ty {
    match n {
        Node::Typed(_, t) => *t,
        Node::StrLit(_) | Node::StrField(..) => Ty::Str,
    }
}

fn type_err(at: usize, msg: String) -> ExprError {
    ExprError::new(at, K::Type(msg))
}

/// The typed expression of an operand that must be `want` (a number when `want` is Int).
fn expect(n: Node, at: usize, want: Ty, what: &str) -> Result<(Expr, Ty), ExprError> {
    let t = ty_of(&n);
    let ok = if want == Ty::Int {
        t.is_number()
    } else {
        t == want
    };
    match n {
        Node::Typed(e, t) if ok => Ok((e, t)),
        _ => {
            let want = if want == Ty::Int {
                "a number".to_owned()
            } else {
                want.to_string()
            };
            Err(type_err(at, format!("{what} needs {want}, found {t}")))
        }
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }

    fn at(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].1
    }

    fn bump(&mut self) -> (Tok, usize) {
        let t = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        self.pos += 1;
        t
    }

    fn eat(&mut self, op: &str) -> bool {
        let hit = matches!(self.peek(), Tok::Op(o) if *o == op);
        self.pos += usize::from(hit);
        hit
    }

    fn syntax(&self, msg: &str) -> ExprError {
        let found = match self.peek() {
            Tok::End => "the end".to_owned(),
            Tok::Op(o) => format!("`{o}`"),
            Tok::Path(p) => format!("`{p}`"),
            Tok::Int(_) | Tok::Float(_) => "a number".to_owned(),
            Tok::Str(_) => "a string".to_owned(),
        };
        ExprError::new(self.at(), K::Syntax(format!("{msg}, found {found}")))
    }

    fn nest(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > NESTING_MAX {
            return Err(ExprError::new(self.at(), K::TooDeep(NESTING_MAX)));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<(Node, usize), ExprError> {
        self.logic("||", Parser::and)
    }

    fn and(&mut self) -> Result<(Node, usize), ExprError> {
        self.logic("&&", Parser::cmp)
    }

    fn logic(
        &mut self,
        op: &'static str,
        next: fn(&mut Self) -> Result<(Node, usize), ExprError>,
    ) -> Result<(Node, usize), ExprError> {
        let (mut lhs, start) = next(self)?;
        while self.eat(op) {
            let (rhs, at) = next(self)?;
            let (l, _) = expect(lhs, start, Ty::Bool, &format!("`{op}`"))?;
            let (r, _) = expect(rhs, at, Ty::Bool, &format!("`{op}`"))?;
            let e = if op == "&&" {
                Expr::And(l.into(), r.into())
            } else {
                Expr::Or(l.into(), r.into())
            };
            lhs = Node::Typed(e, Ty::Bool);
        }
        Ok((lhs, start))
    }

    fn cmp(&mut self) -> Result<(Node, usize), ExprError> {
        let (lhs, start) = self.sum()?;
        if matches!(self.peek(), Tok::Path(p) if p == "in") {
            self.pos += 1;
            let e = self.in_list(lhs, start)?;
            return Ok((Node::Typed(e, Ty::Bool), start));
        }
        let Some(op) = self.cmp_op() else {
            return Ok((lhs, start));
        };
        let op_at = self.at();
        self.pos += 1;
        let (rhs, at) = self.sum()?;
        if self.cmp_op().is_some() {
            return Err(self.syntax("comparisons do not chain; join them with `&&`"));
        }
        let e = compare(op, (lhs, start), (rhs, at), op_at)?;
        Ok((Node::Typed(e, Ty::Bool), start))
    }

    fn cmp_op(&self) -> Option<Cmp> {
        match self.peek() {
            Tok::Op("==") => Some(Cmp::Eq),
            Tok::Op("!=") => Some(Cmp::Ne),
            Tok::Op("<") => Some(Cmp::Lt),
            Tok::Op("<=") => Some(Cmp::Le),
            Tok::Op(">") => Some(Cmp::Gt),
            Tok::Op(">=") => Some(Cmp::Ge),
            _ => None,
        }
    }

    /// `x in [a, b, c]`: numbers against number literals, string fields against strings.
    fn in_list(&mut self, lhs: Node, start: usize) -> Result<Expr, ExprError> {
        if !self.eat("[") {
            return Err(self.syntax("expected `[` after `in`"));
        }
        let mut nums = Vec::new();
        let mut strs = Vec::new();
        loop {
            let at = self.at();
            match (self.bump().0, &lhs) {
                (Tok::Int(i), Node::Typed(_, t)) if t.is_number() => nums.push(Value::Int(i)),
                (Tok::Float(x), Node::Typed(_, t)) if t.is_number() => nums.push(Value::Float(x)),
                (Tok::Str(s), Node::StrField(field, name)) => {
                    check_literal(*field, name, &s, at)?;
                    strs.push(s.into_boxed_str());
                }
                _ => {
                    let msg = format!("`in` needs a list of {} literals", ty_of(&lhs));
                    return Err(type_err(at, msg));
                }
            }
            if self.eat("]") {
                break;
            }
            if !self.eat(",") {
                return Err(self.syntax("expected `,` or `]` in the list"));
            }
        }
        match lhs {
            Node::Typed(e, _) => Ok(Expr::InNum(e.into(), nums)),
            Node::StrField(field, name) => Ok(Expr::StrIn {
                field,
                name: name.into(),
                lits: strs,
                negate: false,
            }),
            Node::StrLit(_) => Err(type_err(start, "`in` needs a field on its left".into())),
        }
    }

    fn sum(&mut self) -> Result<(Node, usize), ExprError> {
        self.arith(&[("+", Arith::Add), ("-", Arith::Sub)], Parser::prod)
    }

    fn prod(&mut self) -> Result<(Node, usize), ExprError> {
        self.arith(
            &[("*", Arith::Mul), ("/", Arith::Div), ("%", Arith::Rem)],
            Parser::unary,
        )
    }

    fn arith(
        &mut self,
        ops: &[(&'static str, Arith)],
        next: fn(&mut Self) -> Result<(Node, usize), ExprError>,
    ) -> Result<(Node, usize), ExprError> {
        let (mut lhs, start) = next(self)?;
        while let Some(&(sym, op)) = ops
            .iter()
            .find(|(s, _)| matches!(self.peek(), Tok::Op(o) if o == s))
        {
            self.pos += 1;
            let (rhs, at) = next(self)?;
            let what = format!("`{sym}`");
            let (l, lt) = expect(lhs, start, Ty::Int, &what)?;
            let (r, rt) = expect(rhs, at, Ty::Int, &what)?;
            let ty = match op {
                Arith::Div => Ty::Float,
                Arith::Rem if lt != Ty::Int || rt != Ty::Int => {
                    return Err(type_err(start, "`%` needs two ints".into()));
                }
                _ if lt == Ty::Int && rt == Ty::Int => Ty::Int,
                _ => Ty::Float,
            };
            lhs = Node::Typed(Expr::Arith(op, l.into(), r.into()), ty);
        }
        Ok((lhs, start))
    }

    fn unary(&mut self) -> Result<(Node, usize), ExprError> {
        let start = self.at();
        self.nest()?;
        let out = if self.eat("!") {
            let (n, at) = self.unary()?;
            let (e, _) = expect(n, at, Ty::Bool, "`!`")?;
            Node::Typed(Expr::Not(e.into()), Ty::Bool)
        } else if self.eat("-") {
            let (n, at) = self.unary()?;
            let (e, t) = expect(n, at, Ty::Int, "unary `-`")?;
            Node::Typed(Expr::Neg(e.into()), t)
        } else {
            self.atom()?
        };
        self.depth -= 1;
        Ok((out, start))
    }

    fn atom(&mut self) -> Result<Node, ExprError> {
        let at = self.at();
        match self.bump().0 {
            Tok::Int(i) => Ok(Node::Typed(Expr::Lit(Value::Int(i)), Ty::Int)),
            Tok::Float(x) => Ok(Node::Typed(Expr::Lit(Value::Float(x)), Ty::Float)),
            Tok::Str(s) => Ok(Node::StrLit(s)),
            Tok::Op("(") => {
                let (n, _) = self.or()?;
                if !self.eat(")") {
                    return Err(self.syntax("expected `)`"));
                }
                Ok(n)
            }
            Tok::Path(p) => self.path(p, at),
            _ => {
                self.pos -= 1;
                Err(self.syntax("expected a value, a field or `(`"))
            }
        }
    }

    fn path(&mut self, p: String, at: usize) -> Result<Node, ExprError> {
        match p.as_str() {
            "true" => return Ok(Node::Typed(Expr::Lit(Value::Bool(true)), Ty::Bool)),
            "false" => return Ok(Node::Typed(Expr::Lit(Value::Bool(false)), Ty::Bool)),
            "has" if matches!(self.peek(), Tok::Op("(")) => {
                self.pos += 1;
                let at = self.at();
                let Tok::Path(name) = self.bump().0 else {
                    self.pos -= 1;
                    return Err(self.syntax("`has` takes a field name"));
                };
                let (field, _) = self.field(&name, at)?;
                if !self.eat(")") {
                    return Err(self.syntax("expected `)`"));
                }
                return Ok(Node::Typed(Expr::Has(field), Ty::Bool));
            }
            _ => {}
        }
        let (field, ty) = self.field(&p, at)?;
        if ty == Ty::Str {
            return Ok(Node::StrField(field, p));
        }
        Ok(Node::Typed(Expr::Field(field, p.into_boxed_str()), ty))
    }

    fn field(&self, name: &str, at: usize) -> Result<(Field, Ty), ExprError> {
        self.schema
            .resolve(name)
            .ok_or_else(|| ExprError::new(at, K::UnknownField(name.to_owned())))
    }
}

/// A string literal compared with a field must be one of the field's values.
fn check_literal(field: Field, name: &str, lit: &str, at: usize) -> Result<(), ExprError> {
    if field.admits(lit) == Some(false) {
        return Err(type_err(at, format!("`{name}` has no value \"{lit}\"")));
    }
    Ok(())
}

fn compare(
    op: Cmp,
    (l, l_at): (Node, usize),
    (r, r_at): (Node, usize),
    op_at: usize,
) -> Result<Expr, ExprError> {
    let (lt, rt) = (ty_of(&l), ty_of(&r));
    let lit_at = if matches!(l, Node::StrLit(_)) {
        l_at
    } else {
        r_at
    };
    match (l, r) {
        (Node::StrField(field, name), Node::StrLit(s))
        | (Node::StrLit(s), Node::StrField(field, name))
            if matches!(op, Cmp::Eq | Cmp::Ne) =>
        {
            check_literal(field, &name, &s, lit_at)?;
            let negate = op == Cmp::Ne;
            Ok(Expr::StrIn {
                field,
                name: name.into(),
                lits: vec![s.into()],
                negate,
            })
        }
        (Node::Typed(l, lt), Node::Typed(r, rt)) if lt.is_number() && rt.is_number() => {
            Ok(Expr::Cmp(op, l.into(), r.into()))
        }
        (Node::Typed(l, Ty::Bool), Node::Typed(r, Ty::Bool)) if matches!(op, Cmp::Eq | Cmp::Ne) => {
            Ok(Expr::Cmp(op, l.into(), r.into()))
        }
        _ => {
            let at = if lt == rt {
                op_at
            } else if lt.is_number() {
                r_at
            } else {
                l_at
            };
            let msg = match (lt, rt) {
                (Ty::Str, Ty::Str) => {
                    "strings compare only as a field against a literal, with == or !=".to_owned()
                }
                (a, b) if a == b => format!("{a} values cannot be ordered"),
                (a, b) => format!("cannot compare {a} with {b}"),
            };
            Err(type_err(at, msg))
        }
    }
}
