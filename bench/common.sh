# Shared by bench/run.sh and bench/profile.sh (sourced): logging, free loopback ports, waiting
# for a server to answer, and stopping the servers a script started, by PID.
# The sourcing script sets LOG_TAG (the name in log lines), PG_BIN and WORK before using these.

log() { printf '[%s %s] %s\n' "$LOG_TAG" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

PIDS=() # started servers, stopped in reverse order by stop_started

# TERM each started server that still runs, KILL it after 5 s, and reap it.
stop_started() {
    local i pid
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

USED_PORTS=" "
# Prints a loopback TCP port nothing uses and this script has not handed out yet.
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 40000))
        [[ $USED_PORTS == *" $p "* ]] && continue
        if [[ -z $(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null) ]]; then
            USED_PORTS+="$p "
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

# wait_ready NAME PORT PID: until `select 1` works on PORT; dies if PID exits or after 30 s.
wait_ready() {
    local name=$1 port=$2 pid=$3
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (see $WORK)"
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -t 1 &&
            "$PG_BIN/psql" -qAtX -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    die "$name did not become ready on port $port"
}

# write_pgbouncer_config DIR LISTEN_PORT PG_PORT: pgbouncer.ini and userlist.txt in DIR for
# PgBouncer in session mode (the fair comparison: one server connection per client, as
# pgscope) with trust auth, in front of PostgreSQL on 127.0.0.1:PG_PORT.
write_pgbouncer_config() {
    local dir=$1 port=$2 pg_port=$3
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$pg_port dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = postgres
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
EOF
    echo '"postgres" ""' >"$dir/userlist.txt"
}
