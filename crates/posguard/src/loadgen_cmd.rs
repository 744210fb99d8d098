//! `posguard loadgen`: simulated terminals over the real link (the `loadgen` crate),
//! with optional provisioning of their merchant, terminals and cards through the API.

use crate::http_client::Api;
use anyhow::{Context, bail};
use clap::Args;
use iso8583::frame::{FrameFormat, LengthPrefix};
use loadgen::{LoadgenConfig, Mix, fixtures};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// Cards provisioned and used when neither `--pans` nor `--demo` names others.
const CARDS_DEFAULT: usize = 64;

#[derive(Args)]
pub struct LoadgenArgs {
    /// Terminal link address.
    #[arg(long, env = "POSGUARD_LINK", default_value = "127.0.0.1:8583")]
    pub link: String,
    /// Simulated terminals, one TCP connection each.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Requests per second over all connections. Default: open throttle, each
    /// connection sends its next request as soon as the previous one is answered.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Percentages of each request kind (summing to 100).
    #[arg(long, default_value = "purchase=90,refund=4,reversal=3,repeat=2,bad=1")]
    pub mix: String,
    /// Seed of every choice; default: from the clock. Printed, so a run can be replayed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write one line per approved transaction key: TERMINAL STAN FIELD7 RRN AMOUNT KIND.
    #[arg(long)]
    pub ack_log: Option<PathBuf>,
    /// Terminal ids, comma-separated. Default: LG000001.. (see --terminal-count).
    #[arg(long, value_delimiter = ',')]
    pub terminals: Vec<String>,
    /// A file of terminal ids, one per line (added to --terminals).
    #[arg(long)]
    pub terminals_from: Option<PathBuf>,
    /// How many LG000001.. terminals to use and provision; default: one per connection.
    #[arg(long)]
    pub terminal_count: Option<usize>,
    /// Cards as PAN:YYMM, comma-separated. Default: the provisioned cards (see --cards).
    #[arg(long, value_delimiter = ',')]
    pub pans: Vec<String>,
    /// How many provisioned cards (999000000000000N + check digit) to use and provision.
    #[arg(long, default_value_t = CARDS_DEFAULT)]
    pub cards: usize,
    /// Field 42. Default: LOADGEN00000001 for the LG terminals, none for --terminals.
    #[arg(long)]
    pub merchant: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub amount_min_minor: u64,
    #[arg(long, default_value_t = 10_000)]
    pub amount_max_minor: u64,
    /// ISO 4217 numeric currency (field 49).
    #[arg(long, default_value = "156")]
    pub currency: String,
    /// An answer later than this: reconnect and send the request again as a repeat.
    #[arg(long, default_value_t = 5_000)]
    pub timeout_ms: u64,
    /// How long to keep reconnecting and retransmitting one request (a restarting
    /// host is waited for this long).
    #[arg(long, default_value_t = 30)]
    pub retry_window_secs: u64,
    /// First provision the merchant, terminals and cards through the HTTP API
    /// (idempotent: an existing one is updated). Needs --token.
    #[arg(long)]
    pub setup: bool,
    #[arg(long, env = "POSGUARD_API", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    #[arg(long, env = "POSGUARD_TOKEN")]
    pub token: Option<String>,
    /// Use `posguard serve --demo`'s terminals and its two approving cards instead
    /// (their limits soon decline a long run with 51/61).
    #[arg(long, conflicts_with = "setup")]
    pub demo: bool,
    #[arg(long, default_value = "posguard-ascii")]
    pub spec: String,
    #[arg(long, default_value = "binary2")]
    pub framing: String,
}

/// The terminals, cards and merchant the run uses.
struct Fixtures {
    terminals: Vec<String>,
    pans: Vec<(String, String)>,
    merchant: Option<String>,
    /// Made by this tool (so `--setup` may provision them).
    generated: bool,
}

