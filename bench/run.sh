#!/usr/bin/env bash
# pgscope vs PgBouncer vs direct PostgreSQL: throughput and proxy cost.
#
# Usage: bash bench/run.sh
#
# Environment:
#   ROUNDS       rounds over the whole matrix (default 3); medians are taken over them
#   DURATION     seconds per pgbench run (default 10)
#   SCALE        pgbench scale factor (default 10)
#   WARMUP       seconds of select-only warm-up per target before round 1 (default 3, 0 = none)
#   PGSCOPE_BIN  pgscope binary to test (default: `cargo build --release` here and use
#                ${CARGO_TARGET_DIR:-target}/release/pgscope)
#   PG_BIN       PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#   PGBOUNCER    pgbouncer binary (default: from PATH, else /usr/sbin/pgbouncer)
#   RESULTS_DIR  where the Markdown report goes (default bench/results)
#   PGSCOPE_ENV  extra environment for the pgscope process, e.g. "PGSCOPE_WORKER_THREADS=2 PGSCOPE_LOG=warn"
#   ANALYSIS_OFF 1 = also run a fourth target, pgscope with `[analysis] enabled = false` (relay
#                only), and print what analysis costs: pgscope against that relay-only pgscope
#   ONLY         run one cell only, by its name in the report (e.g. "select-only simple c1")
#   FRESH_BOUNCER 1 = also run PgBouncer with `server_lifetime = 0` (pgbouncer-fresh): each
#                server connection serves one client and closes, as pgscope's upstream
#                connection does, so every pgbench run starts on new backends for both
#
# Everything binds 127.0.0.1 on free ports, lives in a temp dir, and is stopped by PID on exit.
# Exits non-zero if any pgbench run fails (non-zero exit or failed transactions > 0).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
SCALE=${SCALE:-10}
WARMUP=${WARMUP:-3}
ANALYSIS_OFF=${ANALYSIS_OFF:-0}
FRESH_BOUNCER=${FRESH_BOUNCER:-0}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}

LOG_TAG=bench
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

for v in ROUNDS DURATION SCALE WARMUP; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
((ROUNDS >= 1 && DURATION >= 1 && SCALE >= 1)) || die "ROUNDS, DURATION and SCALE must be >= 1"

# ---------------------------------------------------------------- prerequisites
for b in initdb postgres pgbench pg_isready psql; do
    [[ -x $PG_BIN/$b ]] || die "$PG_BIN/$b not found (set PG_BIN)"
done
PGBOUNCER=${PGBOUNCER:-$(command -v pgbouncer || echo /usr/sbin/pgbouncer)}
[[ -x $PGBOUNCER ]] || die "pgbouncer not found: apt-get install -y pgbouncer (or set PGBOUNCER)"
command -v ss >/dev/null || die "ss (iproute2) is needed to probe free ports"

# Unprivileged account for postgres and pgbouncer when we are root (both refuse root).
RUN_AS=()
if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' system user"
    # setpriv execs in place, so $! is the server's own PID.
    RUN_AS=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi

