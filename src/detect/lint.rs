//! The lint rules as a detector: each new pattern is checked once, on the text of its first
//! execution (rules such as large OFFSET need the literal values, which normalization removes;
//! the findings name tables and columns, never values).

use std::time::Instant;

use super::{Detector, Finding, FindingKind, Observed, Severity};
use crate::fasthash::FastSet;
use crate::lint::{self, Linter};

/// Pattern ids remembered as "already linted"; past this the set starts over (counted).
const MAX_SEEN: usize = 50_000;

/// Runs the lint rules once per pattern.
pub struct LintDetector {
    linter: Linter,
    seen: FastSet<u64>,
    evictions: u64,
}

impl LintDetector {
    pub fn new(linter: Linter) -> Self {
        LintDetector { linter, seen: FastSet::default(), evictions: 0 }
    }
}

impl Detector for LintDetector {
    fn observe(&mut self, obs: &Observed<'_>, _now: Instant, out: &mut Vec<Finding>) {
        if self.seen.len() >= MAX_SEEN {
            self.evictions += self.seen.len() as u64;
            self.seen.clear();
        }
        if !self.seen.insert(obs.pattern.id.0) {
            return;
        }
        for hit in self.linter.check(obs.statement) {
            let mut finding = Finding::new(
                FindingKind::Lint,
                severity(hit.severity),
                obs.pattern_ref(),
                &obs.source(),
            );
            finding.rule_id = Some(hit.rule_id.to_string());
            finding.message = Some(hit.message);
            finding.suggestion = hit.fix;
            finding.sample = Some(obs.pattern.text.clone());
            out.push(finding);
        }
    }

    fn name(&self) -> &'static str {
        "lint"
    }

    fn evictions(&self) -> u64 {
        self.evictions
    }
}

fn severity(s: lint::Severity) -> Severity {
    match s {
        lint::Severity::Info => Severity::Info,
        lint::Severity::Warning => Severity::Warning,
        lint::Severity::Critical => Severity::Critical,
    }
}
