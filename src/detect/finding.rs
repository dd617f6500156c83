//! Findings (what a detector reports) and the bounded store the API reads them from.

use std::collections::VecDeque;
use std::time::SystemTime;

use crate::event::SessionInfo;
use crate::fingerprint::PatternId;
use crate::stats::format_utc_millis;

/// Default number of findings kept per kind.
pub const DEFAULT_PER_KIND_CAPACITY: usize = 1000;

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// One slow execution, or a chronically slow pattern.
    Slow,
    /// A burst of one pattern with differing parameters after a parent statement.
    NPlusOne,
    /// A burst of one pattern with the same parameters.
    Duplicate,
    /// A static rule matched the statement text.
    Lint,
}

impl FindingKind {
    /// Every kind, in the order metrics and the API list them.
    pub const ALL: [FindingKind; 4] =
        [FindingKind::Slow, FindingKind::NPlusOne, FindingKind::Duplicate, FindingKind::Lint];

    /// The name used in the API (`slow`, `n_plus_one`, `duplicate`, `lint`).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Slow => "slow",
            FindingKind::NPlusOne => "n_plus_one",
            FindingKind::Duplicate => "duplicate",
            FindingKind::Lint => "lint",
        }
    }

    /// The kind with this exact API name, if any.
    pub fn from_name(name: &str) -> Option<FindingKind> {
        FindingKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How urgent a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action needed now.
    Info,
    /// Costs time; worth fixing.
    Warning,
    /// Costs a lot of time; fix first.
    Critical,
}

impl Severity {
    /// Every severity, least urgent first.
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    /// The lowercase name used in the API and as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One thing a detector noticed, as the API and the report show it.
///
/// Never holds parameter values unless the user opted in (`sample` is the normalized pattern
/// text by default).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Finding {
    /// What was found.
    pub kind: FindingKind,
    /// How urgent it is.
    pub severity: Severity,
    /// Pattern id, 16 lowercase hex digits.
    pub pattern_id: String,
    /// Normalized pattern text (no literal values).
    pub pattern: String,
    /// For N+1: the statement that ran before the burst (id and text), if any.
    pub parent_pattern_id: Option<String>,
    pub parent_pattern: Option<String>,
    /// The client connection (pgscope's id for it).
    pub conn_id: u64,
    /// Database, user and `application_name` of that connection.
    pub database: String,
    pub user: String,
    pub application_name: String,
    /// The endpoint the statement came from (see [`super::route::route_of`]).
    pub route: Option<String>,
    /// Total time of the `count` executions the finding covers, in milliseconds: one
    /// execution for a slow query, the whole burst for N+1 and duplicates.
    pub duration_ms: f64,
    /// Executions the finding covers (1 for a single slow execution).
    pub count: u64,
    /// An example: the pattern text, or the raw statement only when the user opted in.
    pub sample: Option<String>,
    /// What to do about it.
    pub suggestion: String,
    /// When the (last) execution finished, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// The lint rule that matched; `None` for the other kinds.
    pub rule_id: Option<String>,
    /// What exactly the lint rule saw (names tables and columns, never values).
    pub message: Option<String>,
    /// For slow findings, with `[analysis] url` set: the plan from `EXPLAIN`, or why there is
    /// none.
    pub plan: Option<String>,
}

/// Where a finding came from: the connection, its session, the route and the time.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The client connection.
    pub conn_id: u64,
    /// Database, user and application name of the connection.
    pub session: &'a SessionInfo,
    /// The endpoint, if known.
    pub route: Option<&'a str>,
    /// When the (last) execution finished.
    pub at: SystemTime,
}

