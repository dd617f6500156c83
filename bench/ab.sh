#!/usr/bin/env bash
# Side-by-side A/B: PgBouncer and any number of proxy commands in front of one PostgreSQL, each
# given the same fixed number of pgbench transactions, in rotated order over several rounds.
# Prints TPS, the proxy's CPU time per transaction (user + system, all threads, from
# /proc/PID/stat) and its context switches per transaction, per round and averaged (and, for a
# proxy with several threads, each thread's CPU and voluntary/involuntary switches), and where
# the whole machine's CPU went per transaction: the proxy, PostgreSQL (postmaster, its
# children and the backends it reaped), pgbench, and the rest (/proc/stat samples at the tick,
# so "rest" is only meaningful when the machine is busy; it can come out negative at 1 client),
# and the whole machine's context switches per transaction (/proc/stat `ctxt`). Use it to
# compare two pgscope builds, or a build against a bare relay, before a full `bench/run.sh`.
#
# Usage: bash bench/ab.sh 'NAME=COMMAND' ...
#   COMMAND may use {LISTEN} (the address to listen on) and {UP} (PostgreSQL's address), e.g.
#   bash bench/ab.sh 'new=target/release/pgscope proxy --http off --upstream {UP} --listen {LISTEN}' \
#                    'old=/tmp/pgscope-old proxy --http off --upstream {UP} --listen {LISTEN}'
#
# Environment:
#   ROUNDS    rounds (default 3)
#   TX        transactions per client per run (default 2500)
#   CLIENTS   pgbench clients (default 16); -j = min(CLIENTS, 2)
#   MODE      pgbench -M mode (default prepared)
#   WORKLOAD  pgbench script flag: empty for TPC-B (default), -S for select-only
#   PERF      names to record with `perf record` (e.g. " new pgbouncer "); files kept in WORK
#   STRACE    names to count system calls of with `strace -c -f` (slows them; counts only)
#   PRIME     names to drive once with PRIME_ARGS before round 0 (e.g. " used "), to compare a
#             proxy that has already served other workloads with a new one
#   PRIME_ARGS pgbench arguments for PRIME, several runs separated by ";" (default
#             "-c 16 -j 2 -T 20 -M prepared": TPC-B)
#   PG_BIN    PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#
# Everything binds 127.0.0.1 on free ports and is stopped by PID on exit.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
TX=${TX:-2500}
CLIENTS=${CLIENTS:-16}
MODE=${MODE:-prepared}
WORKLOAD=${WORKLOAD-}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

LOG_TAG=ab
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

