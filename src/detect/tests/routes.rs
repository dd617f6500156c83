use crate::detect::FindingKind;
use crate::detect::route::{OTHER_ROUTE, RouteSample, RouteStats, UNATTRIBUTED_ROUTE, route_of};
use crate::detect::sqlcomment::{parse_tags, strip_tag_comments};
use crate::event::Outcome;

const Q: &str = "SELECT * FROM polls_question";

#[test]
fn route_of_sqlcommenter_table() {
    let long = format!("{Q} /*route='{}'*/", "a".repeat(500));
    let cases: &[(&str, &str, Option<&str>)] = &[
        // Django (google-cloud-sqlcommenter), trailing, URL-encoded.
        (
            "SELECT * FROM polls_question /*controller='index',db_driver='django.db.backends.postgresql',\
             framework='django%3A4.2.1',route='%2Fpolls%2F'*/",
            "web",
            Some("/polls/"),
        ),
        // No route tag: controller#action.
        (
            "SELECT 1 /*action='show',controller='books',framework='flask'*/",
            "web",
            Some("books#show"),
        ),
        // Controller alone.
        ("SELECT 1 /*controller='index'*/", "web", Some("index")),
        // Rails marginalia / query_log_tags legacy format: key:value, unquoted.
        (
            "SELECT 1 /*application:BookApp,controller:books,action:index*/",
            "web",
            Some("books#index"),
        ),
        // Rails with a source line tag whose value holds colons and a quote.
        (
            "SELECT 1 /*application:App,controller:users,action:show,line:/app/models/user.rb:12:in 'find'*/",
            "",
            Some("users#show"),
        ),
        // Rails 7.1 query_log_tags prepended in sqlcommenter format.
        (
            "/*action='show',application='BookApp',controller='books'*/ SELECT 1",
            "web",
            Some("books#show"),
        ),
        // Spaces around the tags and a final semicolon.
        ("SELECT 1 /* route='%2Fa' , controller='c' */ ;", "web", Some("/a")),
        // An escaped quote and multibyte UTF-8 inside a value.
        ("SELECT 1 /*route='%2Fcaf%C3%A9%2Fo\\'neil'*/", "web", Some("/café/o'neil")),
        // Invalid percent escapes stay literal; invalid UTF-8 becomes U+FFFD.
        ("SELECT 1 /*route='%2Fx%ZZ%4'*/", "web", Some("/x%ZZ%4")),
        ("SELECT 1 /*route='%FF'*/", "web", Some("\u{FFFD}")),
        // traceparent alone is no route (unbounded cardinality).
        (
            "SELECT 1 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/",
            "billing",
            Some("billing"),
        ),
        // No comment: application_name, else nothing.
        ("SELECT 1", "billing", Some("billing")),
        ("SELECT 1", "", None),
        // Comments that are not tag lists (Hibernate, hints, prose) are ignored.
        ("/* load com.example.Book */ select b.id from book b", "app", Some("app")),
        ("/*+ SeqScan(t) */ SELECT 1", "app", Some("app")),
        ("SELECT 1 /**/", "app", Some("app")),
        // Malformed: unterminated quote, unterminated comment, missing separator, empty key.
        ("SELECT 1 /*route='abc*/", "app", Some("app")),
        ("SELECT 1 /*route='x'", "app", Some("app")),
        ("SELECT 1 /*route='x' controller='y'*/", "app", Some("app")),
        ("SELECT 1 /*='x'*/", "app", Some("app")),
        // An empty route falls through to controller#action.
        ("SELECT 1 /*route='',controller='c',action='a'*/", "app", Some("c#a")),
        // Trailing comment wins over a leading one; a comment in the middle is not read.
        ("/*route='first'*/ SELECT 1 /*route='last'*/", "app", Some("last")),
        ("SELECT /*route='mid'*/ 1", "app", Some("app")),
        // The statement is only a comment.
        ("/*route='%2Fonly'*/", "app", Some("/only")),
    ];
    for (sql, app, expected) in cases {
        assert_eq!(route_of(sql, app).as_deref(), *expected, "{sql}");
    }
    assert_eq!(route_of(&long, "").map(|r| r.chars().count()), Some(200), "long routes are cut");
}

