#!/usr/bin/env bash
# Where does pgscope's CPU go? Runs one pgbench cell through `pgscope proxy` (HTTP API on)
# under `perf record` and prints the hottest functions.
#
# Usage: bash bench/profile.sh
#
# Environment:
#   DURATION     seconds of pgbench under the profiler (default 15)
#   CLIENTS      pgbench clients (default 16); -j = min(CLIENTS, 2)
#   MODE         pgbench -M mode: simple | extended | prepared (default prepared)
#   WORKLOAD     pgbench script flag: -S (select-only, default) or empty for TPC-B
#   SCALE        pgbench scale (default 10)
#   PGSCOPE_BIN  binary to profile (default: release build with line tables, in
#                ${CARGO_TARGET_DIR:-target}-prof, so symbols and inlined frames resolve)
#   PG_BIN       PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#   OUT          directory for perf.data and the reports (default: a new temp dir, kept)
#
# Needs `perf` (Debian: apt-get install -y linux-perf). Hardware counters are often missing in
# VMs, so this samples the cpu-clock software event at 999 Hz with DWARF call graphs.
set -euo pipefail

DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-16}
MODE=${MODE:-prepared}
WORKLOAD=${WORKLOAD--S}
SCALE=${SCALE:-10}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

LOG_TAG=profile
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

command -v perf >/dev/null || die "perf not found: apt-get install -y linux-perf"
command -v ss >/dev/null || die "ss (iproute2) is needed to probe free ports"
RUN_AS=()
((EUID == 0)) && RUN_AS=(setpriv --reuid=postgres --regid=postgres --init-groups --)

if [[ -z ${PGSCOPE_BIN:-} ]]; then
    tdir=${CARGO_TARGET_DIR:-target}
    [[ $tdir = /* ]] || tdir=$ROOT/$tdir
    tdir=$tdir-prof
    log "building pgscope (release + line tables) into $tdir"
    (cd "$ROOT" && CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=none \
        CARGO_TARGET_DIR=$tdir cargo build --release --quiet) || die "build failed"
    PGSCOPE_BIN=$tdir/release/pgscope
fi
PGSCOPE_BIN=$(realpath "$PGSCOPE_BIN")

WORK=$(mktemp -d /tmp/pgscope-profile.XXXXXX)
chmod 755 "$WORK"
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
cd "$WORK"
cleanup() {
    local rc=$?
    stop_started
    rm -rf "$WORK/pgdata"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PG_PORT=$(free_port); SCOPE_PORT=$(free_port); HTTP_PORT=$(free_port)
mkdir -p pgdata sock
((EUID == 0)) && chown postgres: pgdata sock
"${RUN_AS[@]}" "$PG_BIN/initdb" -D "$WORK/pgdata" -U postgres --auth=trust --no-sync >initdb.log 2>&1 ||
    die "initdb failed"
"${RUN_AS[@]}" "$PG_BIN/postgres" -D "$WORK/pgdata" -p "$PG_PORT" -k "$WORK/sock" \
    -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 \
    >postgres.log 2>&1 &
PIDS+=($!)
wait_ready postgres "$PG_PORT" "${PIDS[-1]}"
"$PG_BIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres >init.log 2>&1 ||
    die "pgbench -i failed"

"$PGSCOPE_BIN" proxy --upstream "127.0.0.1:$PG_PORT" --listen "127.0.0.1:$SCOPE_PORT" \
    --http "127.0.0.1:$HTTP_PORT" >pgscope.log 2>&1 &
SCOPE_PID=$!
PIDS+=("$SCOPE_PID")
wait_ready pgscope "$SCOPE_PORT" "$SCOPE_PID"

jobs=$((CLIENTS < 2 ? CLIENTS : 2))
args=(-h 127.0.0.1 -p "$SCOPE_PORT" -U postgres -n -M "$MODE" -c "$CLIENTS" -j "$jobs" -T "$DURATION")
[[ -n $WORKLOAD ]] && args+=("$WORKLOAD")
log "perf record on pgscope pid $SCOPE_PID during: pgbench ${args[*]}"
perf record -q -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$SCOPE_PID" -o "$OUT/perf.data" \
    -- sleep "$((DURATION + 1))" 2>"$OUT/perf-record.log" &
PERF_PID=$!
sleep 0.5
"$PG_BIN/pgbench" "${args[@]}" postgres >"$OUT/pgbench.out" 2>&1 || die "pgbench failed: $(cat "$OUT/pgbench.out")"
wait "$PERF_PID" || true
grep -E '^(tps|number of transactions actually)' "$OUT/pgbench.out" >&2

log "writing reports to $OUT"
perf report -i "$OUT/perf.data" --no-children --sort symbol --percent-limit 0.7 --stdio -g none \
    2>/dev/null >"$OUT/self.txt"
perf report -i "$OUT/perf.data" --children --sort symbol --percent-limit 3 --stdio -g none \
    2>/dev/null >"$OUT/children.txt"
perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null >"$OUT/dso.txt"
tidy() { grep -v '^#' | sed -e '/^$/d' -e 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//'; }
echo "== self time by symbol (top) =="
tidy <"$OUT/self.txt" | head -40 || true
echo
echo "== inclusive (children) by symbol, >= 3% =="
tidy <"$OUT/children.txt" | head -50 || true
echo
echo "== inclusive: pgscope code and runtime idle/wake paths =="
perf report -i "$OUT/perf.data" --children --sort symbol --percent-limit 0.5 --stdio -g none 2>/dev/null |
    tidy | grep -E 'pgscope::|park_internal|notify_park|notify_one|Waker::wake|epoll_wait$|__x64_sys_(futex|sendto|recvfrom)|libc_malloc|libc_free' |
    head -40 || true
echo
echo "== by object =="
tidy <"$OUT/dso.txt" | head -10 || true
log "perf.data and reports kept in $OUT"
