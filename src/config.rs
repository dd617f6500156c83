//! Settings, resolved once into a validated [`Config`] that is passed down explicitly.
//!
//! Priority, rising: built-in defaults, `pgscope.toml`, `PGSCOPE_*` environment variables,
//! command-line flags. Flags and environment variables arrive together through clap (a flag
//! wins over its variable); the file fills what neither set.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::detect::{DetectConfig, DetectConfigError};
use crate::wire::PG_MAX_MESSAGE_LEN;

/// Relay threads unless configured: one, like PgBouncer's event loop. On the 2-core
/// benchmark machine one thread used less CPU per transaction than two (side by side at 16
/// clients: TPC-B 129.9 vs 140.3 µs, select-only 18.1 vs 21.3 µs); two bought TPC-B 7 % more
/// throughput and select-only 4 % less. See docs/benchmarks.md.
pub const DEFAULT_WORKER_THREADS: usize = 1;

/// A configuration error, with the file and the position or key it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("{path}{}: {source}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Rules { path: PathBuf, line: Option<usize>, source: DetectConfigError },
}

/// The rules file schema (`rules/default.toml`): detector thresholds and lint rules.
pub type RulesConfig = DetectConfig;

/// The `pgscope.toml` schema. Every key is optional; see `pgscope.example.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub proxy: ProxySection,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub analysis: AnalysisSection,
    #[serde(default)]
    pub admin: AdminSection,
}

/// `[admin]`: the admin console (`psql … dbname=pgscope`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Password of the admin console; without one the console is disabled.
    /// Prefer the PGSCOPE_ADMIN_PASSWORD variable to keeping it in a file.
    pub password: Option<Secret>,
}

/// A secret: never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `[proxy]`: the data path.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    /// Address clients connect to (default 127.0.0.1:6432).
    pub listen: Option<String>,
    /// The PostgreSQL server, as HOST:PORT.
    pub upstream: Option<String>,
    /// Largest message a client may send, in bytes (default 1 GiB - 1, PostgreSQL's own limit).
    pub max_message_bytes: Option<u32>,
    /// Most client connections at once; more are refused with SQLSTATE 53300 (default 1000).
    pub max_client_connections: Option<usize>,
    /// Seconds to wait for the upstream TCP connection (default 10).
    pub connect_timeout_secs: Option<u64>,
    /// Seconds a client has to send its startup packet (default 60, as authentication_timeout).
    pub startup_timeout_secs: Option<u64>,
    /// Seconds sessions get to finish on shutdown before they are closed (default 10).
    pub shutdown_grace_secs: Option<u64>,
    /// Named prepared statements and portals remembered per connection (default 10000).
    pub max_prepared_per_connection: Option<usize>,
    /// Threads relaying bytes (default 1, like PgBouncer's single event loop; 0 = one per
    /// CPU). Analysis has its own thread either way.
    pub worker_threads: Option<usize>,
}

/// `[http]`: the metrics and JSON API server.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Address of the HTTP server (default 127.0.0.1:9930); "off" disables it.
    pub listen: Option<String>,
}

/// `[analysis]`: the analysis path.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSection {
    /// Statement events queued between the data path and analysis; a full queue drops
    /// events and counts them (default 65536).
    pub event_queue: Option<usize>,
    /// Patterns kept with statistics; the least valuable are evicted (default 5000).
    pub max_patterns: Option<usize>,
    /// Statement texts memoized to their pattern (default 20000).
    pub memo_capacity: Option<usize>,
    /// Rules file: detector thresholds and lint rules (default: the built-in defaults, which
    /// `rules/default.toml` spells out).
    pub rules: Option<PathBuf>,
    /// Connection string of pgscope's own analysis connection (an ordinary role; used to
    /// EXPLAIN the first slow sample of each pattern). Unset: no EXPLAIN.
    pub url: Option<Secret>,
    /// Run EXPLAIN ANALYZE instead of EXPLAIN (executes the statement inside a transaction
    /// that is rolled back). Default false.
    pub explain_analyze: Option<bool>,
    /// Patterns with their own series in /metrics (by total time); the rest are summed under
    /// `pattern="other"` (default 100).
    pub metrics_top_k: Option<usize>,
    /// False: relay only. No analysis thread, no patterns, findings or statistics; the data
    /// path still frames and follows the protocol (default true). For measuring what analysis
    /// costs, or for ruling it out when chasing a problem.
    pub enabled: Option<bool>,
}

