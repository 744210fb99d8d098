//! Errors of posguard's edges, in one table: each kind's stable API code, HTTP status,
//! ISO 8583 response code (field 39) and human message in English and Chinese.
//!
//! | code                   | HTTP | ISO 39 | when                                              |
//! |------------------------|------|--------|---------------------------------------------------|
//! | bad_request            | 400  | 30     | malformed request line, query or Content-Type     |
//! | invalid_json           | 400  | 30     | the body is not a JSON object                     |
//! | validation             | 400  | 30     | a field (or header) is missing or out of range    |
//! | unauthorized           | 401  | 63     | no bearer token, or one the store does not know   |
//! | not_found              | 404  | 25     | no such transaction or route                      |
//! | unknown_merchant       | 404  | 03     | no such merchant                                  |
//! | unknown_terminal       | 404  | 58     | no such terminal                                  |
//! | unknown_card           | 404  | 14     | no such card                                      |
//! | method_not_allowed     | 405  | 12     | the route exists, not with this method            |
//! | conflict               | 409  | –      | the store refused a write as a duplicate          |
//! | idempotency_key_reused | 409  | 94     | a key was reused for a different request          |
//! | payload_too_large      | 413  | 30     | the body is over `http::BODY_MAX_BYTES`           |
//! | unavailable            | 503  | 91     | the pipeline is shutting down or the store is down |
//! | internal               | 500  | 96     | a bug or a failure with no better name            |
//!
//! Business outcomes (declines, duplicates answered again) are not errors: the engine
//! answers them with a response code, which the API returns with HTTP 200. The one
//! exception is 94 (a key reused for a different request): the caller made a mistake,
//! so the API turns that answer into `idempotency_key_reused` (`ErrorKind::of_answer`).
//! The link answers the ISO column of the same rows (`ErrorKind::iso`).
//!
//! Messages never carry request content: a field's name, never its value, so a card
//! number sent in the wrong place cannot come back in an error.

use model::ResponseCode;
use std::borrow::Cow;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    BadRequest,
    InvalidJson,
    Validation,
    Unauthorized,
    NotFound,
    UnknownMerchant,
    UnknownTerminal,
    UnknownCard,
    MethodNotAllowed,
    Conflict,
    IdempotencyKeyReused,
    PayloadTooLarge,
    Unavailable,
    Internal,
}

struct Row {
    kind: ErrorKind,
    code: &'static str,
    http_status: u16,
    iso: Option<ResponseCode>,
    /// An engine answer with the `iso` code is this error over HTTP, not an outcome.
    from_answer: bool,
    en: &'static str,
    zh: &'static str,
}

use ErrorKind as K;
use ResponseCode as Rc;

#[rustfmt::skip]
const TABLE: &[Row] = &[
    Row { kind: K::BadRequest, code: "bad_request", http_status: 400,
          iso: Some(Rc::FormatError), from_answer: false,
          en: "the request is malformed", zh: "请求格式错误" },
    Row { kind: K::InvalidJson, code: "invalid_json", http_status: 400,
          iso: Some(Rc::FormatError), from_answer: false,
          en: "the body is not a valid JSON object", zh: "请求体不是有效的 JSON 对象" },
    Row { kind: K::Validation, code: "validation", http_status: 400,
          iso: Some(Rc::FormatError), from_answer: false,
          en: "a field has an invalid value", zh: "字段值无效" },
    Row { kind: K::Unauthorized, code: "unauthorized", http_status: 401,
          iso: Some(Rc::SecurityViolation), from_answer: false,
          en: "a valid bearer token is required", zh: "需要有效的访问令牌" },
    Row { kind: K::NotFound, code: "not_found", http_status: 404,
          iso: Some(Rc::UnableToLocateRecord), from_answer: false,
          en: "no such resource", zh: "找不到该资源" },
    Row { kind: K::UnknownMerchant, code: "unknown_merchant", http_status: 404,
          iso: Some(Rc::InvalidMerchant), from_answer: false,
          en: "no such merchant", zh: "商户不存在" },
    Row { kind: K::UnknownTerminal, code: "unknown_terminal", http_status: 404,
          iso: Some(Rc::NotPermittedToTerminal), from_answer: false,
          en: "no such terminal", zh: "终端不存在" },
    Row { kind: K::UnknownCard, code: "unknown_card", http_status: 404,
          iso: Some(Rc::InvalidCardNumber), from_answer: false,
          en: "no such card", zh: "卡片不存在" },
    Row { kind: K::MethodNotAllowed, code: "method_not_allowed", http_status: 405,
          iso: Some(Rc::InvalidTransaction), from_answer: false,
          en: "this route does not take this method", zh: "该路径不支持此请求方法" },
    Row { kind: K::Conflict, code: "conflict", http_status: 409,
          iso: None, from_answer: false,
          en: "the request conflicts with stored data", zh: "请求与已存数据冲突" },
    Row { kind: K::IdempotencyKeyReused, code: "idempotency_key_reused", http_status: 409,
          iso: Some(Rc::DuplicateTransmission), from_answer: true,
          en: "the idempotency key was already used for a different request", zh: "幂等键已用于另一笔不同的请求" },
    Row { kind: K::PayloadTooLarge, code: "payload_too_large", http_status: 413,
          iso: Some(Rc::FormatError), from_answer: false,
          en: "the request body is too large", zh: "请求体过大" },
    Row { kind: K::Unavailable, code: "unavailable", http_status: 503,
          iso: Some(Rc::IssuerUnavailable), from_answer: false,
          en: "the service is unavailable, retry later", zh: "服务暂不可用，请稍后重试" },
    Row { kind: K::Internal, code: "internal", http_status: 500,
          iso: Some(Rc::SystemMalfunction), from_answer: false,
          en: "internal error", zh: "系统内部错误" },
];

