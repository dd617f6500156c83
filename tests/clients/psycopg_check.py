"""What a psycopg 3 app does, through pgscope; run by tests/integration/clients.rs.

Usage: psycopg_check.py HOST PORT USER PASSWORD DBNAME
Prints `ok` and exits 0, or exits 1 naming the step and the mismatch. Progress goes to stderr.
The counts asserted on the Rust side are the constants below: keep them in step.
"""

import datetime
import signal
import threading
import time

import psycopg
from psycopg.types.json import Jsonb

from check_common import ROWS, UTC, Mismatch, check, run, stepper

PREPARED_RUNS = 20
MANY_ROWS = 100
PIPELINE_ROWS = 30
COPY_ROWS = 1000
BIG_ROWS = 50_000
CURSOR_ROWS = 20_500

step = stepper("psycopg")


def connect(args, **extra):
    host, port, user, password, dbname = args
    return psycopg.connect(host=host, port=port, user=user, password=password,
                           dbname=dbname, connect_timeout=10, **extra)


def default_sslmode_falls_back(args):
    step("default sslmode=prefer: SSLRequest declined, plaintext")
    conn = connect(args, autocommit=True)
    check(not conn.pgconn.ssl_in_use, "connection unexpectedly uses SSL")
    check(conn.pgconn.used_password, "libpq did not send a password (SCRAM expected)")
    return conn


def sslmode_require_is_refused(args):
    step("sslmode=require fails cleanly")
    try:
        connect(args, sslmode="require").close()
    except psycopg.OperationalError as e:
        check("SSL" in str(e), f"unexpected error for sslmode=require: {e}")
    else:
        raise Mismatch("sslmode=require connected although pgscope declines SSL")


def simple_queries(conn, user):
    step("simple query protocol")
    row = conn.execute("SELECT current_user, 1 + 1").fetchone()
    check(row == (user, 2), f"SELECT current_user returned {row}")
    conn.execute(
        "CREATE TABLE psy_items (id int PRIMARY KEY, name text, at timestamptz, "
        "amount numeric, blob bytea, doc jsonb, note text)")
    conn.execute("CREATE TABLE psy_many (id int PRIMARY KEY, v text)")
    conn.execute("CREATE TABLE psy_copy_text (id int, v text, at timestamptz)")
    conn.execute("CREATE TABLE psy_copy_bin (id int, v text, at timestamptz)")


def typed_round_trip(conn):
    step("parameterized insert/select of many types, text and binary")
    for r in ROWS:
        doc = None if r[5] is None else Jsonb(r[5])
        conn.execute(
            "INSERT INTO psy_items (id, name, at, amount, blob, doc, note) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)", (*r[:5], doc, r[6]))
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        for r in ROWS:
            got = cur.execute(
                "SELECT id, name, at, amount, blob, doc, note AS typed_note "
                "FROM psy_items WHERE id = %s", (r[0],)).fetchone()
            got = (*got[:4], None if got[4] is None else bytes(got[4]), *got[5:])
            check(got == r, f"binary={binary}: row {r[0]} came back as {got}")


def prepared_statement(conn):
    step(f"server-side prepared statement executed {PREPARED_RUNS} times")
    for i in range(PREPARED_RUNS):
        row = conn.execute("SELECT name AS prep_name FROM psy_items WHERE id = %s",
                           (i % 3 + 1,), prepare=True).fetchone()
        check(row == (ROWS[i % 3][1],), f"prepared run {i} returned {row}")
    names = conn.execute("SELECT count(*) FROM pg_prepared_statements "
                         "WHERE statement LIKE '%%prep' || '_name%%'").fetchone()
    check(names == (1,), f"expected one server-side prepared statement, found {names}")


def error_in_transaction(conn):
    step("error inside a transaction, rollback, savepoint, carry on")
    try:
        with conn.transaction():
            conn.execute("INSERT INTO psy_many (id, v) VALUES (%s, %s)", (-1, "in tx"))
            conn.execute("INSERT INTO psy_items (id, name) VALUES (%s, %s)", (1, "dup"))
        raise Mismatch("duplicate key was accepted")
    except psycopg.errors.UniqueViolation:
        pass
    check(conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE,
          f"not idle after rollback: {conn.info.transaction_status}")
    with conn.transaction():
        try:
            with conn.transaction():
                conn.execute("SELECT 1 / %s AS psy_div", (0,))
        except psycopg.errors.DivisionByZero:
            pass
        conn.execute("INSERT INTO psy_many (id, v) VALUES (%s, %s)", (-2, "kept"))
    got = conn.execute("SELECT id FROM psy_many WHERE id < 0 ORDER BY id").fetchall()
    check(got == [(-2,)], f"rolled back/kept rows wrong: {got}")


