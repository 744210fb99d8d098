use crate::cli::ServeArgs;
use anyhow::Context;
use host::Config;

/// Settings: defaults, then the TOML file, then environment variables and flags
/// (clap reads both; a flag wins over its variable).
pub fn config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?
        }
        None => Config::default(),
    };
    if let Some(v) = &args.data_dir {
        config.data_dir = v.clone();
    }
    if let Some(v) = &args.store_url {
        config.store_url = Some(v.clone());
    }
    if let Some(v) = &args.link_listen {
        config.link.listen = v.clone();
    }
    if let Some(v) = &args.http_listen {
        config.http.listen = v.clone();
    }
    if let Some(v) = &args.framing {
        config.link.framing = v.clone();
    }
    if let Some(v) = &args.spec {
        config.link.spec = v.clone();
    }
    if let Some(v) = &args.link_profile {
        config.link.profile = v.clone();
    }
    if let Some(v) = &args.link_unionpay_mac {
        config.link.unionpay_mac = v.clone();
    }
    if let Some(v) = args.idle_timeout_ms {
        config.link.idle_timeout_ms = v;
    }
    if let Some(v) = &args.kek_file {
        config.kek_file = Some(v.clone());
    }
    config.demo |= args.demo;
    if let Some(risk) = &args.risk {
        config.risk.enabled = risk == "on";
    }
    if let Some(fail) = &args.risk_fail {
        config.risk.fail = match fail.as_str() {
            "closed" => host::risk::FailMode::Closed,
            _ => host::risk::FailMode::Open,
        };
    }
    let link = &mut config.link;
    set(&mut link.tls_listen, &args.link_tls_listen);
    set(&mut link.tls_cert, &args.link_tls_cert);
    set(&mut link.tls_key, &args.link_tls_key);
    set(&mut link.tls_client_ca, &args.link_tls_client_ca);
    set(&mut link.tls_client_auth, &args.link_tls_client_auth);
    let http = &mut config.http;
    set(&mut http.tls_cert, &args.http_tls_cert);
    set(&mut http.tls_key, &args.http_tls_key);
    set(&mut http.tls_client_ca, &args.http_tls_client_ca);
    set(&mut http.tls_client_auth, &args.http_tls_client_auth);
    if let Some(addr) = &args.upstream {
        config.upstream.get_or_insert_with(Default::default).addr = addr.clone();
    }
    if let Some(policy) = &args.upstream_on_unavailable {
        config
            .upstream
            .get_or_insert_with(Default::default)
            .on_unavailable = policy.clone();
    }
    Ok(config)
}

/// An optional setting overridden by its flag or variable, when given.
fn set<T: Clone>(setting: &mut Option<T>, arg: &Option<T>) {
    if arg.is_some() {
        setting.clone_from(arg);
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    runtime.block_on(async move {
        let running = host::start(config).await?;
        if let Some(token) = &running.new_admin_token {
            println!(
                "admin API token (shown once, store it now) / 管理员令牌(仅显示一次):\n  {token}\n"
            );
        }
        if args.demo {
            host::demo::seed(&running.app).await?;
            println!(
                "{}",
                host::demo::instructions(
                    &running.link_addr.to_string(),
                    &running.http_addr.to_string()
                )
            );
        }
        let link_tls = running
            .link_tls_addr
            .map(|a| format!(" (TLS {a})"))
            .unwrap_or_default();
        let http = if running.app.config.http.tls_cert.is_some() {
            "HTTPS"
        } else {
            "HTTP"
        };
        println!(
            "posguard serving: terminal link {}{link_tls}  {http} {}  store {}",
            running.link_addr,
            running.http_addr,
            running.app.store.backend()
        );
        tokio::signal::ctrl_c().await.context("wait for Ctrl-C")?;
        // Every answer already sent is durable; anything in flight was never acknowledged.
        println!("posguard: stopping");
        anyhow::Ok(())
    })
}
