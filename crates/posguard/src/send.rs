//! `posguard send`: one request over the terminal link, as a terminal would send it;
//! with `--dukpt`, as a DUKPT terminal (docs/terminal-security.md): KSN in field 62, PIN
//! block with `--pin`, MAC, and the answer's MAC checked.

use crate::cli::SendArgs;
use anyhow::{Context, bail};
use clap::Args;
use host::client::TerminalClient;
use host::tls::{ClientTls, Pem};
use iso8583::frame::{FrameFormat, LengthPrefix};
use iso8583::{MessageBuilder, Spec};
use std::time::Duration;
use terminal::{Bdk, KeyId, MacField, Pan, PendingResponse, Pin, PinEntry, Scheme, Transaction};

/// The `posguard serve --demo` DUKPT terminals' published test BDKs and key ids.
const DEMO_TDES: (&str, &str) = ("0123456789ABCDEFFEDCBA9876543210", "FFFF9876543210E00000");
const DEMO_AES128: (&str, &str) = ("FEDCBA9876543210F1F1F1F1F1F1F1F1", "1234567890123456");

/// `posguard send --dukpt ...`: how the request is protected.
#[derive(Args)]
pub struct DukptArgs {
    /// Send as a DUKPT terminal: tdes, aes128 or aes256. Defaults fit the demo's
    /// TDES0001 and AES00001 (--terminal TDES0001 --dukpt tdes --pin 1234).
    #[arg(long, value_name = "SCHEME")]
    pub dukpt: Option<String>,
    /// The BDK, hex (a test tool derives the terminal's key itself). Default: the
    /// demo's published test BDK (tdes, aes128).
    #[arg(long, requires = "dukpt")]
    pub bdk: Option<String>,
    /// The whole KSN, hex (20 digits TDES, 24 AES), instead of --key-id and --counter.
    #[arg(long, requires = "dukpt", conflicts_with_all = ["key_id", "counter"])]
    pub ksn: Option<String>,
    /// The terminal's key id (its profile's key_id). Default: the demo terminal's.
    #[arg(long, requires = "dukpt")]
    pub key_id: Option<String>,
    /// The KSN's transaction counter. Default: from the clock, so each send uses a
    /// new KSN.
    #[arg(long, requires = "dukpt")]
    pub counter: Option<u32>,
    /// A PIN to send encrypted (field 52 TDES, 110 AES); needs --pan. Test PINs only:
    /// a command line is visible to other users of the machine.
    #[arg(long, requires_all = ["dukpt", "pan"])]
    pub pin: Option<String>,
    /// The profile's mac_field: 64 or 128 (a message with fields above 64 always
    /// carries its MAC in 128).
    #[arg(long, default_value_t = 64, requires = "dukpt")]
    pub mac_field: u16,
}

/// MTI and processing code of each kind of request.
fn mti_and_proc(
    what: &str,
    has_original: bool,
) -> anyhow::Result<(&'static str, Option<&'static str>)> {
    Ok(match what {
        "purchase" => ("0200", Some("000000")),
        "preauth" => ("0100", Some("000000")),
        "completion" if has_original => ("0220", Some("000000")),
        "advice" => ("0220", Some("000000")),
        "refund" => ("0200", Some("200000")),
        "void" => ("0200", Some("020000")),
        "balance" => ("0200", Some("310000")),
        "reversal" => ("0400", Some("000000")),
        "echo" | "signon" | "signoff" => ("0800", None),
        "settle" => ("0500", None),
        "completion" => bail!("completion needs --original-rrn"),
        other => bail!("unknown request {other:?}; see posguard send --help"),
    })
}

/// Field 7 (MMDDhhmmss, UTC) and a STAN for a request sent now. The STAN comes from the
/// clock's milliseconds, so two requests sent in the same second get different keys.
fn transmission_now() -> (String, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let f7 = model::time::transmission_time(now.as_secs() as i64);
    let stan = format!("{:06}", now.as_millis() % 1_000_000);
    (f7, stan)
}

/// A counter a device may use, from the clock (seconds), so repeated sends move on.
fn counter_from_clock(scheme: Scheme) -> anyhow::Result<u32> {
    let rule = scheme.counter_rule();
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let counter = rule
        .next_usable(secs % rule.mask())
        .or_else(|| rule.next_usable(0))
        .context("no usable DUKPT counter")?;
    u32::try_from(counter).context("DUKPT counters fit 32 bits")
}

