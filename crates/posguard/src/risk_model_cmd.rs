//! The fraud model from the command line: train, evaluate on the Handbook's protocols,
//! the metrics of a score vector (for the conformance tests), and the model in force
//! through the HTTP API.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use fraud::eval::{EvalSpec, Stage, evaluate, origin_day, train_split};
use fraud::gbdt::Params;
use fraud::inputs::{DEFAULT, HANDBOOK, Inputs};
use fraud::protocol::{HANDBOOK_FOLDS, HANDBOOK_TRAIN_START_DAY, Split};
use risk::LabelledTxn;
use risk::features::config::MS_PER_DAY;
use serde_json::json;

use crate::cli::{EvalArgs, HistoryArgs, ModelCommand, RiskCommand, TrainArgs};
use crate::txn_cmd::show;

/// A progress line is redrawn at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// The prequential test folds start training this many assessment periods after
/// chapter 3.4's start (chapter 5.3: 2018-07-25 + 3 x 7 days).
const PREQUENTIAL_TEST_OFFSET_PERIODS: i64 = 3;

pub fn run(cmd: RiskCommand) -> anyhow::Result<()> {
    match cmd {
        RiskCommand::Train(a) => train(a),
        RiskCommand::Eval(a) => eval(a),
        RiskCommand::Metrics => metrics(),
        RiskCommand::Model(ModelCommand::Show { api }) => show(&api, "GET", "/v1/risk/model", None),
        RiskCommand::Model(ModelCommand::Install {
            api,
            file,
            review_at,
            decline_at,
        }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("read {}", file.display()))?;
            let model: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let policy = json!({ "review_at": review_at, "decline_at": decline_at });
            let body = json!({ "model": model, "policy": policy });
            show(&api, "PUT", "/v1/risk/model", Some(body))
        }
    }
}

/// A one-line progress report on standard error, when it is a terminal.
struct Progress {
    tty: bool,
    last: Instant,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            last: Instant::now(),
        }
    }

    fn show(&mut self, stage: Stage) {
        if !self.tty || self.last.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last = Instant::now();
        let line = match stage {
            Stage::Replay { done, total } => format!("replay {done}/{total} transactions"),
            Stage::Train {
                split,
                splits,
                trees,
                of,
            } => format!("train split {}/{splits}: {trees}/{of} trees", split + 1),
        };
        eprint!("\r\x1b[2K{line}");
        let _ = std::io::stderr().flush();
    }

    fn done(&self) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
    }
}

/// The calendar day a Handbook CSV's day 0 is, from its first row
/// (`TX_DATETIME` minus `TX_TIME_SECONDS`).
fn csv_origin(path: &Path) -> anyhow::Result<sim::CivilDate> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let _header = lines.next();
    let Some(row) = lines.next().transpose()? else {
        return Ok(sim::HANDBOOK_START_DATE);
    };
    let fields: Vec<&str> = row.split(',').collect();
    let at = fields.get(1).and_then(|d| sim::parse_datetime(d));
    let secs = fields.get(5).and_then(|s| s.parse::<i64>().ok());
    let (Some(at), Some(secs)) = (at, secs) else {
        anyhow::bail!(
            "{}: the first row has no TX_DATETIME or TX_TIME_SECONDS",
            path.display()
        );
    };
    Ok(sim::CivilDate::from_days_since_epoch(
        (at - secs).div_euclid(MS_PER_DAY / 1000),
    ))
}

/// The labelled history and its day 0 (days since the epoch).
fn history(args: &HistoryArgs) -> anyhow::Result<(Vec<LabelledTxn>, i64)> {
    let history = match &args.transactions {
        Some(path) => {
            let start = csv_origin(path)?;
            let file =
                std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
            let h = risk::handbook::history_from_csv(std::io::BufReader::new(file), start)
                .with_context(|| format!("read {}", path.display()))?;
            return Ok((h, start.days_since_epoch()));
        }
        None => {
            let url = crate::ledger_cmd::store_url(&args.store);
            let store = store::open(&url).context("open the store")?;
            let snapshot = store.load().context("read the stored history")?;
            host::risk::history(&snapshot, args.utc_offset_minutes)
        }
    };
    let origin = origin_day(&history);
    Ok((history, origin))
}

fn inputs(args: &HistoryArgs, store: &risk::StoreConfig) -> anyhow::Result<Inputs> {
    let names: &[&str] = match args.inputs.as_str() {
        "default" => &DEFAULT,
        "handbook" => &HANDBOOK,
        other => anyhow::bail!("--inputs must be default or handbook, not {other:?}"),
    };
    Ok(Inputs::resolve(names, store)?)
}

fn params(args: &HistoryArgs) -> anyhow::Result<Params> {
    let Some(text) = &args.params else {
        return Ok(Params::default());
    };
    let mut base = serde_json::to_value(Params::default())?;
    let given: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).context("--params is not a JSON object")?;
    if let Some(obj) = base.as_object_mut() {
        for (k, v) in given {
            if !obj.contains_key(&k) {
                anyhow::bail!("--params: unknown setting {k:?}");
            }
            obj.insert(k, v);
        }
    }
    serde_json::from_value(base).context("--params")
}

