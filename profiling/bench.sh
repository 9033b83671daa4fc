#!/usr/bin/env bash
# profiling/bench.sh — ferry's throughput and peak RSS beside `psql COPY … TO STDOUT`, in one run.
#
#   profiling/bench.sh                 5,000,000 rows of about 200 bytes
#   ROWS=1000000 profiling/bench.sh
#   WORKERS_LIST="1 2" COMPRESSIONS="none gzip zstd" MEMORY_LIMIT=64MB FORMAT=ndjson REPEAT=3 profiling/bench.sh
#   SCRIPT=0 profiling/bench.sh        without the (slow) psycopg2 script
#   MATRIX=0 profiling/bench.sh        only the read orders (below), not the workers x compression matrix
#
# Builds the table in a throwaway cluster, times `psql -c "COPY (SELECT …) TO
# STDOUT" > /dev/null` as the baseline, then ferry into a directory with 1 and
# 2 workers, uncompressed and gzip, and (where psycopg2 is installed) a
# named-cursor Python script, and prints all with their ratio to the COPY.
# A second baseline is psql running the statement shape ferry reads with (a
# key range in key order: an index scan), to tell ferry's own cost from the
# cost of reading in order. Wall times on a shared machine wander by tens of
# per cent from run to run, so the baselines and ferry runs are repeated
# REPEAT times, interleaved, and the median is printed with the spread.
# Peak RSS (the largest of the rounds) comes from the kernel (GNU time), not from ferry.
#
# Read orders: the same rows are also stored in random key order (t_scrambled, built from t: what
# years of updates and deletes do to a table), and both tables are copied with read_order = key and
# read_order = physical (ORDER_WORKERS workers, default 2, uncompressed), each beside psql COPY of
# the same table in the same round.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${ROWS:-5000000}
MEMORY_LIMIT=${MEMORY_LIMIT:-64MB}
FORMAT=${FORMAT:-ndjson}
. "$ROOT/profiling/lib.sh"

REPEAT=${REPEAT:-3}
ORDER_WORKERS=${ORDER_WORKERS:-2}
echo "building t_scrambled: the same rows in random key order"
pg_sql "CREATE TABLE public.t_scrambled AS SELECT * FROM t ORDER BY random();
        ALTER TABLE t_scrambled ADD PRIMARY KEY (id);"
pg_sql "VACUUM ANALYZE t_scrambled"
echo "correlation of id with the heap order: t $(pg_sql "SELECT round(correlation::numeric, 3) FROM pg_stats WHERE tablename = 't' AND attname = 'id'"), t_scrambled $(pg_sql "SELECT round(correlation::numeric, 3) FROM pg_stats WHERE tablename = 't_scrambled' AND attname = 'id'")"
# Warm the cache the same way for all.
pg_sql "SELECT count(*) FROM t" >/dev/null
pg_sql "SELECT count(*) FROM t_scrambled" >/dev/null
max_id=$(pg_sql "SELECT max(id) FROM t")

