//! `posguard sim drive`: the Handbook simulator as traffic for a running host. Customers
//! become cards, terminals become terminals; purchases go over the terminal link in time
//! order, compressed in time, and the answers are tallied against the simulator's
//! labels. The host decides on its own clock (a compressed run squeezes the feature
//! windows too), so this exercises the live path (link, rules, model, alerts, cases), it
//! does not measure quality: `posguard risk eval` does that on the simulator's own times.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use host::client::TerminalClient;
use iso8583::MessageBuilder;
use iso8583::frame::{FrameFormat, LengthPrefix};
use loadgen::fixtures;
use serde_json::json;

use crate::cli::ApiArgs;
use crate::http_client::Api;

/// Simulated merchant owning every simulated terminal.
const MERCHANT_ID: &str = "HANDBOOK0000001";
/// STANs run 1..=999999 and wrap.
const STAN_MAX: u32 = 999_999;
/// An answer later than this ends the run with an error.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Args)]
pub struct DriveArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The host's terminal link.
    #[arg(long, default_value = "127.0.0.1:8583")]
    pub link: String,
    #[arg(long, default_value = "posguard-ascii")]
    pub spec: String,
    #[arg(long, default_value_t = 5_000)]
    pub customers: u32,
    #[arg(long, default_value_t = 10_000)]
    pub terminals: u32,
    #[arg(long, default_value_t = 183)]
    pub days: u32,
    /// Simulated seconds per real second (86,400: a day a second); 0 sends as fast as
    /// the host answers.
    #[arg(long, default_value_t = 86_400.0)]
    pub speedup: f64,
    /// Send at most this many transactions (from the first).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Provision the merchant, the terminals and the cards first (through the API).
    #[arg(long)]
    pub setup: bool,
}

fn terminal_id(sim_terminal: u32) -> String {
    format!("HB{sim_terminal:06}")
}

fn setup(args: &DriveArgs, txs: &[sim::Transaction]) -> anyhow::Result<()> {
    let api = Api::new(&args.api.api, &args.api.token)?;
    let post = |path: &str, body: serde_json::Value| -> anyhow::Result<()> {
        let (status, answer) = api
            .call("POST", path, Some(&body), None)
            .with_context(|| format!("POST {path}"))?;
        anyhow::ensure!(status < 300, "POST {path} answered {status}: {answer}");
        Ok(())
    };
    post(
        "/v1/merchants",
        json!({"id": MERCHANT_ID, "name": "Handbook simulator", "mcc": "5411",
               "currency": "156", "fee_bps": 60}),
    )?;
    let terminals: BTreeSet<u32> = txs.iter().map(|t| t.terminal_id).collect();
    let cards: BTreeSet<u32> = txs.iter().map(|t| t.customer_id).collect();
    for t in &terminals {
        post(
            "/v1/terminals",
            json!({"id": terminal_id(*t), "merchant_id": MERCHANT_ID, "floor_limit_minor": 0}),
        )?;
    }
    for c in &cards {
        post(
            "/v1/cards",
            json!({"pan": fixtures::card_pan(*c as usize), "expiry": fixtures::CARD_EXPIRY,
                   "kind": "debit", "currency": "156",
                   "limit_minor": fixtures::CARD_LIMIT_MINOR,
                   "daily_limit_minor": fixtures::CARD_LIMIT_MINOR}),
        )?;
    }
    eprintln!(
        "setup: merchant {MERCHANT_ID}, {} terminals, {} cards",
        terminals.len(),
        cards.len()
    );
    Ok(())
}

/// Field 7 (MMDDhhmmss) of a simulated time.
fn field_7(epoch_seconds: i64) -> String {
    let text = sim::format_datetime(epoch_seconds); // "YYYY-MM-DD hh:mm:ss"
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.get(4..14).unwrap_or("0101000000").to_owned()
}

pub fn run(args: DriveArgs) -> anyhow::Result<()> {
    let cfg = sim::HandbookConfig {
        customers: args.customers,
        terminals: args.terminals,
        days: args.days,
        ..sim::HandbookConfig::default()
    };
    let mut txs = sim::generate(&cfg);
    if let Some(n) = args.limit {
        txs.truncate(n);
    }
    if args.setup {
        setup(&args, &txs)?;
    }
    let spec = host::server::load_spec(&args.spec)?;
    let framing = FrameFormat {
        prefix: LengthPrefix::Binary2,
        header_bytes: 0,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    let origin = cfg.start_date.days_since_epoch() * 86_400;
    runtime.block_on(async move {
        let mut client = TerminalClient::connect(&args.link, spec, framing, ANSWER_TIMEOUT)
            .await
            .with_context(|| format!("connect to {}", args.link))?;
        // (fraud label, response code) -> count
        let mut tally: BTreeMap<(bool, String), u64> = BTreeMap::new();
        let started = Instant::now();
        let first = txs.first().map_or(0, |t| t.tx_time_seconds);
        for (i, tx) in txs.iter().enumerate() {
            if args.speedup > 0.0 {
                let due = (tx.tx_time_seconds - first) as f64 / args.speedup;
                let wait = due - started.elapsed().as_secs_f64();
                if wait > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                }
            }
            let stan = format!("{:06}", (i as u32) % STAN_MAX + 1);
            let amount = format!("{:012}", tx.amount_cents);
            let pan = fixtures::card_pan(tx.customer_id as usize);
            let f7 = field_7(origin + tx.tx_time_seconds as i64);
            let terminal = terminal_id(tx.terminal_id);
            let mut m = MessageBuilder::new();
            m.set_mti("0200")
                .set(2, pan.as_str())
                .set(3, "000000")
                .set(4, amount.as_str())
                .set(7, f7.as_str())
                .set(11, stan.as_str())
                .set(14, fixtures::CARD_EXPIRY)
                .set(22, "051")
                .set(41, terminal.as_str())
                .set(49, "156");
            let reply = client
                .request(&m)
                .await
                .with_context(|| format!("transaction {}", tx.id))?;
            *tally
                .entry((tx.fraud, reply.code().to_owned()))
                .or_default() += 1;
        }
        let secs = started.elapsed().as_secs_f64();
        let by_label = |fraud: bool| -> serde_json::Map<String, serde_json::Value> {
            tally
                .iter()
                .filter(|((f, _), _)| *f == fraud)
                .map(|((_, code), n)| (code.clone(), json!(n)))
                .collect()
        };
        let out = json!({
            "sent": txs.len(),
            "seconds": secs,
            "per_second": txs.len() as f64 / secs.max(1e-9),
            "genuine_by_code": by_label(false),
            "fraud_by_code": by_label(true),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        anyhow::Ok(())
    })
}
