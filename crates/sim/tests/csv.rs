//! CSV export and import: the Handbook's column layout, and typed, line-numbered errors on
//! anything else.

use sim::{
    CSV_HEADER, CivilDate, CsvErrorKind, FraudScenario, HANDBOOK_START_DATE, HandbookConfig,
    Transaction, generate, read_csv, write_csv,
};

fn tx(id: u64, seconds: u64, amount_cents: i64, scenario: FraudScenario) -> Transaction {
    Transaction {
        id,
        tx_time_seconds: seconds,
        tx_time_days: (seconds / 86_400) as u32,
        customer_id: 596,
        terminal_id: 3_156,
        amount_cents,
        fraud: scenario != FraudScenario::Genuine,
        scenario,
    }
}

fn to_csv(txs: &[Transaction]) -> String {
    let mut out = Vec::new();
    write_csv(&mut out, HANDBOOK_START_DATE, txs).expect("writing to a Vec");
    String::from_utf8(out).expect("CSV is ASCII")
}

/// Rows as the Handbook's pandas `to_csv` wrote them for the default run (rows 0 and 9583).
#[test]
fn writes_handbook_layout() {
    let rows = [
        tx(0, 31, 5_716, FraudScenario::Genuine),
        Transaction {
            customer_id: 3_814,
            terminal_id: 6_893,
            ..tx(9_583, 90_065, 5_915, FraudScenario::CompromisedCustomer)
        },
        tx(2, 86_400 * 182 + 86_399, 5, FraudScenario::HighAmount),
    ];
    let expected = format!(
        "{CSV_HEADER}\n\
         0,2018-04-01 00:00:31,596,3156,57.16,31,0,0,0\n\
         9583,2018-04-02 01:01:05,3814,6893,59.15,90065,1,1,3\n\
         2,2018-09-30 23:59:59,596,3156,0.05,15811199,182,1,1\n"
    );
    assert_eq!(to_csv(&rows), expected);
}

#[test]
fn round_trips_a_generated_run() {
    let txs = generate(&HandbookConfig {
        customers: 200,
        terminals: 400,
        days: 30,
        ..Default::default()
    });
    assert!(txs.iter().any(|t| t.fraud));
    let text = to_csv(&txs);
    assert_eq!(read_csv(text.as_bytes()).expect("own output parses"), txs);
    let crlf = text.replace('\n', "\r\n");
    assert_eq!(read_csv(crlf.as_bytes()).expect("CRLF parses"), txs);
}

#[test]
fn reads_short_decimals_and_other_start_dates() {
    let text = format!(
        "{CSV_HEADER}\n\
         7,2020-02-29 00:01:00,1,2,3.5,60,0,0,0\n\
         8,2020-03-01 00:00:00,1,2,4,86400,1,0,0\n"
    );
    let txs = read_csv(text.as_bytes()).expect("valid");
    assert_eq!(
        txs.iter().map(|t| t.amount_cents).collect::<Vec<_>>(),
        [350, 400]
    );
    assert_eq!(
        CivilDate::parse("2020-02-29").map(|d| d.to_string()),
        Some("2020-02-29".into())
    );
}

fn error_of(body: &str) -> (u64, CsvErrorKind) {
    let text = format!("{CSV_HEADER}\n0,2018-04-01 00:00:31,596,3156,57.16,31,0,0,0\n{body}");
    let err = read_csv(text.as_bytes()).expect_err("must be rejected");
    (err.line, err.kind)
}

#[test]
fn rejects_bad_rows_with_their_line_number() {
    let good = "1,2018-04-01 00:00:32,596,3156,57.16,32,0,0,0\n";
    // (bad row, the error kind as Debug prints it)
    let cases = [
        (
            "1,2018-04-01 00:00:32,596,3156,57.16,32,0,0",
            "FieldCount { found: 8 }",
        ),
        (
            "x,2018-04-01 00:00:32,596,3156,57.16,32,0,0,0",
            r#"BadField { column: "TRANSACTION_ID" }"#,
        ),
        (
            "1,2018-04-01 00:00:32,596,3156,57.161,32,0,0,0",
            r#"BadField { column: "TX_AMOUNT" }"#,
        ),
        (
            "1,2018-04-01 00:00:32,596,3156,57.,32,0,0,0",
            r#"BadField { column: "TX_AMOUNT" }"#,
        ),
        (
            "1,2018-04-01 00:00:32,596,3156,1e3,32,0,0,0",
            r#"BadField { column: "TX_AMOUNT" }"#,
        ),
        (
            "1,2018-04-01 00:00:32,596,3156,99999999999999999999,32,0,0,0",
            r#"BadField { column: "TX_AMOUNT" }"#,
        ),
        (
            "1,2018-04-01 00:00:32,-5,3156,57.16,32,0,0,0",
            r#"BadField { column: "CUSTOMER_ID" }"#,
        ),
        (
            "1,2018-04-01 00:00:32,596,3156,57.16,32,0,2,0",
            r#"BadField { column: "TX_FRAUD" }"#,
        ),
        (
            "1,2018-04-01 00:00:32,596,3156,57.16,32,0,1,4",
            r#"BadField { column: "TX_FRAUD_SCENARIO" }"#,
        ),
        (
            "1,2018-04-01 25:00:32,596,3156,57.16,32,0,0,0",
            r#"BadField { column: "TX_DATETIME" }"#,
        ),
        (
            "1,2018-04-01 00:00:32,596,3156,57.16,32,1,0,0",
            "DayMismatch",
        ),
        (
            "1,2018-04-01 00:00:33,596,3156,57.16,32,0,0,0",
            "DatetimeMismatch",
        ),
        (
            "1,2018-04-02 00:00:32,596,3156,57.16,32,0,0,0",
            "DatetimeMismatch",
        ),
        (
            "1,2018-04-01 00:00:32,596,3156,57.16,32,0,1,0",
            "FraudMismatch",
        ),
    ];
    for (row, expected) in cases {
        let (line, kind) = error_of(&format!("{good}{row}\n"));
        assert_eq!(line, 4, "{row}");
        assert_eq!(format!("{kind:?}"), expected, "{row}");
    }
}

#[test]
fn rejects_bad_headers_encodings_and_endless_lines() {
    for text in ["", "TRANSACTION_ID,TX_DATETIME\n", "\n"] {
        let err = read_csv(text.as_bytes()).expect_err("bad header");
        assert!(
            matches!(err.kind, CsvErrorKind::BadHeader) && err.line == 1,
            "{text:?}"
        );
    }
    let (line, kind) = error_of("1,2018-04-01 00:00:32,596,3156,\u{e9},32,0,0,0\n");
    assert!(
        line == 3 && matches!(kind, CsvErrorKind::BadField { .. }),
        "{kind:?}"
    );
    let mut bytes = format!("{CSV_HEADER}\n").into_bytes();
    bytes.extend_from_slice(b"1,\xff\n");
    let err = read_csv(bytes.as_slice()).expect_err("not UTF-8");
    assert!(matches!(err.kind, CsvErrorKind::NotUtf8) && err.line == 2);
    let endless = format!("{CSV_HEADER}\n{}", "9".repeat(100_000));
    let err = read_csv(endless.as_bytes()).expect_err("too long");
    assert!(matches!(err.kind, CsvErrorKind::LineTooLong) && err.line == 2);
    assert!(err.to_string().contains("line 2"));
}