if [[ -z ${PGSCOPE_BIN:-} ]]; then
    log "building pgscope (release)"
    (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
    tdir=${CARGO_TARGET_DIR:-target}
    [[ $tdir = /* ]] || tdir=$ROOT/$tdir
    PGSCOPE_BIN=$tdir/release/pgscope
fi
[[ -x $PGSCOPE_BIN ]] || die "pgscope binary not found: $PGSCOPE_BIN"
PGSCOPE_BIN=$(realpath "$PGSCOPE_BIN")
mkdir -p "$RESULTS_DIR"
RESULTS_DIR=$(realpath "$RESULTS_DIR")

CLK_TCK=$(getconf CLK_TCK)

# cell: name workload-flag mode clients
CELLS=(
    "select-only simple c1|-S|simple|1"
    "select-only simple c16|-S|simple|16"
    "select-only prepared c1|-S|prepared|1"
    "select-only prepared c16|-S|prepared|16"
    "tpcb simple c1||simple|1"
    "tpcb simple c16||simple|16"
    "tpcb prepared c1||prepared|1"
    "tpcb prepared c16||prepared|16"
)
if [[ -n ${ONLY:-} ]]; then
    kept=()
    for cell in "${CELLS[@]}"; do
        [[ ${cell%%|*} == "$ONLY" ]] && kept+=("$cell")
    done
    ((${#kept[@]} > 0)) || die "ONLY='$ONLY' names no cell; cells are: $(printf '%s\n' "${CELLS[@]%%|*}" | paste -sd'|')"
    CELLS=("${kept[@]}")
fi

# ---------------------------------------------------------------- lifecycle
WORK=$(mktemp -d /tmp/pgscope-bench.XXXXXX)
chmod 755 "$WORK"
cd "$WORK" # the unprivileged servers need a readable cwd
cleanup() {
    local rc=$?
    stop_started
    if ((rc != 0)); then
        log "failed; logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cpu_ticks() { # utime+stime of the whole process (all threads), in clock ticks
    local stat rest
    stat=$(<"/proc/$1/stat") || return 1
    rest=${stat##*) }             # skip "pid (comm) " — comm may contain spaces
    awk '{print $12 + $13}' <<<"$rest"  # fields 14 and 15 of the full line
}
peak_rss_kb() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- start servers
PG_PORT=$(free_port)
BOUNCER_PORT=$(free_port)
SCOPE_PORT=$(free_port)
SCOPE_HTTP=$(free_port)

mkdir -p "$WORK/pgdata" "$WORK/sock" "$WORK/bouncer"
((EUID == 0)) && chown postgres: "$WORK/pgdata" "$WORK/sock" "$WORK/bouncer"

log "initdb in $WORK/pgdata"
"${RUN_AS[@]}" "$PG_BIN/initdb" -D "$WORK/pgdata" -U postgres --auth=trust -E UTF8 --no-sync \
    >"$WORK/initdb.log" 2>&1 || die "initdb failed (see $WORK/initdb.log)"

log "postgres on 127.0.0.1:$PG_PORT"
"${RUN_AS[@]}" "$PG_BIN/postgres" -D "$WORK/pgdata" -p "$PG_PORT" -k "$WORK/sock" \
    -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=100 -c shared_buffers=256MB \
    >"$WORK/postgres.log" 2>&1 &
PG_PID=$!
PIDS+=("$PG_PID")
wait_ready postgres "$PG_PORT" "$PG_PID"

log "pgbench -i -s $SCALE"
"$PG_BIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres \
    >"$WORK/pgbench-init.log" 2>&1 || die "pgbench -i failed (see $WORK/pgbench-init.log)"

write_pgbouncer_config "$WORK/bouncer" "$BOUNCER_PORT" "$PG_PORT"
((EUID == 0)) && chown -R postgres: "$WORK/bouncer"

log "pgbouncer (session mode) on 127.0.0.1:$BOUNCER_PORT"
"${RUN_AS[@]}" "$PGBOUNCER" "$WORK/bouncer/pgbouncer.ini" >"$WORK/bouncer/stderr.log" 2>&1 &
BOUNCER_PID=$!
PIDS+=("$BOUNCER_PID")
wait_ready pgbouncer "$BOUNCER_PORT" "$BOUNCER_PID"

log "pgscope proxy on 127.0.0.1:$SCOPE_PORT (http 127.0.0.1:$SCOPE_HTTP)"
# shellcheck disable=SC2086 # PGSCOPE_ENV is a list of NAME=VALUE words; env execs, so $! is pgscope
env ${PGSCOPE_ENV:-} "$PGSCOPE_BIN" proxy --upstream "127.0.0.1:$PG_PORT" --listen "127.0.0.1:$SCOPE_PORT" \
    --http "127.0.0.1:$SCOPE_HTTP" >"$WORK/pgscope.log" 2>&1 &
SCOPE_PID=$!
PIDS+=("$SCOPE_PID")
wait_ready pgscope "$SCOPE_PORT" "$SCOPE_PID"

# ---------------------------------------------------------------- runs
TARGETS=(direct pgbouncer pgscope)
declare -A PORT=([direct]=$PG_PORT [pgbouncer]=$BOUNCER_PORT [pgscope]=$SCOPE_PORT)
declare -A TPID=([direct]="" [pgbouncer]=$BOUNCER_PID [pgscope]=$SCOPE_PID)

# add_target NAME PORT PID: a server just started in the background becomes a target once it
# answers on PORT (and is stopped on exit like the others).
add_target() {
    PIDS+=("$3")
    wait_ready "$1" "$2" "$3"
    TARGETS+=("$1")
    PORT[$1]=$2
    TPID[$1]=$3
}

if [[ $FRESH_BOUNCER = 1 ]]; then
    FRESH_PORT=$(free_port)
    mkdir -p "$WORK/bouncer-fresh"
    write_pgbouncer_config "$WORK/bouncer-fresh" "$FRESH_PORT" "$PG_PORT"
    echo "server_lifetime = 0" >>"$WORK/bouncer-fresh/pgbouncer.ini"
    ((EUID == 0)) && chown -R postgres: "$WORK/bouncer-fresh"
    log "pgbouncer (session mode, server_lifetime = 0) on 127.0.0.1:$FRESH_PORT"
    "${RUN_AS[@]}" "$PGBOUNCER" "$WORK/bouncer-fresh/pgbouncer.ini" >"$WORK/bouncer-fresh/stderr.log" 2>&1 &
    add_target pgbouncer-fresh "$FRESH_PORT" $!
fi

if [[ $ANALYSIS_OFF = 1 ]]; then
    RELAY_PORT=$(free_port)
    printf '[analysis]\nenabled = false\n' >"$WORK/relay-only.toml"
    log "pgscope (analysis off) on 127.0.0.1:$RELAY_PORT"
    # shellcheck disable=SC2086 # as above
    env ${PGSCOPE_ENV:-} "$PGSCOPE_BIN" proxy --config "$WORK/relay-only.toml" --http off \
        --upstream "127.0.0.1:$PG_PORT" --listen "127.0.0.1:$RELAY_PORT" >"$WORK/relay.log" 2>&1 &
    add_target relay-only "$RELAY_PORT" $!
fi
NT=${#TARGETS[@]}


RAW=$WORK/raw.tsv # round cell target tps transactions cpu_ticks
: >"$RAW"

# run_pgbench target workload mode clients duration -> sets R_TPS R_TX R_TICKS
run_pgbench() {
    local target=$1 workload=$2 mode=$3 clients=$4 dur=$5
    local port=${PORT[$target]} pid=${TPID[$target]}
    local jobs=$((clients < 2 ? clients : 2))
    local out=$WORK/pgbench.out t0=0 t1=0 rc=0
    local args=(-h 127.0.0.1 -p "$port" -U postgres -n -M "$mode" -c "$clients" -j "$jobs" -T "$dur")
    [[ -n $workload ]] && args+=("$workload")
    [[ -n $pid ]] && t0=$(cpu_ticks "$pid")
    "$PG_BIN/pgbench" "${args[@]}" postgres >"$out" 2>&1 || rc=$?
    [[ -n $pid ]] && t1=$(cpu_ticks "$pid")
    local failed
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
    R_TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$out")
    R_TX=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
    if ((rc != 0)) || [[ -z $R_TPS || -z $R_TX ]] || ((${failed:-0} > 0)) || ((R_TX == 0)); then
        log "pgbench against $target failed (exit $rc, failed transactions ${failed:-?}):"
        sed 's/^/    /' "$out" >&2
        exit 1
    fi
    R_TICKS=$((t1 - t0))
}

UPTIME_BEFORE=$(uptime)
START_TS=$(date +%s)

if ((WARMUP > 0)); then
    for t in "${TARGETS[@]}"; do
        log "warm-up: $t select-only ${WARMUP}s"
        run_pgbench "$t" -S simple 2 "$WARMUP"
    done
fi

total=$((ROUNDS * ${#CELLS[@]} * ${#TARGETS[@]}))
n=0
for ((r = 1; r <= ROUNDS; r++)); do
    for ci in "${!CELLS[@]}"; do
        IFS='|' read -r cname workload mode clients <<<"${CELLS[ci]}"
        # Rotate the target order per round (and per cell) so drift and noise hit all alike.
        off=$(((r - 1 + ci) % NT))
        for ((k = 0; k < NT; k++)); do
            t=${TARGETS[(off + k) % NT]}
            n=$((n + 1))
            run_pgbench "$t" "$workload" "$mode" "$clients" "$DURATION"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$cname" "$t" "$R_TPS" "$R_TX" "$R_TICKS" >>"$RAW"
            eta=$(((total - n) * (DURATION + 1)))
            log "[$n/$total] round $r  $cname  $t: tps=$R_TPS tx=$R_TX cpu_ticks=$R_TICKS  (~${eta}s left)"
        done
    done
done

UPTIME_AFTER=$(uptime)
ELAPSED=$(($(date +%s) - START_TS))
RSS_BOUNCER=$(peak_rss_kb "$BOUNCER_PID")
RSS_SCOPE=$(peak_rss_kb "$SCOPE_PID")
SCOPE_PATTERNS=$(curl -fsS --max-time 5 "http://127.0.0.1:$SCOPE_HTTP/api/patterns?limit=1" 2>/dev/null |
    sed -n 's/.*"patterns_tracked":\([0-9]*\).*/\1/p' || true)

# ---------------------------------------------------------------- report
# Medians over rounds per (cell, target); CPU µs/tx = ticks * 1e6 / CLK_TCK / transactions.
TABLE=$(awk -F'\t' -v tck="$CLK_TCK" -v cells="$(printf '%s\n' "${CELLS[@]}" | cut -d'|' -f1 | paste -sd'|')" \
    -f "$ROOT/bench/tables.awk" "$RAW")

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | head -c1)
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)

REPORT=$(
    cat <<EOF
## pgscope benchmark $(date -u '+%Y-%m-%d %H:%M UTC')

- commit: \`$COMMIT\`${DIRTY:+ (working tree has uncommitted changes in src/)}
- machine: $(nproc) CPUs, $CPU_MODEL, kernel $(uname -r)
- settings: ROUNDS=$ROUNDS DURATION=${DURATION}s SCALE=$SCALE WARMUP=${WARMUP}s, pgbench -n, -j min(clients,2); $ELAPSED s of runs${ONLY:+; only the cell \`$ONLY\`}${PGSCOPE_ENV:+; pgscope env: \`$PGSCOPE_ENV\`}
- $("$PG_BIN/postgres" --version | sed "s/^postgres (PostgreSQL)/PostgreSQL/"), $("$PGBOUNCER" --version | head -1) (session mode, pool 20)
- load before: \`${UPTIME_BEFORE# }\`
- load after:  \`${UPTIME_AFTER# }\`

Medians over $ROUNDS round(s). CPU/tx = (utime+stime of the proxy process over the run) / transactions.

$TABLE

Peak RSS (VmHWM): pgbouncer $((RSS_BOUNCER / 1024)) MiB ($RSS_BOUNCER kB), pgscope $((RSS_SCOPE / 1024)) MiB ($RSS_SCOPE kB).
pgscope analysis check: patterns_tracked=${SCOPE_PATTERNS:-unknown} at the end (HTTP API on).

<details><summary>raw runs (round, cell, target, tps, transactions, cpu ticks @ ${CLK_TCK} Hz)</summary>

\`\`\`
$(cat "$RAW")
\`\`\`
</details>
EOF
)

mkdir -p "$RESULTS_DIR"
printf '%s\n' "$REPORT" >"$RESULTS_DIR/$STAMP.md"
printf '%s\n' "$REPORT"
log "report written to $RESULTS_DIR/$STAMP.md"
