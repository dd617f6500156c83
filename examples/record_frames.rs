//! Records real client/server frame sequences for the tracker's replay tests.
//!
//! Starts a throwaway PostgreSQL, a plain recording relay in front of it (not pgscope), and
//! runs scenarios with tokio-postgres through the relay. Each scenario's frames, in the order
//! the relay forwarded them, go to `src/tracker/fixtures/<name>.frames`, one frame per line:
//! `C|S <tag> <body as hex>`. Run: `cargo run --example record_frames`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{SinkExt, TryStreamExt};
use pgscope::scratch_pg::{ScratchPg, ScratchPgOptions};
use pgscope::wire::{self, Splitter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_postgres::{Client, NoTls};

type Log = Arc<Mutex<Vec<String>>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pg = ScratchPg::start(ScratchPgOptions::default()).await?;
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/tracker/fixtures");
    std::fs::create_dir_all(&out_dir)?;
    for name in [
        "pipelined_prepared",
        "portal_row_limit",
        "copy_both_ways",
        "pipeline_error",
        "simple_multi",
    ] {
        let log: Log = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let relay = tokio::spawn(relay(listener, pg.addr().to_string(), log.clone()));
        let dsn = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
        let (mut db, conn) = tokio_postgres::connect(&dsn, NoTls).await?;
        let conn = tokio::spawn(conn);
        scenario(name, &mut db).await?;
        drop(db);
        let _ = conn.await;
        let _ = relay.await;
        let lines = log.lock().map(|l| l.join("\n")).unwrap_or_default();
        std::fs::write(out_dir.join(format!("{name}.frames")), lines + "\n")?;
        println!("recorded {name}");
    }
    pg.stop().await?;
    Ok(())
}

async fn scenario(name: &str, db: &mut Client) -> Result<(), tokio_postgres::Error> {
    match name {
        "pipelined_prepared" => {
            db.batch_execute("CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY, v text)").await?;
            let insert =
                db.prepare("INSERT INTO kv VALUES ($1, $2) ON CONFLICT (k) DO NOTHING").await?;
            let db = &*db;
            let calls = (0..5).map(|i| {
                let insert = &insert;
                async move { db.execute(insert, &[&i, &format!("v{i}")]).await }
            });
            for r in futures_util::future::join_all(calls).await {
                r?;
            }
        }
        "portal_row_limit" => {
            let tx = db.transaction().await?;
            let stmt = tx.prepare("SELECT g FROM generate_series(1, 5) g").await?;
            let portal = tx.bind(&stmt, &[]).await?;
            while !tx.query_portal(&portal, 2).await?.is_empty() {}
            tx.commit().await?;
        }
        "copy_both_ways" => {
            db.batch_execute("CREATE TABLE IF NOT EXISTS c (id int)").await?;
            let sink = db.copy_in("COPY c FROM STDIN").await?;
            futures_util::pin_mut!(sink);
            sink.send(Bytes::from_static(b"1\n2\n3\n")).await?;
            sink.finish().await?;
            let _: Vec<Bytes> = db.copy_out("COPY c TO STDOUT").await?.try_collect().await?;
        }
        "pipeline_error" => {
            let div = db.prepare("SELECT 10 / $1::int").await?;
            let (a, b) = futures_util::join!(db.query(&div, &[&0i32]), db.query(&div, &[&2i32]));
            assert!(a.is_err() && b.is_ok());
        }
        _ => {
            let _ = db.batch_execute("SELECT 1; SELECT 2 + 2; SELECT nope; SELECT 3").await;
        }
    }
    Ok(())
}

/// Accepts one connection and relays it, logging every frame after the startup packet.
async fn relay(listener: TcpListener, upstream: String, log: Log) -> std::io::Result<()> {
    let (mut client, _) = listener.accept().await?;
    let mut server = TcpStream::connect(upstream).await?;
    let mut len = [0u8; 4];
    client.read_exact(&mut len).await?;
    let mut startup = vec![0u8; u32::from_be_bytes(len) as usize - 4];
    client.read_exact(&mut startup).await?;
    server.write_all(&len).await?;
    server.write_all(&startup).await?;
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    tokio::select! {
        r = pump(&mut cr, &mut sw, 'C', &log) => r,
        r = pump(&mut sr, &mut cw, 'S', &log) => r,
    }
}

async fn pump<R, W>(src: &mut R, dst: &mut W, side: char, log: &Log) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    let mut splitter = Splitter::new(wire::PG_MAX_MESSAGE_LEN);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = src.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let progress = {
            let mut lines = log.lock().expect("log lock");
            splitter
                .scan(
                    &buf,
                    |_| usize::MAX,
                    |tag, body, _| {
                        lines.push(format!("{side} {} {}", tag as char, hex(body)));
                    },
                )
                .map_err(std::io::Error::other)?
        };
        dst.write_all(&buf[..progress.forward]).await?;
        buf.drain(..progress.forward);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
