use serde::{Deserialize, Serialize};

/// ISO 8583:1987 response codes (field 39) that posguard answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseCode {
    Approved,
    InvalidMerchant,
    DoNotHonour,
    RequestInProgress,
    InvalidTransaction,
    InvalidAmount,
    InvalidCardNumber,
    UnableToLocateRecord,
    FormatError,
    LostCard,
    StolenCard,
    InsufficientFunds,
    ExpiredCard,
    IncorrectPin,
    NotPermittedToCardholder,
    NotPermittedToTerminal,
    SuspectedFraud,
    ExceedsWithdrawalLimit,
    SecurityViolation,
    OriginalAmountIncorrect,
    IssuerUnavailable,
    DuplicateTransmission,
    ReconcileError,
    SystemMalfunction,
}

/// (variant, field 39, English, zh-CN). One table: the codes, their words, nothing else.
const TABLE: &[(ResponseCode, &str, &str, &str)] = &[
    (ResponseCode::Approved, "00", "approved", "交易成功"),
    (
        ResponseCode::InvalidMerchant,
        "03",
        "invalid merchant",
        "无效商户",
    ),
    (ResponseCode::DoNotHonour, "05", "do not honour", "不予承兑"),
    (
        ResponseCode::RequestInProgress,
        "09",
        "request in progress",
        "请求正在处理中",
    ),
    (
        ResponseCode::InvalidTransaction,
        "12",
        "invalid transaction",
        "无效交易",
    ),
    (
        ResponseCode::InvalidAmount,
        "13",
        "invalid amount",
        "无效金额",
    ),
    (
        ResponseCode::InvalidCardNumber,
        "14",
        "invalid card number",
        "无效卡号",
    ),
    (
        ResponseCode::UnableToLocateRecord,
        "25",
        "unable to locate record",
        "找不到原始交易",
    ),
    (
        ResponseCode::FormatError,
        "30",
        "format error",
        "报文格式错误",
    ),
    (ResponseCode::LostCard, "41", "lost card, pick up", "挂失卡"),
    (
        ResponseCode::StolenCard,
        "43",
        "stolen card, pick up",
        "被盗卡",
    ),
    (
        ResponseCode::InsufficientFunds,
        "51",
        "insufficient funds",
        "余额不足",
    ),
    (ResponseCode::ExpiredCard, "54", "expired card", "过期卡"),
    (
        ResponseCode::IncorrectPin,
        "55",
        "incorrect PIN",
        "密码错误",
    ),
    (
        ResponseCode::NotPermittedToCardholder,
        "57",
        "not permitted to cardholder",
        "不允许持卡人进行的交易",
    ),
    (
        ResponseCode::NotPermittedToTerminal,
        "58",
        "not permitted to terminal",
        "不允许终端进行的交易",
    ),
    (
        ResponseCode::SuspectedFraud,
        "59",
        "suspected fraud",
        "有作弊嫌疑",
    ),
    (
        ResponseCode::ExceedsWithdrawalLimit,
        "61",
        "exceeds amount limit",
        "超出金额限制",
    ),
    (
        ResponseCode::SecurityViolation,
        "63",
        "security violation",
        "违反安全规定",
    ),
    (
        ResponseCode::OriginalAmountIncorrect,
        "64",
        "original amount incorrect",
        "原始金额错误",
    ),
    (
        ResponseCode::IssuerUnavailable,
        "91",
        "issuer or switch inoperative",
        "发卡方不能操作",
    ),
    (
        ResponseCode::DuplicateTransmission,
        "94",
        "duplicate transmission",
        "重复交易",
    ),
    (
        ResponseCode::ReconcileError,
        "95",
        "reconcile error",
        "对账不平",
    ),
    (
        ResponseCode::SystemMalfunction,
        "96",
        "system malfunction",
        "系统故障",
    ),
];

impl ResponseCode {
    fn row(self) -> &'static (ResponseCode, &'static str, &'static str, &'static str) {
        TABLE
            .iter()
            .find(|r| r.0 == self)
            .expect("every response code has a table row")
    }

    /// The two characters of ISO 8583 field 39.
    pub fn iso(self) -> &'static str {
        self.row().1
    }

    pub fn from_iso(code: &str) -> Option<ResponseCode> {
        TABLE.iter().find(|r| r.1 == code).map(|r| r.0)
    }

    pub fn text_en(self) -> &'static str {
        self.row().2
    }

    pub fn text_zh(self) -> &'static str {
        self.row().3
    }

    pub fn is_approved(self) -> bool {
        self == ResponseCode::Approved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_iso_text() {
        for row in TABLE {
            assert_eq!(ResponseCode::from_iso(row.1), Some(row.0));
            assert_eq!(row.0.iso().len(), 2);
        }
        let mut codes: Vec<_> = TABLE.iter().map(|r| r.1).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len(), "field 39 codes are unique");
    }
}
