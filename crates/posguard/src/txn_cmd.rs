//! Provisioning and transaction queries through the HTTP API.

use crate::cli::{ApiArgs, CardCommand, MerchantCommand, TerminalCommand, TxnCommand};
use crate::http_client::Api;
use serde_json::json;

fn show(
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
        } => show(
            &api,
            "POST",
            "/v1/cards",
            Some(
                json!({"pan": pan, "expiry": expiry, "kind": kind, "currency": currency,
                        "limit_minor": limit_minor, "daily_limit_minor": daily_limit_minor}),
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
