// What a node-postgres app does, through pgscope; run by tests/integration/clients.rs.
//
// Usage: node pg_check.js HOST PORT USER PASSWORD DBNAME
// Needs `npm ci --prefix tests/clients` (pg, pg-cursor, pg-copy-streams).
// Prints `ok` and exits 0, or exits 1 naming the step and the mismatch. Progress goes to stderr.
// The counts asserted on the Rust side are the constants below: keep them in step.
'use strict';

const assert = require('node:assert/strict');
const { pipeline } = require('node:stream/promises');
const { Readable, Writable } = require('node:stream');
const { Client, Pool, Query } = require('pg');
const Cursor = require('pg-cursor');
const copyStreams = require('pg-copy-streams');

const NAMED_RUNS = 20;
const POOL_ROWS = 100;
const POOL_SIZE = 4;
const COPY_ROWS = 1000;
const BIG_ROWS = 50000;
const CURSOR_ROWS = 20500;
const CURSOR_BATCH = 1000;

const ROWS = [
  [1, 'alpha', new Date('2024-02-29T12:30:01.123Z'), '12345.678900',
    Buffer.from([0, 1, 0xfe, 0xff]), { k: [1, 2, { x: null }] }, null],
  [2, 'béta ☃', new Date('1999-12-31T23:59:59Z'), '-0.5', Buffer.alloc(0), [], 'note'],
  [3, null, null, null, null, null, null],
];

function step(name) {
  process.stderr.write(`node-postgres: ${name}\n`);
}

function config(args, extra = {}) {
  const [host, port, user, password, database] = args;
  return { host, port: Number(port), user, password, database, connectionTimeoutMillis: 10000, ...extra };
}

async function connect(args, extra) {
  const client = new Client(config(args, extra));
  await client.connect();
  return client;
}

async function sslIsRefused(args) {
  step('ssl: true fails cleanly (pgscope answers the SSLRequest with N)');
  await assert.rejects(connect(args, { ssl: { rejectUnauthorized: false } }),
    /does not support SSL/);
}

async function simpleQueries(db, user) {
  step('simple query protocol, several statements in one Query');
  await db.query(`CREATE TABLE pgn_items (id int PRIMARY KEY, name text, at timestamptz,
                    amount numeric, blob bytea, doc jsonb, note text);
                  CREATE TABLE pgn_many (id int PRIMARY KEY, v text);
                  CREATE TABLE pgn_copy (id int, v text)`);
  const { rows } = await db.query('SELECT current_user AS who');
  assert.deepEqual(rows, [{ who: user }]);
}

async function typedRoundTrip(db) {
  step('parameterized insert/select of many types');
  for (const r of ROWS) {
    const doc = r[5] === null ? null : JSON.stringify(r[5]);
    await db.query(`INSERT INTO pgn_items (id, name, at, amount, blob, doc, note)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)`, [...r.slice(0, 5), doc, r[6]]);
  }
  for (const r of ROWS) {
    const { rows } = await db.query({
      text: 'SELECT id, name, at, amount, blob, doc, note AS typed_note FROM pgn_items WHERE id = $1',
      values: [r[0]],
      rowMode: 'array',
    });
    assert.deepEqual(rows, [r], `row ${r[0]}`);
  }
}

async function namedStatement(db) {
  step(`named prepared statement executed ${NAMED_RUNS} times`);
  for (let i = 0; i < NAMED_RUNS; i++) {
    const { rows } = await db.query({
      name: 'pgn_prep',
      text: 'SELECT name AS prep_name FROM pgn_items WHERE id = $1',
      values: [(i % 3) + 1],
    });
    assert.deepEqual(rows, [{ prep_name: ROWS[i % 3][1] }], `named run ${i}`);
  }
  const { rows } = await db.query(
    "SELECT name FROM pg_prepared_statements WHERE statement LIKE '%prep' || '_name%'");
  assert.deepEqual(rows, [{ name: 'pgn_prep' }]);
}

async function errorInTransaction(db) {
  step('error inside a transaction, rollback, savepoint, carry on');
  await db.query('BEGIN');
  await db.query('INSERT INTO pgn_many (id, v) VALUES ($1, $2)', [-1, 'in tx']);
  await assert.rejects(db.query('INSERT INTO pgn_items (id, name) VALUES ($1, $2)', [1, 'dup']),
    (e) => e.code === '23505');
  await assert.rejects(db.query('SELECT 1 AS aborted_select'), (e) => e.code === '25P02');
  await db.query('ROLLBACK');
  await db.query('BEGIN');
  await db.query('SAVEPOINT sp');
  await assert.rejects(db.query('SELECT 1 / $1 AS pgn_div', [0]), (e) => e.code === '22012');
  await db.query('ROLLBACK TO SAVEPOINT sp');
  await db.query('INSERT INTO pgn_many (id, v) VALUES ($1, $2)', [-2, 'kept']);
  await db.query('COMMIT');
  const { rows } = await db.query('SELECT id FROM pgn_many WHERE id < 0 ORDER BY id');
  assert.deepEqual(rows, [{ id: -2 }]);
}

