#!/usr/bin/env bash
# profiling/bench.sh — ferry's throughput and peak RSS beside `psql COPY … TO STDOUT`, in one run.
#
#   profiling/bench.sh                 5,000,000 rows of about 200 bytes
#   ROWS=1000000 profiling/bench.sh
#   WORKERS_LIST="1 2" COMPRESSIONS="none gzip" MEMORY_LIMIT=64MB FORMAT=ndjson profiling/bench.sh
#
# Builds the table in a throwaway cluster, times `psql -c "COPY (SELECT …) TO
# STDOUT" > /dev/null` as the baseline, then ferry into a directory with 1 and
# 2 workers, uncompressed and gzip, and (where psycopg2 is installed) a
# named-cursor Python script, and prints all with their ratio to the COPY.
# Peak RSS comes from the kernel (GNU time), not from ferry.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${ROWS:-5000000}
MEMORY_LIMIT=${MEMORY_LIMIT:-64MB}
FORMAT=${FORMAT:-ndjson}
. "$ROOT/profiling/lib.sh"

# Warm the cache the same way for both.
pg_sql "SELECT count(*) FROM t" >/dev/null
read -r copy_s copy_rss < <(seconds psql -X -q -c "COPY (SELECT * FROM t) TO STDOUT")

# ferry_run WORKERS COMPRESSION: prints "wall_s peak_kib out_bytes"
ferry_run() {
    local workers=$1 compression=$2 dir="$WORK/out-$1-$2"
    cat > "$WORK/bench-$workers-$compression.ini" <<INI
[ferry]
state = bench-$workers-$compression.state
memory_limit = $MEMORY_LIMIT
workers = $workers
[source]
conninfo = host=127.0.0.1 port=$PGPORT user=ferry dbname=postgres
[sink]
type = dir
path = $dir
format = $FORMAT
compression = $compression
[table public.t]
INI
    local timing
    timing=$(seconds "$ROOT/ferry" run -c "$WORK/bench-$workers-$compression.ini")
    local rows_out
    if [ "$compression" = gzip ]; then
        rows_out=$(find "$dir" -type f -name '*.gz' -exec zcat {} + | wc -l)
    else
        rows_out=$(find "$dir" -type f -exec cat {} + | wc -l)
    fi
    if [ "$rows_out" -ne "$ROWS" ]; then
        tail -20 "$WORK/err.log" >&2
        echo "bench: ferry wrote $rows_out rows, expected $ROWS" >&2
        exit 1
    fi
    echo "$timing $(du -sb "$dir" | cut -f1)"
    rm -rf "$dir"
}

# A psycopg2 script with a named (server-side) cursor writing NDJSON: what ferry replaces.
cat > "$WORK/named_cursor.py" <<'PY'
import json, sys, psycopg2
conn = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user="ferry", dbname="postgres")
with conn.cursor(name="c") as cur, open("/dev/null", "w") as out:
    cur.itersize = 10000
    cur.execute("SELECT * FROM t")
    cols = None
    for row in cur:
        if cols is None:
            cols = [d[0] for d in cur.description]
        out.write(json.dumps(dict(zip(cols, row)), default=str) + "\n")
PY

results=()
for compression in ${COMPRESSIONS:-none gzip}; do
    for workers in ${WORKERS_LIST:-1 2}; do
        read -r wall peak out < <(ferry_run "$workers" "$compression")
        results+=("$workers $compression $wall $peak $out")
    done
done
py_line=""
# Debian's python3-psycopg2 serves /usr/bin/python3; another python3 on PATH may lack it.
PY=""
for candidate in /usr/bin/python3 python3; do
    if "$candidate" -c "import psycopg2" 2>/dev/null; then PY=$candidate; break; fi
done
if [ -n "$PY" ]; then
    read -r py_s py_rss < <(seconds "$PY" "$WORK/named_cursor.py" "$PGPORT")
    py_line="$py_s $py_rss"
fi

printf '\n%-50s %8s %10s %8s %10s %9s\n' "" "wall s" "rows/s" "MB/s" "peak RSS" "vs COPY"
row() { awk -v n="$1" -v s="$2" -v r="$3" -v rows="$ROWS" -v bytes="$text_bytes" -v base="$copy_s" \
    'BEGIN { printf "%-50s %8.2f %10.0f %8.1f %6.1f MiB %9.2f\n", n, s, rows / s, bytes / s / 1e6, r / 1024, s / base }'; }
row "psql COPY (SELECT *) TO STDOUT > /dev/null" "$copy_s" "$copy_rss"
for r in "${results[@]}"; do
    read -r workers compression wall peak out <<< "$r"
    row "ferry $FORMAT, $compression, workers=$workers, limit $MEMORY_LIMIT" "$wall" "$peak"
done
if [ -n "$py_line" ]; then
    read -r py_s py_rss <<< "$py_line"
    row "psycopg2 named cursor -> NDJSON (python3)" "$py_s" "$py_rss"
    for r in "${results[@]}"; do
        read -r workers compression wall peak out <<< "$r"
        [ "$compression" = none ] && awk -v p="$py_s" -v f="$wall" -v w="$workers" \
            'BEGIN { printf "ferry (workers=%d) is %.1fx faster than the psycopg2 script\n", w, p / f }'
    done
else
    echo "(psycopg2 is not installed — apt-get install python3-psycopg2 — so its script was not run)"
fi
echo "\"vs COPY\" is the wall-time ratio to psql COPY on the same table in this run (<= 1.0: as fast or faster)."
echo "MB/s counts the table in PostgreSQL text form ($(( text_bytes / 1000000 )) MB)."