#[test]
fn trace_id_is_read_from_traceparent() {
    let sql = "SELECT 1 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/";
    assert_eq!(parse_tags(sql).trace_id(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(parse_tags("SELECT 1 /*traceparent='junk'*/").trace_id(), None);
    assert!(parse_tags("SELECT 1").is_empty());
}

#[test]
fn edge_comments_are_stripped() {
    let cases = [
        ("SELECT 1 /*route='x'*/", "SELECT 1"),
        ("/*a:b*/ SELECT 1 /*c='d'*/ ;", "SELECT 1"),
        ("  SELECT 1  ", "SELECT 1"),
        ("SELECT /* mid */ 1", "SELECT /* mid */ 1"),
        ("/*only*/", ""),
        ("/*unterminated SELECT 1", "/*unterminated SELECT 1"),
    ];
    for (sql, core) in cases {
        assert_eq!(strip_tag_comments(sql), core, "{sql}");
    }
}

#[test]
fn malformed_input_never_panics() {
    let nasty = "/* é='%C3%A9\\',controller:ü,action='%',route='%2*/ SELECT 'ü' /*route='\\\\ü%E2%82%AC'*/;";
    for (i, _) in nasty.char_indices() {
        for part in [&nasty[..i], &nasty[i..]] {
            let _ = route_of(part, "app");
            let _ = strip_tag_comments(part);
            let _ = parse_tags(part).trace_id();
        }
    }
    let many = format!("SELECT 1 /*{}*/", "k='v',".repeat(100));
    assert_eq!(route_of(&many, "app").as_deref(), Some("app"), "too many tags: ignored");
}

fn sample(route: Option<&str>, pattern_id: u64, outcome: Outcome) -> RouteSample<'_> {
    RouteSample { route, pattern_id, duration_us: 2000, outcome }
}

const OK: Outcome = Outcome::Done { rows: Some(1) };

#[test]
fn route_stats_per_endpoint() {
    let mut stats = RouteStats::new(10);
    for id in [1, 2, 2, 3] {
        stats.record(&sample(Some("/books"), id, OK));
    }
    stats.record(&sample(Some("/books"), 1, Outcome::Error { sqlstate: *b"23505" }));
    stats.record(&sample(None, 1, OK));
    stats.record_finding(FindingKind::NPlusOne, Some("/books"));
    stats.record_finding(FindingKind::Slow, Some("/books"));
    let rows = stats.list();
    assert_eq!(rows.len(), 2);
    let books = &rows[0];
    assert_eq!(books.route, "/books");
    assert_eq!((books.statements, books.total_ms, books.mean_ms), (5, 10.0, 2.0));
    assert_eq!((books.errors, books.distinct_patterns, books.n_plus_one), (1, 3, 1));
    assert_eq!((rows[1].route.as_str(), rows[1].statements), (UNATTRIBUTED_ROUTE, 1));
    let json = serde_json::to_value(books).expect("serializes");
    assert_eq!(json["distinct_patterns"], 3);
}

#[test]
fn route_bound_sends_the_rest_to_other() {
    let mut stats = RouteStats::new(2);
    for route in ["/a", "/b", "/c", "/d", "/a", "/c"] {
        stats.record(&sample(Some(route), 1, OK));
    }
    stats.record_finding(FindingKind::NPlusOne, Some("/d"));
    let mut rows: Vec<(String, u64, u64)> =
        stats.list().into_iter().map(|r| (r.route, r.statements, r.n_plus_one)).collect();
    rows.sort();
    let expected = [("/a", 2, 0), ("/b", 1, 0), (OTHER_ROUTE, 3, 1)];
    assert_eq!(rows, expected.map(|(r, s, n)| (r.to_string(), s, n)));
    assert_eq!((stats.overflow(), stats.len()), (3, 2));
}

#[test]
fn distinct_patterns_per_route_are_bounded() {
    let mut stats = RouteStats::new(10);
    for id in 0..1000 {
        stats.record(&sample(Some("/search"), id, OK));
    }
    let row = &stats.list()[0];
    assert_eq!((row.statements, row.distinct_patterns, row.patterns_capped), (1000, 256, true));
}
