//! Real client libraries through pgscope: psycopg 3, asyncpg, node-postgres and the PostgreSQL
//! JDBC driver each run a script of what apps do (`tests/clients/`) as the SCRAM user, with the
//! driver's default SSL setting (pgscope declines the SSLRequest). Then the patterns pgscope
//! recorded are checked against the counts the script is known to produce.
//! A missing driver fails the test, saying what to install; it never skips.

use std::process::{Output, Stdio};
use std::time::Duration;

use pgscope::stats::PatternSummary;
use tokio::process::Command;

use crate::support::*;

const CLIENTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");
/// Debian's interpreter: python3-psycopg and python3-asyncpg install for it, not for pyenv's.
const PYTHON: &str = "/usr/bin/python3";
const JDBC_JAR: &str = "/usr/share/java/postgresql.jar";
const SCRIPT_LIMIT: Duration = Duration::from_secs(180);

/// One client library: what must be there for it to run, and its script.
struct Driver {
    /// Tiny commands that succeed only if the driver can run, each with what to install.
    probes: &'static [(&'static [&'static str], &'static str)],
    /// The script's command line, run in `tests/clients`; HOST PORT USER PASSWORD DBNAME follow.
    command: &'static [&'static str],
}

/// A recorded pattern and what pgscope must have counted for it.
struct Expect {
    /// Words the pattern contains, in any case; exactly one recorded pattern may have them all.
    words: Vec<String>,
    calls: u64,
    rows: u64,
    /// The SQLSTATE class when every call of the statement fails.
    error_class: Option<&'static str>,
}

fn ok(words: &[&str], calls: u64, rows: u64) -> Expect {
    Expect { words: words.iter().map(|w| w.to_string()).collect(), calls, rows, error_class: None }
}

fn failed(words: &[&str], class: &'static str) -> Expect {
    Expect { error_class: Some(class), ..ok(words, 1, 0) }
}

/// What every script does alike, on tables named after its `prefix` (`psy_items`, `apg_many`,
/// ...): the numbers are the constants at the top of each script.
fn every_script(prefix: &str) -> Vec<Expect> {
    let (items, many) = (format!("{prefix}_items"), format!("{prefix}_many"));
    vec![
        ok(&["insert", &items, "blob"], 3, 3),
        ok(&["prep_name"], 20, 20),
        failed(&["insert", &format!("{items} (id, name)")], "23"),
        failed(&[&format!("{prefix}_div")], "22"),
        // Two in transactions, then the batch of 100 (executemany, a pool, executeBatch).
        ok(&["insert", &many], 102, 102),
        ok(&["pg_notify"], 1, 1),
        failed(&["pg_sleep"], "57"),
        ok(&["after_cancel"], 1, 1),
        ok(&["big_pad"], 1, 50_000),
    ]
}

/// A cursor over 20 500 rows read 1000 per Execute: 20 PortalSuspended, then the last 500.
fn cursor_batches() -> Expect {
    ok(&["cursor_g"], 21, 20_500)
}

/// Runs the driver's script through a fresh pgscope and checks what it recorded: the
/// expectations of [`every_script`] for `prefix` plus the driver's `own`.
async fn check_driver(driver: &Driver, prefix: &str, own: Vec<Expect>) -> Env {
    let env = Env::start().await;
    run_script(&env, driver).await;
    let mut expect = every_script(prefix);
    expect.extend(own);
    check_patterns(&env, &expect).await;
    env
}

#[tokio::test]
async fn psycopg3() {
    const PSYCOPG: Driver = Driver {
        probes: &[(
            &[PYTHON, "-c", "import psycopg"],
            "install the Debian package python3-psycopg (see .ci/run)",
        )],
        command: &[PYTHON, "psycopg_check.py"],
    };
    // The numbers are the constants at the top of psycopg_check.py.
    let own = vec![
        ok(&["typed_note"], 6, 6),
        ok(&["update", "psy_many"], 30, 30),
        ok(&["piped_v"], 30, 30),
        ok(&["before_pipe_error"], 1, 1),
        failed(&["pipe_div"], "22"),
        ok(&["psy_copy_text", "from stdin"], 1, 500),
        ok(&["psy_copy_bin", "from stdin"], 1, 500),
        ok(&["psy_copy", "to stdout"], 1, 1000),
        ok(&["listen", "psy_channel"], 1, 0),
        ok(&["declare", "cursor_g"], 1, 0),
        // FETCH FORWARD 1000: 20 full batches, then the last 500.
        ok(&["fetch", "psy_cursor"], 21, 20_500),
    ];
    let env = check_driver(&PSYCOPG, "psy", own).await;
    // Skipped by the server after the error before it in the pipeline: never a success.
    never_succeeded(&env, &["after_pipe_error"]);
}

#[tokio::test]
async fn asyncpg() {
    const ASYNCPG: Driver = Driver {
        probes: &[(
            &[PYTHON, "-c", "import asyncpg"],
            "install the Debian package python3-asyncpg (see .ci/run)",
        )],
        command: &[PYTHON, "asyncpg_check.py"],
    };
    // The numbers are the constants at the top of asyncpg_check.py.
    let own = vec![
        ok(&["typed_note"], 3, 3),
        ok(&["explicit_prep"], 5, 5),
        ok(&["apg_copy", "from stdin"], 1, 1000),
        ok(&["apg_copy", "to stdout"], 1, 10),
        cursor_batches(),
    ];
    check_driver(&ASYNCPG, "apg", own).await;
}

