#!/usr/bin/env bash
# profiling/bench-postgres.sh — PostgreSQL → PostgreSQL with the postgres sink, beside pgcopydb and a psql pipe, in one run.
#
#   profiling/bench-postgres.sh                    1,000,000 rows, workers 1 and 2
#   ROWS=3000000 WORKERS_LIST="2" profiling/bench-postgres.sh
#
# Two clusters on this machine: the source holds the benchmark table
# (profiling/lib.sh), the target starts empty for every contender:
#   psql -c "COPY t TO STDOUT" | psql -c "COPY t FROM STDIN"   one COPY, no checkpoint
#   pgcopydb copy table-data --table-jobs N                    (Debian's 0.10: one COPY a table)
#   ferry, sink postgres, workers N, memory_limit 64MB         partitions, a ledger row a segment
# Each contender's target table is made beforehand (same DDL) and checked
# afterwards to hold all $ROWS rows. Peak RSS is the contender's own
# process tree as GNU time reports its largest process.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${ROWS:-1000000}
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

fresh_target
read -r pipe_s pipe_rss < <(seconds bash -c "psql -X -q -d '$SRC' -c 'COPY public.t TO STDOUT' |
                                             psql -X -q -d '$TGT' -c 'COPY public.t FROM STDIN'")
loaded "the psql pipe"

results=()
for workers in ${WORKERS_LIST:-1 2}; do
    fresh_target
    rm -rf "$WORK/pgcopydb"
    read -r s rss < <(seconds pgcopydb copy table-data --source "$SRC" --target "$TGT" --table-jobs "$workers" \
                                                      --dir "$WORK/pgcopydb")
    loaded "pgcopydb"
    results+=("pgcopydb copy table-data, --table-jobs $workers|$s|$rss")

    fresh_target
    printf '[ferry]\nstate = f%s.state\nmemory_limit = %s\nworkers = %s\n[source]\nconninfo = %s\n[sink]\ntype = postgres\nconninfo = %s\n[table public.t]\n' \
        "$workers" "$MEMORY_LIMIT" "$workers" "$SRC" "$TGT" > "$WORK/f$workers.ini"
    read -r s rss < <(seconds "$ROOT/ferry" run -c "$WORK/f$workers.ini")
    loaded "ferry"
    results+=("ferry, sink postgres, workers=$workers, limit $MEMORY_LIMIT|$s|$rss")
done

printf '\n%-52s %7s %9s %10s %9s %12s\n' "" "wall s" "rows/s" "peak RSS" "vs pipe" "vs pgcopydb"
awk -v s="$pipe_s" -v r="$pipe_rss" -v rows="$ROWS" \
    'BEGIN { printf "%-52s %7.2f %9.0f %6.1f MiB %9.2f %12s\n", "psql COPY TO STDOUT | psql COPY FROM STDIN", s, rows / s, r / 1024, 1, "-" }'
base_pgcopydb=
for r in "${results[@]}"; do
    IFS='|' read -r name s rss <<< "$r"
    case "$name" in pgcopydb*) base_pgcopydb=$s ;; esac
    awk -v n="$name" -v s="$s" -v r="$rss" -v rows="$ROWS" -v pipe="$pipe_s" -v pc="$base_pgcopydb" \
        'BEGIN { printf "%-52s %7.2f %9.0f %6.1f MiB %9.2f %12.2f\n", n, s, rows / s, r / 1024, s / pipe, s / pc }'
done
echo "vs pgcopydb: against pgcopydb with the same number of jobs (the row above it). Every target held all $ROWS rows."
echo "table: $table_size on disk, $(( text_bytes / 1048576 )) MiB as text; target: a second PostgreSQL 15 on this machine"
