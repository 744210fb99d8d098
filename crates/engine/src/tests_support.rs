//! Records for the engine's unit tests.

use model::*;

pub(crate) fn txn(id: u64) -> TxnRecord {
    TxnRecord {
        id: TxnId(id),
        idem_key: format!("k{id}"),
        created_ms: 0,
        mti: "0200".into(),
        kind: TxnKind::Purchase,
        offline: false,
        terminal_id: TerminalId("T1".into()),
        merchant_id: MerchantId("M1".into()),
        stan: "000001".into(),
        transmitted: "1121230101".into(),
        card_token: None,
        masked_pan: None,
        amount_minor: 100,
        currency: Currency::CNY,
        response_code: ResponseCode::Approved,
        auth_code: None,
        status: TxnStatus::Approved,
        original_id: None,
        original_key: None,
        fee_minor: 0,
        refunded_minor: 0,
        balance_minor: None,
        stand_in: false,
        upstream: false,
        reason: String::new(),
    }
}
