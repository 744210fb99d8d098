//! Transactions for the ledger's unit tests.

use model::*;

pub(crate) fn txn(id: u64, kind: TxnKind, status: TxnStatus, amount: i64, fee: i64) -> TxnRecord {
    TxnRecord {
        id: TxnId(id),
        idem_key: format!("k{id}"),
        created_ms: 0,
        mti: "0200".into(),
        kind,
        offline: false,
        terminal_id: TerminalId("T1".into()),
        merchant_id: MerchantId("M1".into()),
        stan: "000001".into(),
        transmitted: "1121230101".into(),
        card_token: Some(CardToken("c1".into())),
        masked_pan: None,
        amount_minor: amount,
        currency: Currency::CNY,
        response_code: if status == TxnStatus::Declined {
            ResponseCode::DoNotHonour
        } else {
            ResponseCode::Approved
        },
        auth_code: None,
        status,
        original_id: None,
        original_key: None,
        fee_minor: fee,
        refunded_minor: 0,
        balance_minor: None,
        stand_in: false,
        upstream: false,
        reason: String::new(),
    }
}
