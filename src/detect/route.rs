//! Route attribution: which endpoint a statement came from, and bounded per-route statistics
//! ("queries per endpoint").
//!
//! The route comes from the statement's sqlcommenter tags (see [`super::sqlcomment`]), else
//! from the connection's `application_name`. `traceparent` and other per-request tags never
//! become routes: their cardinality is unbounded.

use std::borrow::Cow;

use super::finding::FindingKind;
use super::sqlcomment::{Tags, parse_tags};
use crate::event::Outcome;
use crate::fasthash::{FastMap, FastSet};

/// Default bound on distinct routes.
pub const DEFAULT_MAX_ROUTES: usize = 1000;
/// Where statements of routes beyond the bound are counted.
pub const OTHER_ROUTE: &str = "other";
/// Where statements without any route are counted.
pub const UNATTRIBUTED_ROUTE: &str = "unattributed";
/// Distinct patterns remembered per route; beyond, `distinct_patterns` stops growing.
const MAX_PATTERNS_PER_ROUTE: usize = 256;
/// Longest route kept, in characters; longer ones are cut.
const MAX_ROUTE_CHARS: usize = 200;

/// The endpoint of a statement: its `route` tag, else `controller#action` (or `controller`
/// alone), else `application_name` when non-empty, else `None`.
pub fn route_of<'a>(sql: &str, application_name: &'a str) -> Option<Cow<'a, str>> {
    route_from(&parse_tags(sql), application_name)
}

/// [`route_of`] a statement whose tags were already parsed.
pub fn route_from<'a>(tags: &Tags, application_name: &'a str) -> Option<Cow<'a, str>> {
    let non_empty = |key| tags.get(key).filter(|v| !v.trim().is_empty());
    let route = match (non_empty("route"), non_empty("controller"), non_empty("action")) {
        (Some(route), _, _) => Cow::Owned(route.to_string()),
        (None, Some(controller), Some(action)) => Cow::Owned(format!("{controller}#{action}")),
        (None, Some(controller), None) => Cow::Owned(controller.to_string()),
        // Borrowed: this is every statement of an app that sends no tags.
        _ if !application_name.is_empty() => Cow::Borrowed(application_name),
        _ => return None,
    };
    Some(clip(route))
}

fn clip(route: Cow<'_, str>) -> Cow<'_, str> {
    // A route of at most MAX_ROUTE_CHARS bytes has at most as many characters.
    if route.len() <= MAX_ROUTE_CHARS {
        return route;
    }
    match route.char_indices().nth(MAX_ROUTE_CHARS) {
        Some((cut, _)) => Cow::Owned(route[..cut].to_string()),
        None => route,
    }
}

/// One statement as route statistics see it.
#[derive(Debug, Clone, Copy)]
pub struct RouteSample<'a> {
    /// The endpoint, `None` if unknown.
    pub route: Option<&'a str>,
    /// The statement's pattern id.
    pub pattern_id: u64,
    /// Execution time in microseconds.
    pub duration_us: u64,
    /// How it ended (errors are counted).
    pub outcome: Outcome,
}

/// One route's statistics as the API shows them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RouteSummary {
    /// The route, or `other` / `unattributed`.
    pub route: String,
    /// Statements executed.
    pub statements: u64,
    /// Their total and mean execution time, in milliseconds.
    pub total_ms: f64,
    pub mean_ms: f64,
    /// Statements that ended in an ErrorResponse.
    pub errors: u64,
    /// Distinct patterns seen (stops counting at a bound; see `patterns_capped`).
    pub distinct_patterns: u64,
    /// True when `distinct_patterns` reached its bound and is a lower limit.
    pub patterns_capped: bool,
    /// N+1 findings attributed to the route.
    pub n_plus_one: u64,
}

#[derive(Debug, Default)]
struct RouteEntry {
    statements: u64,
    total_us: u64,
    errors: u64,
    patterns: FastSet<u64>,
    patterns_capped: bool,
    n_plus_one: u64,
}

