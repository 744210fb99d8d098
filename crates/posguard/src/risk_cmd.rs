//! Risk control from the command line: back-test a rule set over stored history or a
//! simulator CSV (offline), and rules, alerts and cases through the HTTP API.

use crate::cli::{AlertCommand, BacktestArgs, CaseCommand, RulesCommand};
use crate::txn_cmd::show;
use anyhow::Context;
use serde_json::json;

pub fn rules(cmd: RulesCommand) -> anyhow::Result<()> {
    match cmd {
        RulesCommand::Backtest(args) => backtest(args),
        RulesCommand::Show { api } => show(&api, "GET", "/v1/rules", None),
        RulesCommand::Install { api, files } => {
            let mut texts = serde_json::Map::new();
            for path in files {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("read {}", path.display()))?;
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                texts.insert(name, serde_json::Value::String(text));
            }
            show(&api, "PUT", "/v1/rules", Some(json!({ "files": texts })))
        }
    }
}

/// The rule files to test: the given ones, or the shipped packs.
fn rule_files(paths: &[std::path::PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    if paths.is_empty() {
        return Ok(host::risk::packs::SHIPPED
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect());
    }
    paths
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

fn backtest(args: BacktestArgs) -> anyhow::Result<()> {
    let config = risk::StoreConfig::default();
    let schema = risk::Schema::new(&config);
    let files = rule_files(&args.rules)?;
    let texts: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let set = risk::RuleSet::from_texts(1, &texts, &schema).map_err(|e| anyhow::anyhow!("{e}"))?;
    let history = match &args.csv {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
            let txs = sim::read_csv(std::io::BufReader::new(file)).context("read the CSV")?;
            txs.iter()
                .map(|tx| risk::handbook::from_sim(tx, sim::HANDBOOK_START_DATE))
                .collect()
        }
        None => {
            let url = crate::ledger_cmd::store_url(&args.store);
            let store = store::open(&url).context("open the store")?;
            let snapshot = store.load().context("read the stored history")?;
            host::risk::history(&snapshot, args.utc_offset_minutes)
        }
    };
    let report = risk::backtest(&set, config, &history).context("back-test")?;
    println!(
        "{} transactions, {} labelled fraud, {} rules",
        report.transactions,
        report.frauds,
        report.rules.len()
    );
    println!(
        "{:<42} {:>8} {:>9} {:>9} {:>9} {:>7}",
        "rule", "hits", "hit rate", "precision", "recall", "errors"
    );
    for r in &report.rules {
        let id = match r.mode {
            risk::Mode::Shadow => format!("{} (shadow)", r.rule_id),
            risk::Mode::Active => r.rule_id.clone(),
        };
        println!(
            "{:<42} {:>8} {:>8.3}% {:>9.3} {:>9.3} {:>7}",
            id,
            r.hits,
            r.hit_rate * 100.0,
            r.precision,
            r.recall,
            r.errors
        );
    }
    Ok(())
}

pub fn alerts(cmd: AlertCommand) -> anyhow::Result<()> {
    match cmd {
        AlertCommand::List { api, case } => {
            let path = match case {
                Some(id) => format!("/v1/alerts?case_id={id}"),
                None => "/v1/alerts".to_owned(),
            };
            show(&api, "GET", &path, None)
        }
    }
}

pub fn cases(cmd: CaseCommand) -> anyhow::Result<()> {
    match cmd {
        CaseCommand::List { api, status } => {
            let path = match status {
                Some(s) => format!("/v1/cases?status={s}"),
                None => "/v1/cases".to_owned(),
            };
            show(&api, "GET", &path, None)
        }
        CaseCommand::Show { api, id } => show(&api, "GET", &format!("/v1/cases/{id}"), None),
        CaseCommand::Assign { api, id, to } => show(
            &api,
            "POST",
            &format!("/v1/cases/{id}/assign"),
            Some(json!({ "assignee": to })),
        ),
        CaseCommand::Comment { api, id, text } => show(
            &api,
            "POST",
            &format!("/v1/cases/{id}/comment"),
            Some(json!({ "text": text })),
        ),
        CaseCommand::Escalate { api, id, note } => show(
            &api,
            "POST",
            &format!("/v1/cases/{id}/escalate"),
            Some(json!({ "note": note.unwrap_or_default() })),
        ),
        CaseCommand::Close {
            api,
            id,
            outcome,
            note,
        } => show(
            &api,
            "POST",
            &format!("/v1/cases/{id}/close"),
            Some(json!({ "outcome": outcome, "note": note.unwrap_or_default() })),
        ),
    }
}