fn fixtures(args: &LoadgenArgs) -> anyhow::Result<Fixtures> {
    if args.demo {
        let pans = host::demo::CARDS[..2]
            .iter()
            .map(|c| (c.0.to_owned(), c.1.to_owned()));
        return Ok(Fixtures {
            terminals: host::demo::TERMINALS
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            pans: pans.collect(),
            merchant: Some(host::demo::MERCHANT.to_owned()),
            generated: false,
        });
    }
    let mut terminals = args.terminals.clone();
    if let Some(path) = &args.terminals_from {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        terminals.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    let generated = terminals.is_empty();
    if generated {
        let count = args.terminal_count.unwrap_or(args.connections);
        terminals = (0..count).map(fixtures::terminal_id).collect();
    }
    let pans = if args.pans.is_empty() {
        (0..args.cards)
            .map(|i| (fixtures::card_pan(i), fixtures::CARD_EXPIRY.to_owned()))
            .collect()
    } else {
        let split = |p: &String| {
            p.split_once(':')
                .map(|(pan, exp)| (pan.to_owned(), exp.to_owned()))
        };
        args.pans
            .iter()
            .map(|p| split(p).with_context(|| format!("--pans item {p:?} is not PAN:YYMM")))
            .collect::<anyhow::Result<_>>()?
    };
    let merchant = args
        .merchant
        .clone()
        .or(generated.then(|| fixtures::MERCHANT_ID.to_owned()));
    Ok(Fixtures {
        terminals,
        pans,
        merchant,
        generated,
    })
}

/// Posts one provisioning request; any 2xx is fine (the API upserts).
fn post(api: &Api, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
    let (status, answer) = api
        .call("POST", path, Some(&body), None)
        .with_context(|| format!("POST {path}"))?;
    if !(200..300).contains(&status) {
        bail!("POST {path} answered {status}: {answer}");
    }
    Ok(())
}

/// Provisions the merchant, terminals and cards the run uses.
fn setup(args: &LoadgenArgs, fx: &Fixtures) -> anyhow::Result<()> {
    let token = args
        .token
        .as_deref()
        .context("--setup needs --token (or POSGUARD_TOKEN)")?;
    let api = Api::new(&args.api, token)?;
    let merchant = fx
        .merchant
        .clone()
        .unwrap_or_else(|| fixtures::MERCHANT_ID.to_owned());
    if fx.generated || args.merchant.is_some() {
        let body = json!({"id": merchant, "name": "posguard loadgen", "mcc": "5411", "currency": args.currency, "fee_bps": 60});
        post(&api, "/v1/merchants", body)?;
    }
    for id in &fx.terminals {
        post(
            &api,
            "/v1/terminals",
            json!({"id": id, "merchant_id": merchant, "floor_limit_minor": 0}),
        )?;
    }
    for (pan, expiry) in &fx.pans {
        let body = json!({"pan": pan, "expiry": expiry, "kind": "debit", "currency": args.currency,
                          "limit_minor": fixtures::CARD_LIMIT_MINOR, "daily_limit_minor": fixtures::CARD_LIMIT_MINOR});
        post(&api, "/v1/cards", body)?;
    }
    println!(
        "loadgen setup: merchant {merchant}, {} terminals, {} cards",
        fx.terminals.len(),
        fx.pans.len()
    );
    Ok(())
}

fn config(args: &LoadgenArgs, fx: Fixtures, seed: u64) -> anyhow::Result<LoadgenConfig> {
    let prefix = match args.framing.as_str() {
        "binary2" => LengthPrefix::Binary2,
        "ascii4" => LengthPrefix::Ascii4,
        other => bail!("--framing must be binary2 or ascii4, not {other:?}"),
    };
    let config = LoadgenConfig {
        link_addr: args.link.clone(),
        connections: args.connections,
        duration: Duration::from_secs(args.duration_secs),
        rate: args.rate,
        mix: Mix::parse(&args.mix).context("--mix")?,
        terminals: fx.terminals,
        merchant: fx.merchant,
        pans: fx.pans,
        amount_min_minor: args.amount_min_minor,
        amount_max_minor: args.amount_max_minor,
        currency: args.currency.clone(),
        seed,
        ack_log: args.ack_log.clone(),
        request_timeout: Duration::from_millis(args.timeout_ms),
        retry_window: Duration::from_secs(args.retry_window_secs),
        reconnect: true,
        spec: host::server::load_spec(&args.spec)?,
        framing: FrameFormat {
            prefix,
            header_bytes: 0,
        },
    };
    config.check()?;
    Ok(config)
}

pub fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    let seed = args.seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        now.as_nanos() as u64
    });
    let fx = fixtures(&args)?;
    if args.setup {
        setup(&args, &fx)?;
    }
    let config = config(&args, fx, seed)?;
    println!(
        "loadgen: seed {seed}, {} connections, {} s, mix {}, {}",
        config.connections,
        args.duration_secs,
        config.mix,
        match config.rate {
            Some(r) => format!("{r} requests/s"),
            None => "open throttle".to_owned(),
        }
    );
    if config.duration.is_zero() {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    let report = runtime.block_on(loadgen::run(config))?;
    report.print();
    let violations = report.violations();
    if !violations.is_empty() {
        bail!("the host misbehaved: {}", violations.join("; "));
    }
    if report.stats.answered == 0 {
        bail!("no request was answered (seed {seed})");
    }
    Ok(())
}