# ferry_run WORKERS COMPRESSION [TABLE [READ_ORDER]]: prints "wall_s peak_kib out_bytes"
ferry_run() {
    local workers=$1 compression=$2 table=${3:-t} order=${4:-key}
    local name="$workers-$compression-$table-$order" dir="$WORK/out-$workers-$compression-$table-$order"
    rm -rf "$dir" "$WORK/bench-$name.state"* # every round copies the whole table
    cat > "$WORK/bench-$name.ini" <<INI
[ferry]
state = bench-$name.state
memory_limit = $MEMORY_LIMIT
workers = $workers
[source]
conninfo = host=127.0.0.1 port=$PGPORT user=ferry dbname=postgres
[sink]
type = dir
path = $dir
format = $FORMAT
compression = $compression
[table public.$table]
read_order = $order
INI
    local timing
    timing=$(seconds "$ROOT/ferry" run -c "$WORK/bench-$name.ini")
    local rows_out
    if [ "$compression" = gzip ]; then
        rows_out=$(find "$dir" -type f -name '*.gz' -exec zcat {} + | wc -l)
    elif [ "$compression" = zstd ]; then
        rows_out=$(find "$dir" -type f -name '*.zst' -exec zstd -qdc {} + | wc -l)
    else
        rows_out=$(find "$dir" -type f ! -name '.*' -exec cat {} + | wc -l)
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

# Each measurement appends "wall peak" to $WORK/m.<name>; the report takes the median wall and the
# largest peak. A ferry run also appends its wall time over the same round's psql COPY to $WORK/r.<name>.
measure() { local name=$1; shift; "$@" | awk '{ print $1, $2 }' >> "$WORK/m.$name"; }
# measure_paired NAME BASELINE CMD…: the ratio is to BASELINE's measurement of the same round.
measure_paired() {
    local name=$1 base=$2
    shift 2
    measure "$name" "$@"
    awk -v f="$(tail -1 "$WORK/m.$name" | cut -d' ' -f1)" -v c="$(tail -1 "$WORK/m.$base" | cut -d' ' -f1)" \
        'BEGIN { print f / c }' >> "$WORK/r.$name"
}
configs=()
[ "${MATRIX:-1}" = 0 ] || for compression in ${COMPRESSIONS:-none gzip zstd}; do
    for workers in ${WORKERS_LIST:-1 2}; do configs+=("$workers-$compression"); done
done
for round in $(seq 1 "$REPEAT"); do
    echo "round $round of $REPEAT"
    measure copy seconds psql -X -q -c "COPY (SELECT * FROM t) TO STDOUT"
    measure ordered seconds psql -X -q -c "COPY (SELECT * FROM t WHERE id > 0 AND id <= $max_id ORDER BY id) TO STDOUT"
    for c in "${configs[@]}"; do measure_paired "$c" copy ferry_run "${c%-*}" "${c#*-}"; done
    for order in key physical; do measure_paired "order-t-$order" copy ferry_run "$ORDER_WORKERS" none t "$order"; done
    measure copy_scrambled seconds psql -X -q -c "COPY (SELECT * FROM t_scrambled) TO STDOUT"
    for order in key physical; do
        measure_paired "order-t_scrambled-$order" copy_scrambled ferry_run "$ORDER_WORKERS" none t_scrambled "$order"
    done
done
# stats NAME: "median min max peak"; paired NAME: the median of the per-round ratios to psql COPY
stats() { sort -n "$WORK/m.$1" | awk '{ w[NR] = $1; if ($2 > p) p = $2 } END { print w[int((NR + 1) / 2)], w[1], w[NR], p }'; }
paired() { sort -n "$WORK/r.$1" | awk '{ r[NR] = $1 } END { printf "%.2f (%.2f-%.2f)", r[int((NR + 1) / 2)], r[1], r[NR] }'; }
read -r copy_s copy_min copy_max copy_rss < <(stats copy)
py_line=""
# Debian's python3-psycopg2 serves /usr/bin/python3; another python3 on PATH may lack it.
PY=""
[ "${SCRIPT:-1}" = 0 ] || for candidate in /usr/bin/python3 python3; do
    if "$candidate" -c "import psycopg2" 2>/dev/null; then PY=$candidate; break; fi
done
if [ -n "$PY" ]; then
    read -r py_s py_rss < <(seconds "$PY" "$WORK/named_cursor.py" "$PGPORT")
    py_line="$py_s $py_rss"
fi

printf '\n%-52s %8s %13s %10s %8s %10s %9s  %s\n' "" "wall s" "(min-max)" "rows/s" "MB/s" "peak RSS" "vs COPY" "paired (min-max)"
row() { awk -v n="$1" -v s="$2" -v lo="$3" -v hi="$4" -v r="$5" -v rows="$ROWS" -v bytes="$text_bytes" -v base="$copy_s" -v p="${6:-}" \
    'BEGIN { printf "%-52s %8.2f %13s %10.0f %8.1f %6.1f MiB %9.2f  %s\n", n, s, lo == "" ? "" : sprintf("(%.2f-%.2f)", lo, hi),
             rows / s, bytes / s / 1e6, r / 1024, s / base, p }'; }
row "psql COPY (SELECT *) TO STDOUT > /dev/null" "$copy_s" "$copy_min" "$copy_max" "$copy_rss"
read -r s lo hi peak < <(stats ordered)
row "psql COPY (... ORDER BY id): ferry's read order" "$s" "$lo" "$hi" "$peak"
results=()
for c in "${configs[@]}"; do
    read -r s lo hi peak < <(stats "$c")
    results+=("${c%-*} ${c#*-} $s")
    row "ferry $FORMAT, ${c#*-}, workers=${c%-*}, limit $MEMORY_LIMIT" "$s" "$lo" "$hi" "$peak" "$(paired "$c")"
done
if [ -n "$py_line" ]; then
    read -r py_s py_rss <<< "$py_line"
    row "psycopg2 named cursor -> NDJSON (python3, once)" "$py_s" "" "" "$py_rss"
    for r in "${results[@]}"; do
        read -r workers compression wall <<< "$r"
        [ "$compression" = none ] && awk -v p="$py_s" -v f="$wall" -v w="$workers" \
            'BEGIN { printf "ferry (workers=%d) is %.1fx faster than the psycopg2 script\n", w, p / f }'
    done
elif [ "${SCRIPT:-1}" != 0 ]; then
    echo "(psycopg2 is not installed — apt-get install python3-psycopg2 — so its script was not run)"
fi
printf '\nread orders, workers=%d, uncompressed, limit %s:\n' "$ORDER_WORKERS" "$MEMORY_LIMIT"
for table in t t_scrambled; do
    base=copy
    [ "$table" = t_scrambled ] && base=copy_scrambled
    read -r s lo hi peak < <(stats "$base")
    row "psql COPY (SELECT * FROM $table) TO STDOUT" "$s" "$lo" "$hi" "$peak"
    for order in key physical; do
        read -r s lo hi peak < <(stats "order-$table-$order")
        row "ferry $table, read_order = $order" "$s" "$lo" "$hi" "$peak" "$(paired "order-$table-$order")"
    done
done
echo "(for t_scrambled, \"vs COPY\" is to psql COPY of t; \"paired\" to psql COPY of t_scrambled in the same round)"
echo "wall s is the median of $REPEAT interleaved rounds; \"vs COPY\" is its ratio to psql COPY's median on the same table (<= 1.0: as fast or faster);"
echo "\"paired\" is the median (and range) of each round's ferry time over that round's psql COPY time, which the machine's drift between rounds does not move."
echo "MB/s counts the table in PostgreSQL text form ($(( text_bytes / 1000000 )) MB)."
