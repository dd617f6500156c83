//! Simple-protocol traffic through pgscope with tokio-postgres.

use crate::support::*;

#[tokio::test]
async fn simple_queries_are_forwarded_and_counted_per_statement() {
    let env = Env::start().await;
    let db = env.client().await;
    db.batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text)").await.unwrap();
    // One Query message with three statements.
    db.batch_execute(
        "INSERT INTO items VALUES (1, 'a'); INSERT INTO items VALUES (2, 'b'); SELECT * FROM items",
    )
    .await
    .unwrap();
    let messages = db.simple_query("SELECT name FROM items ORDER BY id").await.unwrap();
    let rows =
        messages.iter().filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))).count();
    assert_eq!(rows, 2);

    env.wait_for_calls(5).await;
    let insert = env.pattern("INSERT INTO items");
    assert_eq!(insert.calls, 2, "two INSERTs with different literals, one pattern");
    assert_eq!(insert.rows, 2);
    let create = env.pattern("CREATE TABLE items");
    assert_eq!(create.calls, 1);
}

#[tokio::test]
async fn errors_are_counted_by_sqlstate_class_and_the_session_goes_on() {
    let env = Env::start().await;
    let db = env.client().await;
    let err = db.batch_execute("SELECT * FROM no_such_table").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42P01"));
    // A statement sqlparser cannot parse still reaches the server and is still counted.
    let err = db.batch_execute("SELEKT 1").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42601"));
    db.batch_execute("SELECT 1").await.unwrap();

    env.wait_for_calls(3).await;
    let missing = env.pattern("no_such_table");
    assert_eq!((missing.calls, missing.errors), (1, 1));
    assert_eq!(missing.errors_by_class.get("42"), Some(&1));
    let garbage = env.pattern("SELEKT");
    assert_eq!(garbage.errors, 1);
    assert!(!garbage.parsed);
}

#[tokio::test]
async fn error_inside_a_transaction_block() {
    let env = Env::start().await;
    let db = env.client().await;
    db.batch_execute("BEGIN").await.unwrap();
    assert!(db.batch_execute("SELECT 1/0").await.is_err());
    let err = db.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("25P02"), "in failed transaction");
    db.batch_execute("ROLLBACK").await.unwrap();
    db.batch_execute("SELECT 2").await.unwrap();
    env.wait_for_calls(5).await;
    assert_eq!(env.pattern("1 / ").errors_by_class.get("22"), Some(&1));
}

#[tokio::test]
async fn listen_notify_between_two_clients() {
    use futures_util::StreamExt;
    let env = Env::start().await;
    let (listener, mut conn) =
        tokio_postgres::connect(&env.proxy_dsn("postgres", "postgres"), tokio_postgres::NoTls)
            .await
            .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
    tokio::spawn(async move {
        while let Some(Ok(msg)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = msg {
                let _ = tx.send((n.channel().to_string(), n.payload().to_string()));
            }
        }
    });
    listener.batch_execute("LISTEN jobs").await.unwrap();
    let sender = env.client().await;
    sender.batch_execute("NOTIFY jobs, 'job 42'").await.unwrap();
    // The notification arrives asynchronously; a round trip on the listener delivers it.
    listener.batch_execute("SELECT 1").await.unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await.unwrap();
    assert_eq!(got, Some(("jobs".to_string(), "job 42".to_string())));
}

#[tokio::test]
async fn notices_and_parameter_status_pass_through() {
    let env = Env::start().await;
    let db = env.client().await;
    db.batch_execute("DO $$ BEGIN RAISE NOTICE 'hello'; END $$").await.unwrap();
    db.batch_execute("SET application_name = 'billing-worker'").await.unwrap();
    let row = db.query_one("SELECT current_setting('application_name')", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "billing-worker");
    env.wait_for_calls(3).await;
    assert!(env.patterns().iter().any(|p| p.pattern.starts_with("DO ")));
}

#[tokio::test]
async fn relay_only_when_analysis_is_off() {
    let env = Env::start_with(|c| c.analysis_enabled = false).await;
    let db = env.client().await;
    let row = db.query_one("SELECT $1::int + 1", &[&41i32]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    db.batch_execute("SELECT 1; SELECT 2").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(env.patterns().is_empty(), "no analysis: {:?}", texts(&env.patterns()));
    let events = &env.sidecar.event_counters;
    let dropped = events.dropped.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(dropped, 0, "events not made for a closed queue are not drops");
    let relayed =
        env.sidecar.proxy_counters.bytes_from_clients.load(std::sync::atomic::Ordering::Relaxed);
    assert!(relayed > 0, "bytes still relayed and counted");
}
