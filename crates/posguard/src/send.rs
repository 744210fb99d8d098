//! `posguard send`: one request over the terminal link, as a terminal would send it.

use crate::cli::SendArgs;
use anyhow::{Context, bail};
use host::client::TerminalClient;
use host::tls::{ClientTls, Pem};
use iso8583::MessageBuilder;
use iso8583::frame::{FrameFormat, LengthPrefix};
use std::time::Duration;

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

pub fn run(args: SendArgs) -> anyhow::Result<()> {
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
    let tls = client_tls(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    let reply = runtime.block_on(async {
        let framing = FrameFormat {
            prefix,
            header_bytes: 0,
        };
        let timeout = Duration::from_secs(args.timeout_secs);
        let mut client = match &tls {
            Some(tls) => TerminalClient::connect_tls(&args.link, tls, spec, framing, timeout).await,
            None => TerminalClient::connect(&args.link, spec, framing, timeout).await,
        }?;
        client.request(&msg).await
    })?;
    let code = reply.code().to_owned();
    let words = model::ResponseCode::from_iso(&code)
        .map(|c| format!("{} / {}", c.text_en(), c.text_zh()))
        .unwrap_or_default();
    println!("{} response {code} {words}", reply.mti);
    for (n, v) in &reply.fields {
        println!("  field {n:>3}: {v}");
    }
    Ok(())
}
