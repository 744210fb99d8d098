//! `posguard loadgen`: simulated terminals over the real link (the `loadgen` crate),
//! with optional provisioning of their merchant, terminals and cards through the API.
//! With `--dukpt` every terminal is a DUKPT terminal (docs/terminal-security.md), and
//! `--setup` also imports the run's test BDK and sets each terminal's security profile.
//! With `--unionpay` every terminal is a UnionPay (银联) terminal (docs/unionpay.md) on a
//! listener with `link.profile = "unionpay"`: it signs on first, then MACs every request
//! and checks every answer's MAC; `--setup` imports each terminal's test TMK.

use crate::http_client::Api;
use anyhow::{Context, bail};
use clap::Args;
use iso8583::frame::{FrameFormat, LengthPrefix};
use loadgen::{DukptConfig, LoadgenConfig, Mix, UnionPayConfig, fixtures};
use paycrypto::unionpay::KeyLayout;
use serde::Serialize;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use terminal::{KeyId, MacField, Pin, Scheme};

/// Cards provisioned and used when neither `--pans` nor `--demo` names others.
const CARDS_DEFAULT: usize = 64;
/// Share of purchases with a PIN in `--dukpt` runs unless `--pin-percent` says.
const PIN_PERCENT_DEFAULT: u32 = 10;

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
    #[arg(long, conflicts_with_all = ["setup", "dukpt", "unionpay"])]
    pub demo: bool,
    /// Make every connection a DUKPT terminal (tdes, aes128 or aes256): a KSN and a MAC
    /// on every request, PINs on some purchases, every answer's MAC verified. Uses its
    /// own terminals (LT../LA../LB..) and cards with PIN 1234; one connection per
    /// terminal. The BDKs are published test keys.
    #[arg(long, value_name = "SCHEME")]
    pub dukpt: Option<String>,
    /// Purchases that carry a PIN block, percent (with --dukpt or --unionpay; default 10).
    #[arg(long)]
    pub pin_percent: Option<u32>,
    /// Make every connection a UnionPay terminal (a listener with link.profile =
    /// "unionpay"): sign-on for working keys under its TMK, then the MAC on every
    /// request and every answer's MAC verified. Uses its own terminals (LU..) and cards
    /// with PIN 1234; one connection per terminal. The TMKs are test keys.
    #[arg(long, conflicts_with = "dukpt")]
    pub unionpay: bool,
    /// Working keys asked for at sign-on: single (001), double (003) or double-tdk (004).
    #[arg(long, default_value = "double", requires = "unionpay")]
    pub unionpay_keys: String,
    /// The listener's link.unionpay_mac: ecb, ecb-3des, x9.19 or x9.9.
    #[arg(long, default_value = "ecb", requires = "unionpay")]
    pub unionpay_mac: String,
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

