# tests/lib/common.sh — what every integration test sources: the server, TAP, and ferry helpers.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FERRY=${FERRY:-$ROOT/ferry}
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/lib/pg.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-test.XXXXXX")
cleanup() { pg_stop; [ -n "${FERRY_KEEP_WORK:-}" ] && echo "# work kept in $WORK" || rm -rf "$WORK"; }
trap cleanup EXIT

# write_config_head FILE [extra lines for [ferry]] — [ferry] and [source] for the test cluster;
# then append [sink] and [table] sections. FERRY_TEST_READ_ORDER, when set, is every table's read_order.
write_config_head() {
    local file=$1 extra=${2:-}
    cat > "$file" <<INI
[ferry]
state = $(basename "$file" .ini).state
${FERRY_TEST_READ_ORDER:+read_order = $FERRY_TEST_READ_ORDER
}$extra

[source]
conninfo = host=127.0.0.1 port=$PGPORT user=ferry dbname=postgres

INI
}

# write_config FILE SINK_PATH FORMAT [extra lines for [ferry]] — then append [table] sections.
write_config() {
    local file=$1 out=$2 format=$3 extra=${4:-}
    write_config_head "$file" "$extra"
    cat >> "$file" <<INI
[sink]
type = dir
path = $out
format = $format

INI
}

# kill_at_random INI LOG TIMES MIN_MS SPAN_MS — start `ferry run -c INI` TIMES times and SIGKILL it
# after MIN_MS plus up to SPAN_MS milliseconds; prints how many kills hit a running ferry. With
# KILLED_PIDS set to a file, each ferry's pid is appended to it.
kill_at_random() {
    local ini=$1 log=$2 times=$3 min=$4 span=$5 hits=0 pid ms
    for _ in $(seq 1 "$times"); do
        "$FERRY" run -c "$ini" >>"$log" 2>&1 &
        pid=$!
        [ -n "${KILLED_PIDS:-}" ] && echo "$pid" >> "$KILLED_PIDS"
        ms=$(( min + (RANDOM * 32768 + RANDOM) % span ))
        sleep "$(printf '%d.%03d' $(( ms / 1000 )) $(( ms % 1000 )))"
        kill -KILL "$pid" 2>/dev/null && hits=$((hits + 1))
        wait "$pid" 2>/dev/null
    done
    echo "$hits"
}

# kill_after_checkpoints INI STATE LOG TIMES SPAN_MS — start `ferry run -c INI` TIMES times; each
# time wait for a checkpoint past the last one seen in STATE (progress, an event), then SIGKILL it
# within SPAN_MS milliseconds: a kill at a random point of the work that follows. Prints how many
# kills hit a running ferry. A fast store cannot finish the table between two kills.
kill_after_checkpoints() {
    local ini=$1 state=$2 log=$3 times=$4 span=$5 hits=0 pid last=0 now
    for _ in $(seq 1 "$times"); do
        "$FERRY" run -c "$ini" >>"$log" 2>&1 &
        pid=$!
        while kill -0 "$pid" 2>/dev/null; do
            now=$(sqlite3 "$state" "SELECT coalesce(sum(rows), 0) FROM partitions" 2>/dev/null || echo 0)
            [ "${now:-0}" -gt "$last" ] && break
            sleep 0.02
        done
        last=${now:-$last}
        sleep "$(printf '0.%03d' $(( RANDOM % span )))"
        kill -KILL "$pid" 2>/dev/null && hits=$((hits + 1))
        wait "$pid" 2>/dev/null
    done
    echo "$hits"
}

# wait_for_checkpoint STATE — until the state file holds a checkpoint (rows copied), at most 10 s:
# "mid-run" as an event, not a time.
wait_for_checkpoint() {
    for _ in $(seq 1 200); do
        [ "$(sqlite3 "$1" "SELECT coalesce(sum(rows), 0) > 0 FROM partitions" 2>/dev/null)" = 1 ] && return 0
        sleep 0.05
    done
    return 1
}

# Load every NDJSON file under DIR into table NAME(doc jsonb).
load_ndjson() {
    local dir=$1 name=$2
    pg_sql "DROP TABLE IF EXISTS $name; CREATE TABLE $name (doc jsonb)"
    find "$dir" -name '*.ndjson' -print0 | sort -z | while IFS= read -r -d '' f; do
        psql -X -q -v ON_ERROR_STOP=1 -c "\\copy $name FROM '$f' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
    done
}

# Load every CSV file under DIR into a copy (LIKE) of table SRC named NAME.
load_csv() {
    local dir=$1 src=$2 name=$3
    pg_sql "DROP TABLE IF EXISTS $name; CREATE TABLE $name (LIKE $src)"
    find "$dir" -name '*.csv' -print0 | sort -z | while IFS= read -r -d '' f; do
        psql -X -q -v ON_ERROR_STOP=1 -c "\\copy $name FROM '$f' WITH (FORMAT csv)"
    done
}

# Rows in A not in B, plus rows in B not in A, as multisets: 0 means equal row for row.
rows_differ() {
    pg_sql "SELECT (SELECT count(*) FROM (SELECT * FROM $1 EXCEPT ALL SELECT * FROM $2) x)
                 + (SELECT count(*) FROM (SELECT * FROM $2 EXCEPT ALL SELECT * FROM $1) y)"
}

# Create iso_ts(text) and iso_tstz(text): ISO 8601 timestamps read back, expanded years included
# ("+10000-01-01T00:00:00", "-4713-11-24T00:00:00Z" for 4714 BC, "0000-…" for 1 BC), which
# PostgreSQL's own input does not take.
pg_iso_functions() {
    local fn
    for fn in "iso_ts timestamp" "iso_tstz timestamptz"; do
        set -- $fn
        pg_sql "CREATE OR REPLACE FUNCTION $1(t text) RETURNS $2 LANGUAGE sql IMMUTABLE AS \$f\$
            SELECT CASE WHEN t ~ '^\\+' THEN substr(t, 2)::$2
                        WHEN t ~ '^-[0-9]' THEN (lpad((split_part(substr(t, 2), '-', 1)::int + 1)::text, 4, '0')
                             || substr(t, 2 + length(split_part(substr(t, 2), '-', 1))) || ' BC')::$2
                        WHEN t ~ '^0000-' THEN ('0001' || substr(t, 5) || ' BC')::$2
                        ELSE t::$2 END \$f\$"
    done
}
