//! Live detectors: slow queries, N+1 and duplicate bursts, and route attribution.
//!
//! Pure logic on the analysis path: the analysis thread hands each executed statement, with its
//! pattern, to [`Detectors::observe_event`] and calls [`Detectors::tick`] about every 100 ms;
//! findings land in a bounded [`FindingStore`] and per-endpoint numbers in [`RouteStats`].
//! Time comes in as explicit `Instant`s, so everything is testable without a clock.
//!
//! - [`Detector`]: the seam; [`slow::SlowDetector`] and [`nplusone::NPlusOneDetector`]
//!   implement it, and a lint detector can be added with [`Detectors::add`].
//! - [`route`]: the endpoint of a statement (sqlcommenter tags, see [`sqlcomment`]) and
//!   bounded per-route statistics.
//! - [`config`]: the `rules/default.toml` schema.
//!
//! Parameter values never reach a finding unless `slow.keep_parameter_values` is set.

mod burst;
pub mod config;
pub mod finding;
pub mod lint;
mod lru;
pub mod nplusone;
pub mod route;
pub mod slow;
pub mod sqlcomment;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use xxhash_rust::xxh3::xxh3_64;

use crate::event::StatementEvent;
use crate::fingerprint::{Pattern, PatternId};

pub use config::{DetectConfig, DetectConfigError};

pub use finding::{Finding, FindingKind, FindingStore, Severity, Source};
use route::route_from;
pub use route::{RouteStats, RouteSummary, route_of};
use sqlcomment::{Tags, parse_tags};

/// One executed statement as the detectors see it.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The event the tracker emitted.
    pub event: &'a StatementEvent,
    /// This statement's text (one statement of a multi-statement simple query). Raw: may
    /// hold literal values.
    pub statement: &'a str,
    /// The statement's pattern (normalized, no literal values), shared with the
    /// fingerprinter's memo so that detectors keep it without copying its text.
    pub pattern: &'a Arc<Pattern>,
    /// The endpoint, from [`route_of`].
    pub route: Option<&'a str>,
    /// xxh3 of the W3C trace id in the statement's tags (`traceparent`); 0 without one.
    pub trace: u64,
}

impl Observed<'_> {
    /// The pattern's id and normalized text.
    pub fn pattern_ref(&self) -> (PatternId, &str) {
        (self.pattern.id, &self.pattern.text)
    }

    /// Connection, session, route and finish time, for a finding about this statement.
    pub fn source(&self) -> Source<'_> {
        Source {
            conn_id: self.event.conn_id,
            session: &self.event.session,
            route: self.route,
            at: self.event.finished_at,
        }
    }
}

/// Something that watches executed statements and reports findings.
pub trait Detector: Send {
    /// Looks at one statement; appends any findings to `out`.
    fn observe(&mut self, obs: &Observed<'_>, now: Instant, out: &mut Vec<Finding>);

    /// Flushes time-based state (idle bursts); called about every 100 ms.
    fn tick(&mut self, _now: Instant, _out: &mut Vec<Finding>) {}

    /// A short name for logs and metrics.
    fn name(&self) -> &'static str;

    /// Entries of bounded state evicted so far (monotonic; a metrics counter).
    fn evictions(&self) -> u64 {
        0
    }
}

/// The configured detectors, the findings they produced and the route statistics.
pub struct Detectors {
    detectors: Vec<Box<dyn Detector>>,
    findings: FindingStore,
    routes: RouteStats,
    /// Reused buffer for one round of findings.
    scratch: Vec<Finding>,
    /// Plans known per pattern id, and slow samples waiting to be explained.
    plans: Plans,
}

/// Bounded bookkeeping for EXPLAIN of slow patterns: each pattern is explained once.
#[derive(Debug, Default)]
struct Plans {
    known: std::collections::HashMap<String, String>,
    asked: std::collections::HashSet<String>,
    queue: Vec<ExplainRequest>,
}

/// Patterns whose plan (or pending request) is remembered; past this the memory starts over.
const MAX_PLANS: usize = 10_000;

/// A slow statement to explain: its pattern id and the text to run EXPLAIN on (the raw
/// statement only with `slow.keep_parameter_values`, else the normalized pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainRequest {
    pub pattern_id: String,
    pub sql: String,
}

impl Detectors {
    /// The slow, N+1 and lint detectors (the last two if enabled), configured by `config` after validating it.
    pub fn new(config: &DetectConfig) -> Result<Self, DetectConfigError> {
        config.validate()?;
        let mut detectors: Vec<Box<dyn Detector>> =
            vec![Box::new(slow::SlowDetector::new(&config.slow)?)];
        if config.n_plus_one.enabled {
            detectors.push(Box::new(nplusone::NPlusOneDetector::new(&config.n_plus_one)));
        }
        if config.lint.enabled {
            let linter = crate::lint::Linter::new(&config.lint).map_err(|e| {
                DetectConfigError::Invalid { key: "lint.rules".into(), reason: e.to_string() }
            })?;
            detectors.push(Box::new(lint::LintDetector::new(linter)));
        }
        Ok(Detectors {
            detectors,
            findings: FindingStore::new(config.findings.per_kind_capacity),
            routes: RouteStats::new(config.routes.max_routes),
            scratch: Vec::new(),
            plans: Plans::default(),
        })
    }

