//! The golden table: what Django, Rails, SQLAlchemy, Hibernate and pgbench really send, and
//! the pattern each must give, all checked through [`check`].

use super::{PatternId, normalize};

/// Statements sqlparser parses: `(input, expected pattern text)`.
const PARSED: &[(&str, &str)] = &[
    (
        r##"SELECT "auth_user"."id", "auth_user"."password", "auth_user"."last_login", "auth_user"."is_superuser", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."id" = 42 LIMIT 21"##,
        r##"SELECT "auth_user"."id", "auth_user"."password", "auth_user"."last_login", "auth_user"."is_superuser", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."id" = $1 LIMIT $2"##,
    ),
    (
        r##"SELECT "blog_entry"."id", "blog_entry"."headline" FROM "blog_entry" WHERE "blog_entry"."id" IN (1, 2, 3) LIMIT 21"##,
        r##"SELECT "blog_entry"."id", "blog_entry"."headline" FROM "blog_entry" WHERE "blog_entry"."id" IN ($1) LIMIT $2"##,
    ),
    (
        r##"SELECT COUNT(*) AS "__count" FROM "blog_entry" WHERE "blog_entry"."pub_date" >= '2024-01-01T00:00:00+00:00'::timestamptz"##,
        r##"SELECT COUNT(*) AS "__count" FROM "blog_entry" WHERE "blog_entry"."pub_date" >= $1::TIMESTAMPTZ"##,
    ),
    (
        r##"INSERT INTO "blog_entry" ("headline", "body", "pub_date") VALUES ('Hello', 'World', '2024-01-01T00:00:00+00:00'::timestamptz) RETURNING "blog_entry"."id""##,
        r##"INSERT INTO "blog_entry" ("headline", "body", "pub_date") VALUES ($1, $2, $3::TIMESTAMPTZ) RETURNING "blog_entry"."id""##,
    ),
    (
        r##"INSERT INTO "tags" ("name") VALUES ('a'), ('b'), ('c') RETURNING "tags"."id""##,
        r##"INSERT INTO "tags" ("name") VALUES ($1) RETURNING "tags"."id""##,
    ),
    (
        r##"UPDATE "auth_user" SET "last_login" = '2024-05-01T10:00:00+00:00'::timestamptz WHERE "auth_user"."id" = 1"##,
        r##"UPDATE "auth_user" SET "last_login" = $1::TIMESTAMPTZ WHERE "auth_user"."id" = $2"##,
    ),
    (
        r##"SELECT "django_session"."session_key", "django_session"."session_data", "django_session"."expire_date" FROM "django_session" WHERE ("django_session"."expire_date" > '2024-05-01T10:00:00+00:00'::timestamptz AND "django_session"."session_key" = 'abc123') LIMIT 21"##,
        r##"SELECT "django_session"."session_key", "django_session"."session_data", "django_session"."expire_date" FROM "django_session" WHERE ("django_session"."expire_date" > $1::TIMESTAMPTZ AND "django_session"."session_key" = $2) LIMIT $3"##,
    ),
    (
        r##"SELECT 1 AS "a" FROM "auth_user" WHERE "auth_user"."username" = 'bob' LIMIT 1"##,
        r##"SELECT $1 AS "a" FROM "auth_user" WHERE "auth_user"."username" = $2 LIMIT $3"##,
    ),
    (
        r##"SELECT "p"."id" FROM "p" WHERE UPPER("p"."name"::text) LIKE UPPER('%foo%')"##,
        r##"SELECT "p"."id" FROM "p" WHERE UPPER("p"."name"::TEXT) LIKE UPPER($1)"##,
    ),
    (
        r##"SELECT "e"."id" FROM "e" WHERE ("e"."data" -> 'owner') = '"bob"'::jsonb"##,
        r##"SELECT "e"."id" FROM "e" WHERE ("e"."data" -> $1) = $2::JSONB"##,
    ),
    (
        r##"SELECT "e"."id" FROM "e" WHERE "e"."data" @> '{"a": 1}'::jsonb"##,
        r##"SELECT "e"."id" FROM "e" WHERE "e"."data" @> $1::JSONB"##,
    ),
    (
        r##"SELECT "e"."id" FROM "e" WHERE "e"."data" ? 'k'"##,
        r##"SELECT "e"."id" FROM "e" WHERE "e"."data" ? $1"##,
    ),
    (
        r##"DELETE FROM "blog_entry" WHERE "blog_entry"."id" IN (5, 6)"##,
        r##"DELETE FROM "blog_entry" WHERE "blog_entry"."id" IN ($1)"##,
    ),
    (r##"SAVEPOINT "s140241_x1""##, r##"SAVEPOINT "s140241_x1""##),
    (r##"RELEASE SAVEPOINT "s140241_x1""##, r##"RELEASE SAVEPOINT "s140241_x1""##),
    (r##"ROLLBACK TO SAVEPOINT "s140241_x1""##, r##"ROLLBACK TO SAVEPOINT "s140241_x1""##),
    (
        r##"SELECT "blog_entry"."id" FROM "blog_entry" ORDER BY "blog_entry"."pub_date" DESC LIMIT 10 OFFSET 20"##,
        r##"SELECT "blog_entry"."id" FROM "blog_entry" ORDER BY "blog_entry"."pub_date" DESC LIMIT $1 OFFSET $2"##,
    ),
    (
        r##"SELECT "blog_entry"."id" FROM "blog_entry" WHERE "blog_entry"."id" = 7 FOR UPDATE"##,
        r##"SELECT "blog_entry"."id" FROM "blog_entry" WHERE "blog_entry"."id" = $1 FOR UPDATE"##,
    ),
    (
        r##"SELECT "x"."id", ROW_NUMBER() OVER (PARTITION BY "x"."cat" ORDER BY "x"."score" DESC) AS "rn" FROM "x""##,
        r##"SELECT "x"."id", ROW_NUMBER() OVER (PARTITION BY "x"."cat" ORDER BY "x"."score" DESC) AS "rn" FROM "x""##,
    ),
    (
        r##"SELECT "p"."id" FROM "p" WHERE EXISTS(SELECT 1 AS "a" FROM "c" U0 WHERE U0."post_id" = ("p"."id") LIMIT 1)"##,
        r##"SELECT "p"."id" FROM "p" WHERE EXISTS (SELECT $1 AS "a" FROM "c" U0 WHERE U0."post_id" = ("p"."id") LIMIT $2)"##,
    ),
    (
        r##"SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2"##,
        r##"SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2"##,
    ),
    (
        r##"SELECT "posts".* FROM "posts" WHERE "posts"."user_id" IN ($1, $2, $3)"##,
        r##"SELECT "posts".* FROM "posts" WHERE "posts"."user_id" IN ($1)"##,
    ),
    (
        r##"INSERT INTO "users" ("name", "email", "created_at", "updated_at") VALUES ($1, $2, $3, $4) RETURNING "id""##,
        r##"INSERT INTO "users" ("name", "email", "created_at", "updated_at") VALUES ($1, $2, $3, $4) RETURNING "id""##,
    ),
    (
        r##"UPDATE "users" SET "name" = $1, "updated_at" = $2 WHERE "users"."id" = $3"##,
        r##"UPDATE "users" SET "name" = $1, "updated_at" = $2 WHERE "users"."id" = $3"##,
    ),
    (
        r##"SELECT 1 AS one FROM "users" WHERE "users"."email" = $1 LIMIT $2"##,
        r##"SELECT $3 AS one FROM "users" WHERE "users"."email" = $1 LIMIT $2"##,
    ),
    (
        r##"SELECT COUNT(*) FROM "orders" WHERE "orders"."status" = $1"##,
        r##"SELECT COUNT(*) FROM "orders" WHERE "orders"."status" = $1"##,
    ),
    (
        r##"INSERT INTO "products" ("sku","price") VALUES ('a', 1), ('b', 2) ON CONFLICT ("sku") DO UPDATE SET "price"=excluded."price" RETURNING "id""##,
        r##"INSERT INTO "products" ("sku", "price") VALUES ($1, $2) ON CONFLICT("sku") DO UPDATE SET "price" = excluded."price" RETURNING "id""##,
    ),
    (
        r##"SELECT "schema_migrations"."version" FROM "schema_migrations" ORDER BY "schema_migrations"."version" ASC"##,
        r##"SELECT "schema_migrations"."version" FROM "schema_migrations" ORDER BY "schema_migrations"."version" ASC"##,
    ),
    ("SELECT pg_try_advisory_lock(1234567890)", "SELECT pg_try_advisory_lock($1)"),
    (
        r##"SELECT "users".* FROM "users" WHERE "users"."id" > $1 ORDER BY "users"."id" ASC LIMIT $2"##,
        r##"SELECT "users".* FROM "users" WHERE "users"."id" > $1 ORDER BY "users"."id" ASC LIMIT $2"##,
    ),
    (
        r##"SELECT "users"."id" FROM "users" WHERE "users"."active" = TRUE"##,
        r##"SELECT "users"."id" FROM "users" WHERE "users"."active" = true"##,
    ),
    (
        r##"SELECT "users".* FROM "users" WHERE "users"."deleted_at" IS NULL"##,
        r##"SELECT "users".* FROM "users" WHERE "users"."deleted_at" IS NULL"##,
    ),
    (
        r##"/*application:Blog,controller:posts,action:show*/ SELECT "posts".* FROM "posts" WHERE "posts"."id" = $1 LIMIT $2"##,
        r##"SELECT "posts".* FROM "posts" WHERE "posts"."id" = $1 LIMIT $2"##,
    ),
    (
        "SELECT users.id AS users_id, users.name AS users_name FROM users WHERE users.name = 'ed' LIMIT 10 OFFSET 0",
        "SELECT users.id AS users_id, users.name AS users_name FROM users WHERE users.name = $1 LIMIT $2 OFFSET $3",
    ),
    (
        "INSERT INTO users (name, fullname) VALUES ('spongebob', 'Spongebob Squarepants') RETURNING users.id",
        "INSERT INTO users (name, fullname) VALUES ($1, $2) RETURNING users.id",
    ),
    (
        "SELECT users.id FROM users WHERE users.id IN (1, 2, 3, 4)",
        "SELECT users.id FROM users WHERE users.id IN ($1)",
    ),
    (
        "SELECT CAST(users.id AS VARCHAR) AS anon_1 FROM users",
        "SELECT CAST(users.id AS VARCHAR) AS anon_1 FROM users",
    ),
    (
        "INSERT INTO t (a, b) VALUES (1, 'x'),(2, 'y'),(3, 'z') RETURNING t.id",
        "INSERT INTO t (a, b) VALUES ($1, $2) RETURNING t.id",
    ),
    (
        "SELECT orders.id FROM orders WHERE orders.created_at > '2024-01-01T00:00:00'::timestamp",
        "SELECT orders.id FROM orders WHERE orders.created_at > $1::TIMESTAMP",
    ),
    (
        r##"SELECT notes.id FROM notes WHERE notes.body = E'C:\\path\\x'"##,
        "SELECT notes.id FROM notes WHERE notes.body = $1",
    ),
    (
        "SELECT users.id FROM users WHERE users.id = ANY (ARRAY[1, 2, 3])",
        "SELECT users.id FROM users WHERE users.id = ANY(ARRAY[$1])",
    ),
    (
        "SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace WHERE pg_catalog.pg_class.relname = 'users' AND pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm'])",
        "SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace WHERE pg_catalog.pg_class.relname = $1 AND pg_catalog.pg_class.relkind = ANY(ARRAY[$2])",
    ),
    ("select pg_catalog.version()", "SELECT pg_catalog.version()"),
    ("select current_schema()", "SELECT current_schema()"),
    ("show standard_conforming_strings", "SHOW standard_conforming_strings"),
    (
        "INSERT INTO t (id) VALUES (1) ON CONFLICT DO NOTHING",
        "INSERT INTO t (id) VALUES ($1) ON CONFLICT DO NOTHING",
    ),
    (
        "select u1_0.id,u1_0.email,u1_0.name from users u1_0 where u1_0.email=$1",
        "SELECT u1_0.id, u1_0.email, u1_0.name FROM users u1_0 WHERE u1_0.email = $1",
    ),
    (
        "insert into users (email,name,id) values ($1,$2,$3)",
        "INSERT INTO users (email, name, id) VALUES ($1, $2, $3)",
    ),
    (
        "update users set email=$1,name=$2 where id=$3",
        "UPDATE users SET email = $1, name = $2 WHERE id = $3",
    ),
    ("delete from users where id=$1", "DELETE FROM users WHERE id = $1"),
    ("select nextval('users_seq')", "SELECT nextval($1)"),
    (
        "select u1_0.id from users u1_0 order by u1_0.id offset $1 rows fetch first $2 rows only",
        "SELECT u1_0.id FROM users u1_0 ORDER BY u1_0.id OFFSET $1 ROWS FETCH FIRST $2 ROWS ONLY",
    ),
    (
        "select u1_0.id from users u1_0 where u1_0.id in ($1,$2,$3)",
        "SELECT u1_0.id FROM users u1_0 WHERE u1_0.id IN ($1)",
    ),
    ("BEGIN;", "BEGIN"),
    ("END;", "END"),
    (
        "UPDATE pgbench_accounts SET abalance = abalance + -4047 WHERE aid = 8361;",
        "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
    ),
    (
        "SELECT abalance FROM pgbench_accounts WHERE aid = 8361;",
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
    ),
    (
        "UPDATE pgbench_tellers SET tbalance = tbalance + -4047 WHERE tid = 5;",
        "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
    ),
    (
        "UPDATE pgbench_branches SET bbalance = bbalance + -4047 WHERE bid = 1;",
        "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
    ),
    (
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (5, 1, 8361, -4047, CURRENT_TIMESTAMP);",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
    ),
    (
        "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    ),
    ("SET statement_timeout TO '5s'", "SET statement_timeout = $1"),
    ("RESET ALL", "RESET ALL"),
    ("ANALYZE t", "ANALYZE t"),
    (
        "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN NEW.updated_at := now(); RETURN NEW; END $fn$",
        "CREATE OR REPLACE FUNCTION touch() RETURNS TRIGGER LANGUAGE plpgsql AS $1",
    ),
    (
        "WITH recent AS (SELECT id FROM orders WHERE created_at > now() - interval '7 days') SELECT count(*) FROM recent",
        "WITH recent AS (SELECT id FROM orders WHERE created_at > now() - INTERVAL $1) SELECT count(*) FROM recent",
    ),
    (
        "WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 100) SELECT sum(n) FROM t",
        "WITH RECURSIVE t (n) AS (VALUES ($1) UNION ALL SELECT n + $2 FROM t WHERE n < $3) SELECT sum(n) FROM t",
    ),
    (
        "SELECT id, sum(amount) OVER (PARTITION BY customer_id ORDER BY created_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM payments",
        "SELECT id, sum(amount) OVER (PARTITION BY customer_id ORDER BY created_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM payments",
    ),
    (
        "SELECT id, lag(amount, 1) OVER w FROM payments WINDOW w AS (ORDER BY id)",
        "SELECT id, lag(amount, $1) OVER w FROM payments WINDOW w AS (ORDER BY id)",
    ),
    (
        "SELECT data->>'name', data #>> '{a,b}', data ?& array['a'] FROM docs",
        "SELECT data ->> $1, data #>> $2, data ?& ARRAY[$3] FROM docs",
    ),
    (
        "SELECT id FROM jobs WHERE queue = 'default' AND run_at <= now() ORDER BY priority LIMIT 1 FOR UPDATE SKIP LOCKED",
        "SELECT id FROM jobs WHERE queue = $1 AND run_at <= now() ORDER BY priority LIMIT $2 FOR UPDATE SKIP LOCKED",
    ),
    (
        "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t WHERE id = 5",
        "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t WHERE id = $1",
    ),
    ("SELECT * FROM t WHERE tags && ARRAY['a','b']", "SELECT * FROM t WHERE tags && ARRAY[$1]"),
    (
        r##"SELECT * FROM t WHERE a BETWEEN 1 AND 10 AND name LIKE 'abc%' ESCAPE '\'"##,
        "SELECT * FROM t WHERE a BETWEEN $1 AND $2 AND name LIKE $3 ESCAPE $4",
    ),
    (
        "SELECT COALESCE(x, 0), CASE WHEN y > 5 THEN 'big' ELSE 'small' END FROM t",
        "SELECT COALESCE(x, $1), CASE WHEN y > $2 THEN $3 ELSE $4 END FROM t",
    ),
    (
        "SELECT * FROM t WHERE balance < -100.50 AND x - 1 > 0",
        "SELECT * FROM t WHERE balance < $1 AND x - $2 > $3",
    ),
    ("SELECT * FROM t WHERE a = $1 AND b = 5", "SELECT * FROM t WHERE a = $1 AND b = $2"),
    ("SELECT * FROM t WHERE a = 5 AND b = $1", "SELECT * FROM t WHERE a = $2 AND b = $1"),
    (
        "SELECT * FROM t WHERE id IN ($1, $2, $3) AND x = $4",
        "SELECT * FROM t WHERE id IN ($1) AND x = $2",
    ),
    (
        r##"SELECT "User"."Id" FROM "User" WHERE "User"."Name" = 'x'"##,
        r##"SELECT "User"."Id" FROM "User" WHERE "User"."Name" = $1"##,
    ),
    (
        "SELECT TIMESTAMP '2024-01-01 00:00:00', CAST('5' AS integer), $1::uuid",
        "SELECT TIMESTAMP $2, CAST($3 AS INTEGER), $1::UUID",
    ),
    ("SELECT $tag$it's$tag$, $$x$$", "SELECT $1, $2"),
    ("SELECT 1; SELECT 'a';", "SELECT $1; SELECT $2"),
    ("COPY pgbench_accounts FROM STDIN", "COPY pgbench_accounts FROM STDIN"),
    ("SELECT * FROM t WHERE id = ANY($1)", "SELECT * FROM t WHERE id = ANY($1)"),
    (
        "SELECT * FROM t WHERE id = ANY('{1,2,3}'::int[])",
        "SELECT * FROM t WHERE id = ANY($1::INT[])",
    ),
    (
        "SELECT * FROM t WHERE id = ANY('{1,2,3,4,5}'::int[])",
        "SELECT * FROM t WHERE id = ANY($1::INT[])",
    ),
    (
        "CREATE TABLE IF NOT EXISTS t (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '', created_at timestamptz DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS t (id bigserial PRIMARY KEY, name TEXT NOT NULL DEFAULT $1, created_at TIMESTAMPTZ DEFAULT now())",
    ),
    (
        "ALTER TABLE t ADD COLUMN c integer DEFAULT 0 NOT NULL",
        "ALTER TABLE t ADD COLUMN c INTEGER DEFAULT $1 NOT NULL",
    ),
    (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t_a ON t USING btree (a) WHERE deleted_at IS NULL",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t_a ON t USING BTREE (a) WHERE deleted_at IS NULL",
    ),
    ("DROP TABLE IF EXISTS t CASCADE", "DROP TABLE IF EXISTS t CASCADE"),
    ("GRANT SELECT ON t TO reader", "GRANT SELECT ON t TO reader"),
    ("SELECT set_config('search_path', 'app', false)", "SELECT set_config($1, $2, false)"),
    (
        "SELECT x FROM t WHERE x IN (SELECT y FROM u WHERE z = 3)",
        "SELECT x FROM t WHERE x IN (SELECT y FROM u WHERE z = $1)",
    ),
    (
        "SELECT * FROM t WHERE (a, b) IN ((1, 'x'), (2, 'y'))",
        "SELECT * FROM t WHERE (a, b) IN (($1, $2))",
    ),
    (
        "PREPARE q (int) AS SELECT * FROM t WHERE id = $1",
        "PREPARE q (INT) AS SELECT * FROM t WHERE id = $1",
    ),
    ("EXECUTE q(5)", "EXECUTE q($1)"),
    ("DEALLOCATE q", "DEALLOCATE q"),
    (
        "SELECT 1 FROM t WHERE x NOT IN (1, 2) AND y IN (a, b)",
        "SELECT $1 FROM t WHERE x NOT IN ($2) AND y IN (a, b)",
    ),
    ("SELECT * FROM t LIMIT ALL OFFSET 0", "SELECT * FROM t OFFSET $1"),
    ("SELECT ARRAY[1, 2, 3] || ARRAY[4]", "SELECT ARRAY[$1] || ARRAY[$2]"),
    ("SELECT * FROM crosstab('select 1') AS ct(a int)", "SELECT * FROM crosstab($1) AS ct (a INT)"),
    ("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"),
    ("SELECT * FROM t TABLESAMPLE SYSTEM (10)", "SELECT * FROM t TABLESAMPLE SYSTEM ($1)"),
    (
        "SELECT * FROM t WHERE a IN (1, 2, 3) LIMIT 21 OFFSET 5",
        "SELECT * FROM t WHERE a IN ($1) LIMIT $2 OFFSET $3",
    ),
    (
        "SELECT * FROM t WHERE a = ANY(ARRAY[1,2,3]) AND b = ANY('{1,2}')",
        "SELECT * FROM t WHERE a = ANY(ARRAY[$1]) AND b = ANY($2)",
    ),
    (
        r##"SELECT DATE '2020-01-01', interval '1 day', 'x'::int, CAST(x AS int), E'a\nb', $$dollar$$, $t$x$t$, x::timestamptz"##,
        "SELECT DATE $1, INTERVAL $2, $3::INT, CAST(x AS INT), $4, $5, $6, x::TIMESTAMPTZ",
    ),
    (
        r##"SELECT data->'a'->>'b', data @> '{"a":1}', data ? 'k', data ?| array['a','b'] FROM t"##,
        "SELECT data -> $1 ->> $2, data @> $3, data ? $4, data ?| ARRAY[$5] FROM t",
    ),
    (
        "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y') ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b RETURNING id",
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT(a) DO UPDATE SET b = EXCLUDED.b RETURNING id",
    ),
    (
        "WITH x AS (SELECT 1) SELECT row_number() OVER (PARTITION BY a ORDER BY b DESC) FROM x",
        "WITH x AS (SELECT $1) SELECT row_number() OVER (PARTITION BY a ORDER BY b DESC) FROM x",
    ),
    ("BEGIN", "BEGIN"),
    ("BEGIN ISOLATION LEVEL REPEATABLE READ", "BEGIN ISOLATION LEVEL REPEATABLE READ"),
    ("COMMIT", "COMMIT"),
    ("ROLLBACK", "ROLLBACK"),
    ("SET LOCAL statement_timeout = 5000", "SET LOCAL statement_timeout = $1"),
    (r##"SET search_path TO public, "$user""##, r##"SET search_path = public, "$user""##),
    ("SHOW server_version", "SHOW server_version"),
    ("SAVEPOINT s1", "SAVEPOINT s1"),
    ("RELEASE SAVEPOINT s1", "RELEASE SAVEPOINT s1"),
    ("ROLLBACK TO SAVEPOINT s1", "ROLLBACK TO SAVEPOINT s1"),
    ("VACUUM", "VACUUM"),
    (
        "CREATE INDEX CONCURRENTLY idx ON t (a) WHERE b > 5",
        "CREATE INDEX CONCURRENTLY idx ON t(a) WHERE b > $1",
    ),
    ("DISCARD ALL", "DISCARD ALL"),
    (
        "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
        "CREATE FUNCTION f() RETURNS INT LANGUAGE sql AS $1",
    ),
    (
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$",
        "CREATE FUNCTION f() RETURNS INT LANGUAGE plpgsql AS $1",
    ),
    (
        "SELECT x::varchar(255), CAST(y AS numeric(10,2)), z::int[3]",
        "SELECT x::VARCHAR(255), CAST(y AS NUMERIC(10,2)), z::INT[3]",
    ),
    (
        "SELECT -1, - 1, +1, -x, 1.5, .5, 1e5, 1_000, 0x1F",
        "SELECT $1, $2, $3, -x, $4, $5, $6, $7, $8",
    ),
    ("SELECT true, false, NULL, $1, $2", "SELECT true, false, NULL, $1, $2"),
    ("SELECT 1 ORDER BY 1", "SELECT $1 ORDER BY $2"),
    (
        "select u1_0.id from users u1_0 where u1_0.email=$1",
        "SELECT u1_0.id FROM users u1_0 WHERE u1_0.email = $1",
    ),
    ("SET TIME ZONE 'UTC'", "SET TIME ZONE $1"),
    ("SET application_name = 'foo'", "SET application_name = $1"),
    (
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
    ),
    ("LISTEN foo", "LISTEN foo"),
    ("NOTIFY foo, 'payload'", "NOTIFY foo, $1"),
    ("SELECT pg_advisory_lock(123)", "SELECT pg_advisory_lock($1)"),
    ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE SELECT $1"),
    (
        "COPY t FROM STDIN WITH (FORMAT csv, DELIMITER ',')",
        "COPY t FROM STDIN (FORMAT csv, DELIMITER $1)",
    ),
    ("TRUNCATE t", "TRUNCATE t"),
    ("DEALLOCATE ALL", "DEALLOCATE ALL"),
    ("SELECT a FROM t FETCH FIRST 10 ROWS ONLY", "SELECT a FROM t FETCH FIRST $1 ROWS ONLY"),
    ("SELECT x AT TIME ZONE 'UTC'", "SELECT x AT TIME ZONE $1"),
    ("PREPARE p AS SELECT 1", "PREPARE p AS SELECT $1"),
    ("EXECUTE p(1, 2)", "EXECUTE p($1, $2)"),
    (r##"SELECT U&'\0041', B'101', X'1F', N'abc'"##, "SELECT $1, $2, $3, $4"),
    ("SELECT 'a' 'b'", "SELECT $1 AS $2"),
    ("SELECT (a, b) IN ((1, 2), (3, 4)) FROM t", "SELECT (a, b) IN (($1, $2)) FROM t"),
    (
        "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name)",
        "SELECT * FROM (VALUES ($1, $2)) AS v (id, name)",
    ),
    ("SELECT a FROM t WHERE a NOT IN (1)", "SELECT a FROM t WHERE a NOT IN ($1)"),
    (
        "SELECT extract('epoch' from x), extract(epoch from x)",
        "SELECT EXTRACT($1 FROM x), EXTRACT(EPOCH FROM x)",
    ),
    ("SELECT 1 LIMIT ALL", "SELECT $1"),
    (
        "CREATE TABLE t (id serial PRIMARY KEY, name varchar(100) DEFAULT 'x', n numeric(10,2))",
        "CREATE TABLE t (id serial PRIMARY KEY, name VARCHAR(100) DEFAULT $1, n NUMERIC(10,2))",
    ),
    ("ALTER TABLE t ADD COLUMN c int DEFAULT 0", "ALTER TABLE t ADD COLUMN c INT DEFAULT $1"),
    (
        "SELECT $1::int, '{1,2}'::int[], ARRAY[[1,2],[3,4]]",
        "SELECT $1::INT, $2::INT[], ARRAY[[$3]]",
    ),
];

/// Statements sqlparser rejects, normalized by the token fallback.
const FALLBACK: &[(&str, &str)] = &[
    ("VACUUM (VERBOSE, ANALYZE) t", "VACUUM (VERBOSE, ANALYZE) t"),
    ("VACUUM ANALYZE pgbench_accounts", "VACUUM ANALYZE pgbench_accounts"),
    ("CLUSTER t USING idx", "CLUSTER t USING idx"),
    ("REINDEX TABLE t", "REINDEX TABLE t"),
    ("ALTER SYSTEM SET work_mem = '64MB'", "ALTER SYSTEM SET work_mem = $1"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("DO LANGUAGE plpgsql $$ BEGIN PERFORM 1; END $$;", "DO LANGUAGE plpgsql $1"),
    ("VACUUM ANALYZE t", "VACUUM ANALYZE t"),
    ("DO $$ BEGIN RAISE NOTICE 'x'; END $$", "DO $1"),
    (
        "CREATE RULE r AS ON INSERT TO t WHERE NEW.id IN (1, 2, -3) DO INSTEAD NOTHING",
        "CREATE RULE r AS ON INSERT TO t WHERE NEW.id IN ($1) DO INSTEAD NOTHING",
    ),
    (
        "CREATE PUBLICATION p FOR TABLE t WHERE (id IN (1, 2))",
        "CREATE PUBLICATION p FOR TABLE t WHERE (id IN ($1))",
    ),
    ("VACUUM ANALYZE t; SELECT 1", "VACUUM ANALYZE t; SELECT $1"),
    ("CLUSTER t USING idx /* weekly */ -- x", "CLUSTER t USING idx"),
    (
        "ALTER TABLE t ALTER COLUMN c SET STATISTICS 500",
        "ALTER TABLE t ALTER COLUMN c SET STATISTICS $1",
    ),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", "REFRESH MATERIALIZED VIEW CONCURRENTLY mv"),
    (
        "CREATE PROCEDURE p() LANGUAGE SQL BEGIN ATOMIC INSERT INTO t VALUES (1); END",
        "CREATE PROCEDURE p() LANGUAGE SQL BEGIN ATOMIC INSERT INTO t VALUES ($1); END",
    ),
    (
        "SECURITY LABEL FOR selinux ON TABLE t IS 'system_u:object_r:sepgsql_table_t:s0'",
        "SECURITY LABEL FOR selinux ON TABLE t IS $1",
    ),
    (
        "IMPORT FOREIGN SCHEMA s LIMIT TO (t1, t2) FROM SERVER srv INTO local",
        "IMPORT FOREIGN SCHEMA s LIMIT TO (t1, t2) FROM SERVER srv INTO local",
    ),
    ("DO $body$ DECLARE n int := -1; BEGIN n := n + 1; END $body$", "DO $1"),
    ("ALTER SYSTEM SET x = -5 /* c */ ; SELECT 'y' ", "ALTER SYSTEM SET x = $1; SELECT $2"),
];

/// pgbench's TPC-B statements as `-M simple` sends them and as `-M extended` does.
pub(super) const PGBENCH: &[(&str, &str)] = &[
    (
        "UPDATE pgbench_accounts SET abalance = abalance + -4047 WHERE aid = 8361;",
        "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
    ),
    (
        "SELECT abalance FROM pgbench_accounts WHERE aid = 8361;",
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
    ),
    (
        "UPDATE pgbench_tellers SET tbalance = tbalance + -4047 WHERE tid = 5;",
        "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;",
    ),
    (
        "UPDATE pgbench_branches SET bbalance = bbalance + -4047 WHERE bid = 1;",
        "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;",
    ),
    (
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (5, 1, 8361, -4047, CURRENT_TIMESTAMP);",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
    ),
];

/// Every golden input, for the property tests.
pub(super) fn golden_inputs() -> impl Iterator<Item = &'static str> {
    let pgbench = PGBENCH.iter().flat_map(|(simple, extended)| [*simple, *extended]);
    PARSED.iter().chain(FALLBACK).map(|(input, _)| *input).chain(pgbench)
}

/// The one helper: `input` must normalize to `expected`, by sqlparser iff `parsed`.
fn check(input: &str, expected: &str, parsed: bool) -> Result<(), String> {
    let got = normalize(input);
    if got.text == expected && got.parsed == parsed && got.id == PatternId::of(expected) {
        Ok(())
    } else {
        Err(format!(
            "input:    {input}\nexpected: {expected} (parsed: {parsed})\ngot:      {} (parsed: {})",
            got.text, got.parsed
        ))
    }
}

#[test]
fn golden_table() {
    let parsed = PARSED.iter().map(|(input, expected)| check(input, expected, true));
    let fallback = FALLBACK.iter().map(|(input, expected)| check(input, expected, false));
    let failures: Vec<String> = parsed.chain(fallback).filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed:\n{}",
        failures.len(),
        PARSED.len() + FALLBACK.len(),
        failures.join("\n\n")
    );
    assert!(PARSED.len() + FALLBACK.len() >= 80);
}

#[test]
fn pgbench_simple_and_extended_give_the_same_pattern() {
    for (simple, extended) in PGBENCH {
        let expected = extended.trim_end_matches(';');
        check(simple, expected, true).unwrap_or_else(|e| panic!("{e}"));
        check(extended, expected, true).unwrap_or_else(|e| panic!("{e}"));
    }
}