#[tokio::test]
async fn node_postgres() {
    const NODE_PG: Driver = Driver {
        probes: &[(
            &["node", "-e", "require('pg'); require('pg-cursor'); require('pg-copy-streams')"],
            "install Node.js, then run `npm ci --prefix tests/clients` (Debian's node-pg cannot \
             be installed beside NodeSource's nodejs)",
        )],
        command: &["node", "pg_check.js"],
    };
    // The numbers are the constants at the top of pg_check.js.
    let mut own = copy_listen_cursor("pgn");
    own.push(failed(&["aborted_select"], "25"));
    check_driver(&NODE_PG, "pgn", own).await;
}

#[tokio::test]
async fn jdbc() {
    const JDBC: Driver = Driver {
        probes: &[
            (
                &["test", "-r", JDBC_JAR],
                "install the Debian package libpostgresql-jdbc-java (see .ci/run)",
            ),
            (
                &["java", "--describe-module", "jdk.compiler"],
                "install a JDK, e.g. the Debian package default-jdk-headless: launching a \
                 single source file needs jdk.compiler (see .ci/run)",
            ),
        ],
        command: &["java", "-cp", JDBC_JAR, "JdbcCheck.java"],
    };
    // The numbers are the constants at the top of JdbcCheck.java; the first 4 runs of
    // prep_name use unnamed statements, the rest the server-side prepared one.
    check_driver(&JDBC, "jdbc", copy_listen_cursor("jdbc")).await;
}

/// What node-postgres and JDBC both do after the shared part: one read of each typed row,
/// COPY 1000 rows in and out, LISTEN, and a cursor read in batches of 1000.
fn copy_listen_cursor(prefix: &str) -> Vec<Expect> {
    let copy = format!("{prefix}_copy");
    vec![
        ok(&["typed_note"], 3, 3),
        ok(&[&copy, "from stdin"], 1, 1000),
        ok(&[&copy, "to stdout"], 1, 1000),
        ok(&["listen", &format!("{prefix}_channel")], 1, 0),
        cursor_batches(),
    ]
}

/// Checks the driver is installed, then runs its script through pgscope as the SCRAM user and
/// asserts it printed `ok`.
async fn run_script(env: &Env, driver: &Driver) {
    for (probe, install) in driver.probes {
        let out = run(probe, &[], Duration::from_secs(60)).await;
        assert!(
            out.as_ref().is_ok_and(|o| o.status.success()),
            "`{}` failed: {install}\n{}",
            probe.join(" "),
            describe(&out)
        );
    }
    let addr = env.sidecar.proxy_addr;
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let (user, password) = SCRAM_USER;
    let args = [host.as_str(), &port, user, password, "postgres"];
    let out = run(driver.command, &args, SCRIPT_LIMIT).await;
    let passed = out.as_ref().is_ok_and(|o| {
        o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| l == "ok")
    });
    assert!(passed, "`{}` through pgscope failed\n{}", driver.command.join(" "), describe(&out));
}

/// Runs a command in `tests/clients` with the PG* variables cleared, so each driver falls back to
/// its own defaults (sslmode among them), bounded by `limit`.
async fn run(command: &[&str], args: &[&str], limit: Duration) -> Result<Output, String> {
    let (program, rest) = command.split_first().expect("a command has a program");
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .args(args)
        .current_dir(CLIENTS_DIR)
        .env("NODE_PATH", "/usr/share/nodejs")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in ["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE", "PGOPTIONS"]
    {
        cmd.env_remove(var);
    }
    match tokio::time::timeout(limit, cmd.output()).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(format!("cannot run {program}: {e}")),
        Err(_) => Err(format!("did not finish within {limit:?} (killed)")),
    }
}

fn describe(out: &Result<Output, String>) -> String {
    match out {
        Ok(o) => format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => e.clone(),
    }
}

/// Compares each expectation, giving the analysis path up to 10 s to catch up with the script.
async fn check_patterns(env: &Env, expect: &[Expect]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let all = env.patterns();
        let wrong: Vec<String> = expect.iter().filter_map(|e| mismatch(&all, e)).collect();
        if wrong.is_empty() {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{}\nall patterns: {:#?}", wrong.join("\n"), texts(&all));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What differs between the expectation and the one pattern it names, if anything.
fn mismatch(all: &[PatternSummary], e: &Expect) -> Option<String> {
    let found: Vec<_> = all.iter().filter(|p| has_words(&p.pattern, &e.words)).collect();
    let [p] = found.as_slice() else {
        return Some(format!("{} patterns contain {:?}, want 1", found.len(), e.words));
    };
    let errors = if e.error_class.is_some() { e.calls } else { 0 };
    let by_class = e.error_class.map(|c| (c.to_string(), e.calls));
    let got = (p.calls, p.rows, p.errors, p.errors_by_class.clone().into_iter().next());
    (got != (e.calls, e.rows, errors, by_class.clone())).then(|| {
        format!(
            "{:?}: want calls={} rows={} errors={errors} {by_class:?}, got calls={} rows={} \
             errors={} {:?}",
            p.pattern, e.calls, e.rows, p.calls, p.rows, p.errors, p.errors_by_class
        )
    })
}

fn has_words(pattern: &str, words: &[impl AsRef<str>]) -> bool {
    let pattern = pattern.to_lowercase();
    words.iter().all(|w| pattern.contains(&w.as_ref().to_lowercase()))
}

/// A statement the server skipped may be recorded, but only as failed.
fn never_succeeded(env: &Env, words: &[&str]) {
    for p in env.patterns().iter().filter(|p| has_words(&p.pattern, words)) {
        assert_eq!(p.calls, p.errors, "{:?} was never executed by the server: {p:?}", p.pattern);
    }
}