/// The DUKPT transaction of this request, if `--dukpt` is given.
fn dukpt_transaction(args: &SendArgs) -> anyhow::Result<Option<Transaction>> {
    let d = &args.dukpt;
    let Some(scheme) = d.dukpt.as_deref() else {
        return Ok(None);
    };
    let scheme = Scheme::parse(scheme)?;
    let demo = match scheme {
        Scheme::Tdes => Some(DEMO_TDES),
        Scheme::Aes128 => Some(DEMO_AES128),
        Scheme::Aes256 => None,
    };
    let bdk = match (&d.bdk, demo) {
        (Some(hex), _) => hex.as_str(),
        (None, Some((bdk, _))) => {
            println!("DUKPT {scheme}: the demo's published test BDK");
            bdk
        }
        (None, None) => bail!("--dukpt {scheme} needs --bdk"),
    };
    let bdk = Bdk::from_hex(scheme, bdk).context("--bdk")?;
    let ksn = match (&d.ksn, &d.key_id, demo) {
        (Some(ksn), _, _) => ksn.clone(),
        (None, key_id, demo) => {
            let key_id = match (key_id, demo) {
                (Some(k), _) => k.as_str(),
                (None, Some((_, k))) => k,
                (None, None) => bail!("--dukpt {scheme} needs --key-id or --ksn"),
            };
            let key_id = KeyId::parse(scheme, key_id).context("--key-id")?;
            let counter = match d.counter {
                Some(c) => c,
                None => counter_from_clock(scheme)?,
            };
            key_id.ksn_hex(counter).context("--counter")?
        }
    };
    let mac_field = MacField::from_number(d.mac_field).context("--mac-field must be 64 or 128")?;
    let pin = d
        .pin
        .as_deref()
        .map(Pin::new)
        .transpose()
        .context("--pin")?;
    let pan = match (&pin, &args.pan) {
        (Some(_), Some(pan)) => Some(Pan::new(pan).context("--pan")?),
        _ => None,
    };
    let entry = pin
        .as_ref()
        .zip(pan.as_ref())
        .map(|(pin, pan)| PinEntry { pin, pan });
    let txn = terminal::transaction_at(&bdk, &ksn, entry, mac_field, &mut rand::rng())
        .with_context(|| format!("DUKPT transaction for KSN {ksn}"))?;
    Ok(Some(txn))
}

/// Sends one framed request (over TLS with `--tls-ca`) and reads one framed answer's
/// body.
async fn exchange(
    args: &SendArgs,
    spec: Spec,
    framing: FrameFormat,
    body: &[u8],
    timeout: Duration,
) -> anyhow::Result<Vec<u8>> {
    let tls = client_tls(args)?;
    let mut client = match &tls {
        Some(tls) => TerminalClient::connect_tls(&args.link, tls, spec, framing, timeout).await,
        None => TerminalClient::connect(&args.link, spec, framing, timeout).await,
    }?;
    Ok(client.request_body(body).await?)
}

/// The TLS settings from --tls-ca, --tls-cert, --tls-key and --tls-server-name; None
/// for plain TCP.
fn client_tls(args: &SendArgs) -> anyhow::Result<Option<ClientTls>> {
    let Some(ca) = &args.tls_ca else {
        return Ok(None);
    };
    let server_name = match &args.tls_server_name {
        Some(name) => name.clone(),
        None => host_part(&args.link).to_owned(),
    };
    let ca = Pem::read(ca)?;
    let identity = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some((Pem::read(cert)?, Pem::read(key)?)),
        _ => None,
    };
    let identity = identity.as_ref().map(|(cert, key)| (cert, key));
    Ok(Some(ClientTls::new(&server_name, &ca, identity)?))
}

