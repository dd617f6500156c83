use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use pgwire::api::results::Response;

use super::commands::{Command, Topic, command_list, parse, split_statements};
use super::views::{self, Kind, Table, render};
use super::{AdminState, ConsoleError, handlers};
use crate::detect::{DetectConfig, Detectors, Finding, FindingKind, Severity, Source};
use crate::event::{EventCounters, Outcome, SessionInfo};
use crate::fingerprint::PatternId;
use crate::proxy::{ClientInfo, ClientRegistry, ProxyCounters};
use crate::stats::{Observation, StatsStore};

fn state() -> AdminState {
    AdminState {
        stats: Arc::new(Mutex::new(StatsStore::new(100))),
        detectors: Arc::new(Mutex::new(Detectors::new(&DetectConfig::default()).unwrap())),
        clients: Arc::new(ClientRegistry::default()),
        proxy: Arc::new(ProxyCounters::default()),
        events: Arc::new(EventCounters::default()),
        started: Instant::now(),
    }
}

fn record(state: &AdminState, id: u64, text: &str, duration_us: u64) {
    let obs = Observation {
        pattern_id: id,
        pattern_text: text,
        parsed: true,
        duration_us,
        outcome: Outcome::Done { rows: Some(2) },
        at: SystemTime::now(),
    };
    state.stats.lock().unwrap().record(&obs);
}

/// The cell in `column` of row `row`.
fn cell<'a>(table: &'a Table, row: usize, column: &str) -> Option<&'a str> {
    let i = table.columns.iter().position(|c| c.name == column).unwrap();
    table.rows[row][i].as_deref()
}

fn assert_well_formed(table: &Table) {
    for row in &table.rows {
        assert_eq!(row.len(), table.columns.len(), "{table:#?}");
        for (cell, column) in row.iter().zip(table.columns) {
            let Some(value) = cell else { continue };
            let ok = match column.kind {
                Kind::Text => true,
                Kind::Int => value.parse::<u64>().is_ok(),
                Kind::Ms => {
                    value.parse::<f64>().is_ok() && value.split('.').nth(1).map(str::len) == Some(3)
                }
                Kind::Bool => value == "t" || value == "f",
            };
            assert!(ok, "{} = {value:?} is not a valid {:?}", column.name, column.kind);
        }
    }
}

#[test]
fn commands_are_case_insensitive_and_whitespace_tolerant() {
    for text in ["SHOW PATTERNS", "show patterns", "  Show\t\nPatterns  "] {
        assert_eq!(parse(text), Ok(Command::Show(Topic::Patterns)), "{text:?}");
    }
    for topic in Topic::ALL {
        assert_eq!(
            parse(&format!("show {}", topic.name().to_lowercase())),
            Ok(Command::Show(topic))
        );
    }
}

#[test]
fn session_statements_are_acknowledged() {
    let cases = [
        ("SET application_name = 'x'", "SET"),
        ("set client_encoding to 'UTF8'", "SET"),
        ("RESET ALL", "RESET"),
        ("DISCARD ALL", "DISCARD ALL"),
        ("begin", "BEGIN"),
        ("START TRANSACTION", "START TRANSACTION"),
        ("COMMIT", "COMMIT"),
        ("end", "COMMIT"),
        ("ROLLBACK", "ROLLBACK"),
        ("abort", "ROLLBACK"),
    ];
    for (text, tag) in cases {
        assert_eq!(parse(text), Ok(Command::Ignored(tag)), "{text:?}");
    }
}

#[test]
fn unknown_commands_list_the_known_ones() {
    for text in ["SHOW NOPE", "SELECT 1", "SHOW", "SHOW PATTERNS NOW", "patterns"] {
        let err = parse(text).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&format!("\"{text}\"")), "{message}");
        assert!(message.contains(&command_list()), "{message}");
        assert_eq!(ConsoleError::from(err).sqlstate(), "42601");
    }
    for topic in Topic::ALL {
        assert!(command_list().contains(&format!("SHOW {}", topic.name())));
    }
}

#[test]
fn long_unknown_statements_are_clipped_in_the_message() {
    let long = format!("SELECT {}", "x".repeat(500));
    let message = parse(&long).unwrap_err().to_string();
    assert!(message.len() < 400, "{message}");
    assert!(message.contains("..."), "{message}");
}

