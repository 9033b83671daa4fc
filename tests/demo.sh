#!/usr/bin/env bash
# tests/demo.sh — `make demo`: a real copy of a 1,000,000-row table into a directory, killed and resumed.
#
# Starts a throwaway PostgreSQL 15 on a free loopback port, loads a table with
# skewed keys and mixed widths (text, jsonb, numeric, timestamptz, NULLs),
# runs ferry, SIGKILLs it part way, runs it again, and checks that the output
# holds exactly the source's rows. Everything is removed at the end.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib/pg.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
trap 'pg_stop; rm -rf "$WORK"' EXIT
say() { printf '\n== %s\n' "$*"; }

say "starting a throwaway PostgreSQL 15"
pg_start || exit 1
echo "listening on 127.0.0.1:$PGPORT"

say "loading demo.orders: 1,000,000 rows, skewed keys, mixed widths"
pg_sql "
CREATE TABLE public.orders (
    id bigint PRIMARY KEY, customer text, items jsonb, total numeric(14,2),
    placed_at timestamptz, note text);
INSERT INTO orders SELECT
    CASE WHEN g <= 800000 THEN g ELSE 800000 + (g - 800000)::bigint * 5000 END,
    'customer-' || (g % 9973),
    jsonb_build_object('sku', 'S' || (g % 500), 'qty', 1 + g % 7, 'tags', jsonb_build_array('a', g % 3)),
    round((g % 100000) * 1.37, 2),
    '2023-01-01'::timestamptz + g * interval '17 seconds',
    CASE WHEN g % 5 = 0 THEN NULL WHEN g % 97 = 0 THEN repeat('long note ', 200) ELSE 'n' || g END
FROM generate_series(1, 1000000) g;
ANALYZE orders;" || exit 1
source_rows=$(pg_sql "SELECT count(*) FROM orders")
echo "source rows: $source_rows"

cat > "$WORK/ferry.ini" <<INI
[ferry]
state = ferry.state
memory_limit = 64MB
workers = 1

[source]
conninfo = host=127.0.0.1 port=$PGPORT user=ferry dbname=postgres

[sink]
type = dir
path = out
format = ndjson

[table public.orders]
partition_rows = 100000
INI

say "ferry plan"
"$ROOT/ferry" plan -c "$WORK/ferry.ini" || exit 1

say "ferry run, SIGKILLed after 1.5 seconds"
"$ROOT/ferry" run -c "$WORK/ferry.ini" &
pid=$!
sleep 1.5
kill -KILL "$pid" 2>/dev/null && echo "killed ferry (pid $pid)"
wait "$pid" 2>/dev/null
"$ROOT/ferry" status -c "$WORK/ferry.ini"

say "ferry run again: it resumes from the last checkpoint"
"$ROOT/ferry" run -c "$WORK/ferry.ini"
code=$?
"$ROOT/ferry" status -c "$WORK/ferry.ini"

say "checking the output against the source"
lines=$(cat "$WORK"/out/public.orders/*.ndjson | wc -l)
distinct=$(cat "$WORK"/out/public.orders/*.ndjson | grep -o '^{"id":[0-9]*' | sort -u | wc -l)
echo "source rows: $source_rows; rows written: $lines; distinct ids written: $distinct; ferry exit code: $code"
if [ "$code" -eq 0 ] && [ "$lines" -eq "$source_rows" ] && [ "$distinct" -eq "$source_rows" ]; then
    echo "demo OK: the row count equals the source's, with no duplicates"
    exit 0
fi
echo "demo FAILED"
exit 1
