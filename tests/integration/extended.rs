//! Extended-protocol traffic through pgscope with tokio-postgres: prepared statements,
//! pipelining, portals with row limits, COPY both ways, cancel.

use std::time::Duration;

use crate::support::*;
use bytes::Bytes;
use futures_util::{SinkExt, TryStreamExt};
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn prepared_statements_and_pipelining() {
    let env = Env::start().await;
    let db = env.client().await;
    db.batch_execute("CREATE TABLE kv (k int PRIMARY KEY, v text)").await.unwrap();
    let insert = db.prepare("INSERT INTO kv VALUES ($1, $2)").await.unwrap();
    // tokio-postgres pipelines concurrent requests on one connection.
    let inserts: Vec<_> = (0..50)
        .map(|i| {
            let (db, insert) = (&db, &insert);
            async move { db.execute(insert, &[&i, &format!("v{i}")]).await }
        })
        .collect();
    for r in futures_util::future::join_all(inserts).await {
        assert_eq!(r.unwrap(), 1);
    }
    let select = db.prepare("SELECT v FROM kv WHERE k = $1").await.unwrap();
    let reads: Vec<_> = (0..50)
        .map(|i| {
            let (db, select) = (&db, &select);
            async move { db.query_one(select, &[&i]).await.map(|r| r.get::<_, String>(0)) }
        })
        .collect();
    for (i, r) in futures_util::future::join_all(reads).await.into_iter().enumerate() {
        assert_eq!(r.unwrap(), format!("v{i}"));
    }
    env.wait_for_calls(101).await;
    assert_eq!(env.pattern("INSERT INTO kv").calls, 50);
    let select = env.pattern("SELECT v FROM kv");
    assert_eq!((select.calls, select.rows), (50, 50));
}

#[tokio::test]
async fn extended_errors_skip_to_sync_and_are_counted() {
    let env = Env::start().await;
    let db = env.client().await;
    let stmt = db.prepare("SELECT 10 / $1::int").await.unwrap();
    assert!(db.query_one(&stmt, &[&0i32]).await.is_err());
    assert_eq!(db.query_one(&stmt, &[&5i32]).await.unwrap().get::<_, i32>(0), 2);
    // A statement the server refuses at Parse.
    assert!(db.prepare("SELECT FROM WHERE").await.is_err());
    env.wait_for_calls(3).await;
    let div = env.pattern("/ $1::INT");
    assert_eq!((div.calls, div.errors), (2, 1));
    assert_eq!(env.pattern("WHERE").errors, 1);
}

#[tokio::test]
async fn portals_with_row_limits() {
    let env = Env::start().await;
    let mut db = env.client().await;
    let tx = db.transaction().await.unwrap();
    let stmt = tx.prepare("SELECT g FROM generate_series(1, 10) g").await.unwrap();
    let portal = tx.bind(&stmt, &[]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, 3).await.unwrap();
        if rows.is_empty() {
            break;
        }
        seen.extend(rows.iter().map(|r| r.get::<_, i32>(0)));
    }
    tx.commit().await.unwrap();
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    env.wait_for_calls(5).await;
    let series = env.pattern("generate_series");
    assert_eq!(series.rows, 10, "3+3+3 suspended, then 1, then 0 rows");
    assert_eq!(series.calls, 5);
}

#[tokio::test]
async fn copy_in_and_out() {
    let env = Env::start().await;
    let db = env.client().await;
    db.batch_execute("CREATE TABLE c (id int, t text)").await.unwrap();
    let sink = db.copy_in("COPY c FROM STDIN").await.unwrap();
    futures_util::pin_mut!(sink);
    let mut data = String::new();
    for i in 0..10_000 {
        data.push_str(&format!("{i}\trow {i}\n"));
    }
    sink.send(Bytes::from(data.clone())).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 10_000);

    let stream = db.copy_out("COPY c TO STDOUT").await.unwrap();
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    let out: Vec<u8> = chunks.concat();
    assert_eq!(out, data.as_bytes());

    env.wait_for_calls(3).await;
    assert_eq!(env.pattern("COPY c FROM STDIN").rows, 10_000);
    assert_eq!(env.pattern("COPY c TO STDOUT").rows, 10_000);
}

#[tokio::test]
async fn cancel_reaches_the_running_query() {
    let env = Env::start().await;
    let db = env.client().await;
    let token = db.cancel_token();
    let proxy = env.sidecar.proxy_addr;
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut socket = tokio::net::TcpStream::connect(proxy).await.unwrap();
        token.cancel_query_raw(&mut socket, tokio_postgres::NoTls).await.unwrap();
        // As libpq's PQcancel: the server has acted on the CancelRequest once it hangs up, and
        // pgscope hangs up after the server. PostgreSQL signals the backend twice (process
        // and process group), so a query sent earlier could be cancelled too.
        let mut rest = Vec::new();
        socket.read_to_end(&mut rest).await.unwrap();
        rest
    });
    let started = std::time::Instant::now();
    let err = db.batch_execute("SELECT pg_sleep(30)").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "query_canceled: {err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(canceller.await.unwrap().is_empty(), "a CancelRequest gets no reply");
    // The session is usable afterwards.
    db.batch_execute("SELECT 1").await.unwrap();
    env.wait_for_calls(2).await;
    assert_eq!(env.pattern("pg_sleep").errors_by_class.get("57"), Some(&1));
}
