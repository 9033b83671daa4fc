#!/usr/bin/env bash
# profiling/bench-mongo.sh — the MongoDB sink's documents/s and peak RSS, beside the dir sink, in one run.
#
#   profiling/bench-mongo.sh                       1,000,000 rows into minimongo
#   ROWS=300000 WORKERS_LIST="1 2" profiling/bench-mongo.sh
#   BENCH_MONGO_URI=mongodb://host/ profiling/bench-mongo.sh   a real server instead
#
# Baselines from the same run and table: psql COPY … TO STDOUT, and ferry's
# dir sink (NDJSON, workers=1). minimongo (tests/tools) keeps every document
# in memory and answers on loopback, so against it the figures measure
# ferry's side — building BSON, bulks, the wire — more than a server's;
# ferry's peak RSS is ferry's alone (GNU time on the ferry process).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${ROWS:-1000000}
MEMORY_LIMIT=${MEMORY_LIMIT:-64MB}
make -C "$ROOT" --no-print-directory ferry build/minimongo build/mongo-tool >/dev/null
. "$ROOT/profiling/lib.sh"
MONGO_PID=
bench_cleanup() { [ -n "$MONGO_PID" ] && kill "$MONGO_PID" 2>/dev/null; pg_stop; rm -rf "$WORK"; }

start_mongo() {
    if [ -n "${BENCH_MONGO_URI:-}" ]; then MONGO_URI=$BENCH_MONGO_URI; return; fi
    [ -n "$MONGO_PID" ] && kill "$MONGO_PID" 2>/dev/null && wait "$MONGO_PID" 2>/dev/null || true
    rm -f "$WORK/port"
    "$ROOT/build/minimongo" --port-file "$WORK/port" & MONGO_PID=$!
    for _ in $(seq 1 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
    MONGO_URI="mongodb://127.0.0.1:$(cat "$WORK/port")/"
}

# ferry_run NAME WORKERS SINK-LINES: prints "wall_s peak_kib cpu_s"
ferry_run() {
    local name=$1 workers=$2 sink=$3
    printf '[ferry]\nstate = %s.state\nmemory_limit = %s\nworkers = %s\n[source]\nconninfo = host=127.0.0.1 port=%s user=ferry dbname=postgres\n[sink]\n%s\n[table public.t]\ntarget = t\n' \
        "$name" "$MEMORY_LIMIT" "$workers" "$PGPORT" "$sink" > "$WORK/$name.ini"
    /usr/bin/time -f '%e %M %U %S' -o "$WORK/time" "$ROOT/ferry" run -c "$WORK/$name.ini" >/dev/null 2>>"$WORK/err.log"
    awk '{ printf "%s %s %.2f\n", $1, $2, $3 + $4 }' "$WORK/time"
}

pg_sql "SELECT count(*) FROM t" >/dev/null
read -r copy_s copy_rss < <(seconds psql -X -q -c "COPY (SELECT * FROM t) TO STDOUT")
read -r dir_s dir_rss dir_cpu < <(ferry_run dir 1 "type = dir
path = $WORK/out")
rm -rf "$WORK/out"
results=()
for workers in ${WORKERS_LIST:-1 2}; do
    start_mongo
    db=bench_$$_$workers
    read -r s rss cpu < <(ferry_run "mongo$workers" "$workers" "type = mongo
uri = $MONGO_URI
database = $db")
    docs=$("$ROOT/build/mongo-tool" "$MONGO_URI" "$db" count t)
    if [ "$docs" -ne "$ROWS" ]; then echo "bench: the collection holds $docs documents, expected $ROWS" >&2; exit 1; fi
    [ -n "${BENCH_MONGO_URI:-}" ] && "$ROOT/build/mongo-tool" "$MONGO_URI" "$db" dropdb
    results+=("$workers $s $rss $cpu")
done

printf '\n%-44s %7s %9s %10s %9s %8s %8s %12s\n' "" "wall s" "rows/s" "peak RSS" "vs COPY" "vs dir" "CPU s" "rows/CPU s"
row() { awk -v n="$1" -v s="$2" -v r="$3" -v c="$4" -v rows="$ROWS" -v base="$copy_s" -v dir="$dir_s" \
    'BEGIN { printf "%-44s %7.2f %9.0f %6.1f MiB %9.2f %8.2f %8s %12s\n", n, s, rows / s, r / 1024, s / base, s / dir,
             c == "" ? "-" : c, c == "" ? "-" : sprintf("%.0f", rows / c) }'; }
row "psql COPY (SELECT *) TO STDOUT > /dev/null" "$copy_s" "$copy_rss" ""
row "ferry dir sink, ndjson, workers=1" "$dir_s" "$dir_rss" "$dir_cpu"
for r in "${results[@]}"; do
    read -r workers s rss cpu <<< "$r"
    row "ferry mongo sink, workers=$workers, limit $MEMORY_LIMIT" "$s" "$rss" "$cpu"
done
echo "rows/s of the mongo sink are documents/s: every run was checked to hold all $ROWS documents."
echo "CPU s is ferry's own user + system time (GNU time): what ferry spends, whatever the server's speed."
echo "server: ${BENCH_MONGO_URI:+a real MongoDB}${BENCH_MONGO_URI:-minimongo (in memory, loopback)}"
