//! A versioned, compiled set of rules. Loading either yields a whole new `RuleSet` or
//! errors; it never touches a set already running (the host swaps an `Arc`).

use std::collections::HashSet;
use std::sync::Arc;

use super::spec::{Rule, RuleAction, RuleSpec, SCORE_MAX, is_name};
use super::text;
use crate::dsl::{Condition, Schema};
use crate::error::{LoadError, LoadErrorKind as K, RuleSetError, line_col};

/// Most rules one set may hold; evaluation cost grows with it.
pub const RULES_MAX: usize = 1024;

#[derive(Clone, Debug)]
pub struct RuleSet {
    /// The caller's version of the whole set (a counter, a commit date...).
    pub version: u64,
    pub(crate) rules: Vec<Rule>,
}

/// A spec field that failed: which field, where in its text, why.
type SpecFailure = (&'static str, usize, K);

fn compile_spec(spec: RuleSpec, schema: &Schema) -> Result<Rule, SpecFailure> {
    if !is_name(&spec.id) {
        let msg = "lowercase letters, digits, `_`, `.` and `-`, up to 64 bytes".to_owned();
        return Err((
            "id",
            0,
            K::BadValue {
                field: "id",
                message: msg,
            },
        ));
    }
    if spec.score > SCORE_MAX {
        let msg = format!("{} is above {SCORE_MAX}", spec.score);
        return Err((
            "score",
            0,
            K::BadValue {
                field: "score",
                message: msg,
            },
        ));
    }
    let action = RuleAction::parse(&spec.action).map_err(|message| {
        (
            "action",
            0,
            K::BadValue {
                field: "action",
                message,
            },
        )
    })?;
    let condition = Condition::compile(&spec.when, schema)
        .map_err(|e| ("when", e.offset, K::Condition(e.kind)))?;
    Ok(Rule {
        id: Arc::from(spec.id),
        version: spec.version,
        severity: spec.severity,
        score: spec.score,
        action,
        mode: spec.mode,
        description: spec.description,
        when: spec.when,
        condition,
    })
}

impl RuleSet {
    /// Loads `.rules` files, given as (name, text); all or nothing.
    pub fn from_texts(
        version: u64,
        files: &[(&str, &str)],
        schema: &Schema,
    ) -> Result<RuleSet, RuleSetError> {
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        for &(name, text) in files {
            let specs = match text::parse(name, text) {
                Ok(specs) => specs,
                Err(mut e) => {
                    errors.append(&mut e);
                    continue;
                }
            };
            for (spec, spans) in specs {
                match compile_spec(spec, schema) {
                    Ok(rule) => rules.push((rule, name, spans.block, text)),
                    Err((field, off, kind)) => {
                        let (line, column) = line_col(text, spans.of(field) + off);
                        errors.push(LoadError {
                            source_name: name.to_owned(),
                            line,
                            column,
                            kind,
                        });
                    }
                }
            }
        }
        let mut seen = HashSet::new();
        for (rule, name, at, text) in &rules {
            if !seen.insert(rule.id.clone()) {
                let (line, column) = line_col(text, *at);
                let kind = K::DuplicateRule(rule.id.to_string());
                errors.push(LoadError {
                    source_name: (*name).to_owned(),
                    line,
                    column,
                    kind,
                });
            }
        }
        Self::finish(version, rules.into_iter().map(|r| r.0).collect(), errors)
    }

    /// Loads API objects; errors name `api:<id>.<field>` and a place in that field's text.
    pub fn from_specs(
        version: u64,
        specs: Vec<RuleSpec>,
        schema: &Schema,
    ) -> Result<RuleSet, RuleSetError> {
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        let mut seen = HashSet::new();
        for spec in specs {
            let id = spec.id.clone();
            let when = spec.when.clone();
            let place = |field: &str, off: usize| {
                let (line, column) = if field == "when" {
                    line_col(&when, off)
                } else {
                    (1, 1)
                };
                (format!("api:{id}.{field}"), line, column)
            };
            match compile_spec(spec, schema) {
                Ok(rule) if !seen.insert(rule.id.clone()) => {
                    let (source_name, line, column) = place("id", 0);
                    errors.push(LoadError {
                        source_name,
                        line,
                        column,
                        kind: K::DuplicateRule(id.clone()),
                    });
                }
                Ok(rule) => rules.push(rule),
                Err((field, off, kind)) => {
                    let (source_name, line, column) = place(field, off);
                    errors.push(LoadError {
                        source_name,
                        line,
                        column,
                        kind,
                    });
                }
            }
        }
        Self::finish(version, rules, errors)
    }

    fn finish(
        version: u64,
        rules: Vec<Rule>,
        mut errors: Vec<LoadError>,
    ) -> Result<RuleSet, RuleSetError> {
        if rules.len() > RULES_MAX {
            let kind = K::TooLarge(format!("{} rules, at most {RULES_MAX}", rules.len()));
            errors.push(LoadError {
                source_name: "rule set".into(),
                line: 1,
                column: 1,
                kind,
            });
        }
        if errors.is_empty() {
            Ok(RuleSet { version, rules })
        } else {
            Err(RuleSetError { errors })
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}
