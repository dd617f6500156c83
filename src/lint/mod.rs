//! Lint rules: each new pattern is checked once against a catalogue of rules (see [`rules`]),
//! each with an id, a default severity, a description and a fix.
//!
//! Pure logic over the `sqlparser` AST (PostgreSQL dialect): text in, findings out, no I/O.
//! [`Linter::check`] takes either a normalized pattern (`WHERE id = $1 LIMIT $2`) or raw SQL.
//! Rules that judge literal values — `large-offset`, `large-in-list`, `leading-wildcard-like`,
//! `like-without-wildcard` — can only fire on raw SQL, because normalization turns literals
//! into placeholders and collapses IN lists; the caller therefore also checks the raw text of
//! a pattern's first sample. Messages name tables and columns but never quote literal values,
//! which may be parameters.
//!
//! Layout: `catalogue` (the rules), `config` (the `[lint]` section), `collect` (one visitor
//! pass dispatching to the detectors in `query_rules`, `joins`, `predicates`, `dml`).

mod catalogue;
mod collect;
mod config;
mod dml;
mod joins;
mod predicates;
mod query_rules;
mod syntax;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

pub use config::{LintConfig, LintConfigError, RuleOverride};

use catalogue::RULES;
use collect::Hit;
use config::{Grades, Thresholds};

/// How much a finding matters. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; often deliberate.
    Info,
    /// Likely a performance or maintenance problem.
    Warning,
    /// Likely a bug or a data hazard.
    Critical,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        })
    }
}

/// One rule that a statement trips.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintFinding {
    /// The rule's id, e.g. `select-star`.
    pub rule_id: &'static str,
    /// The rule's severity after config overrides.
    pub severity: Severity,
    /// What is wrong in this statement, naming the table or column when known.
    pub message: String,
    /// How to fix it (the rule's fix).
    pub fix: String,
}

/// A rule's catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Stable kebab-case id, used in config and findings.
    pub id: &'static str,
    /// The severity reported unless the config re-grades it.
    pub default_severity: Severity,
    /// What the rule detects and why it matters.
    pub description: &'static str,
    /// The usual remedy.
    pub fix: &'static str,
}

/// The full rule catalogue, for docs, `SHOW RULES` and the README.
pub fn rules() -> &'static [RuleInfo] {
    &RULES
}

/// Checks statements against the enabled rules, with the configured thresholds and severities.
#[derive(Debug, Clone)]
pub struct Linter {
    enabled: bool,
    grades: Grades,
    thresholds: Thresholds,
}

impl Linter {
    /// Validates `config` against the catalogue; an unknown rule id is an error naming it.
    pub fn new(config: &LintConfig) -> Result<Linter, LintConfigError> {
        Ok(Linter {
            enabled: config.enabled,
            grades: config::resolve(config)?,
            thresholds: Thresholds {
                large_offset: config.large_offset,
                max_in_list: config.max_in_list,
            },
        })
    }

    /// Lints one statement's text (a normalized pattern or raw SQL; several `;`-separated
    /// statements are all checked). Unparsable SQL yields no findings, not an error.
    /// The literal-value rules (see the module docs) only fire on raw SQL.
    pub fn check(&self, sql: &str) -> Vec<LintFinding> {
        if !self.enabled {
            return Vec::new();
        }
        let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        let hits =
            statements.iter().flat_map(|statement| collect::collect(statement, self.thresholds));
        hits.filter(|hit| seen.insert(hit.clone())).filter_map(|hit| self.finding(hit)).collect()
    }

    fn finding(&self, hit: Hit) -> Option<LintFinding> {
        let severity = self.grades[hit.rule as usize]?;
        let info = hit.rule.info();
        Some(LintFinding {
            rule_id: info.id,
            severity,
            message: hit.message,
            fix: info.fix.to_string(),
        })
    }
}
