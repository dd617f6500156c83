//! The `pgscope` command line. Errors become messages and exit codes here, and only here.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pgscope::config::{self, Config, Overrides};
use pgscope::sidecar::Sidecar;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "pgscope",
    version,
    about = "A PostgreSQL sidecar that learns what your app does to its database"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sidecar: clients connect here, every byte goes on to the upstream PostgreSQL.
    Proxy(ProxyArgs),
    /// Start a throwaway PostgreSQL, pgscope in front of it and a sample workload; print what
    /// pgscope saw; clean up.
    Demo,
    /// Report top patterns, findings, pg_stat_statements, unused/duplicate indexes, index
    /// coverage and index suggestions. Exits 3 with --fail-on when a problem reaches that
    /// severity.
    Report(ReportArgs),
    /// Print the pattern and pattern id of one SQL statement.
    Fingerprint {
        /// The SQL text.
        sql: String,
    },
    /// Validate a configuration file and its rules file; errors give the file, line and key.
    CheckConfig {
        /// The configuration file to check.
        #[arg(long, env = "PGSCOPE_CONFIG")]
        config: Option<PathBuf>,
        /// The rules file to check (default: the one the configuration names).
        #[arg(long, env = "PGSCOPE_RULES")]
        rules: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct ProxyArgs {
    /// The PostgreSQL server, HOST:PORT.
    #[arg(long, env = "PGSCOPE_UPSTREAM")]
    upstream: Option<String>,
    /// Address clients connect to [default: 127.0.0.1:6432].
    #[arg(long, env = "PGSCOPE_LISTEN")]
    listen: Option<String>,
    /// Address of the HTTP API, or "off" [default: 127.0.0.1:9930].
    #[arg(long, env = "PGSCOPE_HTTP")]
    http: Option<String>,
    /// Configuration file (TOML).
    #[arg(long, env = "PGSCOPE_CONFIG")]
    config: Option<PathBuf>,
    /// Largest message a client may send, in bytes [default: 1073741823].
    #[arg(long, env = "PGSCOPE_MAX_MESSAGE_BYTES")]
    max_message_bytes: Option<u32>,
    /// Most client connections at once [default: 1000].
    #[arg(long, env = "PGSCOPE_MAX_CLIENT_CONNECTIONS")]
    max_client_connections: Option<usize>,
    /// Threads relaying bytes, each one epoll loop; 0 = one per CPU [default: 1].
    #[arg(long, env = "PGSCOPE_WORKER_THREADS")]
    worker_threads: Option<usize>,
    /// Rules file (thresholds, lint rules) [default: built-in, as rules/default.toml].
    #[arg(long, env = "PGSCOPE_RULES")]
    rules: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// Ordinary connection to the database (libpq string or URL) for pg_stat_statements, the
    /// catalog, EXPLAIN and hypopg.
    #[arg(long, env = "PGSCOPE_ANALYSIS_URL")]
    analysis_url: Option<String>,
    /// Base URL of a running sidecar's HTTP API; repeat to merge several.
    #[arg(long = "proxy", value_name = "URL")]
    proxies: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: ReportFormat,
    /// Exit with status 3 when a finding or index problem is at or above this severity
    /// (unused and duplicate indexes and verified index suggestions count as warnings).
    #[arg(long, value_enum)]
    fail_on: Option<FailOn>,
    /// Rows per table.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// An index scanned at most this many times since the statistics reset counts as unused.
    #[arg(long, default_value_t = 0)]
    unused_scans: i64,
    /// Show pg_stat_statements as what ran during this interval (`60s`, `5m`, `1m30s`): two
    /// snapshots this far apart, instead of the totals since the last reset.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    interval: Option<std::time::Duration>,
    /// Tables with fewer rows (planner estimate) get no index suggestion.
    #[arg(long, default_value_t = pgscope::report::DEFAULT_MIN_ROWS)]
    min_rows: f64,
}

/// `--interval`: a humantime duration (`60s`, `5m`), at least a millisecond.
fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d >= std::time::Duration::from_millis(1) => Ok(d),
        Ok(_) => Err("the interval must be longer than zero".to_string()),
        Err(e) => Err(format!("{e} (expected a duration such as 60s, 5m or 1m30s)")),
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FailOn {
    Warning,
    Critical,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own summary; its log stays quiet unless PGSCOPE_LOG asks.
    init_tracing(if matches!(cli.command, Command::Demo) { "error" } else { "info" });
    let result = match cli.command {
        Command::Proxy(args) => proxy_config(args).and_then(|config| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            rt.block_on(proxy(config))
        }),
        Command::Demo => runtime().and_then(|rt| Ok(rt.block_on(pgscope::demo::run())?)),
        Command::Report(args) => {
            return runtime().map_or_else(fail, |rt| rt.block_on(report(args)));
        }
        Command::Fingerprint { sql } => {
            fingerprint(&sql);
            Ok(())
        }
        Command::CheckConfig { config, rules } => check_config(config.as_deref(), rules.as_deref()),
    };
    result.map_or_else(fail, |()| ExitCode::SUCCESS)
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("pgscope: {e:#}");
    ExitCode::FAILURE
}

