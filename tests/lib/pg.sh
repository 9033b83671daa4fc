# tests/lib/pg.sh — start and stop a throwaway PostgreSQL 15 on a free loopback port.
#
# Source it, then:   pg_start        (exports PGHOST, PGPORT, PGUSER, PGDATABASE)
#                    pg_sql "SQL"    (psql, unaligned, stops on the first error)
#                    pg_stop         (the caller's EXIT trap must call it)
# The server runs as a non-root user (PostgreSQL refuses root), trusts loopback,
# and keeps its data in a temporary folder removed by pg_stop.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || dirname "$(command -v pg_ctl)")}

# Run a command as the cluster's owner.
pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

# A port below the kernel's ephemeral range (32768 and up), so no client socket of this machine holds it.
free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$(( 20000 + RANDOM % 12000 ))
        if ! (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    done
    return 1
}

# wait_port PORT [PID]: until something listens on PORT (at most 60 s: Python and Node.js servers
# start slowly on a loaded machine), or the process PID is gone.
wait_port() {
    local port=$1 pid=${2:-}
    for _ in $(seq 1 1200); do
        (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.05
    done
    echo "nothing listens on 127.0.0.1:$port" >&2
    return 1
}

pg_start() {
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ferry-pg.XXXXXX")
    chmod 755 "$PG_DIR"
    mkdir "$PG_DIR/data"
    [ "$(id -u)" = 0 ] && chown nobody "$PG_DIR" "$PG_DIR/data"
    pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U ferry --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    local tries=0
    while :; do
        PGPORT=$(free_port) || return 1
        if pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
            -o "-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories=$PG_DIR/data \
                -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                -c shared_buffers=256MB -c max_connections=60 ${PG_EXTRA_OPTS:-}" >/dev/null 2>&1; then
            break
        fi
        tries=$((tries + 1))
        if [ $tries -ge 5 ]; then cat "$PG_DIR/server.log" >&2; return 1; fi
    done
    export PGHOST=127.0.0.1 PGPORT PGUSER=ferry PGDATABASE=postgres
}

pg_restart_immediate() {
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 60 restart >/dev/null 2>&1
}

pg_stop() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
        pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
    PG_DIR=
}

pg_sql() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"
}