/// Values from flags and `PGSCOPE_*` variables (clap fills these; `None` = not given).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub upstream: Option<String>,
    pub http: Option<String>,
    pub max_message_bytes: Option<u32>,
    pub max_client_connections: Option<usize>,
    pub worker_threads: Option<usize>,
    pub rules: Option<PathBuf>,
    pub admin_password: Option<Secret>,
    pub analysis_url: Option<Secret>,
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub upstream: String,
    pub http: Option<SocketAddr>,
    pub max_message_bytes: u32,
    pub max_client_connections: usize,
    pub connect_timeout: Duration,
    pub startup_timeout: Duration,
    pub shutdown_grace: Duration,
    pub max_prepared_per_connection: usize,
    /// Relay threads (each one epoll loop); 0 = one per CPU.
    pub worker_threads: usize,
    pub event_queue: usize,
    pub max_patterns: usize,
    pub memo_capacity: usize,
    pub metrics_top_k: usize,
    /// `[analysis] enabled`: false = relay only.
    pub analysis_enabled: bool,
    /// Detector thresholds and lint rules, from the rules file.
    pub rules: RulesConfig,
    /// The admin console's password; `None` disables the console.
    pub admin_password: Option<Secret>,
    /// EXPLAIN for slow patterns, when `[analysis] url` is set.
    pub explain: Option<crate::explain::ExplainConfig>,
}

impl Config {
    /// How many relay threads to run: `worker_threads`, with 0 resolved to the CPU count.
    pub fn relay_threads(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }

    /// Settings for an in-process proxy in front of `upstream` on ephemeral loopback ports.
    pub fn for_upstream(upstream: impl Into<String>) -> Config {
        let overrides = Overrides {
            upstream: Some(upstream.into()),
            listen: Some("127.0.0.1:0".into()),
            http: Some("127.0.0.1:0".into()),
            ..Overrides::default()
        };
        Config::resolve(FileConfig::default(), overrides).expect("built-in defaults are valid")
    }

    /// Reads the file (if any) and applies the overrides on top.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
        let file = match path {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Config::resolve(file, overrides)
    }

    /// Merges file and overrides over the defaults and validates the result.
    pub fn resolve(file: FileConfig, o: Overrides) -> Result<Config, ConfigError> {
        let p = file.proxy;
        let listen = o.listen.or(p.listen).unwrap_or_else(|| "127.0.0.1:6432".into());
        let upstream = o.upstream.or(p.upstream).ok_or(ConfigError::Invalid {
            key: "proxy.upstream",
            reason: "required: the PostgreSQL server as HOST:PORT (--upstream)".into(),
        })?;
        let http = o.http.or(file.http.listen).unwrap_or_else(|| "127.0.0.1:9930".into());
        let a = file.analysis;
        let rules = match o.rules.or(a.rules) {
            Some(path) => read_rules(&path)?,
            None => RulesConfig::default(),
        };
        Ok(Config {
            listen: socket_addr("proxy.listen", &listen)?,
            upstream: validate_upstream(upstream)?,
            http: match http.as_str() {
                "off" => None,
                addr => Some(socket_addr("http.listen", addr)?),
            },
            max_message_bytes: in_range(
                "proxy.max_message_bytes",
                o.max_message_bytes.or(p.max_message_bytes).unwrap_or(PG_MAX_MESSAGE_LEN),
                1024,
                PG_MAX_MESSAGE_LEN,
            )?,
            max_client_connections: positive(
                "proxy.max_client_connections",
                o.max_client_connections.or(p.max_client_connections).unwrap_or(1000),
            )?,
            connect_timeout: secs(p.connect_timeout_secs.unwrap_or(10)),
            startup_timeout: secs(p.startup_timeout_secs.unwrap_or(60)),
            shutdown_grace: secs(p.shutdown_grace_secs.unwrap_or(10)),
            max_prepared_per_connection: p.max_prepared_per_connection.unwrap_or(10_000),
            worker_threads: in_range(
                "proxy.worker_threads",
                o.worker_threads.or(p.worker_threads).unwrap_or(DEFAULT_WORKER_THREADS),
                0,
                1024,
            )?,
            event_queue: positive("analysis.event_queue", a.event_queue.unwrap_or(65_536))?,
            max_patterns: positive("analysis.max_patterns", a.max_patterns.unwrap_or(5000))?,
            memo_capacity: positive("analysis.memo_capacity", a.memo_capacity.unwrap_or(20_000))?,
            metrics_top_k: a.metrics_top_k.unwrap_or(100),
            analysis_enabled: a.enabled.unwrap_or(true),
            rules,
            admin_password: o.admin_password.or(file.admin.password).filter(|p| !p.0.is_empty()),
            explain: o.analysis_url.or(a.url).map(|url| crate::explain::ExplainConfig {
                url: url.0,
                analyze: a.explain_analyze.unwrap_or(false),
            }),
        })
    }
}