/// Bounded map from route to statistics. Routes beyond the bound are counted under
/// [`OTHER_ROUTE`], statements without a route under [`UNATTRIBUTED_ROUTE`]; neither counts
/// toward the bound.
#[derive(Debug)]
pub struct RouteStats {
    /// Where each route's entry is in `entries`: one lookup per statement, no allocation.
    index: FastMap<Box<str>, usize>,
    entries: Vec<(Box<str>, RouteEntry)>,
    /// Routes in `entries` other than the two reserved ones.
    named: usize,
    max_routes: usize,
    overflow: u64,
}

impl Default for RouteStats {
    fn default() -> Self {
        RouteStats::new(DEFAULT_MAX_ROUTES)
    }
}

impl RouteStats {
    /// Empty statistics for at most `max_routes` named routes (at least one).
    pub fn new(max_routes: usize) -> Self {
        RouteStats {
            index: FastMap::default(),
            entries: Vec::new(),
            named: 0,
            max_routes: max_routes.max(1),
            overflow: 0,
        }
    }

    /// Adds one statement.
    pub fn record(&mut self, sample: &RouteSample<'_>) {
        let entry = self.entry_for(sample.route);
        entry.statements += 1;
        entry.total_us = entry.total_us.saturating_add(sample.duration_us);
        if matches!(sample.outcome, Outcome::Error { .. }) {
            entry.errors += 1;
        }
        if entry.patterns.len() < MAX_PATTERNS_PER_ROUTE {
            entry.patterns.insert(sample.pattern_id);
        } else if !entry.patterns.contains(&sample.pattern_id) {
            entry.patterns_capped = true;
        }
    }

    /// Counts a finding against its route (only N+1 findings are counted).
    pub fn record_finding(&mut self, kind: FindingKind, route: Option<&str>) {
        if kind != FindingKind::NPlusOne {
            return;
        }
        let key = match route {
            Some(r) if self.index.contains_key(r) => r,
            Some(_) => OTHER_ROUTE,
            None => UNATTRIBUTED_ROUTE,
        };
        let slot = self.slot(key);
        self.entries[slot].1.n_plus_one += 1;
    }

    /// Every route, most total time first (ties by name).
    pub fn list(&self) -> Vec<RouteSummary> {
        let mut rows: Vec<RouteSummary> =
            self.entries.iter().map(|(route, e)| e.summary(route)).collect();
        rows.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms).then_with(|| a.route.cmp(&b.route)));
        rows
    }

    /// Statements counted under [`OTHER_ROUTE`] because the bound was reached (monotonic).
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// Named routes tracked now (not counting `other` and `unattributed`).
    pub fn len(&self) -> usize {
        self.named
    }

    /// True when no statement has been recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry a statement of `route` is counted under: its own, or `other` once the bound
    /// is reached (counted), or `unattributed`.
    fn entry_for(&mut self, route: Option<&str>) -> &mut RouteEntry {
        let key = route.unwrap_or(UNATTRIBUTED_ROUTE);
        let slot = match self.index.get(key) {
            Some(&slot) => slot,
            None if !is_reserved(key) && self.named >= self.max_routes => {
                self.overflow += 1;
                self.slot(OTHER_ROUTE)
            }
            None => self.slot(key),
        };
        &mut self.entries[slot].1
    }

    /// The slot of `key`'s entry, created if absent.
    fn slot(&mut self, key: &str) -> usize {
        if let Some(&slot) = self.index.get(key) {
            return slot;
        }
        self.named += usize::from(!is_reserved(key));
        self.entries.push((key.into(), RouteEntry::default()));
        self.index.insert(key.into(), self.entries.len() - 1);
        self.entries.len() - 1
    }
}

fn is_reserved(route: &str) -> bool {
    route == OTHER_ROUTE || route == UNATTRIBUTED_ROUTE
}

impl RouteEntry {
    fn summary(&self, route: &str) -> RouteSummary {
        let total_ms = self.total_us as f64 / 1000.0;
        RouteSummary {
            route: route.to_string(),
            statements: self.statements,
            total_ms,
            mean_ms: if self.statements == 0 { 0.0 } else { total_ms / self.statements as f64 },
            errors: self.errors,
            distinct_patterns: self.patterns.len() as u64,
            patterns_capped: self.patterns_capped,
            n_plus_one: self.n_plus_one,
        }
    }
}
