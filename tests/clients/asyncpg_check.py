"""What an asyncpg app does, through pgscope; run by tests/integration/clients.rs.

Usage: asyncpg_check.py HOST PORT USER PASSWORD DBNAME
Prints `ok` and exits 0, or exits 1 naming the step and the mismatch. Progress goes to stderr.
The counts asserted on the Rust side are the constants below: keep them in step.
asyncpg speaks only the extended protocol and caches every statement it prepares.
"""

import asyncio
import datetime
import json
import time

import asyncpg

from check_common import ROWS, UTC, Mismatch, check, run, stepper

CACHED_RUNS = 20
MANY_ROWS = 100
COPY_ROWS = 1000
BIG_ROWS = 50_000
CURSOR_ROWS = 20_500
CURSOR_PREFETCH = 1000

step = stepper("asyncpg")


async def connect(args, **extra):
    host, port, user, password, dbname = args
    conn = await asyncpg.connect(host=host, port=int(port), user=user, password=password,
                                 database=dbname, timeout=10, **extra)
    # jsonb as Python values, the way apps set it up.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads,
                              schema="pg_catalog")
    return conn


async def default_ssl_falls_back(args):
    step("default ssl='prefer': SSLRequest declined, plaintext")
    conn = await connect(args)
    check(conn._transport.get_extra_info("sslcontext") is None,
          "connection unexpectedly uses SSL")
    return conn


async def ssl_require_is_refused(args):
    step("ssl='require' fails cleanly")
    try:
        await (await connect(args, ssl="require")).close()
    except ConnectionError as e:
        check("SSL" in str(e), f"unexpected error for ssl='require': {e!r}")
    else:
        raise Mismatch("ssl='require' connected although pgscope declines SSL")


async def simple_queries(conn, user):
    step("simple query protocol (execute without arguments)")
    await conn.execute(
        "CREATE TABLE apg_items (id int PRIMARY KEY, name text, at timestamptz, "
        "amount numeric, blob bytea, doc jsonb, note text);"
        "CREATE TABLE apg_many (id int PRIMARY KEY, v text);"
        "CREATE TABLE apg_copy (id int, v text, at timestamptz)")
    got = await conn.fetchval("SELECT current_user")
    check(got == user, f"current_user is {got}")


async def typed_round_trip(conn):
    step("parameterized insert/select of many types")
    for r in ROWS:
        await conn.execute(
            "INSERT INTO apg_items (id, name, at, amount, blob, doc, note) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)", *r)
    for r in ROWS:
        got = await conn.fetchrow(
            "SELECT id, name, at, amount, blob, doc, note AS typed_note "
            "FROM apg_items WHERE id = $1", r[0])
        check(tuple(got) == r, f"row {r[0]} came back as {tuple(got)}")


async def cached_statement(conn):
    step(f"statement cache: one Parse, {CACHED_RUNS} executions")
    for i in range(CACHED_RUNS):
        got = await conn.fetchval("SELECT name AS prep_name FROM apg_items WHERE id = $1",
                                  i % 3 + 1)
        check(got == ROWS[i % 3][1], f"cached run {i} returned {got}")
    names = await conn.fetchval("SELECT count(*) FROM pg_prepared_statements "
                                "WHERE statement LIKE '%prep' || '_name%'")
    check(names == 1, f"expected one server-side prepared statement, found {names}")
    stmt = await conn.prepare("SELECT $1::int * 2 AS explicit_prep")
    for i in range(5):
        check(await stmt.fetchval(i) == i * 2, "explicitly prepared statement")


async def error_in_transaction(conn):
    step("error inside a transaction, rollback, savepoint, carry on")
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO apg_many (id, v) VALUES ($1, $2)", -1, "in tx")
            await conn.execute("INSERT INTO apg_items (id, name) VALUES ($1, $2)", 1, "dup")
        raise Mismatch("duplicate key was accepted")
    except asyncpg.UniqueViolationError:
        pass
    check(not conn.is_in_transaction(), "still in a transaction after rollback")
    async with conn.transaction():
        try:
            async with conn.transaction():
                await conn.fetchval("SELECT 1 / $1 AS apg_div", 0)
        except asyncpg.DivisionByZeroError:
            pass
        await conn.execute("INSERT INTO apg_many (id, v) VALUES ($1, $2)", -2, "kept")
    got = await conn.fetch("SELECT id FROM apg_many WHERE id < 0 ORDER BY id")
    check([r["id"] for r in got] == [-2], f"rolled back/kept rows wrong: {got}")


