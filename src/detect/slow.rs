//! Slow queries: single executions over a threshold, and chronically slow patterns.
//!
//! Thresholds are resolved once per pattern, in rising priority: global, per table, per
//! pattern id. A per-table override applies when the normalized pattern text mentions the
//! table as a whole word, case-insensitively: `orders` matches `public.orders`, `"orders"` and
//! `JOIN orders o`, not `orders_archive` nor `my_orders`. It is a word match, not a parse, so a
//! column or alias spelled like the table matches too. When several tables match, the lowest
//! value of each threshold wins. After merging, critical is raised to at least warn (a
//! pattern allowed 1 s before a warning is not critical at a table's 300 ms).
//!
//! Chronic: calls are judged in consecutive windows of `chronic_min_calls` calls. A window
//! whose mean is at least `chronic_mean_ms` reports the pattern once (Warning); later slow
//! windows stay silent until one window's mean falls below the threshold, which re-arms it.

use std::collections::HashMap;
use std::time::Instant;

use super::config::{DetectConfigError, SlowConfig, Thresholds, parse_pattern_id};
use super::finding::{Finding, FindingKind, Severity};
use super::lru::LruMap;
use super::{Detector, Observed};

/// Patterns whose chronic window and thresholds are remembered; least recent evicted beyond.
pub const CHRONIC_MAX_PATTERNS: usize = 10_000;

const SUGGESTION: &str =
    "EXPLAIN (ANALYZE, BUFFERS) this pattern; see `pgscope report` for index suggestions";

/// Warning and critical thresholds in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    warn_us: u64,
    critical_us: u64,
}

/// The configured thresholds, resolved per pattern on first sight.
#[derive(Debug)]
struct Rules {
    global: Thresholds,
    per_pattern: HashMap<u64, Thresholds>,
    /// Lowercased table names and their overrides.
    per_table: Vec<(String, Thresholds)>,
}

/// One pattern's thresholds and current chronic window.
#[derive(Debug)]
struct PatternState {
    limits: Limits,
    calls: u64,
    total_us: u64,
    /// Reported as chronic and not yet recovered.
    flagged: bool,
}

/// Reports slow executions and chronically slow patterns.
#[derive(Debug)]
pub struct SlowDetector {
    rules: Rules,
    chronic_mean_us: u64,
    chronic_min_calls: u64,
    keep_parameter_values: bool,
    patterns: LruMap<u64, PatternState>,
}

impl SlowDetector {
    /// A detector for `config`, remembering at most [`CHRONIC_MAX_PATTERNS`] patterns.
    pub fn new(config: &SlowConfig) -> Result<Self, DetectConfigError> {
        Self::with_capacity(config, CHRONIC_MAX_PATTERNS)
    }

    /// A detector remembering at most `max_patterns` patterns.
    pub fn with_capacity(
        config: &SlowConfig,
        max_patterns: usize,
    ) -> Result<Self, DetectConfigError> {
        Ok(SlowDetector {
            rules: Rules::new(config)?,
            chronic_mean_us: ms_to_us(config.chronic_mean_ms),
            chronic_min_calls: config.chronic_min_calls.max(1),
            keep_parameter_values: config.keep_parameter_values,
            patterns: LruMap::new(max_patterns),
        })
    }

    /// The finding's sample: the pattern text, or the raw statement if the user opted in.
    fn sample(&self, obs: &Observed<'_>) -> String {
        if self.keep_parameter_values { obs.statement } else { &obs.pattern.text }.to_string()
    }

    fn single(&self, obs: &Observed<'_>, severity: Severity) -> Finding {
        let duration_ms = obs.event.duration_us as f64 / 1000.0;
        Finding {
            duration_ms,
            sample: Some(self.sample(obs)),
            suggestion: format!("took {duration_ms:.1} ms: {SUGGESTION}"),
            ..Finding::new(FindingKind::Slow, severity, obs.pattern_ref(), &obs.source())
        }
    }

    fn chronic(&self, obs: &Observed<'_>, calls: u64, total_us: u64) -> Finding {
        let total_ms = total_us as f64 / 1000.0;
        let mean_ms = total_ms / calls as f64;
        Finding {
            duration_ms: total_ms,
            count: calls,
            sample: Some(self.sample(obs)),
            suggestion: format!(
                "chronically slow: mean {mean_ms:.1} ms over the last {calls} calls: {SUGGESTION}"
            ),
            ..Finding::new(FindingKind::Slow, Severity::Warning, obs.pattern_ref(), &obs.source())
        }
    }
}

