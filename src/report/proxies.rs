//! What the running sidecars observed: their patterns merged into one view, and their findings
//! grouped, fetched over each sidecar's JSON API.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::http_client::{self, BaseUrl, HttpError};
use crate::detect::{FindingKind, Severity};

/// Why one sidecar could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// The HTTP exchange failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The body is not the JSON the API documents.
    #[error("unexpected JSON from {path}: {source}")]
    Json {
        /// The API path.
        path: &'static str,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
}

/// One pattern as `/api/patterns` shows it (only the fields the report merges).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiPattern {
    /// Pattern id, 16 hex digits.
    pub id: String,
    /// Normalized text.
    pub pattern: String,
    /// Executions.
    pub calls: u64,
    /// Total time, milliseconds.
    pub total_ms: f64,
    /// Slowest execution, milliseconds.
    pub max_ms: f64,
    /// Rows returned or affected.
    #[serde(default)]
    pub rows: u64,
    /// Executions that failed.
    #[serde(default)]
    pub errors: u64,
}

#[derive(Deserialize)]
struct PatternsBody {
    patterns: Vec<ApiPattern>,
}

/// One finding as `/api/findings` shows it (only the fields the report uses).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiFinding {
    /// What was found.
    pub kind: FindingKind,
    /// How urgent.
    pub severity: Severity,
    /// Pattern id.
    pub pattern_id: String,
    /// Normalized text.
    pub pattern: String,
    /// Endpoint, if known.
    #[serde(default)]
    pub route: Option<String>,
    /// Executions covered.
    #[serde(default)]
    pub count: u64,
    /// Time of those executions, milliseconds.
    #[serde(default)]
    pub duration_ms: f64,
    /// What to do.
    #[serde(default)]
    pub suggestion: String,
    /// The lint rule, for lint findings.
    #[serde(default)]
    pub rule_id: Option<String>,
}

#[derive(Deserialize)]
struct FindingsBody {
    findings: Vec<ApiFinding>,
}

/// Everything read from one sidecar.
#[derive(Debug, Default)]
pub struct SidecarData {
    /// Its patterns, by total time.
    pub patterns: Vec<ApiPattern>,
    /// Its findings, newest first.
    pub findings: Vec<ApiFinding>,
}

/// The API's top lists the report reads: the union of the first 1000 patterns by each key the
/// report ranks by, so a pattern with one very slow run but little total time is not missed.
const PATTERN_LISTS: [&str; 4] = [
    "/api/patterns?sort=total&limit=1000",
    "/api/patterns?sort=calls&limit=1000",
    "/api/patterns?sort=mean&limit=1000",
    "/api/patterns?sort=max&limit=1000",
];

/// Reads patterns and findings from the sidecar at `base_url`.
pub async fn fetch(base_url: &str) -> Result<SidecarData, SidecarError> {
    let base = BaseUrl::parse(base_url)?;
    let mut patterns: Vec<ApiPattern> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for path in PATTERN_LISTS {
        let body: PatternsBody = get_json(&base, path).await?;
        for p in body.patterns {
            if seen.insert(p.id.clone()) {
                patterns.push(p);
            }
        }
    }
    let findings: FindingsBody = get_json(&base, "/api/findings?limit=1000").await?;
    Ok(SidecarData { patterns, findings: findings.findings })
}

async fn get_json<T: serde::de::DeserializeOwned>(
    base: &BaseUrl,
    path: &'static str,
) -> Result<T, SidecarError> {
    let body = http_client::get(base, path).await?;
    serde_json::from_str(&body).map_err(|source| SidecarError::Json { path, source })
}

