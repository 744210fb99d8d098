//! Conformance driver: lets `conformance/test_iso8583.py` run posguard's codec from Python.
//!
//! Reads one JSON request per line on stdin, writes one JSON answer per line on stdout:
//!
//! - `{"op":"decode","spec":PATH,"hex":HEX}` →
//!   `{"ok":true,"fields":{"t":..,"p":..,"1":..,"2":..}}` (pyiso8583's decoded dict)
//! - `{"op":"encode","spec":PATH,"fields":{..}}` → `{"ok":true,"hex":HEX}` (upper case)
//! - failures → `{"ok":false,"field":KEY,"error":TEXT}`
//!
//! As pyiso8583's `encode` does, fields `p`, `1` and `65` in the input are ignored.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use iso8583::{MessageBuilder, Spec};
use serde_json::{Map, Value, json};

type DynError = Box<dyn std::error::Error>;

fn main() {
    if let Err(e) = try_main() {
        eprintln!("iso8583-conform: {e}");
        std::process::exit(1);
    }
}

fn try_main() -> Result<(), DynError> {
    let mut specs: HashMap<String, Spec> = HashMap::new();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let request: Value = serde_json::from_str(&line)?;
        let path = request["spec"].as_str().ok_or("request lacks \"spec\"")?;
        if !specs.contains_key(path) {
            specs.insert(path.to_owned(), Spec::load(path)?);
        }
        let spec = &specs[path];
        let answer = match request["op"].as_str() {
            Some("decode") => decode(spec, request["hex"].as_str().ok_or("decode lacks \"hex\"")?)?,
            Some("encode") => encode(
                spec,
                request["fields"]
                    .as_object()
                    .ok_or("encode lacks \"fields\"")?,
            ),
            _ => return Err(format!("unknown op in {line}").into()),
        };
        serde_json::to_writer(&mut out, &answer)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn decode(spec: &Spec, hex: &str) -> Result<Value, DynError> {
    let bytes = unhex(hex).ok_or("\"hex\" is not hex")?;
    let msg = match spec.decode(&bytes) {
        Ok(msg) => msg,
        Err(e) => {
            return Ok(json!({"ok": false, "field": e.field.to_string(), "error": e.to_string()}));
        }
    };
    let mut fields = Map::new();
    if let Some(header) = msg.header_str() {
        fields.insert("h".into(), header.into());
    }
    fields.insert("t".into(), msg.mti().into());
    fields.insert("p".into(), msg.bitmap_str().into());
    for n in std::iter::once(1).chain(msg.fields()) {
        if let Some(value) = msg.field_str(n) {
            fields.insert(n.to_string(), value.into());
        }
    }
    Ok(json!({"ok": true, "fields": fields}))
}

fn encode(spec: &Spec, fields: &Map<String, Value>) -> Value {
    let mut builder = MessageBuilder::new();
    for (key, value) in fields {
        let Some(value) = value.as_str() else {
            return json!({"ok": false, "field": key, "error": "value is not a string"});
        };
        match key.as_str() {
            "t" => _ = builder.set_mti(value),
            "h" => _ = builder.set_header(value),
            "p" | "1" | "65" => {}
            n => match n.parse::<u8>() {
                Ok(n) => _ = builder.set(n, value),
                Err(_) => return json!({"ok": false, "field": key, "error": "unknown field"}),
            },
        }
    }
    let mut out = Vec::new();
    match builder.encode_into(spec, &mut out) {
        Ok(()) => {
            json!({"ok": true, "hex": out.iter().map(|b| format!("{b:02X}")).collect::<String>()})
        }
        Err(e) => json!({"ok": false, "field": e.field.to_string(), "error": e.to_string()}),
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if digits.len() % 2 == 1 {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            u8::try_from(hi << 4 | lo).ok()
        })
        .collect()
}
