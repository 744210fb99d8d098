//! Tokens of the condition language, each with its byte offset in the source.

use super::error::{ExprError, ExprErrorKind};
use crate::features::config::{MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Int(i64),
    Float(f64),
    Str(String),
    /// An identifier or a dotted path, `card.count_1h`.
    Path(String),
    Op(&'static str),
    End,
}

/// Two-character operators first, so that `<=` is not read as `<` then `=`.
const OPS: [&str; 19] = [
    "&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "+", "-", "*", "/", "%", "(", ")", "[", "]",
    ",",
];

pub(crate) fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_digit() {
            let (tok, next) = number(src, i)?;
            out.push((tok, i));
            i = next;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            out.push((Tok::Path(src[start..i].to_owned()), start));
        } else if c == b'"' {
            let (s, next) = string(src, i)?;
            out.push((Tok::Str(s), i));
            i = next;
        } else if let Some(op) = OPS.iter().find(|op| src[i..].starts_with(**op)) {
            out.push((Tok::Op(op), i));
            i += op.len();
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return Err(ExprError::new(
                i,
                ExprErrorKind::Syntax(format!("unexpected character `{ch}`")),
            ));
        }
    }
    out.push((Tok::End, src.len()));
    Ok(out)
}

/// `1000`, `1_000`, `2.5`, or a duration in ms: `90s`, `15m`, `1h`, `30d`, `250ms`.
fn number(src: &str, start: usize) -> Result<(Tok, usize), ExprError> {
    let b = src.as_bytes();
    let mut i = start;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_' || b[i] == b'.') {
        i += 1;
    }
    let digits: String = src[start..i].chars().filter(|&c| c != '_').collect();
    let unit_start = i;
    while i < b.len() && b[i].is_ascii_alphanumeric() {
        i += 1;
    }
    let bad = |msg: &str| ExprError::new(start, ExprErrorKind::Syntax(msg.to_owned()));
    let scale = match &src[unit_start..i] {
        "" => None,
        "ms" => Some(1),
        "s" => Some(MS_PER_SECOND),
        "m" => Some(MS_PER_MINUTE),
        "h" => Some(MS_PER_HOUR),
        "d" => Some(MS_PER_DAY),
        _ => {
            return Err(bad(
                "a number may only end in the duration units ms, s, m, h or d",
            ));
        }
    };
    if digits.contains('.') {
        if scale.is_some() {
            return Err(bad("durations are whole numbers"));
        }
        let f: f64 = digits.parse().map_err(|_| bad("malformed number"))?;
        return Ok((Tok::Float(f), i));
    }
    let n: i64 = digits
        .parse()
        .map_err(|_| bad("integer does not fit in 64 bits"))?;
    let n = n
        .checked_mul(scale.unwrap_or(1))
        .ok_or_else(|| bad("duration overflows"))?;
    Ok((Tok::Int(n), i))
}

fn string(src: &str, start: usize) -> Result<(String, usize), ExprError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + k + 1)),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                _ => {
                    let kind = ExprErrorKind::Syntax("only \\\" and \\\\ escapes exist".into());
                    return Err(ExprError::new(start + 1 + k, kind));
                }
            },
            '\n' => break,
            c => out.push(c),
        }
    }
    Err(ExprError::new(
        start,
        ExprErrorKind::Syntax("unterminated string".into()),
    ))
}