/// The `--dukpt` scheme, if any.
fn scheme(args: &LoadgenArgs) -> anyhow::Result<Option<Scheme>> {
    args.dukpt
        .as_deref()
        .map(Scheme::parse)
        .transpose()
        .context("--dukpt")
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
    let dukpt = scheme(args)?;
    if generated {
        let count = args.terminal_count.unwrap_or(args.connections);
        terminals = match dukpt {
            Some(scheme) => (0..count)
                .map(|i| fixtures::dukpt_terminal_id(scheme, i))
                .collect(),
            None if args.unionpay => (0..count).map(fixtures::unionpay_terminal_id).collect(),
            None => (0..count).map(fixtures::terminal_id).collect(),
        };
    }
    let pan = match dukpt {
        Some(_) => fixtures::pin_card_pan,
        None if args.unionpay => fixtures::pin_card_pan,
        None => fixtures::card_pan,
    };
    let pans = if args.pans.is_empty() {
        (0..args.cards)
            .map(|i| (pan(i), fixtures::CARD_EXPIRY.to_owned()))
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
    send(api, "POST", path, body).map(drop)
}

/// One API call that must answer 2xx; returns the answer.
fn send(
    api: &Api,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let (status, answer) = api
        .call(method, path, Some(&body), None)
        .with_context(|| format!("{method} {path}"))?;
    if !(200..300).contains(&status) {
        bail!("{method} {path} answered {status}: {answer}");
    }
    Ok(answer)
}

/// `POST /v1/keys` with clear components (docs/terminal-security.md).
#[derive(Serialize)]
struct KeyImport {
    id: String,
    usage: &'static str,
    algorithm: &'static str,
    components: Vec<KeyComponent>,
}

#[derive(Serialize)]
struct KeyComponent {
    key: String,
    kcv: String,
}

/// `PUT /v1/terminals/{id}/security` (docs/terminal-security.md).
#[derive(Serialize)]
struct SecurityProfile {
    dukpt: &'static str,
    bdk: String,
    key_id: String,
    mac: &'static str,
    mac_field: u8,
    transport: &'static str,
}

fn key_import(scheme: Scheme) -> KeyImport {
    KeyImport {
        id: fixtures::test_bdk_id(scheme),
        usage: "bdk",
        algorithm: scheme.name(),
        components: fixtures::test_bdk_components(scheme)
            .into_iter()
            .map(|(key, kcv)| KeyComponent { key, kcv })
            .collect(),
    }
}

fn security_profile(scheme: Scheme, key_id: &KeyId) -> SecurityProfile {
    SecurityProfile {
        dukpt: scheme.name(),
        bdk: fixtures::test_bdk_id(scheme),
        key_id: key_id.to_hex(),
        mac: "required",
        mac_field: MacField::F64.number(),
        transport: "plain",
    }
}

/// Imports the run's test BDK. A BDK already imported under that id with the same
/// check value (an earlier `--setup`) is fine; another one is not.
fn import_bdk(api: &Api, scheme: Scheme) -> anyhow::Result<()> {
    let import = key_import(scheme);
    let expected = fixtures::test_bdk(scheme).kcv().to_string();
    let body = serde_json::to_value(&import).context("encode the key import")?;
    let (status, answer) = api
        .call("POST", "/v1/keys", Some(&body), None)
        .context("POST /v1/keys")?;
    let kcv = if (200..300).contains(&status) {
        answer["kcv"].as_str().map(str::to_owned)
    } else {
        let (_, keys) = api
            .call("GET", "/v1/keys", None, None)
            .context("GET /v1/keys")?;
        let known = keys.as_array().into_iter().flatten();
        let mut same_id = known.filter(|k| k["id"] == import.id.as_str());
        match same_id.next() {
            Some(k) => k["kcv"].as_str().map(str::to_owned),
            None => bail!("POST /v1/keys answered {status}: {answer}"),
        }
    };
    if !kcv.is_some_and(|k| k.eq_ignore_ascii_case(&expected)) {
        bail!(
            "key {} on the host does not have the test BDK's check value {expected}",
            import.id
        );
    }
    Ok(())
}

/// Imports every terminal's test TMK (`tmk.<terminal>`, usage terminal_master) that
/// the host does not hold yet; one it holds must have the test key's check value.
fn setup_unionpay(api: &Api, terminals: &[String]) -> anyhow::Result<()> {
    let (status, keys) = api
        .call("GET", "/v1/keys", None, None)
        .context("GET /v1/keys")?;
    if !(200..300).contains(&status) {
        bail!("GET /v1/keys answered {status}: {keys}");
    }
    let held: std::collections::HashMap<&str, &str> = keys
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| Some((k["id"].as_str()?, k["kcv"].as_str()?)))
        .collect();
    for (i, terminal) in terminals.iter().enumerate() {
        let id = host::unionpay::tmk_id(terminal);
        let expected = fixtures::test_tmk(i).kcv().to_string();
        match held.get(id.as_str()) {
            Some(kcv) if kcv.eq_ignore_ascii_case(&expected) => continue,
            Some(_) => bail!("key {id} on the host is not the run's test TMK ({expected})"),
            None => {}
        }
        let import = KeyImport {
            id,
            usage: "terminal_master",
            algorithm: "tdes",
            components: fixtures::test_tmk_components(i)
                .into_iter()
                .map(|(key, kcv)| KeyComponent { key, kcv })
                .collect(),
        };
        let body = serde_json::to_value(&import).context("encode the key import")?;
        post(api, "/v1/keys", body)?;
    }
    Ok(())
}

