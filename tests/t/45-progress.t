#!/usr/bin/env bash
# What an operator sees of a running job: a live line on a terminal whose rows and ETA move, a
# progress line in the log every progress_interval seconds elsewhere, JSON logs on request, a
# Prometheus textfile an independent parser reads with the rows copied, and `status` counting the
# rows of a run that was killed.
. "$(dirname "$0")/../lib/common.sh"
pg_start

# Rows the server hands out slowly (a sleep a row), so a copy lasts a few seconds.
pg_sql "CREATE TABLE public.slow (id int PRIMARY KEY, v text);
        INSERT INTO slow SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g;
        CREATE FUNCTION pause_row(int) RETURNS boolean LANGUAGE sql AS 'SELECT pg_sleep(0.0001) IS NOT NULL';
        ANALYZE" >/dev/null
write_config "$WORK/p.ini" "$WORK/out" ndjson "progress_interval = 1
metrics_file = metrics/ferry.prom
workers = 1"
printf '[table public.slow]\npartition_rows = 1000\nwhere = pause_row(id)\n' >> "$WORK/p.ini"
mkdir -p "$WORK/metrics"

# --- a terminal: the live line ---
script -qfec "$FERRY run -c $WORK/p.ini" /dev/null > "$WORK/tty.out" 2>&1; code=$?
is "$code" 0 "under a pseudo-terminal the run completes"
tr '\r' '\n' < "$WORK/tty.out" | sed 's/\x1b\[K//g' | grep -a '^ferry: ' > "$WORK/live.txt"
lines=$(wc -l < "$WORK/live.txt")
ok $(( lines >= 3 ? 0 : 1 )) "the live line was drawn $lines times"
like "$(cat "$WORK/live.txt")" "^ferry: [0-9,]+ rows of about 2,000 \([0-9]+%\), .* rows/s, partitions [0-9]+/2, ETA [0-9]+s; memory .* of .*" \
    "it shows rows of the estimate, bytes, speed, partitions, an ETA and memory against the budget"
rows_seen=$(grep -o '^ferry: [0-9,]* rows' "$WORK/live.txt" | tr -d ',' | awk '{print $2}' | sort -un | wc -l)
etas_seen=$(grep -o 'ETA [0-9hms]*' "$WORK/live.txt" | sort -u | wc -l)
ok $(( rows_seen >= 2 ? 0 : 1 )) "its row count moves ($rows_seen different counts)"
ok $(( etas_seen >= 2 ? 0 : 1 )) "and so does its ETA ($etas_seen different ETAs)"
unlike "$(tr '\r' '\n' < "$WORK/tty.out" | grep -a 'INFO' | grep -a 'ferry: [0-9]')" "." \
    "no log line has the live line mixed into it"

# --- the metrics file, read by Python's Prometheus client ---
read_metrics() {
    /usr/bin/python3 - "$WORK/metrics/ferry.prom" "$1" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
wanted = sys.argv[2]
text = open(sys.argv[1]).read()
total = None
for family in text_string_to_metric_families(text):
    for sample in family.samples:
        if sample.name == wanted:
            total = (total or 0) + sample.value
print("missing" if total is None else int(total))
PY
}
is "$(read_metrics ferry_rows_copied_total)" 2000 "the metrics file parses, and its row counter is the 2000 rows copied"
is "$(read_metrics ferry_table_rows)" 2000 "the table's rows too"
is "$(read_metrics ferry_run_exit_code)" 0 "the run's exit code is 0"
ok $(( $(read_metrics ferry_last_success_timestamp_seconds) >= $(date +%s) - 600 ? 0 : 1 )) \
    "the last success is a moment ago"
is "$(ls -a "$WORK/metrics" | grep -vc '^\.\{1,2\}$')" 1 "nothing but the metrics file is left in its folder"

# --- off a terminal: progress lines at the interval ---
"$FERRY" reset -c "$WORK/p.ini" >/dev/null
"$FERRY" run -c "$WORK/p.ini" > "$WORK/plain.log" 2>&1; code=$?
is "$code" 0 "without a terminal the run completes"
grep 'INFO progress: ' "$WORK/plain.log" > "$WORK/progress.txt"
n=$(wc -l < "$WORK/progress.txt")
ok $(( n >= 2 ? 0 : 1 )) "progress lines were logged ($n)"
unlike "$(cat "$WORK/plain.log")" $'\r' "and no live line was drawn"
gaps=$(grep -o 'T[0-9:]*Z' "$WORK/progress.txt" | awk -F'[T:Z]' '{ s = $2 * 3600 + $3 * 60 + $4; if (NR > 1) print s - prev; prev = s }' | sort -u | tr '\n' ' ')
like "$gaps" "^(1 |2 )+$" "one second apart, as progress_interval = 1 asks (gaps: $gaps)"
is "$(read_metrics ferry_rows_copied_total)" 4000 "the counter keeps counting over runs (4000 after two)"

# --- JSON logs ---
"$FERRY" reset -c "$WORK/p.ini" >/dev/null
sed -i 's/^\[ferry\]/[ferry]\nlog_format = json/' "$WORK/p.ini"
"$FERRY" run -c "$WORK/p.ini" > "$WORK/json.log" 2>&1; code=$?
is "$code" 0 "with log_format = json the run completes"
bad=$(/usr/bin/python3 -c '
import json, sys
bad = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    bad += not (set(d) == {"time", "pid", "level", "message"} and d["level"] in ("debug", "info", "warn", "error"))
print(bad)' "$WORK/json.log" 2>&1)
is "$bad" 0 "every line is a JSON object with time, pid, level and message"
like "$(cat "$WORK/json.log")" '"message":"run complete: 2000 rows' "the messages are the text lines'"

# --- status counts a killed run's rows ---
"$FERRY" reset -c "$WORK/p.ini" >/dev/null
"$FERRY" run -c "$WORK/p.ini" > "$WORK/killed.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ "$(sqlite3 "$WORK/p.state" "SELECT count(*) FROM partitions WHERE status = 'done'" 2>/dev/null)" -ge 1 ] && break
    sleep 0.05
done
kill -KILL "$pid"; wait "$pid" 2>/dev/null
done_rows=$(sqlite3 "$WORK/p.state" "SELECT sum(rows) FROM partitions")
ok $(( done_rows > 0 ? 0 : 1 )) "the killed run had checkpointed $done_rows rows"
like "$("$FERRY" status -c "$WORK/p.ini")" "running +$done_rows rows" "status says the killed run copied them"

done_testing
