//! pgbench through pgscope in all three query modes: nothing fails, nothing is lost, and the
//! recorded patterns are exactly pgbench's statements with the right call counts.

use crate::support::*;

const CLIENTS: u64 = 8;
const TX_PER_CLIENT: u64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_simple_extended_prepared() {
    let env = Env::start().await;
    let dsn = env.proxy_dsn("postgres", "postgres");
    success(env.pg_tool("pgbench", &["-i", "-s", "1", "-q", &dsn], None).await);
    for mode in ["simple", "extended", "prepared"] {
        env.settle().await;
        env.sidecar.stats.lock().unwrap().reset();
        let clients = CLIENTS.to_string();
        let tx = TX_PER_CLIENT.to_string();
        let out = success(
            env.pg_tool(
                "pgbench",
                &["-n", "-M", mode, "-c", &clients, "-j", "2", "-t", &tx, &dsn],
                None,
            )
            .await,
        );
        let expected = CLIENTS * TX_PER_CLIENT;
        assert!(
            out.contains(&format!(
                "number of transactions actually processed: {expected}/{expected}"
            )),
            "{mode}: {out}"
        );
        assert!(out.contains("number of failed transactions: 0 (0.000%)"), "{mode}: {out}");

        let patterns = env.wait_for_calls(expected * 7).await;
        let mut got: Vec<(String, u64)> =
            texts(&patterns).into_iter().filter(|(_, calls)| *calls == expected).collect();
        got.sort();
        let statements = [
            "BEGIN",
            "END",
            "INSERT INTO pgbench_history",
            "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
            "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
            "UPDATE pgbench_branches",
            "UPDATE pgbench_tellers",
        ];
        assert_eq!(got.len(), 7, "{mode}: {:#?}", texts(&patterns));
        for (pattern, statement) in got.iter().zip(statements) {
            assert!(pattern.0.starts_with(statement), "{mode}: {} vs {statement}", pattern.0);
        }
        // Besides pgbench's own setup queries (scale and partitioning checks), nothing else.
        let others: Vec<_> =
            patterns.iter().filter(|p| p.calls != expected).map(|p| &p.pattern).collect();
        let setup = |p: &str| p.contains("pgbench_branches") || p.contains("pg_catalog.pg_class");
        assert!(others.iter().all(|p| setup(p)), "{mode}: {others:?}");
    }
    // Nothing lost: every delta in history reached the accounts.
    let db = env.direct().await;
    let row = db
        .query_one("SELECT (SELECT sum(abalance) FROM pgbench_accounts)::bigint, (SELECT sum(delta) FROM pgbench_history)::bigint, (SELECT count(*) FROM pgbench_history)", &[])
        .await
        .unwrap();
    let (balance, delta, history): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(balance, delta);
    assert_eq!(history as u64, 3 * CLIENTS * TX_PER_CLIENT);
}