/// Reads and parses a config file; errors name the file, line and key.
pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.into(), source })?;
    toml::from_str(&text)
        .map_err(|source| ConfigError::Parse { path: path.into(), source: Box::new(source) })
}

/// Reads, parses and validates a rules file; errors name the file, line and key.
pub fn read_rules(path: &Path) -> Result<RulesConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.into(), source })?;
    let rules: RulesConfig = toml::from_str(&text)
        .map_err(|source| ConfigError::Parse { path: path.into(), source: Box::new(source) })?;
    rules.validate().map_err(|source| {
        let line = match &source {
            DetectConfigError::Invalid { key, .. } => line_of_key(&text, key),
            _ => None,
        };
        ConfigError::Rules { path: path.into(), line, source }
    })?;
    Ok(rules)
}

/// The 1-based line where a dotted key (`slow.per_table.orders`, `n_plus_one.min_repeats`)
/// is set: its `[table]` header, or its `name =` line inside that table.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let header = |line: &str| {
        line.trim().strip_prefix('[')?.strip_suffix(']').map(str::trim).map(str::to_string)
    };
    let mut table = String::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(name) = header(line) {
            table = name;
            if table == key {
                return Some(i + 1);
            }
            continue;
        }
        let Some((name, _)) = line.split_once('=') else { continue };
        let full = if table.is_empty() {
            name.trim().to_string()
        } else {
            format!("{table}.{}", name.trim())
        };
        if full == key {
            return Some(i + 1);
        }
    }
    None
}

/// `pgscope check-config`: parses and validates the config file and the rules file it names
/// (or `rules`), returning one line per file checked.
pub fn check_files(
    config: Option<&Path>,
    rules: Option<&Path>,
) -> Result<Vec<String>, ConfigError> {
    let mut checked = Vec::new();
    let mut rules_path = rules.map(Path::to_path_buf);
    if let Some(path) = config {
        let file = read_file(path)?;
        rules_path = rules_path.or(file.analysis.rules);
        checked.push(format!("{}: ok", path.display()));
    }
    if let Some(path) = rules_path {
        read_rules(&path)?;
        checked.push(format!("{}: ok", path.display()));
    }
    Ok(checked)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn socket_addr(key: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError::Invalid {
        key,
        reason: format!("{value:?} is not an IP:PORT address (for example 127.0.0.1:6432)"),
    })
}

fn validate_upstream(value: String) -> Result<String, ConfigError> {
    match value.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(value),
        _ => Err(ConfigError::Invalid {
            key: "proxy.upstream",
            reason: format!("{value:?} is not HOST:PORT (for example 127.0.0.1:5432)"),
        }),
    }
}