impl ErrorKind {
    fn row(self) -> &'static Row {
        TABLE
            .iter()
            .find(|r| r.kind == self)
            .expect("every error kind has a table row")
    }

    /// The stable machine-readable code, e.g. "not_found".
    pub fn code(self) -> &'static str {
        self.row().code
    }

    pub fn http_status(self) -> u16 {
        self.row().http_status
    }

    /// What the terminal link answers in field 39 for this kind, if it applies there.
    pub fn iso(self) -> Option<ResponseCode> {
        self.row().iso
    }

    pub fn text_en(self) -> &'static str {
        self.row().en
    }

    pub fn text_zh(self) -> &'static str {
        self.row().zh
    }

    /// The error an engine answer stands for over HTTP, when it is not an outcome.
    pub fn of_answer(code: ResponseCode) -> Option<ErrorKind> {
        TABLE
            .iter()
            .find(|r| r.from_answer && r.iso == Some(code))
            .map(|r| r.kind)
    }
}

/// An error with what it applies to: a field (or header) name and a detail in English.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub field: Option<Cow<'static, str>>,
    pub detail: Option<Cow<'static, str>>,
}

impl ApiError {
    pub fn new(kind: ErrorKind) -> ApiError {
        ApiError {
            kind,
            field: None,
            detail: None,
        }
    }

    pub fn with_detail(kind: ErrorKind, detail: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError {
            kind,
            field: None,
            detail: Some(detail.into()),
        }
    }

    /// A field or header with a bad value; `detail` says what a good one looks like.
    pub fn validation(
        field: impl Into<Cow<'static, str>>,
        detail: impl Into<Cow<'static, str>>,
    ) -> ApiError {
        ApiError {
            kind: ErrorKind::Validation,
            field: Some(field.into()),
            detail: Some(detail.into()),
        }
    }

    pub fn field(mut self, field: impl Into<Cow<'static, str>>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn message_en(&self) -> String {
        let mut text = self.kind.text_en().to_owned();
        if let Some(field) = &self.field {
            text.push_str(": ");
            text.push_str(field);
        }
        if let Some(detail) = &self.detail {
            text.push_str(if self.field.is_some() { " " } else { ": " });
            text.push_str(detail);
        }
        text
    }

    pub fn message_zh(&self) -> String {
        match &self.field {
            Some(field) => format!("{}：{field}", self.kind.text_zh()),
            None => self.kind.text_zh().to_owned(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message_en(), self.kind.code())
    }
}

impl std::error::Error for ApiError {}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> ApiError {
        use store::StoreErrorKind as S;
        let kind = match e.kind {
            S::Unavailable | S::Io => ErrorKind::Unavailable,
            S::Conflict => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        };
        // Store contexts never hold row contents, so the cause is safe to log.
        tracing::warn!(error = %e, "read from the store for the HTTP API");
        ApiError::new(kind)
    }
}

impl From<crate::pipeline::Closed> for ApiError {
    fn from(_: crate::pipeline::Closed) -> ApiError {
        ApiError::with_detail(ErrorKind::Unavailable, "posguard is shutting down")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_row_with_a_unique_code() {
        let mut codes: Vec<_> = TABLE.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len());
        for row in TABLE {
            assert_eq!(row.kind.code(), row.code);
            assert!((400..600).contains(&row.http_status), "{}", row.code);
            assert!(!row.en.is_empty() && !row.zh.is_empty());
        }
    }

    #[test]
    fn only_a_reused_key_turns_an_answer_into_an_error() {
        assert_eq!(
            ErrorKind::of_answer(Rc::DuplicateTransmission),
            Some(K::IdempotencyKeyReused)
        );
        for code in [
            Rc::InsufficientFunds,
            Rc::NotPermittedToTerminal,
            Rc::FormatError,
            Rc::Approved,
        ] {
            assert_eq!(ErrorKind::of_answer(code), None, "{code:?}");
        }
    }

    #[test]
    fn messages_name_the_field_and_never_a_value() {
        let e = ApiError::validation("pan", "must have 12 to 19 digits");
        assert_eq!(
            e.message_en(),
            "a field has an invalid value: pan must have 12 to 19 digits"
        );
        assert_eq!(e.message_zh(), "字段值无效：pan");
        assert_eq!(K::UnknownTerminal.iso(), Some(Rc::NotPermittedToTerminal));
        assert_eq!(K::Validation.iso(), Some(Rc::FormatError));
    }
}
