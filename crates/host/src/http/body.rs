//! Request bodies and headers. A body is read within `BODY_MAX_BYTES`, parsed as a JSON
//! object and then taken apart field by field, so that an error names the field and
//! never echoes a value: serde's own messages quote what they rejected, and a card
//! number sent in the wrong place must not come back in an error.

use crate::api_error::{ApiError, ErrorKind};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use model::{Currency, TxnId};
use serde_json::{Map, Value};

/// Longest `Idempotency-Key` (and settlement key) accepted.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 64;
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// A JSON object body, taken apart with `Fields`.
pub struct JsonBody(pub Fields);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<JsonBody, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::with_detail(
                ErrorKind::BadRequest,
                "Content-Type must be application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorKind::PayloadTooLarge)
            } else {
                ApiError::with_detail(ErrorKind::BadRequest, "the body could not be read")
            }
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonBody(Fields(map))),
            Ok(_) => Err(ApiError::with_detail(
                ErrorKind::InvalidJson,
                "expected an object",
            )),
            Err(e) => Err(ApiError::with_detail(
                ErrorKind::InvalidJson,
                syntax_detail(&e),
            )),
        }
    }
}

/// A missing Content-Type is taken as JSON; any other type is refused.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let mime = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Where the JSON broke, without quoting it.
fn syntax_detail(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        _ => "syntax error",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// The fields of a JSON object. Each is taken once; `finish` refuses any left over.
pub struct Fields(Map<String, Value>);

impl Fields {
    /// The value of `name`; `null` counts as absent.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name).filter(|v| !v.is_null())
    }

    /// A nested object (or any JSON) of `name`, read as `T`; its serde error is the
    /// validation message.
    pub fn opt_object<T: serde::de::DeserializeOwned>(
        &mut self,
        name: &'static str,
    ) -> Result<Option<T>, ApiError> {
        self.take(name)
            .map(|v| {
                serde_json::from_value(v).map_err(|e| ApiError::validation(name, e.to_string()))
            })
            .transpose()
    }

    /// The whole body read as `T` (for bodies that are one document, e.g. a profile).
    pub fn into_document<T: serde::de::DeserializeOwned>(self) -> Result<T, ApiError> {
        serde_json::from_value(Value::Object(self.0))
            .map_err(|e| ApiError::validation("body", e.to_string()))
    }

    pub fn opt_string(&mut self, name: &'static str) -> Result<Option<String>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::validation(name, "must be a string")),
        }
    }

    pub fn string(&mut self, name: &'static str) -> Result<String, ApiError> {
        self.opt_string(name)?.ok_or_else(|| missing(name))
    }

    pub fn opt_int(&mut self, name: &'static str) -> Result<Option<i64>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::validation(name, "must be an integer")),
            Some(_) => Err(ApiError::validation(name, "must be an integer")),
        }
    }

    pub fn int(&mut self, name: &'static str) -> Result<i64, ApiError> {
        self.opt_int(name)?.ok_or_else(|| missing(name))
    }

    /// A currency as its ISO 4217 numeric code (156 or "156") or alpha code ("CNY").
    pub fn opt_currency(&mut self, name: &'static str) -> Result<Option<Currency>, ApiError> {
        let text = match self.take(name) {
            None => return Ok(None),
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(ApiError::validation(name, "must be a string or a number")),
        };
        let currency = Currency::parse(&text).ok_or_else(|| {
            ApiError::validation(name, "must be an ISO 4217 code, e.g. 156 or CNY")
        })?;
        Ok(Some(currency))
    }

    pub fn currency(&mut self, name: &'static str) -> Result<Currency, ApiError> {
        self.opt_currency(name)?.ok_or_else(|| missing(name))
    }

    /// A transaction id as a decimal string ("42") or a number.
    pub fn opt_txn_id(&mut self, name: &'static str) -> Result<Option<TxnId>, ApiError> {
        let id = match self.take(name) {
            None => return Ok(None),
            Some(Value::String(s)) => parse_txn_id(&s),
            Some(Value::Number(n)) => n.as_u64().filter(|&n| n > 0).map(TxnId),
            Some(_) => None,
        };
        id.map(Some)
            .ok_or_else(|| ApiError::validation(name, "must be a transaction id"))
    }

    /// Refuses fields the endpoint does not take, naming the first when it looks like a
    /// field name (a name that starts with a digit could be a card number).
    pub fn finish(&self) -> Result<(), ApiError> {
        let Some(name) = self.0.keys().next() else {
            return Ok(());
        };
        let plausible = name.len() <= 32
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let detail = if plausible {
            format!("unknown field {name}")
        } else {
            "unknown field".to_owned()
        };
        Err(ApiError::with_detail(ErrorKind::Validation, detail))
    }
}

fn missing(name: &'static str) -> ApiError {
    ApiError::validation(name, "is required")
}

/// posguard's transaction ids: decimal, from 1, at most 18 digits (they are stored as
/// signed 64-bit integers).
pub fn parse_txn_id(text: &str) -> Option<TxnId> {
    const DIGITS_MAX: usize = 18;
    let ok =
        !text.is_empty() && text.len() <= DIGITS_MAX && text.bytes().all(|b| b.is_ascii_digit());
    let id: u64 = if ok { text.parse().ok()? } else { return None };
    (id > 0).then_some(TxnId(id))
}

/// A required text value of limited length: an id, a key. Printable ASCII only, so
/// that it fits the ISO fields and log lines it ends up in.
pub fn printable(field: &'static str, text: &str, len_max: usize) -> Result<(), ApiError> {
    if text.is_empty() || text.len() > len_max {
        return Err(ApiError::validation(
            field,
            format!("must have 1 to {len_max} characters"),
        ));
    }
    if !text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(ApiError::validation(field, "must be printable ASCII"));
    }
    Ok(())
}

/// The `Idempotency-Key` header: required on every request that moves money.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    const FIELD: &str = "Idempotency-Key";
    let value = headers
        .get(IDEMPOTENCY_KEY_HEADER)
        .ok_or_else(|| ApiError::validation(FIELD, "header is required"))?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::validation(FIELD, "must be printable ASCII"))?;
    printable(FIELD, text, IDEMPOTENCY_KEY_LEN_MAX)?;
    Ok(text.to_owned())
}

/// One of a fixed set of words, e.g. a status.
pub fn choice<T: Copy>(
    field: &'static str,
    text: &str,
    table: &[(&'static str, T)],
) -> Result<T, ApiError> {
    if let Some((_, value)) = table.iter().find(|(word, _)| *word == text) {
        return Ok(*value);
    }
    let words: Vec<&str> = table.iter().map(|(word, _)| *word).collect();
    Err(ApiError::validation(
        field,
        format!("must be one of {}", words.join(", ")),
    ))
}

/// A single path parameter. A value that does not decode names nothing: 404.
pub struct PathText(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathText {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<PathText, ApiError> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(text)) => Ok(PathText(text)),
            Err(_) => Err(ApiError::new(ErrorKind::NotFound)),
        }
    }
}