/// "host" of "host:port" or "[v6]:port".
fn host_part(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Prints the answer and, for a DUKPT request, whether its MAC verified; a MAC that
/// is there but wrong is an error.
fn report(spec: &Spec, body: &[u8], pending: Option<&PendingResponse>) -> anyhow::Result<()> {
    let reply = spec.decode(body).context("decode the answer")?;
    let code = reply.field_str(39).unwrap_or_default().into_owned();
    let words = model::ResponseCode::from_iso(&code)
        .map(|c| format!("{} / {}", c.text_en(), c.text_zh()))
        .unwrap_or_default();
    println!("{} response {code} {words}", reply.mti());
    for n in reply.fields() {
        let value = reply.field_str(n).unwrap_or_default();
        println!("  field {n:>3}: {value}");
    }
    let Some(pending) = pending else {
        return Ok(());
    };
    match pending.verify_response(&reply) {
        Ok(()) => println!("response MAC: verified"),
        Err(terminal::TerminalError::MacMissing) => println!("response MAC: absent"),
        Err(e) => {
            println!("response MAC: FAILED ({e})");
            bail!("the response MAC does not verify");
        }
    }
    Ok(())
}

pub fn run(args: SendArgs) -> anyhow::Result<()> {
    let security = dukpt_transaction(&args)?;
    let (mti, proc_code) = mti_and_proc(&args.what, args.original_rrn.is_some())?;
    let (now_f7, now_stan) = transmission_now();
    let f7 = args.transmitted.clone().unwrap_or(now_f7);
    let stan = args.stan.clone().unwrap_or(now_stan);
    let amount = args.amount.map(|a| format!("{a:012}"));
    let f90 = match (&args.original_stan, &args.original_transmitted) {
        (Some(s), Some(t)) => Some(format!("0200{s:0>6}{t:0>10}{:022}", 0)),
        (None, None) => None,
        _ => bail!("--original-stan and --original-transmitted go together"),
    };
    let totals: Option<Vec<String>> = args.totals.as_ref().map(|t| {
        vec![
            format!("{:010}", t[2]),
            format!("{:010}", t[0]),
            format!("{:016}", t[3]),
            format!("{:016}", t[1]),
        ]
    });
    let mut msg = MessageBuilder::new();
    msg.set_mti(mti)
        .set(7, f7.as_str())
        .set(11, stan.as_str())
        .set(41, args.terminal.as_str());
    if let Some(p) = proc_code {
        msg.set(3, p);
    }
    if let Some(a) = &amount {
        msg.set(4, a.as_str()).set(49, args.currency.as_str());
    }
    if let Some(pan) = &args.pan {
        msg.set(2, pan.as_str()).set(22, "012");
    }
    if let Some(e) = &args.expiry {
        msg.set(14, e.as_str());
    }
    if let Some(m) = &args.merchant {
        msg.set(42, m.as_str());
    }
    if let Some(r) = &args.original_rrn {
        msg.set(37, r.as_str());
    }
    if let Some(f) = &f90 {
        msg.set(90, f.as_str());
    }
    let code = match args.what.as_str() {
        "signon" => Some("001"),
        "signoff" => Some("002"),
        "echo" => Some("301"),
        _ => None,
    };
    if let Some(c) = code {
        msg.set(70, c);
    }
    if let Some(t) = &totals {
        msg.set(74, t[0].as_str())
            .set(76, t[1].as_str())
            .set(86, t[2].as_str())
            .set(88, t[3].as_str());
    }
    let spec = host::server::load_spec(&args.spec)?;
    let prefix = match args.framing.as_str() {
        "binary2" => LengthPrefix::Binary2,
        "ascii4" => LengthPrefix::Ascii4,
        other => bail!("--framing must be binary2 or ascii4, not {other:?}"),
    };
    let framing = FrameFormat {
        prefix,
        header_bytes: 0,
    };
    let mut body = Vec::with_capacity(256);
    let pending = match &security {
        Some(txn) => {
            let pending = txn
                .sign_request(&mut msg, &spec, &mut body)
                .context("sign the request")?;
            let pin = match txn.pin_block() {
                Some((field, _)) => format!(", PIN block in field {field}"),
                None => String::new(),
            };
            println!("DUKPT {}: KSN {}{pin}, MAC", txn.scheme(), txn.ksn_hex());
            Some(pending)
        }
        None => {
            msg.encode_into(&spec, &mut body)
                .context("encode the request")?;
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    let timeout = Duration::from_secs(args.timeout_secs);
    let answer = runtime.block_on(exchange(&args, spec.clone(), framing, &body, timeout))?;
    report(&spec, &answer, pending.as_ref())
}