    /// Adds another detector (e.g. the lint rules).
    pub fn add(&mut self, detector: Box<dyn Detector>) {
        self.detectors.push(detector);
    }

    /// Works out the statement's route, then observes it.
    pub fn observe_event(
        &mut self,
        event: &StatementEvent,
        statement: &str,
        pattern: &Arc<Pattern>,
        now: Instant,
    ) {
        let tags = parse_tags(statement);
        let route = route_from(&tags, &event.session.application_name);
        let trace = trace_of(&tags);
        self.observe(&Observed { event, statement, pattern, route: route.as_deref(), trace }, now);
    }

    /// Records the statement under its route and hands it to every detector.
    pub fn observe(&mut self, obs: &Observed<'_>, now: Instant) {
        self.routes.record(&route::RouteSample {
            route: obs.route,
            pattern_id: obs.pattern.id.0,
            duration_us: obs.event.duration_us,
            outcome: obs.event.outcome,
        });
        for detector in &mut self.detectors {
            detector.observe(obs, now, &mut self.scratch);
        }
        self.store_scratch();
    }

    /// Lets every detector flush time-based state.
    pub fn tick(&mut self, now: Instant) {
        for detector in &mut self.detectors {
            detector.tick(now, &mut self.scratch);
        }
        self.store_scratch();
    }

    /// The findings so far.
    pub fn findings(&self) -> &FindingStore {
        &self.findings
    }

    /// Per-route statistics.
    pub fn routes(&self) -> &RouteStats {
        &self.routes
    }

    /// Each detector's name and evicted-state count, for metrics.
    pub fn evictions(&self) -> Vec<(&'static str, u64)> {
        self.detectors.iter().map(|d| (d.name(), d.evictions())).collect()
    }

    /// Slow patterns seen for the first time since the last call, to be explained.
    pub fn take_explain_requests(&mut self) -> Vec<ExplainRequest> {
        std::mem::take(&mut self.plans.queue)
    }

    /// Records a pattern's plan and attaches it to its slow findings.
    pub fn attach_plan(&mut self, pattern_id: &str, plan: &str) {
        if self.plans.known.len() >= MAX_PLANS {
            self.plans.known.clear();
        }
        self.plans.known.insert(pattern_id.to_string(), plan.to_string());
        self.findings.attach_plan(pattern_id, plan);
    }

    fn store_scratch(&mut self) {
        for mut finding in self.scratch.drain(..) {
            if finding.kind == FindingKind::Slow {
                self.plans.note_slow(&mut finding);
            }
            log_finding(&finding);
            self.routes.record_finding(finding.kind, finding.route.as_deref());
            self.findings.push(finding);
        }
    }
}

impl Plans {
    /// Gives the finding a known plan, or queues its pattern for EXPLAIN once.
    fn note_slow(&mut self, finding: &mut Finding) {
        if let Some(plan) = self.known.get(&finding.pattern_id) {
            finding.plan = Some(plan.clone());
            return;
        }
        if self.asked.len() >= MAX_PLANS {
            self.asked.clear();
        }
        if self.asked.insert(finding.pattern_id.clone()) {
            let sql = finding.sample.clone().unwrap_or_else(|| finding.pattern.clone());
            self.queue.push(ExplainRequest { pattern_id: finding.pattern_id.clone(), sql });
        }
    }
}

/// Logs a finding once, as it is stored. Never the sample: it may hold parameter values.
fn log_finding(f: &Finding) {
    tracing::warn!(
        kind = f.kind.as_str(),
        severity = f.severity.as_str(),
        pattern_id = %f.pattern_id,
        pattern = %f.pattern,
        parent_pattern_id = f.parent_pattern_id.as_deref(),
        route = f.route.as_deref(),
        application_name = %f.application_name,
        count = f.count,
        duration_ms = f.duration_ms,
        rule = f.rule_id.as_deref(),
        "finding"
    );
}

impl std::fmt::Debug for Detectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.detectors.iter().map(|d| d.name()).collect();
        f.debug_struct("Detectors")
            .field("detectors", &names)
            .field("findings", &self.findings.len())
            .field("routes", &self.routes.len())
            .finish()
    }
}

/// The hash a burst compares trace ids by: xxh3 of the tags' `traceparent` trace id, 0 without.
pub fn trace_of(tags: &Tags) -> u64 {
    tags.trace_id().map_or(0, |id| xxh3_64(id.as_bytes()))
}