/// Prints the report; exit 3 when `--fail-on` is given and a problem reaches that severity.
async fn report(args: ReportArgs) -> ExitCode {
    use pgscope::detect::Severity;
    use pgscope::report::{self, Format, ReportOptions};
    let opts = ReportOptions {
        analysis_url: args.analysis_url,
        proxies: args.proxies,
        top: args.top,
        unused_scans: args.unused_scans,
        interval: args.interval,
        min_rows: args.min_rows,
    };
    let built = report::build(&opts).await;
    let format = match args.format {
        ReportFormat::Text => Format::Text,
        ReportFormat::Markdown => Format::Markdown,
        ReportFormat::Json => Format::Json,
    };
    print!("{}", report::render(&built, format));
    let threshold = args.fail_on.map(|f| match f {
        FailOn::Warning => Severity::Warning,
        FailOn::Critical => Severity::Critical,
    });
    match threshold {
        Some(t) if built.fails(t) => ExitCode::from(report::EXIT_FAIL_ON),
        _ => ExitCode::SUCCESS,
    }
}

fn init_tracing(default: &str) {
    let filter = EnvFilter::try_from_env("PGSCOPE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")
}

fn proxy_config(args: ProxyArgs) -> anyhow::Result<Config> {
    let overrides = Overrides {
        listen: args.listen,
        upstream: args.upstream,
        http: args.http,
        max_message_bytes: args.max_message_bytes,
        max_client_connections: args.max_client_connections,
        worker_threads: args.worker_threads,
        rules: args.rules,
        admin_password: std::env::var("PGSCOPE_ADMIN_PASSWORD").ok().map(config::Secret),
        analysis_url: std::env::var("PGSCOPE_ANALYSIS_URL").ok().map(config::Secret),
    };
    Ok(Config::load(args.config.as_deref(), overrides)?)
}

async fn proxy(config: Config) -> anyhow::Result<()> {
    let sidecar = Sidecar::start(config).await.context("starting the proxy")?;
    if let Some(http) = sidecar.http_addr {
        tracing::info!(%http, "http api listening");
    }
    wait_for_signal().await?;
    tracing::info!("shutting down");
    sidecar.shutdown().await.context("shutting down")?;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

fn fingerprint(sql: &str) {
    let pattern = pgscope::fingerprint::normalize(sql);
    println!("pattern: {}", pattern.text);
    println!("id:      {}", pattern.id);
    if !pattern.parsed {
        println!(
            "note:    sqlparser could not parse this statement; the pattern comes from the token-level fallback"
        );
    }
}

fn check_config(
    config: Option<&std::path::Path>,
    rules: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let default = std::path::Path::new("pgscope.toml");
    let config = config.or_else(|| default.exists().then_some(default));
    if config.is_none() && rules.is_none() {
        anyhow::bail!("nothing to check: give --config FILE and/or --rules FILE");
    }
    for line in config::check_files(config, rules)? {
        println!("{line}");
    }
    Ok(())
}
