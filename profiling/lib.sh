# profiling/lib.sh — what the benchmarks share: a throwaway cluster holding the benchmark table, and timing.
#
# Source it with ROOT and ROWS set. It starts PostgreSQL, builds public.t ($ROWS
# rows of about 200 bytes: bigint key, int, text, numeric, timestamptz,
# boolean, a 96-byte text and a small jsonb), and sets WORK, table_size and
# text_bytes. `seconds CMD…` runs a command and prints "wall_seconds peak_rss_kib"
# as GNU time measures them.
. "$ROOT/tests/lib/pg.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")
trap 'bench_cleanup' EXIT
bench_cleanup() { pg_stop; rm -rf "$WORK"; }

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
