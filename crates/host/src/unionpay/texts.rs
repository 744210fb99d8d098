//! Field 63 of UnionPay replies: the network (card organisation) code and up to three
//! 20-byte GBK texts the terminal shows and prints: Chinese first, then English.

use super::{RC_MAC_FAILED, RC_SIGN_ON_AGAIN};
use iso8583::unionpay::{Field63Reply, SettleResult};
use model::ResponseCode;

/// 63.1 of every reply: China UnionPay, the network posguard answers as.
pub const NETWORK_CODE: &str = "CUP";

fn texts(zh: &str, en: &str) -> Field63Reply {
    Field63Reply {
        network: NETWORK_CODE.to_owned(),
        texts: vec![zh.to_owned(), en.to_owned()],
    }
}

/// The texts of a reply's field 39.
pub fn for_code(code: &str) -> Field63Reply {
    match code {
        RC_MAC_FAILED => texts("MAC校验错", "MAC error"),
        RC_SIGN_ON_AGAIN => texts("请重新签到", "sign on again"),
        other => match ResponseCode::from_iso(other) {
            Some(rc) => texts(rc.text_zh(), rc.text_en()),
            None => texts("交易失败", "declined"),
        },
    }
}

/// A settlement's result (0510).
pub fn settled(result: SettleResult) -> Field63Reply {
    match result {
        SettleResult::Balanced => texts("对账平", "balanced"),
        SettleResult::Unbalanced => texts("对账不平", "unbalanced"),
        _ => texts("对账错", "settlement error"),
    }
}

/// A batch upload (0330) whose records `mismatched` of the host's transactions did
/// not match (0: all matched).
pub fn batch_uploaded(mismatched: usize) -> Field63Reply {
    if mismatched == 0 {
        return texts("批上送成功", "batch upload ok");
    }
    texts(
        &format!("批上送不符{mismatched}笔"),
        &format!("{mismatched} records differ"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_fit_field_63_and_read_back() {
        let cases = [
            (for_code("00"), "交易成功"),
            (for_code("A0"), "MAC校验错"),
            (for_code("77"), "请重新签到"),
            (for_code("51"), ResponseCode::InsufficientFunds.text_zh()),
            (for_code("Q9"), "交易失败"),
            (settled(SettleResult::Unbalanced), "对账不平"),
            (batch_uploaded(3), "批上送不符3笔"),
        ];
        for (reply, zh) in cases {
            let bytes = reply.to_bytes();
            assert_eq!(bytes.len(), 3 + 2 * 20);
            let back = Field63Reply::parse(&bytes).unwrap();
            assert_eq!((back.network.as_str(), back.texts[0].as_str()), ("CUP", zh));
        }
    }
}
