//! The detectors' settings: a serde schema (the `[slow]`, `[n_plus_one]`, `[routes]` and
//! `[findings]` sections of `rules/default.toml`), every key optional with a default.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A detector configuration error, naming the key it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DetectConfigError {
    /// The TOML text does not match the schema (the message has the line and key).
    #[error("detector rules: {0}")]
    Parse(#[source] Box<toml::de::Error>),
    /// A value is out of range or inconsistent; `key` is its dotted path.
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

/// All detector settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// `[slow]`: slow single executions and chronically slow patterns.
    pub slow: SlowConfig,
    /// `[n_plus_one]`: N+1 and duplicate bursts within one connection.
    pub n_plus_one: NPlusOneConfig,
    /// `[routes]`: per-endpoint statistics.
    pub routes: RoutesConfig,
    /// `[findings]`: how many findings are kept for the API.
    pub findings: FindingsConfig,
    /// `[lint]`: the lint rules checked once per new pattern.
    pub lint: crate::lint::LintConfig,
}

/// `[slow]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlowConfig {
    /// One execution at least this long (ms) is a Warning finding.
    pub warn_ms: u64,
    /// One execution at least this long (ms) is a Critical finding.
    pub critical_ms: u64,
    /// A pattern whose mean over a window of `chronic_min_calls` calls is at least this
    /// (ms) is chronically slow.
    pub chronic_mean_ms: u64,
    /// Calls per chronic window (at least 1).
    pub chronic_min_calls: u64,
    /// Put the raw statement text (with its literal values) in findings' `sample` instead
    /// of the normalized pattern. Kept in memory only.
    pub keep_parameter_values: bool,
    /// Thresholds for one pattern, keyed by its 16-hex-digit id. Wins over `per_table`.
    pub per_pattern: BTreeMap<String, Thresholds>,
    /// Thresholds for patterns that mention a table name as a whole word.
    pub per_table: BTreeMap<String, Thresholds>,
}

/// A threshold override; a missing key falls back to the next level (table, then global).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Warning threshold, ms.
    pub warn_ms: Option<u64>,
    /// Critical threshold, ms.
    pub critical_ms: Option<u64>,
}

/// `[n_plus_one]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NPlusOneConfig {
    /// Run the N+1 and duplicate detector.
    pub enabled: bool,
    /// Consecutive executions of one pattern, with differing parameters, that make a burst.
    pub min_repeats: u64,
    /// Least total time (ms) of a burst worth an N+1 finding.
    pub min_total_ms: u64,
    /// A connection silent this long (ms) ends its burst and forgets its parent statement.
    pub idle_gap_ms: u64,
    /// A burst of at least this many executions is Critical.
    pub critical_count: u64,
    /// A burst taking at least this long in total (ms) is Critical.
    pub critical_total_ms: u64,
    /// Consecutive executions of one pattern with the same parameters that make a
    /// Duplicate finding.
    pub duplicate_min_repeats: u64,
    /// Connections tracked at once; the least recently active is forgotten beyond.
    pub max_connections: usize,
}

/// `[routes]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutesConfig {
    /// Distinct routes tracked; statements of further routes count under `"other"`.
    pub max_routes: usize,
}

/// `[findings]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FindingsConfig {
    /// Findings kept per kind (newest); older ones fall off and are counted.
    pub per_kind_capacity: usize,
}

impl Default for SlowConfig {
    fn default() -> Self {
        SlowConfig {
            warn_ms: 500,
            critical_ms: 2000,
            chronic_mean_ms: 20,
            chronic_min_calls: 100,
            keep_parameter_values: false,
            per_pattern: BTreeMap::new(),
            per_table: BTreeMap::new(),
        }
    }
}

impl Default for NPlusOneConfig {
    fn default() -> Self {
        NPlusOneConfig {
            enabled: true,
            min_repeats: 5,
            min_total_ms: 50,
            idle_gap_ms: 1000,
            critical_count: 50,
            critical_total_ms: 1000,
            duplicate_min_repeats: 5,
            max_connections: 10_000,
        }
    }
}

impl Default for RoutesConfig {
    fn default() -> Self {
        RoutesConfig { max_routes: 1000 }
    }
}

impl Default for FindingsConfig {
    fn default() -> Self {
        FindingsConfig { per_kind_capacity: super::finding::DEFAULT_PER_KIND_CAPACITY }
    }
}