async function poolInserts(db, args) {
  step(`${POOL_ROWS} concurrent inserts through a pg.Pool of ${POOL_SIZE} connections`);
  const pool = new Pool(config(args, { max: POOL_SIZE }));
  await Promise.all(Array.from({ length: POOL_ROWS }, (_, i) =>
    pool.query('INSERT INTO pgn_many (id, v) VALUES ($1, $2)', [i, `v${i}`])));
  await pool.end();
  const { rows } = await db.query('SELECT count(*)::int AS n FROM pgn_many');
  assert.equal(rows[0].n, POOL_ROWS + 1);
}

async function copyBothWays(db) {
  step(`COPY FROM STDIN (${COPY_ROWS} rows) and COPY TO STDOUT with pg-copy-streams`);
  const text = Array.from({ length: COPY_ROWS }, (_, i) => `${i}\tline ${i}\n`).join('');
  await pipeline(Readable.from([text]), db.query(copyStreams.from('COPY pgn_copy (id, v) FROM STDIN')));
  const chunks = [];
  const sink = new Writable({ write(chunk, _enc, done) { chunks.push(chunk); done(); } });
  await pipeline(db.query(copyStreams.to('COPY (SELECT id, v FROM pgn_copy ORDER BY id) TO STDOUT')), sink);
  assert.equal(Buffer.concat(chunks).toString(), text);
}

async function listenNotify(db, args) {
  step('LISTEN/NOTIFY (listener via connectionString with sslmode=disable)');
  const [host, port, user, password, database] = args;
  const listener = new Client({
    connectionString: `postgresql://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}?sslmode=disable`,
  });
  await listener.connect();
  const got = new Promise((resolve) => listener.on('notification', resolve));
  await listener.query('LISTEN pgn_channel');
  await db.query('SELECT pg_notify($1, $2)', ['pgn_channel', 'héllo']);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('no notification within 20 s')), 20000);
  });
  const n = await Promise.race([got, timeout]);
  clearTimeout(timer);
  assert.deepEqual([n.channel, n.payload], ['pgn_channel', 'héllo']);
  await listener.end();
}

async function cancelRunningQuery(db, args) {
  step('cancel a running query (Client#cancel sends a CancelRequest)');
  const started = Date.now();
  const query = new Query('SELECT pg_sleep(30)');
  const outcome = new Promise((resolve) => {
    query.on('error', resolve);
    query.on('end', () => resolve(new Error('pg_sleep(30) was not cancelled')));
  });
  db.query(query);
  // The server has acted on a CancelRequest when it hangs up on it (libpq's PQcancel waits for
  // that). PostgreSQL signals the backend twice (process and process group), so a query sent
  // before the hang-up can be cancelled too: wait for it before the next query.
  const canceller = new Client(config(args));
  let hungUp = null;
  const timer = setTimeout(() => {
    hungUp = new Promise((resolve) => canceller.connection.once('end', resolve));
    canceller.cancel(db, query);
  }, 500);
  const err = await outcome;
  clearTimeout(timer);
  if (hungUp) await hungUp;
  assert.equal(err.code, '57014', `expected query_canceled, got ${err}`);
  assert.ok(Date.now() - started < 10000, 'the cancel took effect only after 10 s');
  const { rows } = await db.query('SELECT 1 AS after_cancel');
  assert.deepEqual(rows, [{ after_cancel: 1 }]);
}

async function largeResult(db) {
  step(`${BIG_ROWS} rows read in one go`);
  const { rows } = await db.query(
    "SELECT g, repeat('x', 20) AS big_pad FROM generate_series(1, $1::int) g", [BIG_ROWS]);
  assert.equal(rows.length, BIG_ROWS);
  assert.equal(rows.reduce((s, r) => s + r.g, 0), (BIG_ROWS * (BIG_ROWS + 1)) / 2);
}

async function cursor(db) {
  step(`pg-cursor over ${CURSOR_ROWS} rows, ${CURSOR_BATCH} per Execute (PortalSuspended)`);
  await db.query('BEGIN');
  const cur = db.query(new Cursor('SELECT g AS cursor_g FROM generate_series(1, $1::int) g', [CURSOR_ROWS]));
  let n = 0;
  for (;;) {
    const rows = await cur.read(CURSOR_BATCH);
    if (rows.length === 0) break;
    n += rows.length;
  }
  await cur.close();
  await db.query('COMMIT');
  assert.equal(n, CURSOR_ROWS);
}

async function main(args) {
  if (args.length !== 5) {
    throw new Error('usage: node pg_check.js HOST PORT USER PASSWORD DBNAME');
  }
  await sslIsRefused(args);
  step('default connection (no SSL), SCRAM');
  const db = await connect(args);
  await simpleQueries(db, args[2]);
  await typedRoundTrip(db);
  await namedStatement(db);
  await errorInTransaction(db);
  await poolInserts(db, args);
  await copyBothWays(db);
  await listenNotify(db, args);
  await cancelRunningQuery(db, args);
  await largeResult(db);
  await cursor(db);
  await db.end();
  console.log('ok');
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`node-postgres check failed: ${e.stack || e}\n`);
  process.exit(1);
});
