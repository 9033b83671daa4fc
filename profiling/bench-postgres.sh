#!/usr/bin/env bash
# profiling/bench-postgres.sh — PostgreSQL → PostgreSQL with the postgres sink, beside pgcopydb and a psql pipe, in one run.
#
#   profiling/bench-postgres.sh                    1,000,000 rows, workers 1 and 2, 3 rounds
#   ROWS=3000000 WORKERS_LIST="2" REPEAT=5 profiling/bench-postgres.sh
#
# Two clusters on this machine: the source holds the benchmark table
# (profiling/lib.sh), the target starts empty for every contender:
#   psql -c "COPY t TO STDOUT" | psql -c "COPY t FROM STDIN"   one COPY, no checkpoint
#   pgcopydb copy table-data --table-jobs N                    (Debian's 0.10: one COPY a table)
#   ferry, sink postgres, workers N, memory_limit 64MB         partitions, a ledger row a segment
# Each contender's target table is made beforehand (same DDL) and checked
# afterwards to hold all $ROWS rows. Contenders run in interleaved rounds
# (REPEAT); the median wall time is printed with the fastest and slowest.
# Peak RSS is the largest process of the contender's, as GNU time reports it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${ROWS:-1000000}
REPEAT=${REPEAT:-3}
MEMORY_LIMIT=${MEMORY_LIMIT:-64MB}
make -C "$ROOT" --no-print-directory ferry >/dev/null
command -v pgcopydb >/dev/null || { echo "bench: pgcopydb is missing (apt-get install pgcopydb)" >&2; exit 1; }
. "$ROOT/profiling/lib.sh"
. "$ROOT/tests/lib/pgtarget.sh"
bench_cleanup() { target_stop; pg_stop; rm -rf "$WORK"; }
target_start

SRC="postgres://ferry@127.0.0.1:$PGPORT/postgres"
TGT="postgres://ferry@127.0.0.1:$TARGET_PORT/postgres"
DDL="CREATE TABLE public.t (id bigint PRIMARY KEY, account int, kind text, amount numeric(12,2),
     created_at timestamptz, flags boolean, payload text, meta jsonb)"
fresh_target() { target_sql "SET client_min_messages = warning; DROP TABLE IF EXISTS public.t; DROP TABLE IF EXISTS public.ferry_ledger; $DDL"; }
loaded() {
    local n
    n=$(target_sql "SELECT count(*) FROM public.t")
    [ "$n" -eq "$ROWS" ] || { echo "bench: $1 left $n rows in the target, expected $ROWS" >&2; exit 1; }
}

# One contender once: appends "wall_s peak_kib" to $WORK/<name>.times.
pipe() {
    fresh_target
    seconds bash -c "psql -X -q -d '$SRC' -c 'COPY public.t TO STDOUT' |
                     psql -X -q -d '$TGT' -c 'COPY public.t FROM STDIN'" >> "$WORK/pipe.times"
    loaded "the psql pipe"
}
pgcopydb_jobs() {
    fresh_target
    rm -rf "$WORK/pgcopydb"
    seconds pgcopydb copy table-data --source "$SRC" --target "$TGT" --table-jobs "$1" --dir "$WORK/pgcopydb" \
        >> "$WORK/pgcopydb$1.times"
    loaded "pgcopydb"
}
ferry_workers() {
    fresh_target
    rm -f "$WORK/f$1.state"
    printf '[ferry]\nstate = f%s.state\nmemory_limit = %s\nworkers = %s\n[source]\nconninfo = %s\n[sink]\ntype = postgres\nconninfo = %s\n[table public.t]\n' \
        "$1" "$MEMORY_LIMIT" "$1" "$SRC" "$TGT" > "$WORK/f$1.ini"
    seconds "$ROOT/ferry" run -c "$WORK/f$1.ini" >> "$WORK/ferry$1.times"
    loaded "ferry"
}
for round in $(seq 1 "$REPEAT"); do
    echo "round $round of $REPEAT"
    pipe
    for workers in ${WORKERS_LIST:-1 2}; do
        pgcopydb_jobs "$workers"
        ferry_workers "$workers"
    done
done

# median min max of a contender's wall times, and its largest peak RSS
summary() { sort -n "$WORK/$1.times" | awk '{ s[NR] = $1; if ($2 > r) r = $2 }
    END { printf "%s %s %s %s\n", s[int((NR + 1) / 2)], s[1], s[NR], r }'; }
row() { # NAME TIMES-FILE BASELINE-MEDIAN
    read -r med lo hi rss < <(summary "$2")
    awk -v n="$1" -v s="$med" -v lo="$lo" -v hi="$hi" -v r="$rss" -v rows="$ROWS" -v pipe="$pipe_s" -v pc="$3" \
        'BEGIN { printf "%-48s %7.2f %11s %9.0f %6.1f MiB %8.2f %12s\n", n, s, lo "-" hi, rows / s, r / 1024,
                 s / pipe, pc == "" ? "-" : sprintf("%.2f", s / pc) }'
}
read -r pipe_s _ < <(summary pipe)
printf '\n%-48s %7s %11s %9s %10s %8s %12s\n' "median of $REPEAT rounds" "wall s" "range" "rows/s" "peak RSS" \
    "vs pipe" "vs pgcopydb"
row "psql COPY TO STDOUT | psql COPY FROM STDIN" pipe ""
for workers in ${WORKERS_LIST:-1 2}; do
    read -r pc _ < <(summary "pgcopydb$workers")
    row "pgcopydb copy table-data, --table-jobs $workers" "pgcopydb$workers" ""
    row "ferry, sink postgres, workers=$workers, limit $MEMORY_LIMIT" "ferry$workers" "$pc"
done
echo "vs pgcopydb: against pgcopydb with the same number of jobs (the row above). Every target held all $ROWS rows."
echo "table: $table_size on disk, $(( text_bytes / 1048576 )) MiB as text; target: a second PostgreSQL 15 on this machine"