/// Imports the BDK and gives every terminal its DUKPT profile.
fn setup_dukpt(api: &Api, scheme: Scheme, terminals: &[String]) -> anyhow::Result<()> {
    import_bdk(api, scheme)?;
    for (i, id) in terminals.iter().enumerate() {
        let key_id = key_id(scheme, i)?;
        let body = serde_json::to_value(security_profile(scheme, &key_id))
            .context("encode the security profile")?;
        send(api, "PUT", &format!("/v1/terminals/{id}/security"), body)?;
    }
    Ok(())
}

fn key_id(scheme: Scheme, index: usize) -> anyhow::Result<KeyId> {
    fixtures::key_id(scheme, index).with_context(|| {
        format!(
            "--dukpt runs at most {} terminals",
            fixtures::DUKPT_TERMINALS_MAX
        )
    })
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
    let dukpt = scheme(args)?;
    for (pan, expiry) in &fx.pans {
        let mut body = json!({"pan": pan, "expiry": expiry, "kind": "debit", "currency": args.currency,
                          "limit_minor": fixtures::CARD_LIMIT_MINOR, "daily_limit_minor": fixtures::CARD_LIMIT_MINOR});
        if dukpt.is_some() || args.unionpay {
            body["pin"] = fixtures::CARD_PIN.into();
        }
        post(&api, "/v1/cards", body)?;
    }
    if let Some(scheme) = dukpt {
        setup_dukpt(&api, scheme, &fx.terminals)?;
    }
    if args.unionpay {
        setup_unionpay(&api, &fx.terminals)?;
    }
    println!(
        "loadgen setup: merchant {merchant}, {} terminals, {} cards{}",
        fx.terminals.len(),
        fx.pans.len(),
        match dukpt {
            Some(s) => format!(
                ", {s} DUKPT profiles under test BDK {} (PIN {})",
                fixtures::test_bdk_id(s),
                fixtures::CARD_PIN
            ),
            None if args.unionpay => format!(
                ", UnionPay test TMKs tmk.<terminal> (PIN {})",
                fixtures::CARD_PIN
            ),
            None => String::new(),
        }
    );
    Ok(())
}

/// The run's DUKPT settings, from `--dukpt` and `--pin-percent`.
fn dukpt_config(args: &LoadgenArgs, terminals: usize) -> anyhow::Result<Option<DukptConfig>> {
    let Some(scheme) = scheme(args)? else {
        return Ok(None);
    };
    Ok(Some(DukptConfig {
        bdk: fixtures::test_bdk(scheme),
        key_ids: (0..terminals)
            .map(|i| key_id(scheme, i))
            .collect::<anyhow::Result<_>>()?,
        pin_percent: args.pin_percent.unwrap_or(PIN_PERCENT_DEFAULT),
        pin: Pin::new(fixtures::CARD_PIN).context("the cards' PIN")?,
        mac_field: MacField::F64,
    }))
}

/// The run's UnionPay settings, from `--unionpay` and its options. The batch number
/// comes from the clock, so a run's exactly-once keys (terminal, trace, batch) are new.
fn unionpay_config(args: &LoadgenArgs, terminals: usize) -> anyhow::Result<Option<UnionPayConfig>> {
    if !args.unionpay {
        if args.pin_percent.is_some() && args.dukpt.is_none() {
            bail!("--pin-percent needs --dukpt or --unionpay");
        }
        return Ok(None);
    }
    let layout = match args.unionpay_keys.as_str() {
        "single" => KeyLayout::SingleDes,
        "double" => KeyLayout::DoubleDes,
        "double-tdk" => KeyLayout::DoubleDesTdk,
        other => bail!("--unionpay-keys must be single, double or double-tdk, not {other:?}"),
    };
    let mac = host::unionpay::mac_scheme(&args.unionpay_mac).with_context(|| {
        format!(
            "--unionpay-mac must be ecb, ecb-3des, x9.19 or x9.9, not {:?}",
            args.unionpay_mac
        )
    })?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Ok(Some(UnionPayConfig {
        tmks: (0..terminals).map(fixtures::test_tmk).collect(),
        layout,
        mac,
        pin_percent: args.pin_percent.unwrap_or(PIN_PERCENT_DEFAULT),
        pin: Pin::new(fixtures::CARD_PIN).context("the cards' PIN")?,
        batch: (secs % u64::from(loadgen::BATCH_MAX)) as u32 + 1,
    }))
}