/// One pattern summed over every sidecar that saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergedPattern {
    /// Pattern id, 16 hex digits.
    pub id: String,
    /// Normalized text.
    pub pattern: String,
    /// Executions, all sidecars.
    pub calls: u64,
    /// Total time, milliseconds.
    pub total_ms: f64,
    /// Mean time weighted by calls (`total_ms / calls`).
    pub mean_ms: f64,
    /// Slowest execution on any sidecar.
    pub max_ms: f64,
    /// Rows returned or affected.
    pub rows: u64,
    /// Failed executions.
    pub errors: u64,
    /// How many sidecars saw this pattern (0: only pg_stat_statements did).
    pub sidecars: usize,
    /// `"sidecars"`, or `"pg_stat_statements"` for a statement no sidecar saw (its times are
    /// then the server's execution times, without the network).
    pub source: &'static str,
}

impl MergedPattern {
    /// An empty entry for `id`, to [`MergedPattern::add`] observations to.
    pub fn new(id: &str, pattern: &str, source: &'static str) -> MergedPattern {
        MergedPattern {
            id: id.to_string(),
            pattern: pattern.to_string(),
            calls: 0,
            total_ms: 0.0,
            mean_ms: 0.0,
            max_ms: 0.0,
            rows: 0,
            errors: 0,
            sidecars: 0,
            source,
        }
    }

    /// Adds one source's counts: counts and totals add up, the maximum is the largest maximum,
    /// the mean is recomputed from the sums.
    pub fn add(&mut self, calls: u64, total_ms: f64, max_ms: f64, rows: u64, errors: u64) {
        self.calls += calls;
        self.total_ms += total_ms;
        self.max_ms = self.max_ms.max(max_ms);
        self.rows += rows;
        self.errors += errors;
        self.mean_ms = if self.calls == 0 { 0.0 } else { self.total_ms / self.calls as f64 };
    }
}

/// Merges patterns by id (see [`MergedPattern::add`]). The result is in no particular order.
pub fn merge_patterns<'a>(lists: impl IntoIterator<Item = &'a [ApiPattern]>) -> Vec<MergedPattern> {
    let mut merged: HashMap<&str, MergedPattern> = HashMap::new();
    for p in lists.into_iter().flatten() {
        let m = merged
            .entry(&p.id)
            .or_insert_with(|| MergedPattern::new(&p.id, &p.pattern, "sidecars"));
        m.add(p.calls, p.total_ms, p.max_ms, p.rows, p.errors);
        m.sidecars += 1;
    }
    merged.into_values().collect()
}

/// The first `n` patterns by a key, descending, ties broken by id for a stable order.
pub fn top_by(
    patterns: &[MergedPattern],
    n: usize,
    key: impl Fn(&MergedPattern) -> f64,
) -> Vec<MergedPattern> {
    let mut sorted = patterns.to_vec();
    sorted.sort_by(|a, b| key(b).total_cmp(&key(a)).then_with(|| a.id.cmp(&b.id)));
    sorted.truncate(n);
    sorted
}

/// Findings of one kind about one pattern (and rule and route), over every sidecar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingGroup {
    /// What was found.
    pub kind: FindingKind,
    /// The most urgent severity among the grouped findings.
    pub severity: Severity,
    /// Pattern id.
    pub pattern_id: String,
    /// Normalized text.
    pub pattern: String,
    /// The lint rule, for lint findings.
    pub rule_id: Option<String>,
    /// Endpoint, if known.
    pub route: Option<String>,
    /// How many findings were grouped.
    pub findings: u64,
    /// Executions they cover, summed.
    pub count: u64,
    /// Time of those executions, milliseconds, summed.
    pub duration_ms: f64,
    /// What to do (from the most urgent finding).
    pub suggestion: String,
}

