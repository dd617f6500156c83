//! One burst: consecutive executions of one pattern on one connection, and how it is judged
//! when it ends (N+1, Duplicate, or nothing).

use std::sync::Arc;
use std::time::SystemTime;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::Observed;
use super::config::NPlusOneConfig;
use super::finding::{Finding, FindingKind, Severity, Source};
use super::sqlcomment::strip_tag_comments;
use crate::event::SessionInfo;
use crate::fingerprint::Pattern;

const READ_SUGGESTION: &str = "batch with WHERE … IN (…) / = ANY($1), a JOIN, or the ORM's eager \
    loading (Django select_related/prefetch_related, Rails includes, SQLAlchemy selectinload, \
    Hibernate JOIN FETCH)";
const WRITE_SUGGESTION: &str = "batch the writes: one multi-row INSERT … VALUES, COPY, UPDATE … \
    FROM (VALUES …) or = ANY($1), or the ORM's bulk API (Django bulk_create/bulk_update, Rails \
    insert_all/update_all, SQLAlchemy bulk insert, Hibernate JDBC batching)";
const DUPLICATE_SUGGESTION: &str = "cache the result or hoist the query out of the loop";

/// The thresholds a finished burst is judged by (times in microseconds).
#[derive(Debug, Clone, Copy)]
pub(super) struct BurstRules {
    min_repeats: u64,
    min_total_us: u64,
    critical_count: u64,
    critical_total_us: u64,
    duplicate_min_repeats: u64,
}

impl BurstRules {
    pub(super) fn new(config: &NPlusOneConfig) -> Self {
        BurstRules {
            min_repeats: config.min_repeats,
            min_total_us: config.min_total_ms.saturating_mul(1000),
            critical_count: config.critical_count,
            critical_total_us: config.critical_total_ms.saturating_mul(1000),
            duplicate_min_repeats: config.duplicate_min_repeats,
        }
    }
}

/// What a burst keeps of one execution.
#[derive(Debug, Clone, Copy)]
pub(super) struct Execution {
    /// Hash of the parameters: the Bind values and the statement text without its tag
    /// comments (the literals, for the simple protocol).
    params: u64,
    /// Hash of the sqlcommenter trace id, 0 without one.
    trace: u64,
    duration_us: u64,
    at: SystemTime,
}

impl Execution {
    pub(super) fn of(obs: &Observed<'_>) -> Self {
        let text = strip_tag_comments(obs.statement);
        Execution {
            params: xxh3_64_with_seed(text.as_bytes(), obs.event.params_hash),
            trace: obs.trace,
            duration_us: obs.event.duration_us,
            at: obs.event.finished_at,
        }
    }
}

/// Consecutive executions of one pattern on one connection, within one request.
///
/// Starting one allocates nothing: the pattern (and the parent's) is the fingerprinter's
/// shared `Arc`, and a route taken from `application_name` shares the session's string. In an
/// OLTP transaction nearly every statement starts a burst.
#[derive(Debug)]
pub(super) struct Burst {
    pub(super) pattern: Arc<Pattern>,
    parent: Option<Arc<Pattern>>,
    count: u64,
    total_us: u64,
    first_params: u64,
    /// Some execution's parameters differ from the first one's.
    differing: bool,
    trace: u64,
    route: Option<Arc<str>>,
    last_at: SystemTime,
}

impl Burst {
    /// A burst of one execution, following `parent`.
    pub(super) fn start(
        obs: &Observed<'_>,
        exec: &Execution,
        parent: Option<Arc<Pattern>>,
    ) -> Self {
        let app = &obs.event.session.application_name;
        let route = obs.route.map(|r| if r == &**app { app.clone() } else { r.into() });
        Burst {
            pattern: obs.pattern.clone(),
            parent,
            count: 1,
            total_us: exec.duration_us,
            first_params: exec.params,
            differing: false,
            trace: exec.trace,
            route,
            last_at: exec.at,
        }
    }

    /// True if the execution belongs to the same request: same route and trace id.
    pub(super) fn same_request(&self, exec: &Execution, route: Option<&str>) -> bool {
        self.trace == exec.trace && self.route.as_deref() == route
    }

    pub(super) fn add(&mut self, exec: &Execution) {
        self.count += 1;
        self.total_us = self.total_us.saturating_add(exec.duration_us);
        self.differing |= exec.params != self.first_params;
        self.last_at = exec.at;
    }

    /// The finding this burst amounts to, if any; `conn_id` and `session` are its
    /// connection's.
    pub(super) fn judge(
        &self,
        rules: &BurstRules,
        conn_id: u64,
        session: &Arc<SessionInfo>,
    ) -> Option<Finding> {
        if self.differing {
            // Sentry's rule: an N+1 follows a parent statement of another pattern. A run with
            // no parent (a load generator, a worker looping on one lookup) is not one.
            let enough = self.parent.is_some()
                && self.count >= rules.min_repeats
                && self.total_us >= rules.min_total_us;
            let critical =
                self.count >= rules.critical_count || self.total_us >= rules.critical_total_us;
            let severity = if critical { Severity::Critical } else { Severity::Warning };
            enough.then(|| self.n_plus_one(severity, conn_id, session))
        } else {
            let severity = if self.total_us >= rules.min_total_us {
                Severity::Warning
            } else {
                Severity::Info
            };
            (self.count >= rules.duplicate_min_repeats)
                .then(|| self.duplicate(severity, conn_id, session))
        }
    }

    fn n_plus_one(&self, severity: Severity, conn_id: u64, session: &Arc<SessionInfo>) -> Finding {
        let advice = if is_write(&self.pattern.text) { WRITE_SUGGESTION } else { READ_SUGGESTION };
        let suggestion = match &self.parent {
            Some(_) => format!("{} executions after one parent statement: {advice}", self.count),
            None => format!("{} executions in a row: {advice}", self.count),
        };
        Finding {
            parent_pattern_id: self.parent.as_ref().map(|p| p.id.to_string()),
            parent_pattern: self.parent.as_ref().map(|p| p.text.to_string()),
            suggestion,
            ..self.finding(FindingKind::NPlusOne, severity, conn_id, session)
        }
    }

    fn duplicate(&self, severity: Severity, conn_id: u64, session: &Arc<SessionInfo>) -> Finding {
        Finding {
            suggestion: format!(
                "the same statement with the same parameters ran {} times in a row: \
                 {DUPLICATE_SUGGESTION}",
                self.count
            ),
            ..self.finding(FindingKind::Duplicate, severity, conn_id, session)
        }
    }

    fn finding(
        &self,
        kind: FindingKind,
        severity: Severity,
        conn_id: u64,
        session: &Arc<SessionInfo>,
    ) -> Finding {
        let src = Source { conn_id, session, route: self.route.as_deref(), at: self.last_at };
        Finding {
            duration_ms: self.total_us as f64 / 1000.0,
            count: self.count,
            sample: Some(self.pattern.text.clone()),
            ..Finding::new(kind, severity, (self.pattern.id, &self.pattern.text), &src)
        }
    }
}

/// True for INSERT, UPDATE, DELETE and MERGE patterns (by their first word).
fn is_write(text: &str) -> bool {
    let first = text.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    ["insert", "update", "delete", "merge"].iter().any(|w| first.eq_ignore_ascii_case(w))
}