fn config(args: &LoadgenArgs, fx: Fixtures, seed: u64) -> anyhow::Result<LoadgenConfig> {
    let prefix = match args.framing.as_str() {
        "binary2" => LengthPrefix::Binary2,
        "ascii4" => LengthPrefix::Ascii4,
        other => bail!("--framing must be binary2 or ascii4, not {other:?}"),
    };
    let dukpt = dukpt_config(args, fx.terminals.len())?;
    let unionpay = unionpay_config(args, fx.terminals.len())?;
    // A UnionPay listener: its spec, and the TPDU and header in front of each message.
    let (spec, header_bytes) = match unionpay {
        Some(_) => (iso8583::Spec::unionpay(), iso8583::unionpay::PREAMBLE_BYTES),
        None => (host::server::load_spec(&args.spec)?, 0),
    };
    let config = LoadgenConfig {
        dukpt,
        unionpay,
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
        spec,
        framing: FrameFormat {
            prefix,
            header_bytes,
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
        "loadgen: seed {seed}, {} connections, {} s, mix {}, {}{}",
        config.connections,
        args.duration_secs,
        config.mix,
        match config.rate {
            Some(r) => format!("{r} requests/s"),
            None => "open throttle".to_owned(),
        },
        match (&args.dukpt, &config.dukpt) {
            (Some(s), Some(d)) => format!(
                ", DUKPT {s} with MACs, PIN on {}% of purchases",
                d.pin_percent
            ),
            _ => match &config.unionpay {
                Some(u) => format!(
                    ", UnionPay ({} keys, {} MAC, batch {:06}), PIN on {}% of purchases",
                    args.unionpay_keys, args.unionpay_mac, u.batch, u.pin_percent
                ),
                None => String::new(),
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const CONTRACT: &str = include_str!("../../../docs/terminal-security.md");

    fn keys(v: &serde_json::Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    /// The profile body has exactly the contract's fields, with values it allows.
    #[test]
    fn security_profile_matches_the_contract() {
        let block = CONTRACT
            .split("```json")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        let json: String = block
            .lines()
            .map(|l| l.split("//").next().unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        let example: serde_json::Value = serde_json::from_str(&json).unwrap();
        for scheme in Scheme::ALL {
            let key_id = fixtures::key_id(scheme, 3).unwrap();
            let ours = serde_json::to_value(security_profile(scheme, &key_id)).unwrap();
            assert_eq!(keys(&ours), keys(&example));
            assert_eq!(ours["mac_field"], example["mac_field"]);
            assert_eq!(ours["transport"], example["transport"]);
            assert_eq!(ours["mac"], "required");
            assert!(CONTRACT.contains(&format!("\"{}\"", scheme.name())));
        }
        let tdes = fixtures::key_id(Scheme::Tdes, 0).unwrap().to_hex();
        assert_eq!(tdes.len(), example["key_id"].as_str().unwrap().len());
    }

    #[test]
    fn key_import_matches_the_contract() {
        let line = CONTRACT
            .lines()
            .find(|l| l.contains("\"components\": [{"))
            .unwrap();
        for scheme in Scheme::ALL {
            let body = serde_json::to_value(key_import(scheme)).unwrap();
            for field in keys(&body) {
                assert!(line.contains(&format!("\"{field}\"")), "{field} in {line}");
            }
            assert_eq!(body["usage"], "bdk");
            let components = body["components"].as_array().unwrap();
            assert_eq!(components.len(), 2);
            for c in components {
                let fields = keys(c);
                assert_eq!(fields, ["kcv", "key"].map(String::from).into());
                assert!(line.contains("\"key\": \"<hex>\", \"kcv\": \"<hex 6>\""));
                assert_eq!(c["kcv"].as_str().unwrap().len(), 6);
            }
        }
    }
}
