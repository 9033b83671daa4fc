#!/usr/bin/env bash
# profiling/bench-incremental.sh — an incremental run beside a full copy and beside a plain COPY of the changed rows.
#
#   profiling/bench-incremental.sh                 5,000,000 rows, 1% changed, 3 rounds
#   ROWS=1000000 CHANGED_EVERY=100 REPEAT=5 profiling/bench-incremental.sh
#
# The benchmark table (profiling/lib.sh) gains updated_at (indexed, as a
# table followed by it would be). Each round, into the dir sink (NDJSON,
# workers = 2, memory_limit = 64MB):
#   full         ferry run of the table with mode = full, from a fresh state
#   incremental  ferry run with mode = incremental, watermark = updated_at,
#                lookback = 0 seconds (so each round reads its own changes
#                only), after every CHANGED_EVERY-th row was updated
#   COPY         psql -c "COPY (SELECT * FROM t WHERE updated_at > MARK) TO STDOUT"
#                of the same rows, MARK being the mark the incremental run read after
#   nothing new  ferry run again, when nothing changed since
# The incremental table's first copy is made once, before the rounds. Each
# incremental run is checked to write exactly the rows changed. Medians of
# the rounds, with the range, peak RSS and each row's ratio to the full copy.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${ROWS:-5000000}
CHANGED_EVERY=${CHANGED_EVERY:-100}
REPEAT=${REPEAT:-3}
make -C "$ROOT" --no-print-directory ferry >/dev/null
. "$ROOT/profiling/lib.sh"

echo "adding updated_at (indexed)"
pg_sql "ALTER TABLE t ADD COLUMN updated_at timestamptz NOT NULL DEFAULT '2024-06-01 00:00:00+00';
        CREATE INDEX t_updated_at ON t (updated_at); ANALYZE t"
CONNINFO="host=127.0.0.1 port=$PGPORT user=ferry dbname=postgres"
config() { # NAME MODE-LINES
    printf '[ferry]\nstate = %s.state\nmemory_limit = 64MB\nworkers = 2\n[source]\nconninfo = %s\n' "$1" "$CONNINFO"
    printf '[sink]\ntype = dir\npath = %s/%s-out\nformat = ndjson\n[table public.t]\n%s\n' "$WORK" "$1" "$2"
}
config full "" > "$WORK/full.ini"
config inc "mode = incremental
watermark = updated_at
lookback = 0 seconds" > "$WORK/inc.ini"
cd "$WORK"
echo "first copy of the incremental table"
"$ROOT/ferry" run -c inc.ini 2>>err.log

changed=$(( ROWS / CHANGED_EVERY ))
for round in $(seq 1 "$REPEAT"); do
    echo "round $round of $REPEAT"
    rm -rf full-out full.state
    seconds "$ROOT/ferry" run -c full.ini >> full.times
    pg_sql "UPDATE t SET amount = amount + 1, updated_at = now() WHERE id % $CHANGED_EVERY = 0" >/dev/null
    mark=$(sqlite3 inc.state "SELECT mark FROM tables")
    seconds "$ROOT/ferry" run -c inc.ini >> inc.times
    gen=$(sqlite3 inc.state "SELECT generation FROM tables")
    got=$(cat inc-out/public.t/public.t.g"$(printf '%06d' "$gen")".*.ndjson | wc -l)
    [ "$got" -eq "$changed" ] || { echo "bench: generation $gen holds $got rows, $changed changed" >&2; exit 1; }
    seconds psql -X -q -o copy.out -c "COPY (SELECT * FROM t WHERE updated_at > '$mark') TO STDOUT" >> copy.times
    got=$(wc -l < copy.out)
    [ "$got" -eq "$changed" ] || { echo "bench: COPY read $got rows, $changed changed" >&2; exit 1; }
    seconds "$ROOT/ferry" run -c inc.ini >> none.times
    [ "$(sqlite3 inc.state "SELECT generation FROM tables")" -eq "$gen" ] ||
        { echo "bench: the run with nothing new began a generation" >&2; exit 1; }
done

summary() { sort -n "$1.times" | awk '{ s[NR] = $1; if ($2 > r) r = $2 }
    END { printf "%s %s %s %s\n", s[int((NR + 1) / 2)], s[1], s[NR], r }'; }
read -r full_s _ < <(summary full)
row() { # NAME TIMES ROWS
    read -r med lo hi rss < <(summary "$2")
    awk -v n="$1" -v s="$med" -v lo="$lo" -v hi="$hi" -v r="$rss" -v rows="$3" -v full="$full_s" \
        'BEGIN { printf "%-52s %7.2f %13s %10s %9.1f MiB %8.3f\n", n, s, lo "-" hi,
                 (rows > 0 && s > 0 ? sprintf("%.0f", rows / s) : "-"), r / 1024, s / full }'
}
printf '\n%-52s %7s %13s %10s %13s %8s\n' "median of $REPEAT rounds" "wall s" "range" "rows/s" "peak RSS" "vs full"
row "ferry, full copy ($ROWS rows)" full "$ROWS"
row "ferry, incremental run ($changed rows changed)" inc "$changed"
row "psql COPY (SELECT … WHERE updated_at > mark)" copy "$changed"
row "ferry, incremental run with nothing new" none 0
echo "table: $table_size on disk, $(( text_bytes / 1048576 )) MiB as text; dir sink, NDJSON, workers 2, memory_limit 64MB"