impl Finding {
    /// A finding about one pattern with the source filled in; callers set the rest.
    /// `count` starts at 1, `duration_ms` at 0, and `sample`, `suggestion` empty.
    pub fn new(
        kind: FindingKind,
        severity: Severity,
        (id, text): (PatternId, &str),
        src: &Source<'_>,
    ) -> Finding {
        Finding {
            kind,
            severity,
            pattern_id: id.to_string(),
            pattern: text.to_string(),
            parent_pattern_id: None,
            parent_pattern: None,
            conn_id: src.conn_id,
            database: src.session.database.to_string(),
            user: src.session.user.to_string(),
            application_name: src.session.application_name.to_string(),
            route: src.route.map(str::to_string),
            duration_ms: 0.0,
            count: 1,
            sample: None,
            suggestion: String::new(),
            at: format_utc_millis(src.at),
            rule_id: None,
            message: None,
            plan: None,
        }
    }
}

/// Bounded rings of findings, one per kind, newest last; what falls off is counted.
#[derive(Debug)]
pub struct FindingStore {
    rings: [VecDeque<(u64, Finding)>; 4],
    capacity: usize,
    seq: u64,
    /// Findings pushed, by kind and severity (monotonic, for metrics).
    counts: [[u64; 3]; 4],
    /// Findings that fell off a full ring, by kind (monotonic).
    dropped: [u64; 4],
}

impl Default for FindingStore {
    fn default() -> Self {
        FindingStore::new(DEFAULT_PER_KIND_CAPACITY)
    }
}

impl FindingStore {
    /// An empty store keeping at most `per_kind_capacity` findings of each kind (at least 1).
    pub fn new(per_kind_capacity: usize) -> Self {
        FindingStore {
            rings: Default::default(),
            capacity: per_kind_capacity.max(1),
            seq: 0,
            counts: [[0; 3]; 4],
            dropped: [0; 4],
        }
    }

    /// Adds a finding; the oldest one of its kind falls off (and is counted) when full.
    pub fn push(&mut self, finding: Finding) {
        let kind = finding.kind.index();
        self.counts[kind][finding.severity.index()] += 1;
        let ring = &mut self.rings[kind];
        if ring.len() >= self.capacity {
            ring.pop_front();
            self.dropped[kind] += 1;
        }
        self.seq += 1;
        ring.push_back((self.seq, finding));
    }

    /// Attaches a plan to the slow findings of one pattern that have none yet.
    pub fn attach_plan(&mut self, pattern_id: &str, plan: &str) {
        let ring = &mut self.rings[FindingKind::Slow.index()];
        for (_, f) in
            ring.iter_mut().filter(|(_, f)| f.pattern_id == pattern_id && f.plan.is_none())
        {
            f.plan = Some(plan.to_string());
        }
    }

    /// Up to `limit` findings, newest first, of one kind or of all kinds.
    pub fn list(&self, kind: Option<FindingKind>, limit: usize) -> Vec<Finding> {
        match kind {
            Some(k) => {
                self.rings[k.index()].iter().rev().take(limit).map(|(_, f)| f.clone()).collect()
            }
            None => {
                let mut all: Vec<&(u64, Finding)> = self.rings.iter().flatten().collect();
                all.sort_unstable_by_key(|(seq, _)| std::cmp::Reverse(*seq));
                all.into_iter().take(limit).map(|(_, f)| f.clone()).collect()
            }
        }
    }

    /// Findings held now, over all kinds.
    pub fn len(&self) -> usize {
        self.rings.iter().map(VecDeque::len).sum()
    }

    /// True when no finding is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Findings ever pushed with this kind and severity (monotonic; a metrics counter).
    pub fn count(&self, kind: FindingKind, severity: Severity) -> u64 {
        self.counts[kind.index()][severity.index()]
    }

    /// Every (kind, severity, count) triple, for exporting metrics.
    pub fn counts(&self) -> impl Iterator<Item = (FindingKind, Severity, u64)> + '_ {
        FindingKind::ALL
            .into_iter()
            .flat_map(move |k| Severity::ALL.into_iter().map(move |s| (k, s, self.count(k, s))))
    }

    /// Findings that fell off a full ring, over all kinds (monotonic).
    pub fn dropped(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Findings of one kind that fell off its full ring (monotonic).
    pub fn dropped_of(&self, kind: FindingKind) -> u64 {
        self.dropped[kind.index()]
    }
}
