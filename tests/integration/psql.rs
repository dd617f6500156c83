//! psql scripts through pgscope: multi-statement lines, COPY and \copy, errors in transactions.
//! psql asks for SSL first (sslmode=prefer), so these also cover the declined SSLRequest.

use crate::support::*;

#[tokio::test]
async fn psql_script_with_copy_and_errors() {
    let env = Env::start().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "1,alpha\n2,beta\n3,gamma\n").unwrap();
    let out_csv = dir.path().join("out.csv");
    let script = format!(
        r#"CREATE TABLE words (id int PRIMARY KEY, w text); INSERT INTO words VALUES (10, 'x'); SELECT count(*) FROM words;
\copy words FROM '{input}' WITH (FORMAT csv)
COPY words (id, w) FROM STDIN;
20	delta
21	epsilon
\.
BEGIN;
INSERT INTO words VALUES (30, 'in tx');
INSERT INTO words VALUES (1, 'duplicate key');
SELECT 'after error in tx';
ROLLBACK;
\copy (SELECT id, w FROM words ORDER BY id) TO '{output}' WITH (FORMAT csv)
SELECT string_agg(w, ',' ORDER BY id) AS all_words FROM words;
"#,
        input = csv.display(),
        output = out_csv.display()
    );
    let dsn = env.proxy_dsn("postgres", "postgres");
    let out = env.pg_tool("psql", &["-X", "-A", "-t", "-d", &dsn, "-f", "-"], Some(&script)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("alpha,beta,gamma,x,delta,epsilon"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains("duplicate key value violates unique constraint"), "{stderr}");
    assert!(stderr.contains("current transaction is aborted"), "{stderr}");
    let exported = std::fs::read_to_string(&out_csv).unwrap();
    assert_eq!(exported.lines().count(), 6, "{exported}");

    env.wait_for_calls(12).await;
    let insert = env.pattern("INSERT INTO words VALUES");
    assert_eq!((insert.calls, insert.errors), (3, 1));
    assert_eq!(insert.errors_by_class.get("23"), Some(&1));
    let after = env.patterns().into_iter().find(|p| p.pattern == "SELECT $1").expect("SELECT $1");
    assert_eq!(after.errors_by_class.get("25"), Some(&1));
    let copies: u64 =
        env.patterns().iter().filter(|p| p.pattern.starts_with("COPY")).map(|p| p.rows).sum();
    assert_eq!(copies, 3 + 2 + 6, "\\copy in, COPY FROM STDIN, \\copy out");
}

#[tokio::test]
async fn psql_with_password_methods() {
    let env = Env::start().await;
    for (user, password) in [SCRAM_USER, MD5_USER] {
        let dsn = format!("{} password={password}", env.proxy_dsn(user, "postgres"));
        let out = success(
            env.pg_tool("psql", &["-X", "-A", "-t", "-d", &dsn, "-c", "SELECT current_user"], None)
                .await,
        );
        assert_eq!(out.trim(), user);
    }
}
