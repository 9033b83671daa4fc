# tests/lib/pgtarget.sh — a second throwaway PostgreSQL 15, the target of the postgres sink.
#
# Source it after common.sh and start the source first (pg_start), then:
#   target_start               (sets TARGET_DIR, TARGET_PORT; the source's PG* variables stay as they were)
#   target_sql "SQL"           (psql on the target, unaligned, stops on the first error)
#   target_restart_immediate   (pg_ctl restart -m immediate: every backend dies, as in a crash)
#   target_stop                (the caller's EXIT trap must call it)
#   write_pg_config FILE [extra [sink] lines]   [ferry], [source] and a [sink] of type postgres

target_start() {
    local saved_dir=${PG_DIR:-} saved_port=${PGPORT:-}
    pg_start || return 1
    TARGET_DIR=$PG_DIR TARGET_PORT=$PGPORT
    PG_DIR=$saved_dir PGPORT=$saved_port
    export PGPORT
}

target_sql() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$TARGET_PORT" -U ferry -d postgres -c "$1"
}

target_restart_immediate() {
    pg_as_owner "$PG_BIN/pg_ctl" -D "$TARGET_DIR/data" -m immediate -w -t 60 restart >/dev/null 2>&1
}

target_stop() {
    local saved=${PG_DIR:-}
    PG_DIR=${TARGET_DIR:-}
    pg_stop
    PG_DIR=$saved
    TARGET_DIR=
}

write_pg_config() {
    local file=$1 extra=${2:-}
    write_config_head "$file"
    cat >> "$file" <<INI
[sink]
type = postgres
conninfo = host=127.0.0.1 port=$TARGET_PORT user=ferry dbname=postgres
$extra

INI
}