def executemany_and_pipeline(conn):
    step(f"executemany of {MANY_ROWS} rows (pipelined by psycopg)")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO psy_many (id, v) VALUES (%s, %s)",
                        [(i, f"v{i}") for i in range(MANY_ROWS)])
    step(f"explicit pipeline of {PIPELINE_ROWS} upserts and reads")
    with conn.pipeline() as p:
        curs = []
        for i in range(PIPELINE_ROWS):
            conn.execute("UPDATE psy_many SET v = %s WHERE id = %s", (f"p{i}", i))
            curs.append(conn.execute("SELECT v AS piped_v FROM psy_many WHERE id = %s", (i,)))
        p.sync()
        for i, cur in enumerate(curs):
            check(cur.fetchone() == (f"p{i}",), f"pipelined read {i} wrong")
    step("error inside a pipeline")
    try:
        with conn.pipeline():
            conn.execute("SELECT 1 AS before_pipe_error")
            conn.execute("SELECT 1 / %s AS pipe_div", (0,))
            conn.execute("SELECT 1 AS after_pipe_error")
        raise Mismatch("division by zero in a pipeline was not reported")
    except psycopg.errors.DivisionByZero:
        pass
    check(conn.execute("SELECT count(*) FROM psy_many").fetchone() == (MANY_ROWS + 1,),
          "psy_many row count after executemany")


def copy_both_ways(conn):
    step(f"COPY FROM STDIN ({COPY_ROWS} rows, text and binary) and COPY TO STDOUT")
    at = datetime.datetime(2020, 1, 1, tzinfo=UTC)
    rows = [(i, f"line {i}\twith tab", at) for i in range(COPY_ROWS)]
    with conn.cursor() as cur:
        with cur.copy("COPY psy_copy_text (id, v, at) FROM STDIN") as copy:
            for r in rows[: COPY_ROWS // 2]:
                copy.write_row(r)
        with cur.copy("COPY psy_copy_bin (id, v, at) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "text", "timestamptz"])
            for r in rows[COPY_ROWS // 2:]:
                copy.write_row(r)
        with cur.copy("COPY (SELECT id, v, at FROM psy_copy_text UNION ALL "
                      "SELECT id, v, at FROM psy_copy_bin ORDER BY id) TO STDOUT") as copy:
            copy.set_types(["int4", "text", "timestamptz"])
            got = list(copy.rows())
    check(got == rows, f"COPY round trip differs (got {len(got)} rows)")


def listen_notify(conn, args):
    step("LISTEN/NOTIFY between two connections (listener with sslmode=disable)")
    listener = connect(args, autocommit=True, sslmode="disable")
    listener.execute("LISTEN psy_channel")
    conn.execute("SELECT pg_notify(%s, %s)", ("psy_channel", "héllo"))
    signal.alarm(20)  # notifies() has no timeout in psycopg 3.1
    for n in listener.notifies():
        check((n.channel, n.payload) == ("psy_channel", "héllo"), f"notification {n}")
        break
    signal.alarm(0)
    listener.close()


def cancel_running_query(conn):
    step("cancel a running query (CancelRequest on its own connection)")
    timer = threading.Timer(0.5, conn.cancel)
    timer.start()
    started = time.monotonic()
    try:
        conn.execute("SELECT pg_sleep(30)")
        raise Mismatch("pg_sleep(30) was not cancelled")
    except psycopg.errors.QueryCanceled:
        pass
    finally:
        timer.cancel()
        # conn.cancel() returns once the server hung up on the CancelRequest, i.e. has acted on
        # it: PostgreSQL signals the backend twice (process and process group), so a query sent
        # before then can be cancelled too.
        timer.join()
    check(time.monotonic() - started < 10, "the cancel took effect only after 10 s")
    check(conn.execute("SELECT 1 AS after_cancel").fetchone() == (1,), "unusable after cancel")


def large_result(conn):
    step(f"{BIG_ROWS} rows read in one go")
    rows = conn.execute("SELECT g, repeat('x', 20) AS big_pad FROM generate_series(1, %s) g",
                        (BIG_ROWS,)).fetchall()
    check(len(rows) == BIG_ROWS and sum(r[0] for r in rows) == BIG_ROWS * (BIG_ROWS + 1) // 2,
          f"large result has {len(rows)} rows")


def server_side_cursor(conn):
    step(f"named (server-side) cursor over {CURSOR_ROWS} rows")
    with conn.transaction():
        with conn.cursor(name="psy_cursor") as cur:
            cur.itersize = 1000
            cur.execute("SELECT g AS cursor_g FROM generate_series(1, %s) g", (CURSOR_ROWS,))
            n = sum(1 for _ in cur)
    check(n == CURSOR_ROWS, f"named cursor yielded {n} rows")


def main(args):
    user = args[2]
    sslmode_require_is_refused(args)
    with default_sslmode_falls_back(args) as conn:
        simple_queries(conn, user)
        typed_round_trip(conn)
        prepared_statement(conn)
        error_in_transaction(conn)
        executemany_and_pipeline(conn)
        copy_both_ways(conn)
        listen_notify(conn, args)
        cancel_running_query(conn)
        large_result(conn)
        server_side_cursor(conn)
    print("ok")


def on_alarm(_sig, _frame):
    raise Mismatch("timed out waiting for a notification")


if __name__ == "__main__":
    signal.signal(signal.SIGALRM, on_alarm)
    run("psycopg", __doc__, main)
