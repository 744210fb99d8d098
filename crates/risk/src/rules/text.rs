//! The `.rules` text format (see `rules/README.md`): blocks of `key value` lines.
//!
//! ```text
//! rule card_testing.small_amounts {
//!   version   3
//!   severity  high
//!   score     400
//!   action    decline 59
//!   mode      active
//!   when      card.count_1h > 5
//!             && amount_minor < 1000     # continuation: indented deeper than the key
//! }
//! ```

use super::spec::{Mode, RuleSpec, Severity, is_name};
use crate::error::{LoadError, LoadErrorKind as K, line_col};

/// Largest rule file accepted, bytes.
pub const RULE_FILE_LEN_MAX_BYTES: usize = 1024 * 1024;

pub(crate) const KEYS: [&str; 7] = [
    "version",
    "severity",
    "score",
    "action",
    "mode",
    "when",
    "description",
];

/// Where each field's value starts in the file (byte offsets), to place later errors.
#[derive(Clone, Debug, Default)]
pub(crate) struct Spans {
    pub block: usize,
    pub values: [usize; KEYS.len()],
}

impl Spans {
    pub fn of(&self, key: &str) -> usize {
        KEYS.iter()
            .position(|k| *k == key)
            .map_or(self.block, |i| self.values[i])
    }
}

struct Block {
    id: String,
    start: usize,
    indent: Option<usize>,
    /// (key index, value start, value end) per key seen.
    fields: [Option<(usize, usize)>; KEYS.len()],
    last: Option<usize>,
}

pub(crate) fn parse(name: &str, text: &str) -> Result<Vec<(RuleSpec, Spans)>, Vec<LoadError>> {
    let err = |at: usize, kind: K| {
        let (line, column) = line_col(text, at);
        LoadError {
            source_name: name.to_owned(),
            line,
            column,
            kind,
        }
    };
    if text.len() > RULE_FILE_LEN_MAX_BYTES {
        return Err(vec![err(
            0,
            K::TooLarge(format!("over {RULE_FILE_LEN_MAX_BYTES} bytes")),
        )]);
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut block: Option<Block> = None;
    let mut at = 0;
    for raw in text.split_inclusive('\n') {
        let line_start = at;
        at += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let content = strip_comment(line).trim();
        if content.is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let first = line_start + indent;
        match block.as_mut() {
            None => match open_block(content) {
                Some(id) => block = Some(new_block(id, first)),
                None => errors.push(err(first, K::Syntax("expected `rule <id> {`".into()))),
            },
            Some(_) if content == "}" => {
                if let Some(b) = block.take() {
                    match finish(b, text) {
                        Ok(spec) => out.push(spec),
                        Err((at, kind)) => errors.push(err(at, kind)),
                    }
                }
            }
            Some(b) => {
                if let Err((at, kind)) = field_line(b, line, line_start, indent) {
                    errors.push(err(at, kind));
                }
            }
        }
    }
    if let Some(b) = block {
        errors.push(err(
            b.start,
            K::Syntax("block is not closed with `}`".into()),
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn strip_comment(line: &str) -> &str {
    // A `#` inside a quoted description is text, not a comment.
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

fn open_block(content: &str) -> Option<String> {
    let rest = content.strip_prefix("rule")?.strip_suffix('{')?;
    let id = rest.trim();
    (rest.starts_with(char::is_whitespace) && !id.is_empty()).then(|| id.to_owned())
}

fn new_block(id: String, start: usize) -> Block {
    Block {
        id,
        start,
        indent: None,
        fields: [None; KEYS.len()],
        last: None,
    }
}

type Failure = (usize, K);

fn field_line(b: &mut Block, line: &str, line_start: usize, indent: usize) -> Result<(), Failure> {
    let body = strip_comment(line).trim_end();
    let key_indent = *b.indent.get_or_insert(indent);
    if indent > key_indent {
        // A continuation of the previous field; only conditions span lines.
        let cont = b.last.filter(|&k| KEYS[k] == "when");
        let Some(k) = cont else {
            return Err((
                line_start + indent,
                K::Syntax("only `when` may continue on the next line".into()),
            ));
        };
        if let Some((_, end)) = b.fields[k].as_mut() {
            *end = line_start + line.len();
        }
        return Ok(());
    }
    if indent < key_indent {
        return Err((
            line_start + indent,
            K::Syntax("fields of a rule must line up".into()),
        ));
    }
    let text = &body[indent..];
    let key_len = text.find(char::is_whitespace).unwrap_or(text.len());
    let key = &text[..key_len];
    let Some(k) = KEYS.iter().position(|x| *x == key) else {
        return Err((line_start + indent, K::UnknownField(key.to_owned())));
    };
    if b.fields[k].is_some() {
        return Err((line_start + indent, K::DuplicateField(key.to_owned())));
    }
    let value_off = indent + key_len + (text.len() - key_len - text[key_len..].trim_start().len());
    let end = if key == "when" {
        line.len()
    } else {
        body.len()
    };
    b.fields[k] = Some((line_start + value_off, line_start + end.max(value_off)));
    b.last = Some(k);
    Ok(())
}

fn finish(b: Block, text: &str) -> Result<(RuleSpec, Spans), Failure> {
    if !is_name(&b.id) {
        let msg = "rule ids are lowercase letters, digits, `_`, `.` and `-`, up to 64 bytes";
        return Err((b.start, K::Syntax(msg.into())));
    }
    let mut spans = Spans {
        block: b.start,
        values: [b.start; KEYS.len()],
    };
    for (i, f) in b.fields.iter().enumerate() {
        if let Some((s, _)) = f {
            spans.values[i] = *s;
        }
    }
    let value = |key: &'static str| -> Result<&str, Failure> {
        let i = KEYS.iter().position(|k| *k == key).unwrap_or(0);
        let (s, e) = b.fields[i].ok_or((b.start, K::MissingField(key)))?;
        Ok(text.get(s..e).unwrap_or("").trim_end())
    };
    let bad = |field: &'static str, message: &str| {
        (
            spans.of(field),
            K::BadValue {
                field,
                message: message.to_owned(),
            },
        )
    };
    let version = value("version")?
        .parse()
        .map_err(|_| bad("version", "expected a whole number"))?;
    let severity = Severity::parse(value("severity")?)
        .ok_or_else(|| bad("severity", "expected low, medium, high or critical"))?;
    let score = value("score")?
        .parse()
        .map_err(|_| bad("score", "expected 0 to 1000"))?;
    let action = value("action")?.to_owned();
    let mode =
        Mode::parse(value("mode")?).ok_or_else(|| bad("mode", "expected active or shadow"))?;
    let when = value("when")?.to_owned();
    let description = match value("description") {
        Ok(d) => d.trim_matches('"').to_owned(),
        Err(_) => String::new(),
    };
    let spec = RuleSpec {
        id: b.id,
        version,
        severity,
        score,
        action,
        mode,
        when,
        description,
    };
    Ok((spec, spans))
}
