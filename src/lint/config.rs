//! The `[lint]` settings and their resolution into a [`Linter`](super::Linter)'s runtime form.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Severity;
use super::catalogue::Rule;

/// The `[lint]` section of the config and rules files (see `rules/default.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LintConfig {
    /// Master switch: `false` turns every rule off.
    pub enabled: bool,
    /// `large-offset` fires for a literal OFFSET at or above this many rows.
    pub large_offset: u64,
    /// `large-in-list` fires for an IN list with more than this many items.
    pub max_in_list: usize,
    /// Per-rule overrides, keyed by rule id (`[lint.rules.select-star]`).
    pub rules: BTreeMap<String, RuleOverride>,
}

impl Default for LintConfig {
    fn default() -> Self {
        LintConfig { enabled: true, large_offset: 1000, max_in_list: 1000, rules: BTreeMap::new() }
    }
}

/// One rule's override: switch it off, or re-grade its severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    /// `false` turns the rule off; unset keeps it on.
    pub enabled: Option<bool>,
    /// The severity to report instead of the rule's default.
    pub severity: Option<Severity>,
}

/// A `[lint]` section that cannot be turned into a [`Linter`](super::Linter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LintConfigError {
    /// `[lint.rules.<id>]` names no rule in the catalogue.
    #[error("unknown lint rule `{id}` in [lint.rules] (known rules: {known})")]
    UnknownRule {
        /// The id as written in the config.
        id: String,
        /// The catalogue's ids, comma-separated, to help fix a typo.
        known: String,
    },
}

/// Thresholds the value-dependent rules compare literals against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thresholds {
    pub(crate) large_offset: u64,
    pub(crate) max_in_list: usize,
}

/// Each rule's effective severity, `None` when the rule is off, in [`Rule`] order.
pub(crate) type Grades = [Option<Severity>; Rule::ALL.len()];

/// Checks the overrides against the catalogue and applies them to the default severities.
pub(crate) fn resolve(config: &LintConfig) -> Result<Grades, LintConfigError> {
    let mut grades: Grades = Rule::ALL.map(|rule| Some(rule.info().default_severity));
    for (id, over) in &config.rules {
        let rule = Rule::from_id(id).ok_or_else(|| unknown_rule(id))?;
        let grade = &mut grades[rule as usize];
        if let Some(severity) = over.severity {
            *grade = Some(severity);
        }
        if over.enabled == Some(false) {
            *grade = None;
        }
    }
    Ok(grades)
}

fn unknown_rule(id: &str) -> LintConfigError {
    let known: Vec<&str> = Rule::ALL.iter().map(|rule| rule.info().id).collect();
    LintConfigError::UnknownRule { id: id.to_string(), known: known.join(", ") }
}
