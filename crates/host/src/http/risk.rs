//! Risk control over the API: the rule set (read, replace with checking, no restart),
//! alerts, and cases with their steps (assign, comment, escalate, close).

use super::auth::Actor;
use super::body::{Fields, JsonBody, PathText};
use super::{AppState, read_store};
use crate::api_error::{ApiError, ErrorKind};
use crate::risk::{CaseStep, CaseStepError, RULES_META_KEY, RiskControl, StoredRules};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use model::{Alert, Case, CaseEvent, TxnId};
use risk::{RuleSet, RuleSpec};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use store::{AlertQuery, CaseQuery};

type Reply<T> = Result<Json<T>, ApiError>;

fn handle(app: &AppState) -> Result<&crate::risk::RiskHandle, ApiError> {
    app.risk.as_ref().ok_or_else(|| {
        ApiError::with_detail(
            ErrorKind::NotFound,
            "risk control is off (risk.enabled = false)",
        )
    })
}

#[derive(Serialize)]
pub struct RuleView {
    id: String,
    version: u32,
    severity: &'static str,
    score: u16,
    action: String,
    mode: &'static str,
    description: String,
    when: String,
}

#[derive(Serialize)]
pub struct RuleSetView {
    version: u64,
    files: Vec<String>,
    rules: Vec<RuleView>,
}

fn view(set: &RuleSet, files: &StoredRules) -> RuleSetView {
    RuleSetView {
        version: set.version,
        files: files.files.iter().map(|(n, _)| n.clone()).collect(),
        rules: set
            .rules()
            .iter()
            .map(|r| RuleView {
                id: r.id.to_string(),
                version: r.version,
                severity: r.severity.as_str(),
                score: r.score,
                action: r.action.to_string(),
                mode: mode_name(r.mode),
                description: r.description.clone(),
                when: r.when.clone(),
            })
            .collect(),
    }
}

pub async fn get_rules(State(app): State<AppState>) -> Reply<RuleSetView> {
    let h = handle(&app)?;
    let set = h.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
    let files = h.files.read().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Json(view(&set, &files)))
}

/// Replaces the rule set: `{"files": {"name.rules": "<text>", ...}}` or `{"rules":
/// [<rule object>, ...]}`. Checked in full first: any error (with file, line and
/// column) leaves the running set untouched. Installed durably, then switched.
pub async fn put_rules(
    State(app): State<AppState>,
    JsonBody(mut f): JsonBody,
) -> Reply<RuleSetView> {
    let h = handle(&app)?.clone();
    let files: Option<std::collections::BTreeMap<String, String>> = f.opt_object("files")?;
    let specs: Option<Vec<RuleSpec>> = f.opt_object("rules")?;
    f.finish()?;
    let version = h.rules.read().unwrap_or_else(|e| e.into_inner()).version + 1;
    let (set, stored) = match (files, specs) {
        (Some(files), None) => {
            let texts: Vec<(&str, &str)> = files
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str()))
                .collect();
            let set = RuleSet::from_texts(version, &texts, &h.schema).map_err(rejected)?;
            (
                set,
                StoredRules {
                    version,
                    files: files.into_iter().collect(),
                },
            )
        }
        (None, Some(specs)) => {
            let text = specs_as_text(&specs);
            let set = RuleSet::from_specs(version, specs, &h.schema).map_err(rejected)?;
            (
                set,
                StoredRules {
                    version,
                    files: vec![("api.rules".into(), text)],
                },
            )
        }
        _ => return Err(ApiError::validation("files", "give either files or rules")),
    };
    let json = serde_json::to_string(&stored).map_err(|_| ApiError::new(ErrorKind::Internal))?;
    app.pipeline
        .set_meta(RULES_META_KEY.to_owned(), json)
        .await?;
    let set = Arc::new(set);
    *h.rules.write().unwrap_or_else(|e| e.into_inner()) = set.clone();
    *h.files.write().unwrap_or_else(|e| e.into_inner()) = stored.clone();
    tracing::info!(version, rules = set.len(), "install a rule set");
    Ok(Json(view(&set, &stored)))
}

/// Rule objects written back as `.rules` text (what is stored and shown as files).
fn specs_as_text(specs: &[RuleSpec]) -> String {
    let mut out = String::new();
    for s in specs {
        out.push_str(&format!(
            "rule {} {{\n  version {}\n  severity {}\n  score {}\n  action {}\n  mode {}\n  description {:?}\n  when {}\n}}\n\n",
            s.id,
            s.version,
            s.severity.as_str(),
            s.score,
            s.action,
            mode_name(s.mode),
            s.description,
            s.when.replace('\n', "\n      ")
        ));
    }
    out
}