impl Detector for SlowDetector {
    fn observe(&mut self, obs: &Observed<'_>, _now: Instant, out: &mut Vec<Finding>) {
        let (id, text) = (obs.pattern.id.0, obs.pattern.text.as_str());
        let rules = &self.rules;
        let (state, _) =
            self.patterns.touch_or_insert_with(id, || PatternState::new(rules.limits(id, text)));
        let severity = state.limits.severity(obs.event.duration_us);
        let window = state.add(obs.event.duration_us, self.chronic_min_calls, self.chronic_mean_us);
        if let Some(severity) = severity {
            out.push(self.single(obs, severity));
        }
        if let Some((calls, total_us)) = window {
            out.push(self.chronic(obs, calls, total_us));
        }
    }

    fn name(&self) -> &'static str {
        "slow"
    }

    fn evictions(&self) -> u64 {
        self.patterns.evictions()
    }
}

impl Rules {
    fn new(config: &SlowConfig) -> Result<Self, DetectConfigError> {
        let mut per_pattern = HashMap::new();
        for (key, thresholds) in &config.per_pattern {
            let id = parse_pattern_id(key).ok_or_else(|| DetectConfigError::Invalid {
                key: format!("slow.per_pattern.{key}"),
                reason: "a pattern id is 16 hexadecimal digits".into(),
            })?;
            per_pattern.insert(id, *thresholds);
        }
        let per_table = config.per_table.iter().map(|(t, th)| (t.to_lowercase(), *th)).collect();
        let global =
            Thresholds { warn_ms: Some(config.warn_ms), critical_ms: Some(config.critical_ms) };
        Ok(Rules { global, per_pattern, per_table })
    }

    /// Thresholds for one pattern: its own override, else the matching tables', else global.
    fn limits(&self, id: u64, text: &str) -> Limits {
        let mut merged = Thresholds::default();
        if !self.per_table.is_empty() {
            let lower = text.to_lowercase();
            for (_, t) in self.per_table.iter().filter(|(name, _)| mentions_word(&lower, name)) {
                merged.warn_ms = min_some(merged.warn_ms, t.warn_ms);
                merged.critical_ms = min_some(merged.critical_ms, t.critical_ms);
            }
        }
        if let Some(own) = self.per_pattern.get(&id) {
            merged.warn_ms = own.warn_ms.or(merged.warn_ms);
            merged.critical_ms = own.critical_ms.or(merged.critical_ms);
        }
        let warn_ms = merged.warn_ms.or(self.global.warn_ms).unwrap_or(u64::MAX);
        let critical_ms = merged.critical_ms.or(self.global.critical_ms).unwrap_or(u64::MAX);
        Limits { warn_us: ms_to_us(warn_ms), critical_us: ms_to_us(critical_ms.max(warn_ms)) }
    }
}

impl Limits {
    fn severity(self, duration_us: u64) -> Option<Severity> {
        if duration_us >= self.critical_us {
            Some(Severity::Critical)
        } else if duration_us >= self.warn_us {
            Some(Severity::Warning)
        } else {
            None
        }
    }
}

impl PatternState {
    fn new(limits: Limits) -> Self {
        PatternState { limits, calls: 0, total_us: 0, flagged: false }
    }

    /// Adds a call to the window. When the window is full, judges and restarts it, returning
    /// `(calls, total_us)` if the pattern just became chronically slow.
    fn add(&mut self, duration_us: u64, window: u64, mean_limit_us: u64) -> Option<(u64, u64)> {
        self.calls += 1;
        self.total_us = self.total_us.saturating_add(duration_us);
        if self.calls < window {
            return None;
        }
        let (calls, total_us) = (self.calls, self.total_us);
        (self.calls, self.total_us) = (0, 0);
        let slow = total_us / calls >= mean_limit_us;
        let report = slow && !self.flagged;
        self.flagged = slow;
        report.then_some((calls, total_us))
    }
}

/// True if `word` occurs in `text` with no identifier character (letter, digit, `_`, `$`)
/// right before or after it. Both are expected in lowercase.
pub(crate) fn mentions_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    !word.is_empty()
        && text.match_indices(word).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        })
}

fn min_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn ms_to_us(ms: u64) -> u64 {
    ms.saturating_mul(1000)
}