fn in_range<T: PartialOrd + Copy + std::fmt::Display>(
    key: &'static str,
    v: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(ConfigError::Invalid { key, reason: format!("{v} is outside {min}..={max}") })
    }
}

fn positive(key: &'static str, v: usize) -> Result<usize, ConfigError> {
    if v > 0 {
        Ok(v)
    } else {
        Err(ConfigError::Invalid { key, reason: "must be at least 1".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let file = parse("[proxy]\nupstream = \"db:5432\"\nlisten = \"127.0.0.1:7000\"\nmax_client_connections = 5\n")
            .expect("valid");
        let flags = Overrides { listen: Some("127.0.0.1:7001".into()), ..Overrides::default() };
        let c = Config::resolve(file, flags).expect("valid");
        assert_eq!(c.listen.port(), 7001);
        assert_eq!(c.upstream, "db:5432");
        assert_eq!(c.max_client_connections, 5);
        assert_eq!(c.max_patterns, 5000);
        assert_eq!(c.http.map(|a| a.port()), Some(9930));
    }

    #[test]
    fn unknown_keys_are_reported_with_their_line() {
        let err = parse("[proxy]\nupstream = \"db:5432\"\nlisten_addr = \"x\"\n")
            .expect_err("unknown key");
        let text = err.to_string();
        assert!(text.contains("listen_addr"), "{text}");
        assert!(text.contains("line 3"), "{text}");
    }

    #[test]
    fn rules_errors_give_file_line_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rules.toml");
        std::fs::write(&path, "[slow]\nwarn_ms = 100\n\n[n_plus_one]\nmin_repeats = 1\n")
            .expect("write");
        let err = check_files(None, Some(&path)).expect_err("min_repeats too small").to_string();
        assert!(err.contains("rules.toml, line 5: n_plus_one.min_repeats"), "{err}");
        std::fs::write(&path, "[slow]\nwarn_ms = 100\nwarn = 3\n").expect("write");
        let err = check_files(None, Some(&path)).expect_err("unknown key").to_string();
        assert!(err.contains("line 3") && err.contains("unknown field `warn`"), "{err}");
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.toml");
        assert_eq!(check_files(None, Some(&shipped)).expect("shipped rules are valid").len(), 1);
    }

    #[test]
    fn bad_values_name_the_key() {
        let o = |u: &str| Overrides { upstream: Some(u.into()), ..Overrides::default() };
        let err = Config::resolve(FileConfig::default(), o("nohostport")).expect_err("bad");
        assert!(err.to_string().starts_with("proxy.upstream"), "{err}");
        let err =
            Config::resolve(FileConfig::default(), Overrides::default()).expect_err("missing");
        assert!(err.to_string().contains("--upstream"), "{err}");
        let mut bad_http = o("db:5432");
        bad_http.http = Some("localhost".into());
        let err = Config::resolve(FileConfig::default(), bad_http).expect_err("bad");
        assert!(err.to_string().starts_with("http.listen"), "{err}");
    }

    #[test]
    fn worker_threads_default_to_one_and_are_bounded() {
        let o = || Overrides { upstream: Some("db:5432".into()), ..Overrides::default() };
        let c = Config::resolve(FileConfig::default(), o()).expect("valid");
        assert_eq!(c.worker_threads, DEFAULT_WORKER_THREADS);
        let file = parse("[proxy]\nworker_threads = 0\n").expect("valid");
        assert_eq!(Config::resolve(file, o()).expect("0 = one per CPU").worker_threads, 0);
        let file = parse("[proxy]\nworker_threads = 4\n").expect("valid");
        let flag = Overrides { worker_threads: Some(2), ..o() };
        assert_eq!(Config::resolve(file, flag).expect("valid").worker_threads, 2);
        let file = parse("[proxy]\nworker_threads = 5000\n").expect("valid");
        let err = Config::resolve(file, o()).expect_err("too many");
        assert!(err.to_string().starts_with("proxy.worker_threads"), "{err}");
    }
}