#[test]
fn statements_split_at_semicolons_outside_quotes() {
    assert_eq!(split_statements("SHOW HELP;"), vec!["SHOW HELP"]);
    assert_eq!(
        split_statements(" show stats ; ; SHOW VERSION;;"),
        vec!["show stats", "SHOW VERSION"]
    );
    assert_eq!(split_statements("SET a = 'x;y'; SHOW HELP"), vec!["SET a = 'x;y'", "SHOW HELP"]);
    assert_eq!(split_statements(r#"SET "a;b" = 1"#), vec![r#"SET "a;b" = 1"#]);
    assert!(split_statements(" ;; ").is_empty());
}

#[test]
fn console_errors_map_to_sqlstates() {
    assert_eq!(ConsoleError::ExtendedProtocol.sqlstate(), "0A000");
    assert!(ConsoleError::ExtendedProtocol.to_string().contains("simple query protocol only"));
    let bad = ConsoleError::BadPassword { user: "admin".into() };
    assert_eq!((bad.sqlstate(), bad.is_fatal()), ("28P01", true));
    assert_eq!(bad.to_string(), "password authentication failed for user \"admin\"");
}

#[test]
fn every_topic_renders_a_well_formed_table() {
    let state = state();
    record(&state, 7, "SELECT $1", 1500);
    for topic in Topic::ALL {
        assert_well_formed(&render(topic, &state));
    }
    assert_eq!(render(Topic::Help, &state).rows.len(), Topic::ALL.len());
    assert_eq!(render(Topic::Rules, &state).rows.len(), crate::lint::rules().len());
    let version = render(Topic::Version, &state);
    assert_eq!(cell(&version, 0, "version"), Some(views::version_string().as_str()));
}

#[test]
fn patterns_are_ranked_by_total_time_with_millisecond_columns() {
    let state = state();
    record(&state, 1, "SELECT a FROM t WHERE id = $1", 1_000);
    record(&state, 1, "SELECT a FROM t WHERE id = $1", 2_500);
    record(&state, 2, "UPDATE t SET a = $1", 10_000);
    let table = render(Topic::Patterns, &state);
    assert_eq!(cell(&table, 0, "pattern"), Some("UPDATE t SET a = $1"));
    assert_eq!(cell(&table, 1, "id"), Some("0000000000000001"));
    assert_eq!(cell(&table, 1, "calls"), Some("2"));
    assert_eq!(cell(&table, 1, "total_ms"), Some("3.500"));
    assert_eq!(cell(&table, 1, "mean_ms"), Some("1.750"));
    assert_eq!(cell(&table, 1, "rows"), Some("4"));
    assert_eq!(cell(&table, 1, "errors"), Some("0"));
}

#[test]
fn findings_show_nulls_for_absent_route_and_rule() {
    let session = SessionInfo { application_name: "shop".into(), ..SessionInfo::default() };
    let src = Source { conn_id: 3, session: &session, route: None, at: SystemTime::UNIX_EPOCH };
    let mut finding = Finding::new(
        FindingKind::Slow,
        Severity::Warning,
        (PatternId(9), "SELECT pg_sleep($1)"),
        &src,
    );
    finding.duration_ms = 612.25;
    finding.suggestion = "look at the plan".into();
    let table = views::findings(&[finding]);
    assert_well_formed(&table);
    assert_eq!(cell(&table, 0, "at"), Some("1970-01-01T00:00:00.000Z"));
    assert_eq!(cell(&table, 0, "kind"), Some("slow"));
    assert_eq!(cell(&table, 0, "severity"), Some("warning"));
    assert_eq!(cell(&table, 0, "duration_ms"), Some("612.250"));
    assert_eq!(cell(&table, 0, "application_name"), Some("shop"));
    assert_eq!(cell(&table, 0, "route"), None);
    assert_eq!(cell(&table, 0, "rule_id"), None);
    assert_eq!(cell(&table, 0, "suggestion"), Some("look at the plan"));
}

#[test]
fn clients_and_stats_read_the_shared_counters() {
    let state = state();
    let session = SessionInfo {
        database: "app".into(),
        user: "alice".into(),
        application_name: "web".into(),
    };
    state.clients.insert(ClientInfo {
        conn_id: 42,
        peer: "127.0.0.1:5555".parse().unwrap(),
        session,
        connected_at: SystemTime::UNIX_EPOCH,
    });
    state.proxy.clients_total.store(5, Ordering::Relaxed);
    state.events.dropped.store(2, Ordering::Relaxed);
    record(&state, 1, "SELECT 1", 10);

    let clients = render(Topic::Clients, &state);
    assert_eq!(clients.rows.len(), 1);
    assert_eq!(cell(&clients, 0, "conn_id"), Some("42"));
    assert_eq!(cell(&clients, 0, "peer"), Some("127.0.0.1:5555"));
    assert_eq!(cell(&clients, 0, "user"), Some("alice"));
    assert_eq!(cell(&clients, 0, "database"), Some("app"));
    assert_eq!(cell(&clients, 0, "application_name"), Some("web"));

    let stats = render(Topic::Stats, &state);
    let value = |name: &str| {
        let row = stats.rows.iter().find(|r| r[0].as_deref() == Some(name));
        row.unwrap_or_else(|| panic!("no {name} in {stats:#?}"))[1].clone().unwrap()
    };
    assert_eq!(value("clients_total"), "5");
    assert_eq!(value("events_dropped"), "2");
    assert_eq!(value("patterns_tracked"), "1");
    for kind in FindingKind::ALL {
        assert_eq!(value(&format!("findings_{}", kind.as_str())), "0");
    }
}

#[test]
fn a_query_string_answers_each_statement_until_the_first_error() {
    let state = state();
    let responses =
        handlers::answer(&state, "SHOW VERSION; SET x = 1; SHOW NOPE; SHOW HELP").unwrap();
    assert_eq!(responses.len(), 3);
    assert!(matches!(responses[0], Response::Query(_)));
    assert!(matches!(responses[1], Response::Execution(_)));
    let Response::Error(info) = &responses[2] else { panic!("expected an error") };
    assert_eq!((info.severity.as_str(), info.code.as_str()), ("ERROR", "42601"));
}
