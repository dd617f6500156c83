//! Authentication is relayed verbatim: trust, cleartext password, md5 and SCRAM-SHA-256.

use crate::support::*;

async fn login(
    env: &Env,
    (user, password): (&str, &str),
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    try_connect(&format!("{} password={password}", env.proxy_dsn(user, "postgres"))).await
}

#[tokio::test]
async fn every_password_method_works_through_the_proxy() {
    let env = Env::start().await;
    for user in [SCRAM_USER, MD5_USER, PLAIN_USER] {
        let db = login(&env, user).await.unwrap_or_else(|e| panic!("{}: {e}", user.0));
        let row = db.query_one("SELECT current_user::text", &[]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), user.0);
    }
    // The server really asked for the method we meant (pg_hba), seen from the server side.
    let direct = env.direct().await;
    let methods = direct
        .query("SELECT rolname, left(rolpassword, 3) FROM pg_authid WHERE rolname LIKE '%_user' ORDER BY 1", &[])
        .await
        .unwrap();
    let stored: Vec<(String, String)> = methods.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(stored[0], ("md5_user".into(), "md5".into()), "{stored:?}");
    assert!(stored.iter().any(|(u, p)| u == "scram_user" && p == "SCR"), "{stored:?}");
}

#[tokio::test]
async fn wrong_passwords_get_the_servers_error() {
    let env = Env::start().await;
    for (user, _) in [SCRAM_USER, MD5_USER, PLAIN_USER] {
        let err =
            login(&env, (user, "wrong")).await.err().unwrap_or_else(|| panic!("{user} got in"));
        let code = err.as_db_error().map(|e| e.code().code().to_string());
        assert_eq!(code.as_deref(), Some("28P01"), "{user}: {err}");
    }
    // And the proxy is still fine for the next client.
    login(&env, SCRAM_USER).await.unwrap();
}
