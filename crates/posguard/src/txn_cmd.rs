//! Provisioning and transaction queries through the HTTP API.

use crate::cli::{ApiArgs, CardCommand, KeysCommand, MerchantCommand, TerminalCommand, TxnCommand};
use crate::http_client::Api;
use serde_json::json;

pub fn show(
    api: &ApiArgs,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    let client = Api::new(&api.api, &api.token)?;
    let (status, answer) = client.call(method, path, body.as_ref(), None)?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    if status >= 400 {
        anyhow::bail!("the API answered {status}");
    }
    Ok(())
}

pub fn merchant(cmd: MerchantCommand) -> anyhow::Result<()> {
    match cmd {
        MerchantCommand::Add {
            api,
            id,
            name,
            mcc,
            currency,
            fee_bps,
        } => show(
            &api,
            "POST",
            "/v1/merchants",
            Some(
                json!({"id": id, "name": name, "mcc": mcc, "currency": currency, "fee_bps": fee_bps}),
            ),
        ),
        MerchantCommand::List { api } => show(&api, "GET", "/v1/merchants", None),
    }
}

pub fn terminal(cmd: TerminalCommand) -> anyhow::Result<()> {
    match cmd {
        TerminalCommand::Add {
            api,
            id,
            merchant,
            floor_limit_minor,
        } => show(
            &api,
            "POST",
            "/v1/terminals",
            Some(
                json!({"id": id, "merchant_id": merchant, "floor_limit_minor": floor_limit_minor}),
            ),
        ),
        TerminalCommand::List { api } => show(&api, "GET", "/v1/terminals", None),
        TerminalCommand::Security {
            api,
            id,
            dukpt,
            bdk,
            key_id,
            mac,
            transport,
        } => show(
            &api,
            "PUT",
            &format!("/v1/terminals/{id}/security"),
            Some(
                json!({"dukpt": dukpt, "bdk": bdk, "key_id": key_id, "mac": mac, "transport": transport}),
            ),
        ),
        TerminalCommand::Events { api } => show(&api, "GET", "/v1/security-events", None),
    }
}

pub fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::List { api } => show(&api, "GET", "/v1/keys", None),
        KeysCommand::Import {
            api,
            id,
            usage,
            algorithm,
            components,
            tr31,
            kbpk,
        } => {
            let mut body = json!({"id": id, "usage": usage, "algorithm": algorithm,
                                  "tr31": tr31, "kbpk": kbpk});
            if !components.is_empty() {
                let parts = components
                    .iter()
                    .map(|c| {
                        let (key, kcv) = c.split_once(':').ok_or_else(|| {
                            anyhow::anyhow!(
                                "a --component is HEX:KCV (the key, a colon, its check value)"
                            )
                        })?;
                        Ok(json!({"key": key, "kcv": kcv}))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                body["components"] = serde_json::Value::Array(parts);
            }
            show(&api, "POST", "/v1/keys", Some(body))
        }
        KeysCommand::RotateKek { api, new_kek_file } => show(
            &api,
            "POST",
            "/v1/keys/rotate-kek",
            Some(json!({"new_kek_file": new_kek_file})),
        ),
    }
}

pub fn card(cmd: CardCommand) -> anyhow::Result<()> {
    match cmd {
        CardCommand::Add {
            api,
            pan,
            expiry,
            kind,
            currency,
            limit_minor,
            daily_limit_minor,
            pin,
        } => show(
            &api,
            "POST",
            "/v1/cards",
            Some(
                json!({"pan": pan, "expiry": expiry, "kind": kind, "currency": currency,
                        "limit_minor": limit_minor, "daily_limit_minor": daily_limit_minor,
                        "pin": pin}),
            ),
        ),
    }
}

pub fn txn(cmd: TxnCommand) -> anyhow::Result<()> {
    match cmd {
        TxnCommand::List {
            api,
            terminal,
            merchant,
            status,
            limit,
        } => {
            let mut path = format!("/v1/transactions?limit={limit}");
            for (key, value) in [
                ("terminal_id", terminal),
                ("merchant_id", merchant),
                ("status", status),
            ] {
                if let Some(v) = value {
                    path.push_str(&format!("&{key}={v}"));
                }
            }
            show(&api, "GET", &path, None)
        }
        TxnCommand::Show { api, id } => show(&api, "GET", &format!("/v1/transactions/{id}"), None),
    }
}