fn day_of(date: &str, origin: i64) -> anyhow::Result<i64> {
    let d = sim::CivilDate::parse(date).with_context(|| format!("{date:?} is not YYYY-MM-DD"))?;
    Ok(d.days_since_epoch() - origin)
}

fn write_model(path: &Path, model: &fraud::Model) -> anyhow::Result<()> {
    std::fs::write(path, model.to_json()).with_context(|| format!("write {}", path.display()))
}

fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let store = risk::StoreConfig::default();
    let inputs = inputs(&args.history, &store)?;
    let params = params(&args.history)?;
    let (history, origin) = history(&args.history)?;
    let prequential = match args.protocol.as_str() {
        "split" => false,
        "prequential" => true,
        other => anyhow::bail!("--protocol must be split or prequential, not {other:?}"),
    };
    let default_start = if prequential {
        HANDBOOK_TRAIN_START_DAY + PREQUENTIAL_TEST_OFFSET_PERIODS * args.delta_test
    } else {
        HANDBOOK_TRAIN_START_DAY
    };
    let split = Split {
        train_start_day: match &args.train_start {
            Some(d) => day_of(d, origin)?,
            None => default_start,
        },
        delta_train: args.delta_train,
        delta_delay: args.delta_delay,
        delta_test: args.delta_test,
    };
    let splits = if prequential {
        split.prequential(if args.folds == 0 {
            HANDBOOK_FOLDS
        } else {
            args.folds
        })
    } else {
        vec![split]
    };
    let spec = EvalSpec {
        splits,
        protocol: if prequential { "prequential" } else { "split" },
        inputs: &inputs,
        store,
        params: &params,
        origin_day: origin,
    };
    let mut progress = Progress::new();
    let (report, model) = evaluate(&history, &spec, &mut |s| progress.show(s))?;
    progress.done();
    if let Some(out) = &args.out {
        write_model(out, &model)?;
    }
    let mut value = serde_json::to_value(&report)?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("transactions".into(), json!(history.len()));
        obj.insert("seconds".into(), json!(started.elapsed().as_secs_f64()));
    }
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let store = risk::StoreConfig::default();
    let inputs = inputs(&args.history, &store)?;
    let params = params(&args.history)?;
    let (history, origin) = history(&args.history)?;
    let last_day = history
        .last()
        .map_or(0, |h| h.event.time_ms.div_euclid(MS_PER_DAY) - origin);
    let split = Split {
        train_start_day: match &args.from {
            Some(d) => day_of(d, origin)?,
            None => last_day + 1 - args.days,
        },
        delta_train: args.days,
        ..Split::handbook()
    };
    let mut progress = Progress::new();
    let total = history.len();
    let data = fraud::dataset::replay(
        &history,
        origin,
        &inputs,
        store.clone(),
        |d| split.is_train(d),
        &mut |done| progress.show(Stage::Replay { done, total }),
    )?;
    let (model, rows) = train_split(&data, &split, &inputs, &store, &params, origin, &mut |t| {
        progress.show(Stage::Train {
            split: 0,
            splits: 1,
            trees: t,
            of: params.trees as usize,
        })
    })?;
    progress.done();
    write_model(&args.out, &model)?;
    let t = &model.file().training;
    eprintln!(
        "trained on {} .. {}: {} transactions, {} frauds ({} rows); wrote {}",
        t.from,
        t.to,
        t.rows,
        t.frauds,
        rows.len(),
        args.out.display()
    );
    Ok(())
}

/// `{"scores": [..], "labels": [..], "days": [..], "cards": [..], "k": 100}` on standard
/// input; the three metrics as JSON on standard output.
fn metrics() -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Input {
        scores: Vec<f64>,
        labels: Vec<bool>,
        #[serde(default)]
        days: Vec<i64>,
        #[serde(default)]
        cards: Vec<u32>,
        #[serde(default = "default_k")]
        k: usize,
    }
    fn default_k() -> usize {
        fraud::protocol::CARD_PRECISION_K
    }
    let input: Input = serde_json::from_reader(std::io::stdin().lock()).context("read JSON")?;
    let n = input.scores.len();
    if input.labels.len() != n || input.days.len() != n || input.cards.len() != n {
        anyhow::bail!("scores, labels, days and cards must have the same length");
    }
    let rows: Vec<fraud::metrics::CardScore> = (0..n)
        .map(|i| fraud::metrics::CardScore {
            day: input.days[i],
            card: input.cards[i],
            score: input.scores[i],
            fraud: input.labels[i],
        })
        .collect();
    let (cp, per_day) = fraud::metrics::card_precision_at_k(&rows, input.k.max(1));
    let out = json!({
        "roc_auc": fraud::metrics::roc_auc(&input.scores, &input.labels),
        "average_precision": fraud::metrics::average_precision(&input.scores, &input.labels),
        "card_precision_at_k": cp,
        "card_precision_per_day": per_day,
    });
    println!("{out}");
    Ok(())
}