(($# > 0)) || die "usage: bash bench/ab.sh 'NAME=COMMAND with {LISTEN} and {UP}' ..."
PGBOUNCER=${PGBOUNCER:-$(command -v pgbouncer || echo /usr/sbin/pgbouncer)}
[[ -x $PGBOUNCER ]] || die "pgbouncer not found: apt-get install -y pgbouncer"
RUN_AS=()
((EUID == 0)) && RUN_AS=(setpriv --reuid=postgres --regid=postgres --init-groups --)

WORK=$(mktemp -d /tmp/pgscope-ab.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    local rc=$?
    stop_started
    rm -rf "$WORK/pgdata"
    log "logs${PERF:+ and perf data}${STRACE:+ and strace counts} kept in $WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PG_PORT=$(free_port)
mkdir -p "$WORK/pgdata" "$WORK/sock" "$WORK/bouncer"
((EUID == 0)) && chown postgres: "$WORK/pgdata" "$WORK/sock" "$WORK/bouncer"
"${RUN_AS[@]}" "$PG_BIN/initdb" -D "$WORK/pgdata" -U postgres --auth=trust --no-sync >"$WORK/initdb.log" 2>&1 ||
    die "initdb failed (see $WORK/initdb.log)"
"${RUN_AS[@]}" "$PG_BIN/postgres" -D "$WORK/pgdata" -p "$PG_PORT" -k "$WORK/sock" \
    -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=100 -c shared_buffers=256MB >"$WORK/postgres.log" 2>&1 &
PIDS+=($!)
PG_PID=$!
wait_ready postgres "$PG_PORT" "${PIDS[-1]}"
"$PG_BIN/pgbench" -i -q -s 10 -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres >"$WORK/init.log" 2>&1 ||
    die "pgbench -i failed (see $WORK/init.log)"

BOUNCER_PORT=$(free_port)
write_pgbouncer_config "$WORK/bouncer" "$BOUNCER_PORT" "$PG_PORT"
((EUID == 0)) && chown -R postgres: "$WORK/bouncer"
"${RUN_AS[@]}" "$PGBOUNCER" "$WORK/bouncer/pgbouncer.ini" >"$WORK/bouncer/stderr.log" 2>&1 &
PIDS+=($!)
wait_ready pgbouncer "$BOUNCER_PORT" "${PIDS[-1]}"

NAMES=(pgbouncer)
declare -A PORT=([pgbouncer]=$BOUNCER_PORT) TPID=([pgbouncer]=${PIDS[-1]})
for spec in "$@"; do
    name=${spec%%=*}
    cmd=${spec#*=}
    [[ $name =~ ^[A-Za-z0-9_-]+$ && $name != "$spec" ]] || die "not NAME=COMMAND: $spec"
    port=$(free_port)
    cmd=${cmd//\{LISTEN\}/127.0.0.1:$port}
    cmd=${cmd//\{UP\}/127.0.0.1:$PG_PORT}
    bash -c "exec $cmd" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    wait_ready "$name" "$port" "${PIDS[-1]}"
    NAMES+=("$name")
    PORT[$name]=$port
    TPID[$name]=${PIDS[-1]}
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Per thread: name, run time in ns (/proc/PID/task/*/schedstat), voluntary and involuntary
# context switches (status).
thread_ns() {
    local t
    for t in /proc/"$1"/task/*; do
        printf '%s %s %s %s\n' "$(tr ' ' _ <"$t/comm")" "$(cut -d' ' -f1 "$t/schedstat")" \
            "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status")" \
            "$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$t/status")"
    done 2>/dev/null
}
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
# The whole machine's busy and idle ticks (idle includes iowait), from /proc/stat.
machine() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat; }
# PostgreSQL's CPU ticks: the postmaster and its live children, plus the children it reaped
# (each run's backends exit when pgbench disconnects).
postgres_ticks() {
    local p sum=0 stat
    local -a f
    for p in $PG_PID $(pgrep -P "$PG_PID"); do
        stat=$(<"/proc/$p/stat") 2>/dev/null || continue
        read -r -a f <<<"${stat##*) }"
        sum=$((sum + f[11] + f[12]))
        [[ $p == "$PG_PID" ]] && sum=$((sum + f[13] + f[14]))
    done
    echo "$sum"
}
# CPU ticks of this script's reaped children (pgbench, run in a command substitution).
child_ticks() {
    local stat
    stat=$(<"/proc/$$/stat")
    awk '{print $14 + $15}' <<<"${stat##*) }"
}
# Context switches of the whole machine (every process: the proxy, PostgreSQL, pgbench).
machine_switches() { awk '$1 == "ctxt" {print $2}' /proc/stat; }
# TCP segments sent by the whole machine (all of them loopback here: data and pure ACKs alike).
segments() { awk '$1 == "Tcp:" && $12 ~ /^[0-9]+$/ {print $12}' /proc/net/snmp; }

# Targets named in PRIME serve PRIME_ARGS' workloads first (not measured).
for name in "${NAMES[@]}"; do
    [[ ${PRIME:-} == *" $name "* ]] || continue
    IFS=';' read -r -a primes <<<"${PRIME_ARGS:--c 16 -j 2 -T 20 -M prepared}"
    for prime in "${primes[@]}"; do
        read -r -a prime_args <<<"$prime"
        log "priming $name: pgbench ${prime_args[*]}"
        "$PG_BIN/pgbench" -n "${prime_args[@]}" -h 127.0.0.1 -p "${PORT[$name]}" -U postgres postgres >>"$WORK/prime-$name.log" 2>&1 ||
            die "priming $name failed (see $WORK/prime-$name.log)"
    done
done

n=${#NAMES[@]}
total=$((TX * CLIENTS))
declare -A SUM_TICKS SUM_TPS SUM_CSW SUM_BUSY SUM_IDLE SUM_PG SUM_BENCH SUM_MCSW
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < n; k++)); do
        name=${NAMES[(k + r) % n]}
        pid=${TPID[$name]}
        perf_pid=
        if [[ ${PERF:-} == *" $name "* ]]; then
            perf record -q -e cpu-clock -F 999 -g -p "$pid" -o "$WORK/perf-$name-$r.data" 2>/dev/null &
            perf_pid=$!
            sleep 0.3
        elif [[ ${STRACE:-} == *" $name "* ]]; then
            strace -c -f -p "$pid" -o "$WORK/strace-$name-$r.txt" 2>/dev/null &
            perf_pid=$!
            sleep 0.3
        fi
        c0=$(switches "$pid")
        t0=$(ticks "$pid")
        s0=$(thread_ns "$pid")
        read -r m0 i0 < <(machine)
        g0=$(segments)
        w0=$(machine_switches)
        q0=$(postgres_ticks)
        b0=$(child_ticks)
        args=(-n -M "$MODE" -c "$CLIENTS" -j "$((CLIENTS < 2 ? CLIENTS : 2))" -t "$TX")
        [[ -n $WORKLOAD ]] && args+=("$WORKLOAD")
        out=$("$PG_BIN/pgbench" "${args[@]}" -h 127.0.0.1 -p "${PORT[$name]}" -U postgres postgres 2>&1) ||
            die "pgbench through $name failed: $out"
        read -r m1 i1 < <(machine)
        g1=$(segments)
        w1=$(machine_switches)
        b1=$(child_ticks)
        sleep 0.2 # the backends exit and are reaped
        q1=$(postgres_ticks)
        t1=$(ticks "$pid")
        s1=$(thread_ns "$pid")
        c1=$(switches "$pid")
        if [[ -n $perf_pid ]]; then
            kill -INT "$perf_pid"
            wait "$perf_pid" || true
            [[ -f $WORK/strace-$name-$r.txt ]] &&
                awk -v x="$total" -v n="$name" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $4 >= x / 10 {printf "  %s %-14s %6.2f calls/tx\n", n, $NF, $4 / x}' \
                    "$WORK/strace-$name-$r.txt"
        fi
        tps=$(grep -oP 'tps = \K[0-9.]+' <<<"$out" | head -1)
        awk -v r="$r" -v n="$name" -v tps="$tps" -v t=$((t1 - t0)) -v c=$((c1 - c0)) -v x="$total" \
            -v m=$((m1 - m0)) -v i=$((i1 - i0)) -v g=$((g1 - g0)) -v q=$((q1 - q0)) -v b=$((b1 - b0)) \
            -v w=$((w1 - w0)) \
            'BEGIN {printf "round %d %-12s tps %8.0f  cpu %6.1f us/tx  csw/tx %.2f  machine busy %6.1f idle %5.1f us/tx  tcp segs/tx %.1f  machine csw/tx %.2f\n",
                    r, n, tps, t * 10000 / x, c / x, m * 10000 / x, i * 10000 / x, g / x, w / x
                    printf "  %s machine busy us/tx: proxy %.1f postgres %.1f pgbench %.1f rest %.1f\n",
                    n, t * 10000 / x, q * 10000 / x, b * 10000 / x, (m - t - q - b) * 10000 / x}'
        # Each thread's share, when there is more than one.
        awk -v x="$total" -v n="$name" 'NR == FNR {a[$1] += $2; av[$1] += $3; ai[$1] += $4; next}
            {b[$1] += $2; bv[$1] += $3; bi[$1] += $4}
            END {k = 0; for (t in b) k++; if (k < 2) exit;
                 printf "  %s threads:", n; for (t in b) printf " %s %.1f", t, (b[t] - a[t]) / 1000 / x; print " us/tx"
                 printf "  %s switches/tx (voluntary+involuntary):", n
                 for (t in b) printf " %s %.2f+%.2f", t, (bv[t] - av[t]) / x, (bi[t] - ai[t]) / x; print ""}' \
            <(echo "$s0") <(echo "$s1")
        SUM_TICKS[$name]=$((${SUM_TICKS[$name]:-0} + t1 - t0))
        SUM_CSW[$name]=$((${SUM_CSW[$name]:-0} + c1 - c0))
        SUM_BUSY[$name]=$((${SUM_BUSY[$name]:-0} + m1 - m0))
        SUM_IDLE[$name]=$((${SUM_IDLE[$name]:-0} + i1 - i0))
        SUM_PG[$name]=$((${SUM_PG[$name]:-0} + q1 - q0))
        SUM_BENCH[$name]=$((${SUM_BENCH[$name]:-0} + b1 - b0))
        SUM_MCSW[$name]=$((${SUM_MCSW[$name]:-0} + w1 - w0))
        SUM_TPS[$name]=$(awk -v a="${SUM_TPS[$name]:-0}" -v b="$tps" 'BEGIN {print a + b}')
    done
done
echo "== means over $ROUNDS rounds: workload '${WORKLOAD:-tpcb}', -M $MODE, $CLIENTS clients; load $(cut -d' ' -f1-3 /proc/loadavg)"
for name in "${NAMES[@]}"; do
    awk -v n="$name" -v t="${SUM_TICKS[$name]}" -v c="${SUM_CSW[$name]}" -v s="${SUM_TPS[$name]}" \
        -v m="${SUM_BUSY[$name]}" -v i="${SUM_IDLE[$name]}" -v r="$ROUNDS" -v x=$((total * ROUNDS)) \
        -v q="${SUM_PG[$name]}" -v b="${SUM_BENCH[$name]}" -v w="${SUM_MCSW[$name]}" \
        'BEGIN {printf "%-12s tps %8.0f  cpu %6.1f us/tx  csw/tx %.2f  machine busy %6.1f idle %5.1f us/tx = proxy %.1f + postgres %.1f + pgbench %.1f + rest %.1f  machine csw/tx %.2f\n",
                n, s / r, t * 10000 / x, c / x, m * 10000 / x, i * 10000 / x, t * 10000 / x, q * 10000 / x, b * 10000 / x, (m - t - q - b) * 10000 / x, w / x}'
done
