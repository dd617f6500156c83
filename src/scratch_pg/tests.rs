//! Starts real servers from the local install; needs PostgreSQL server binaries.

use std::path::PathBuf;
use std::time::Instant;

use nix::sys::signal::kill;
use nix::unistd::Pid;
use tokio_postgres::{Client, NoTls};

use super::*;

async fn connect(conn_str: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conn_str, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn process_exists(pid: u32) -> bool {
    kill(Pid::from_raw(i32::try_from(pid).expect("pid")), None).is_ok()
}

/// The PID and temp dir, to check after the server is gone.
fn leftovers(pg: &ScratchPg) -> (u32, PathBuf) {
    (pg.server.pid(), pg.dir.path().to_path_buf())
}

#[tokio::test]
async fn starts_serves_and_stops() {
    let started = Instant::now();
    let pg = ScratchPg::start(ScratchPgOptions::default()).await.expect("start");
    eprintln!("ScratchPg::start took {:?}", started.elapsed());
    assert_eq!(pg.addr().port(), pg.port());
    assert!(pg.bin_dir().join("psql").is_file());

    let client = connect(&pg.conn_str(pg.superuser(), "postgres")).await.expect("connect");
    let one: i32 = client.query_one("SELECT 1", &[]).await.expect("select").get(0);
    assert_eq!(one, 1);
    client.batch_execute("CREATE EXTENSION pg_stat_statements").await.expect("create extension");
    let calls: i64 = client
        .query_one("SELECT count(*) FROM pg_stat_statements", &[])
        .await
        .expect("pg_stat_statements is preloaded")
        .get(0);
    assert!(calls > 0);
    drop(client);

    let (pid, dir) = leftovers(&pg);
    assert!(process_exists(pid));
    assert!(dir.join("data").is_dir());
    let stopping = Instant::now();
    pg.stop().await.expect("stop");
    eprintln!("ScratchPg::stop took {:?}", stopping.elapsed());
    assert!(!process_exists(pid), "postgres (pid {pid}) still running");
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[tokio::test]
async fn hba_lines_and_settings_apply() {
    let pg = ScratchPg::start(ScratchPgOptions {
        hba_lines: vec!["host all scram_user 127.0.0.1/32 scram-sha-256".to_owned()],
        settings: vec![("password_encryption".to_owned(), "scram-sha-256".to_owned())],
        ..ScratchPgOptions::default()
    })
    .await
    .expect("start");
    let admin = connect(&pg.conn_str("postgres", "postgres")).await.expect("connect");
    admin
        .batch_execute("CREATE ROLE scram_user LOGIN PASSWORD 's3cret'")
        .await
        .expect("create role");
    let stored: String = admin
        .query_one("SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_user'", &[])
        .await
        .expect("select")
        .get(0);
    assert!(stored.starts_with("SCRAM-SHA-256$"), "{stored}");

    let user = pg.conn_str("scram_user", "postgres");
    let client = connect(&format!("{user} password=s3cret")).await.expect("right password");
    client.batch_execute("SELECT 1").await.expect("query");
    let err = connect(&format!("{user} password=wrong")).await.expect_err("wrong password fails");
    assert_eq!(err.code(), Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD), "{err}");
    let err = connect(&user).await.expect_err("no password fails");
    assert!(format!("{err:?}").contains("password missing"), "{err:?}");
    pg.stop().await.expect("stop");
}

#[tokio::test]
async fn two_servers_get_different_ports() {
    let (a, b) = tokio::join!(
        ScratchPg::start(ScratchPgOptions::default()),
        ScratchPg::start(ScratchPgOptions::default())
    );
    let (a, b) = (a.expect("start a"), b.expect("start b"));
    assert_ne!(a.port(), b.port());
    for pg in [&a, &b] {
        let client = connect(&pg.conn_str("postgres", "postgres")).await.expect("connect");
        client.batch_execute("SELECT 1").await.expect("query");
    }
    a.stop().await.expect("stop a");
    b.stop().await.expect("stop b");
}

#[tokio::test]
async fn drop_without_stop_ends_the_server() {
    let pg = ScratchPg::start(ScratchPgOptions::default()).await.expect("start");
    let (pid, dir) = leftovers(&pg);
    let _idle = connect(&pg.conn_str("postgres", "postgres")).await.expect("connect");
    assert!(process_exists(pid));
    let dropping = Instant::now();
    drop(pg);
    eprintln!("dropping ScratchPg took {:?}", dropping.elapsed());
    assert!(!process_exists(pid), "postgres (pid {pid}) still running");
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[tokio::test]
async fn startup_failure_reports_the_log_tail() {
    let err = ScratchPg::start(ScratchPgOptions {
        settings: vec![("no_such_setting".to_owned(), "1".to_owned())],
        ..ScratchPgOptions::default()
    })
    .await
    .expect_err("an unknown setting stops the server");
    assert!(matches!(err, ScratchPgError::ServerExited { .. }), "{err:?}");
    assert!(err.to_string().contains("no_such_setting"), "{err}");
}

#[test]
fn settings_are_quoted_and_come_last() {
    let opts = ScratchPgOptions {
        settings: vec![("application_name".to_owned(), "it's".to_owned())],
        ..ScratchPgOptions::default()
    };
    let settings = server_settings(&opts, 5433, std::path::Path::new("/tmp/x"));
    assert_eq!(settings[1], ("port".to_owned(), "5433".to_owned()));
    assert_eq!(settings.last(), Some(&("application_name".to_owned(), "it's".to_owned())));
}

#[tokio::test]
async fn as_root_the_server_runs_as_postgres_without_extra_groups() {
    if !nix::unistd::Uid::current().is_root() {
        return;
    }
    let pg = ScratchPg::start(ScratchPgOptions::default()).await.expect("start");
    let status = std::fs::read_to_string(format!("/proc/{}/status", pg.server.pid()))
        .expect("read /proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|rest| rest.split_whitespace().collect::<Vec<_>>())
            .expect("status field")
    };
    let postgres =
        nix::unistd::User::from_name("postgres").expect("lookup").expect("postgres user");
    assert_eq!(field("Uid:")[0], postgres.uid.to_string());
    assert_eq!(field("Gid:")[0], postgres.gid.to_string());
    assert_eq!(field("Groups:"), Vec::<&str>::new());
    pg.stop().await.expect("stop");
}

#[tokio::test]
async fn a_taken_port_is_retried_then_reported() {
    // Overriding `port` with one we hold makes every attempt lose the race.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let err = ScratchPg::start(ScratchPgOptions {
        settings: vec![("port".to_owned(), port.to_string())],
        ..ScratchPgOptions::default()
    })
    .await
    .expect_err("the port is taken");
    assert!(matches!(err, ScratchPgError::NoFreePort { attempts: PORT_ATTEMPTS, .. }), "{err:?}");
    assert!(err.to_string().contains("Address already in use"), "{err}");
}

#[tokio::test]
async fn ready_even_when_hba_demands_a_password_from_the_superuser() {
    let pg = ScratchPg::start(ScratchPgOptions {
        hba_lines: vec!["host all all 127.0.0.1/32 scram-sha-256".to_owned()],
        ..ScratchPgOptions::default()
    })
    .await
    .expect("start");
    let conn_str = format!("{} password=x", pg.conn_str("postgres", "postgres"));
    let err = connect(&conn_str).await.expect_err("scram without a stored password fails");
    assert_eq!(err.code(), Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD), "{err}");
    pg.stop().await.expect("stop");
}