/// Groups findings by (kind, pattern, rule, route); sorted by kind, then most urgent and most
/// expensive first.
pub fn group_findings<'a>(lists: impl IntoIterator<Item = &'a [ApiFinding]>) -> Vec<FindingGroup> {
    type Key<'k> = (FindingKind, &'k str, Option<&'k str>, Option<&'k str>);
    let mut groups: HashMap<Key<'_>, FindingGroup> = HashMap::new();
    for f in lists.into_iter().flatten() {
        let key = (f.kind, f.pattern_id.as_str(), f.rule_id.as_deref(), f.route.as_deref());
        let g = groups.entry(key).or_insert_with(|| FindingGroup {
            kind: f.kind,
            severity: f.severity,
            pattern_id: f.pattern_id.clone(),
            pattern: f.pattern.clone(),
            rule_id: f.rule_id.clone(),
            route: f.route.clone(),
            findings: 0,
            count: 0,
            duration_ms: 0.0,
            suggestion: f.suggestion.clone(),
        });
        if f.severity > g.severity {
            g.severity = f.severity;
            g.suggestion = f.suggestion.clone();
        }
        g.findings += 1;
        g.count += f.count;
        g.duration_ms += f.duration_ms;
    }
    let mut all: Vec<FindingGroup> = groups.into_values().collect();
    all.sort_by(|a, b| {
        let kind = |g: &FindingGroup| FindingKind::ALL.iter().position(|k| *k == g.kind);
        kind(a)
            .cmp(&kind(b))
            .then(b.severity.cmp(&a.severity))
            .then(b.duration_ms.total_cmp(&a.duration_ms))
            .then_with(|| a.pattern_id.cmp(&b.pattern_id))
    });
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(id: &str, calls: u64, total_ms: f64, max_ms: f64) -> ApiPattern {
        ApiPattern {
            id: id.into(),
            pattern: format!("SELECT {id}"),
            calls,
            total_ms,
            max_ms,
            rows: calls,
            errors: 1,
        }
    }

    #[test]
    fn merges_the_same_pattern_across_sidecars() {
        let a = vec![pattern("a", 10, 100.0, 20.0), pattern("b", 1, 50.0, 50.0)];
        let b = vec![pattern("a", 30, 100.0, 30.0)];
        let merged = merge_patterns([a.as_slice(), b.as_slice()]);
        let top = top_by(&merged, 10, |p| p.total_ms);
        assert_eq!(top[0].id, "a");
        assert_eq!((top[0].calls, top[0].total_ms, top[0].max_ms), (40, 200.0, 30.0));
        assert_eq!((top[0].mean_ms, top[0].rows, top[0].errors, top[0].sidecars), (5.0, 40, 2, 2));
        let by_mean = top_by(&merged, 1, |p| p.mean_ms);
        assert_eq!(by_mean.len(), 1);
        assert_eq!(by_mean[0].id, "b");
    }

    fn finding(kind: FindingKind, severity: Severity, count: u64) -> ApiFinding {
        ApiFinding {
            kind,
            severity,
            pattern_id: "p".into(),
            pattern: "SELECT p".into(),
            route: Some("/x".into()),
            count,
            duration_ms: 1.0,
            suggestion: format!("{severity:?}"),
            rule_id: None,
        }
    }

    #[test]
    fn groups_findings_by_kind_keeping_the_worst_severity() {
        let a = vec![
            finding(FindingKind::NPlusOne, Severity::Warning, 5),
            finding(FindingKind::Slow, Severity::Warning, 1),
        ];
        let b = vec![finding(FindingKind::NPlusOne, Severity::Critical, 50)];
        let groups = group_findings([a.as_slice(), b.as_slice()]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].kind, FindingKind::Slow);
        let n1 = &groups[1];
        assert_eq!((n1.severity, n1.findings, n1.count), (Severity::Critical, 2, 55));
        assert_eq!(n1.suggestion, "Critical");
    }

    #[tokio::test]
    async fn says_which_api_answered_bad_json() {
        let get = axum::routing::get(|| async { "not json" });
        let base = http_client::serve(axum::Router::new().route("/api/patterns", get)).await;
        let err = fetch(&base).await.unwrap_err();
        assert!(matches!(err, SidecarError::Json { .. }), "{err:?}");
        assert!(err.to_string().starts_with("unexpected JSON from /api/patterns"), "{err}");
    }
}
