#!/usr/bin/env bash
# profiling/bench.sh — ferry's throughput and peak RSS beside `psql COPY … TO STDOUT`, in one run.
#
#   profiling/bench.sh                 5,000,000 rows of about 200 bytes
#   ROWS=1000000 profiling/bench.sh
#   WORKERS=2 MEMORY_LIMIT=64MB FORMAT=ndjson COMPRESSION=none profiling/bench.sh
#
# Builds the table in a throwaway cluster, times `psql -c "COPY (SELECT …) TO
# STDOUT" > /dev/null` as the baseline, then ferry into a directory, and prints
# both with their ratio. Peak RSS comes from the kernel (GNU time), not from ferry.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${ROWS:-5000000}
WORKERS=${WORKERS:-1}
MEMORY_LIMIT=${MEMORY_LIMIT:-64MB}
FORMAT=${FORMAT:-ndjson}
COMPRESSION=${COMPRESSION:-none}
. "$ROOT/tests/lib/pg.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")
trap 'pg_stop; rm -rf "$WORK"' EXIT

pg_start
echo "building bench.t: $ROWS rows of about 200 bytes"
pg_sql "
CREATE TABLE public.t (id bigint PRIMARY KEY, account int, kind text, amount numeric(12,2),
                       created_at timestamptz, flags boolean, payload text, meta jsonb);
INSERT INTO t SELECT g, g % 100000, (ARRAY['debit','credit','refund'])[1 + g % 3], (g % 1000000) / 100.0,
    '2024-01-01'::timestamptz + g * interval '1 second', g % 2 = 0, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text),
    jsonb_build_object('src', 'web', 'n', g % 10)
FROM generate_series(1, $ROWS) g;"
pg_sql "VACUUM ANALYZE t"
table_size=$(pg_sql "SELECT pg_size_pretty(pg_table_size('t'))")
text_bytes=$(pg_sql "SELECT sum(octet_length(t::text)) FROM t")
echo "table size $table_size; $(( text_bytes / 1048576 )) MiB as text"

seconds() { /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>>"$WORK/err.log"; cat "$WORK/time"; }

# Warm the cache the same way for both.
pg_sql "SELECT count(*) FROM t" >/dev/null
read -r copy_s copy_rss < <(seconds psql -X -q -c "COPY (SELECT * FROM t) TO STDOUT")

cat > "$WORK/bench.ini" <<INI
[ferry]
memory_limit = $MEMORY_LIMIT
workers = $WORKERS
[source]
conninfo = host=127.0.0.1 port=$PGPORT user=ferry dbname=postgres
[sink]
type = dir
path = out
format = $FORMAT
compression = $COMPRESSION
[table public.t]
INI
read -r ferry_s ferry_rss < <(seconds "$ROOT/ferry" run -c "$WORK/bench.ini")
out_bytes=$(du -sb "$WORK/out" | cut -f1)
rows_out=$( [ "$COMPRESSION" = gzip ] && zcat "$WORK"/out/public.t/* | wc -l || cat "$WORK"/out/public.t/* | wc -l)
[ "$rows_out" -eq "$ROWS" ] || { tail -20 "$WORK/err.log" >&2; echo "bench: ferry wrote $rows_out rows, expected $ROWS" >&2; exit 1; }

awk -v rows="$ROWS" -v bytes="$text_bytes" -v out="$out_bytes" -v cs="$copy_s" -v cr="$copy_rss" \
    -v fs="$ferry_s" -v fr="$ferry_rss" -v w="$WORKERS" -v f="$FORMAT" -v c="$COMPRESSION" -v m="$MEMORY_LIMIT" 'BEGIN {
    printf "\n%-44s %9s %12s %10s %12s\n", "", "wall s", "rows/s", "MB/s", "peak RSS"
    printf "%-44s %9.2f %12.0f %10.1f %9.1f MiB\n", "psql COPY (SELECT *) TO STDOUT > /dev/null", cs, rows / cs, bytes / cs / 1e6, cr / 1024
    printf "%-44s %9.2f %12.0f %10.1f %9.1f MiB\n", sprintf("ferry run (%s, %s, workers=%d, limit %s)", f, c, w, m), fs, rows / fs, bytes / fs / 1e6, fr / 1024
    printf "\nferry / psql COPY wall-time ratio: %.2f  (<= 1.0: ferry is as fast or faster)\n", fs / cs
    printf "MB/s counts the rows in PostgreSQL text form (%.0f MB); ferry wrote %.0f MB\n", bytes / 1e6, out / 1e6
}'