async def executemany(conn):
    step(f"executemany of {MANY_ROWS} rows")
    await conn.executemany("INSERT INTO apg_many (id, v) VALUES ($1, $2)",
                           [(i, f"v{i}") for i in range(MANY_ROWS)])
    got = await conn.fetchval("SELECT count(*) FROM apg_many")
    check(got == MANY_ROWS + 1, f"apg_many has {got} rows")


async def copy_both_ways(conn):
    step(f"copy_records_to_table ({COPY_ROWS} rows, binary COPY) and copy_from_query")
    at = datetime.datetime(2020, 1, 1, tzinfo=UTC)
    rows = [(i, f"line {i}\twith tab", at) for i in range(COPY_ROWS)]
    result = await conn.copy_records_to_table("apg_copy", records=rows,
                                              columns=["id", "v", "at"])
    check(result == f"COPY {COPY_ROWS}", f"copy_records_to_table returned {result}")
    chunks = []

    async def sink(data):
        chunks.append(data)

    result = await conn.copy_from_query(
        "SELECT id, v FROM apg_copy WHERE id < $1 ORDER BY id", 10, output=sink, format="csv")
    check(result == "COPY 10", f"copy_from_query returned {result}")
    want = "".join(f"{i},line {i}\twith tab\n" for i in range(10))
    check(b"".join(chunks).decode() == want, f"copy_from_query output {chunks}")


async def listen_notify(conn, args):
    step("LISTEN/NOTIFY via add_listener (listener with ssl=False)")
    listener = await connect(args, ssl=False)
    got = asyncio.get_running_loop().create_future()
    await listener.add_listener("apg_channel",
                                lambda _c, _pid, ch, payload: got.done() or got.set_result((ch, payload)))
    await conn.execute("SELECT pg_notify($1, $2)", "apg_channel", "héllo")
    try:
        note = await asyncio.wait_for(got, 20)
    except asyncio.TimeoutError:
        raise Mismatch("no notification within 20 s") from None
    check(note == ("apg_channel", "héllo"), f"notification {note}")
    await listener.close()


async def cancel_running_query(conn):
    step("query timeout: asyncpg cancels the running query (CancelRequest)")
    started = time.monotonic()
    try:
        await conn.fetchval("SELECT pg_sleep(30)", timeout=0.5)
        raise Mismatch("pg_sleep(30) did not time out")
    except asyncio.TimeoutError:
        pass
    check(await conn.fetchval("SELECT 1 AS after_cancel") == 1, "unusable after cancel")
    check(time.monotonic() - started < 10, "the cancel took effect only after 10 s")


async def large_result(conn):
    step(f"{BIG_ROWS} rows read in one go")
    rows = await conn.fetch("SELECT g, repeat('x', 20) AS big_pad "
                            "FROM generate_series(1, $1) g", BIG_ROWS)
    check(len(rows) == BIG_ROWS and sum(r[0] for r in rows) == BIG_ROWS * (BIG_ROWS + 1) // 2,
          f"large result has {len(rows)} rows")


async def cursor(conn):
    step(f"cursor over {CURSOR_ROWS} rows, {CURSOR_PREFETCH} per Execute (PortalSuspended)")
    n = 0
    async with conn.transaction():
        async for _ in conn.cursor("SELECT g AS cursor_g FROM generate_series(1, $1) g",
                                   CURSOR_ROWS, prefetch=CURSOR_PREFETCH):
            n += 1
    check(n == CURSOR_ROWS, f"cursor yielded {n} rows")


async def main(args):
    await ssl_require_is_refused(args)
    conn = await default_ssl_falls_back(args)
    await simple_queries(conn, args[2])
    await typed_round_trip(conn)
    await cached_statement(conn)
    await error_in_transaction(conn)
    await executemany(conn)
    await copy_both_ways(conn)
    await listen_notify(conn, args)
    await cancel_running_query(conn)
    await large_result(conn)
    await cursor(conn)
    await conn.close()
    print("ok")


if __name__ == "__main__":
    run("asyncpg", __doc__, lambda args: asyncio.run(main(args)))