fn mode_name(mode: risk::Mode) -> &'static str {
    match mode {
        risk::Mode::Active => "active",
        risk::Mode::Shadow => "shadow",
    }
}

fn rejected(e: risk::RuleSetError) -> ApiError {
    ApiError::validation("rules", e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertFilter {
    case_id: Option<u64>,
    terminal_id: Option<String>,
    card_token: Option<String>,
    merchant_id: Option<String>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    after_id: Option<u64>,
    limit: Option<u32>,
}

fn bad_query(_: QueryRejection) -> ApiError {
    ApiError::with_detail(
        ErrorKind::BadRequest,
        "unknown or malformed query parameter",
    )
}

pub async fn list_alerts(
    State(app): State<AppState>,
    query: Result<Query<AlertFilter>, QueryRejection>,
) -> Reply<Vec<Alert>> {
    let Query(f) = query.map_err(bad_query)?;
    let q = AlertQuery {
        case_id: f.case_id,
        terminal_id: f.terminal_id.map(model::TerminalId),
        card_token: f.card_token.map(model::CardToken),
        merchant_id: f.merchant_id.map(model::MerchantId),
        from_ms: f.from_ms,
        to_ms: f.to_ms,
        after_id: f.after_id,
        limit: f.limit.unwrap_or(store::ALERT_QUERY_LIMIT_DEFAULT),
    };
    Ok(Json(read_store(&app, move |s| s.alerts(&q)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFilter {
    status: Option<String>,
    entity_kind: Option<String>,
    entity_id: Option<String>,
    assignee: Option<String>,
    after_id: Option<u64>,
    limit: Option<u32>,
}

pub async fn list_cases(
    State(app): State<AppState>,
    query: Result<Query<CaseFilter>, QueryRejection>,
) -> Reply<Vec<Case>> {
    let Query(f) = query.map_err(bad_query)?;
    let q = CaseQuery {
        status: f.status,
        entity_kind: f.entity_kind,
        entity_id: f.entity_id,
        assignee: f.assignee,
        after_id: f.after_id,
        limit: f.limit.unwrap_or(store::CASE_QUERY_LIMIT_DEFAULT),
    };
    Ok(Json(read_store(&app, move |s| s.cases(&q)).await?))
}

#[derive(Serialize)]
pub struct CaseDetail {
    #[serde(flatten)]
    case: Case,
    events: Vec<CaseEvent>,
    alerts: Vec<Alert>,
}

fn case_id(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| ApiError::new(ErrorKind::NotFound))
}

pub async fn get_case(State(app): State<AppState>, PathText(id): PathText) -> Reply<CaseDetail> {
    let id = case_id(&id)?;
    let (case, events, alerts) = read_store(&app, move |s| {
        let alerts = s.alerts(&AlertQuery {
            case_id: Some(id),
            ..AlertQuery::default()
        })?;
        Ok((s.case(id)?, s.case_events(id)?, alerts))
    })
    .await?;
    let case = case.ok_or(ApiError::new(ErrorKind::NotFound))?;
    Ok(Json(CaseDetail {
        case,
        events,
        alerts,
    }))
}

/// Runs a step on the authorizer thread (risk control owns open cases) and returns
/// the case once the step is durable.
async fn step(app: &AppState, step: CaseStep) -> Reply<Case> {
    handle(app)?;
    let result = app
        .pipeline
        .command(move |engine, now, writes| {
            let risk = engine
                .risk_mut()
                .and_then(|r| r.as_any_mut().downcast_mut::<RiskControl>())?;
            Some(risk.case_step(step, now, writes))
        })
        .await?;
    match result {
        Some(Ok(case)) => Ok(Json(case)),
        Some(Err(CaseStepError::NotOpen(_))) => Err(ApiError::with_detail(
            ErrorKind::Conflict,
            "no open case with this id (unknown or closed)",
        )),
        Some(Err(e)) => Err(ApiError::validation("text", e.to_string())),
        None => Err(ApiError::new(ErrorKind::Internal)),
    }
}

fn text(f: &mut super::body::Fields, name: &'static str) -> Result<String, ApiError> {
    Ok(f.opt_string(name)?.unwrap_or_default())
}

/// Reads a case step's body (`make` takes its fields) and runs the step.
async fn run_step(
    app: &AppState,
    actor: String,
    id: &str,
    mut f: Fields,
    make: impl FnOnce(u64, String, &mut Fields) -> Result<CaseStep, ApiError>,
) -> Reply<Case> {
    let made = make(case_id(id)?, actor, &mut f)?;
    f.finish()?;
    step(app, made).await
}

pub async fn assign(
    State(app): State<AppState>,
    Extension(Actor(actor)): Extension<Actor>,
    PathText(id): PathText,
    JsonBody(f): JsonBody,
) -> Reply<Case> {
    run_step(&app, actor, &id, f, |case_id, actor, f| {
        let assignee = f.string("assignee")?;
        Ok(CaseStep::Assign {
            case_id,
            actor,
            assignee,
        })
    })
    .await
}

pub async fn comment(
    State(app): State<AppState>,
    Extension(Actor(actor)): Extension<Actor>,
    PathText(id): PathText,
    JsonBody(f): JsonBody,
) -> Reply<Case> {
    run_step(&app, actor, &id, f, |case_id, actor, f| {
        let text = f.string("text")?;
        Ok(CaseStep::Comment {
            case_id,
            actor,
            text,
        })
    })
    .await
}

pub async fn escalate(
    State(app): State<AppState>,
    Extension(Actor(actor)): Extension<Actor>,
    PathText(id): PathText,
    JsonBody(f): JsonBody,
) -> Reply<Case> {
    run_step(&app, actor, &id, f, |case_id, actor, f| {
        let note = text(f, "note")?;
        Ok(CaseStep::Escalate {
            case_id,
            actor,
            note,
        })
    })
    .await
}

/// Closes a case as `fraud` or `not_fraud`: its transactions (those of its alerts) are
/// labelled, and the labels feed the delayed-label features.
pub async fn close(
    State(app): State<AppState>,
    Extension(Actor(actor)): Extension<Actor>,
    PathText(id): PathText,
    JsonBody(mut f): JsonBody,
) -> Reply<Case> {
    let case_id = case_id(&id)?;
    let fraud = match f.string("outcome")?.as_str() {
        "fraud" => true,
        "not_fraud" => false,
        _ => {
            return Err(ApiError::validation(
                "outcome",
                "must be fraud or not_fraud",
            ));
        }
    };
    let note = text(&mut f, "note")?;
    f.finish()?;
    let alerts = read_store(&app, move |s| {
        // Every alert of the case, a page at a time.
        let mut all = Vec::new();
        loop {
            let page = s.alerts(&AlertQuery {
                case_id: Some(case_id),
                after_id: all.last().map(|a: &Alert| a.id),
                limit: store::ALERT_QUERY_LIMIT_MAX,
                ..AlertQuery::default()
            })?;
            let done = page.len() < store::ALERT_QUERY_LIMIT_MAX as usize;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    })
    .await?;
    let mut txns: Vec<TxnId> = alerts.into_iter().map(|a| a.txn_id).collect();
    txns.sort_unstable_by_key(|t| t.0);
    txns.dedup();
    step(
        &app,
        CaseStep::Close {
            case_id,
            actor,
            fraud,
            note,
            txns,
        },
    )
    .await
}

/// Registers a mobile terminal's area: `{"lat_e6", "lon_e6", "radius_m"}` (microdegrees,
/// metres). Risk features then measure its transactions' distance from it (positions
/// come in field 123 or the API's `location`).
pub async fn put_area(
    State(app): State<AppState>,
    PathText(id): PathText,
    JsonBody(f): JsonBody,
) -> Reply<crate::risk::Area> {
    handle(&app)?;
    let area: crate::risk::Area = f.into_document()?;
    let geo = area.geo().ok_or_else(|| {
        ApiError::validation(
            "lat_e6",
            "latitude within ±90°, longitude within ±180° (microdegrees)",
        )
    })?;
    super::require_terminal(&app, &id).await?;
    let json = serde_json::to_string(&area).map_err(|_| ApiError::new(ErrorKind::Internal))?;
    let key = format!("{}{id}", crate::risk::AREA_META_PREFIX);
    app.pipeline
        .command(move |engine, _, writes| {
            if let Some(risk) = engine
                .risk_mut()
                .and_then(|r| r.as_any_mut().downcast_mut::<RiskControl>())
            {
                risk.set_area(&id, Some(geo));
            }
            writes.push(model::Write::Meta { key, value: json });
        })
        .await?;
    Ok(Json(area))
}