impl DetectConfig {
    /// Parses and validates TOML text in the `rules/default.toml` format.
    pub fn from_toml_str(text: &str) -> Result<DetectConfig, DetectConfigError> {
        let config: DetectConfig =
            toml::from_str(text).map_err(|e| DetectConfigError::Parse(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: orderings, lower bounds and the shape of override keys.
    pub fn validate(&self) -> Result<(), DetectConfigError> {
        self.slow.validate()?;
        self.n_plus_one.validate()?;
        at_least("routes.max_routes", self.routes.max_routes as u64, 1)?;
        at_least("findings.per_kind_capacity", self.findings.per_kind_capacity as u64, 1)?;
        crate::lint::Linter::new(&self.lint)
            .map(|_| ())
            .map_err(|e| invalid("lint.rules", e.to_string()))
    }
}

impl SlowConfig {
    fn validate(&self) -> Result<(), DetectConfigError> {
        ordered("slow", self.warn_ms, self.critical_ms)?;
        at_least("slow.chronic_min_calls", self.chronic_min_calls, 1)?;
        for (id, t) in &self.per_pattern {
            let key = format!("slow.per_pattern.{id}");
            if parse_pattern_id(id).is_none() {
                return Err(invalid(&key, "a pattern id is 16 hexadecimal digits".into()));
            }
            ordered(
                &key,
                t.warn_ms.unwrap_or(self.warn_ms),
                t.critical_ms.unwrap_or(self.critical_ms),
            )?;
        }
        for (table, t) in &self.per_table {
            let key = format!("slow.per_table.{table}");
            if table.is_empty() || table.contains(char::is_whitespace) {
                return Err(invalid(
                    &key,
                    "a table name is one word, e.g. orders or public.orders".into(),
                ));
            }
            ordered(
                &key,
                t.warn_ms.unwrap_or(self.warn_ms),
                t.critical_ms.unwrap_or(self.critical_ms),
            )?;
        }
        Ok(())
    }
}

impl NPlusOneConfig {
    fn validate(&self) -> Result<(), DetectConfigError> {
        at_least("n_plus_one.min_repeats", self.min_repeats, 2)?;
        at_least("n_plus_one.duplicate_min_repeats", self.duplicate_min_repeats, 2)?;
        at_least("n_plus_one.idle_gap_ms", self.idle_gap_ms, 1)?;
        at_least("n_plus_one.max_connections", self.max_connections as u64, 1)
    }
}

/// A 16-hex-digit pattern id as its number.
pub(crate) fn parse_pattern_id(id: &str) -> Option<u64> {
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(id, 16).ok()
}

fn ordered(key: &str, warn_ms: u64, critical_ms: u64) -> Result<(), DetectConfigError> {
    if warn_ms > critical_ms {
        return Err(invalid(
            key,
            format!("warn_ms ({warn_ms}) must not exceed critical_ms ({critical_ms})"),
        ));
    }
    Ok(())
}

fn at_least(key: &str, value: u64, min: u64) -> Result<(), DetectConfigError> {
    if value < min {
        return Err(invalid(key, format!("must be at least {min}, not {value}")));
    }
    Ok(())
}

fn invalid(key: &str, reason: String) -> DetectConfigError {
    DetectConfigError::Invalid { key: key.to_string(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_rules_file_is_the_default() {
        let text = include_str!("../../rules/default.toml");
        let parsed = DetectConfig::from_toml_str(text).expect("rules/default.toml parses");
        assert_eq!(parsed, DetectConfig::default());
    }

    #[test]
    fn empty_text_is_the_default() {
        assert_eq!(
            DetectConfig::from_toml_str("").expect("empty is fine"),
            DetectConfig::default()
        );
    }

    #[test]
    fn overrides_parse() {
        let text = "[slow]\nwarn_ms = 100\n[slow.per_table.orders]\nwarn_ms = 50\n\
                    [slow.per_pattern.00000000000000ab]\ncritical_ms = 900\n";
        let c = DetectConfig::from_toml_str(text).expect("valid");
        assert_eq!(c.slow.warn_ms, 100);
        assert_eq!(c.slow.per_table["orders"], Thresholds { warn_ms: Some(50), critical_ms: None });
        assert_eq!(c.slow.per_pattern["00000000000000ab"].critical_ms, Some(900));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = DetectConfig::from_toml_str("[slow]\nwarn = 1\n").expect_err("unknown key");
        assert!(err.to_string().contains("warn"), "{err}");
        assert!(DetectConfig::from_toml_str("[nplusone]\n").is_err());
        assert!(DetectConfig::from_toml_str("[slow.per_table.t]\nwarn_msx = 1\n").is_err());
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases = [
            ("[slow]\nwarn_ms = 3000\n", "slow"),
            ("[slow.per_pattern.xyz]\nwarn_ms = 1\n", "slow.per_pattern.xyz"),
            ("[slow.per_table.orders]\nwarn_ms = 5000\n", "slow.per_table.orders"),
            ("[n_plus_one]\nmin_repeats = 1\n", "n_plus_one.min_repeats"),
            ("[routes]\nmax_routes = 0\n", "routes.max_routes"),
            ("[findings]\nper_kind_capacity = 0\n", "findings.per_kind_capacity"),
        ];
        for (text, key) in cases {
            match DetectConfig::from_toml_str(text) {
                Err(DetectConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: expected Invalid({key}), got {other:?}"),
            }
        }
    }
}
