#!/usr/bin/env bash
# profiling/bench-stores.sh — ferry into each blob store beside the dir sink and beside `aws s3 cp` of the same files.
#
#   profiling/bench-stores.sh              1,000,000 rows of about 200 bytes
#   ROWS=500000 WORKERS=2 REPEAT=3 profiling/bench-stores.sh
#
# Starts the test stores of tests/lib (s3rver behind s3front, which checks
# every SigV4 signature with botocore; Azurite), builds the benchmark table,
# and per round times: ferry into a directory; `aws s3 cp --recursive` of
# that directory's files into S3 (the same bytes, through the same front);
# ferry into S3; ferry into Azure. Every ferry run is NDJSON, uncompressed,
# with the same workers and memory_limit. It prints the median wall time,
# rows/s, MB/s, ferry's own CPU seconds per million rows (user + system, from
# the kernel) and peak RSS. The stores run on this machine, in Node.js and
# Python, and take CPU from ferry: the ratios between rows are the figures
# to read, not the absolute MB/s a real store would give.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${ROWS:-1000000}
WORKERS=${WORKERS:-2}
REPEAT=${REPEAT:-3}
MEMORY_LIMIT=${MEMORY_LIMIT:-64MB}
. "$ROOT/profiling/lib.sh"
. "$ROOT/tests/lib/s3.sh"
. "$ROOT/tests/lib/azure.sh"
trap 'azure_stop; s3_stop; bench_cleanup' EXIT
s3_start
azure_start

# timed NAME CMD...: "wall user sys peak_kib" of one run appended to $WORK/t.NAME
timed() {
    local name=$1; shift
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$@" >/dev/null 2>>"$WORK/err.log"
    cat "$WORK/time" >> "$WORK/t.$name"
}
config() { # config NAME: the [ferry] and [source] of every run
    cat > "$WORK/$1.ini" <<INI
[ferry]
state = $1.state
memory_limit = $MEMORY_LIMIT
workers = $WORKERS
[source]
conninfo = host=127.0.0.1 port=$PGPORT user=ferry dbname=postgres
INI
}
config dir;   printf '[sink]\ntype = dir\npath = %s\n[table public.t]\n' "$WORK/out" >> "$WORK/dir.ini"
config s3;    { echo "[sink]"; s3_sink_lines; echo "[table public.t]"; } >> "$WORK/s3.ini"
config azure; { echo "[sink]"; azure_sink_lines; echo "[table public.t]"; } >> "$WORK/azure.ini"
fresh() { rm -rf "$WORK/$1.state"*; }
# The aws CLI with the test store's credentials, as a program /usr/bin/time can start.
cat > "$WORK/awscp.sh" <<SH
#!/bin/sh
export AWS_ACCESS_KEY_ID=$S3_KEY_ID AWS_SECRET_ACCESS_KEY=$(cat "$S3_SECRET_FILE") AWS_DEFAULT_REGION=$S3_REGION
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
exec /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 cp --recursive --quiet "\$1" "\$2"
SH
chmod +x "$WORK/awscp.sh"

for round in $(seq 1 "$REPEAT"); do
    echo "round $round of $REPEAT"
    rm -rf "$WORK/out"; fresh dir
    timed dir "$ROOT/ferry" run -c "$WORK/dir.ini"
    timed awscp "$WORK/awscp.sh" "$WORK/out" "s3://$S3_BUCKET/$S3_PREFIX-awscp/"
    fresh s3
    timed s3 "$ROOT/ferry" run -c "$WORK/s3.ini"
    fresh azure
    timed azure "$ROOT/ferry" run -c "$WORK/azure.ini"
done
objects=$(find "$WORK/out" -type f | wc -l)
bytes=$(du -sb "$WORK/out" | cut -f1)

# "median_wall user_s sys_s max_peak" of a name, over the rounds (the user and system of the median round)
stats() { sort -n "$WORK/t.$1" | awk '{ w[NR] = $1; u[NR] = $2; s[NR] = $3; if ($4 > p) p = $4 } END { m = int((NR + 1) / 2); print w[m], u[m], s[m], p }'; }
read -r dir_s _ _ _ < <(stats dir)
printf '\n%-44s %8s %10s %8s %16s %10s %9s\n' "$ROWS rows, $objects objects, $((bytes / 1048576)) MiB" "wall s" "rows/s" "MB/s" "CPU s/M rows" "peak RSS" "vs dir"
for n in dir awscp s3 azure; do
    read -r w u s p < <(stats "$n")
    label=$(case $n in dir) echo "ferry -> dir, workers=$WORKERS, $MEMORY_LIMIT" ;;
                      awscp) echo "aws s3 cp --recursive of the dir's files" ;;
                      s3) echo "ferry -> s3 (s3rver behind s3front)" ;;
                      azure) echo "ferry -> azure (Azurite)" ;; esac)
    awk -v l="$label" -v w="$w" -v u="$u" -v s="$s" -v p="$p" -v rows="$ROWS" -v b="$bytes" -v d="$dir_s" -v n="$n" \
        'BEGIN { cpu = n == "awscp" ? "-" : sprintf("%.2f", (u + s) / rows * 1e6);
                 printf "%-44s %8.2f %10.0f %8.1f %16s %6.1f MiB %9.2f\n", l, w, rows / w, b / w / 1e6, cpu, p / 1024, w / d }'
done
echo "wall s is the median of $REPEAT rounds; MB/s counts the NDJSON written; CPU s/M rows is ferry's own (the aws CLI's is not comparable: Python)."
