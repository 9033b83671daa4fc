#!/usr/bin/env bash
# profiling/bench-redshift.sh — reading Redshift by cursor beside reading it through UNLOAD, via the test front end.
#
#   profiling/bench-redshift.sh              300,000 rows of about 200 bytes
#   ROWS=1000000 WORKERS=2 REPEAT=3 profiling/bench-redshift.sh
#
# Starts PostgreSQL with the benchmark table, the S3 test store (s3rver behind
# s3front) and tests/tools/rsfront.py before them, then per round times ferry
# into a directory twice: read_method = cursor (1,000-row FETCHes, as a
# single-node cluster allows) and read_method = unload (each partition
# UNLOADed into the store and read back). It prints the median wall time,
# rows/s, the bytes the leader node materialised for cursors (what counts
# against its cursor cap; UNLOAD's rows go from the slices to S3) and
# ferry's peak RSS, with each row's ratio to the cursor read.
#
# What the front cannot show: on a cluster, UNLOAD runs on the compute
# slices while the leader only plans, and a cursor's whole result is built on
# the leader before the first row leaves; here both are one PostgreSQL behind
# a Python relay, so the relay's own speed bounds both reads.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${ROWS:-300000}
WORKERS=${WORKERS:-2}
REPEAT=${REPEAT:-3}
MEMORY_LIMIT=${MEMORY_LIMIT:-64MB}
. "$ROOT/profiling/lib.sh"
. "$ROOT/tests/lib/s3.sh"
. "$ROOT/tests/lib/redshift.sh"
trap 'rs_stop; s3_stop; bench_cleanup' EXIT
s3_start
ROLE=arn:aws:iam::123456789012:role/ferry-bench
rs_start --unload-role "$ROLE" --s3-endpoint "$S3_ENDPOINT" --s3-region "$S3_REGION" \
    --s3-key-id "$S3_KEY_ID" --s3-secret-file "$S3_SECRET_FILE"

config() { # config NAME METHOD
    cat > "$WORK/$1.ini" <<INI
[ferry]
state = $1.state
memory_limit = $MEMORY_LIMIT
workers = $WORKERS
[source]
conninfo = $(rs_conninfo)
read_method = $2
[sink]
type = dir
path = $WORK/out-$1
[unload]
iam_role = $ROLE
$(s3_sink_lines | grep -v '^type =' | sed "s|^prefix = .*|prefix = $S3_PREFIX/stage|")
[table public.t]
partition_rows = $(( ROWS / 4 > 1000 ? ROWS / 4 : 1000 ))
INI
}
config cursor cursor
config unload unload

# timed NAME: "wall peak_kib leader_bytes" of one run appended to $WORK/t.NAME
timed() {
    rm -rf "$WORK/$1.state"* "$WORK/out-$1"
    : > "$RS_LOG"
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$ROOT/ferry" run -c "$WORK/$1.ini" >/dev/null 2>>"$WORK/err.log"
    local leader
    leader=$(awk '/^cursor / { s += $2 } END { print s + 0 }' "$RS_LOG")
    echo "$(cat "$WORK/time") $leader" >> "$WORK/t.$1"
    [ "$(cat "$WORK/out-$1"/public.t/* | wc -l)" = "$ROWS" ] || { echo "ferry ($1) did not copy $ROWS rows" >&2; exit 1; }
}
for round in $(seq 1 "$REPEAT"); do
    echo "round $round of $REPEAT"
    timed cursor
    timed unload
done

stats() { sort -n "$WORK/t.$1" | awk '{ w[NR] = $1; l[NR] = $3; if ($2 > p) p = $2 } END { m = int((NR + 1) / 2); print w[m], p, l[m] }'; }
read -r base _ _ < <(stats cursor)
printf '\n%-40s %8s %10s %18s %10s %9s\n' "$ROWS rows, workers=$WORKERS, $MEMORY_LIMIT" "wall s" "rows/s" "leader MiB (cursor)" "peak RSS" "vs cursor"
for n in cursor unload; do
    read -r w p l < <(stats "$n")
    awk -v n="ferry read_method = $n" -v w="$w" -v p="$p" -v l="$l" -v rows="$ROWS" -v b="$base" \
        'BEGIN { printf "%-40s %8.2f %10.0f %18.1f %6.1f MiB %9.2f\n", n, w, rows / w, l / 1048576, p / 1024, w / b }'
done
echo "wall s is the median of $REPEAT rounds; leader MiB is what the front materialised for cursors (their text)."
