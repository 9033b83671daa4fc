#!/usr/bin/env bash
# SIGKILL at 20 random points, then one more run: exactly the source's rows, no duplicates.
# Also: SIGTERM stops cleanly with exit 75 and a rerun resumes.
. "$(dirname "$0")/../lib/common.sh"
pg_start

pg_sql "
CREATE TABLE public.events (id bigint PRIMARY KEY, kind text, payload jsonb, amount numeric(14,4), at timestamptz, note text);
INSERT INTO events SELECT
    CASE WHEN g <= 700000 THEN g ELSE g * 1000 END,       -- skewed keys: a dense run, then a sparse tail
    (ARRAY['click','view','buy'])[1 + g % 3], jsonb_build_object('g', g, 's', repeat('x', g % 40)),
    g * 1.0001, '2024-01-01'::timestamptz + g * interval '1 second',
    CASE WHEN g % 11 = 0 THEN NULL ELSE repeat(md5(g::text), 1 + g % 4) END
FROM generate_series(1, 1000000) g;
ANALYZE events;"
source_rows=$(pg_sql "SELECT count(*) FROM events")

write_config "$WORK/kill.ini" "$WORK/out" csv "memory_limit = 8MB
workers = 1"
printf '[table public.events]\npartition_rows = 100000\n' >> "$WORK/kill.ini"

# libmongoc names its counters file after the process (mongoc-PID): only the killed ferrys' are looked
# for, since other tests' processes may hold theirs at the same moment.
interrupted=$(KILLED_PIDS="$WORK/killed.pids" kill_at_random "$WORK/kill.ini" "$WORK/kill.log" 20 30 120)
left=$(while read -r p; do [ -e "/dev/shm/mongoc-$p" ] && echo "$p"; done < "$WORK/killed.pids" | wc -l)
is "$left $(wc -l < "$WORK/killed.pids")" "0 20" \
    "a killed ferry leaves nothing in /dev/shm (libmongoc's counters file is unlinked at start)"
diag "20 SIGKILLs sent, $interrupted of them while ferry was running"
ok $(( interrupted >= 15 ? 0 : 1 )) "at least 15 of the 20 SIGKILLs hit a running ferry"
"$FERRY" run -c "$WORK/kill.ini" >>"$WORK/kill.log" 2>&1; code=$?
is "$code" 0 "the run after the kills completes (exit 0)"
is "$(find "$WORK/out" -name '.*.tmp' | wc -l)" 0 "no temporary file is left behind"
load_csv "$WORK/out" events loaded
is "$(pg_sql "SELECT count(*) FROM loaded")" "$source_rows" "the sink holds exactly the source's row count ($source_rows)"
is "$(pg_sql "SELECT count(*) - count(DISTINCT id) FROM loaded")" 0 "no key appears twice: no duplicates"
is "$(rows_differ events loaded)" 0 "the rows equal the source's row for row"
status=$("$FERRY" status -c "$WORK/kill.ini")
like "$status" "public.events +complete +[0-9]+/[0-9]+ +$source_rows " "status: complete, with the source's row count"
diag "$(echo "$status" | head -2 | tail -1)"

# SIGTERM: the batch in flight is dropped, exit 75, and a rerun completes.
"$FERRY" reset -c "$WORK/kill.ini" >/dev/null
"$FERRY" run -c "$WORK/kill.ini" >"$WORK/term.log" 2>&1 &
pid=$!
wait_for_checkpoint "$WORK/kill.state" # mid-run: after the first checkpoint
kill -TERM "$pid"
wait "$pid"; code=$?
is "$code" 75 "SIGTERM mid-run: exit 75 (work left, rerun resumes)"
like "$(cat "$WORK/term.log")" "stop requested" "and it says it is stopping"
"$FERRY" run -c "$WORK/kill.ini" >"$WORK/term2.log" 2>&1; code=$?
is "$code" 0 "the rerun after SIGTERM completes"
load_csv "$WORK/out" events loaded2
is "$(rows_differ events loaded2)" 0 "after reset, SIGTERM and resume the rows still equal the source's"

# Two workers: SIGKILLs at random points, then one run; the same rows as one worker wrote.
cp -r "$WORK/out" "$WORK/out-one-worker"
"$FERRY" reset -c "$WORK/kill.ini" >/dev/null
# Two workers are below the floor at 8MB (the budget keeps a worker's reserve): 14MB.
sed -i 's/^workers = 1$/workers = 2/; s/^memory_limit = 8MB$/memory_limit = 14MB/' "$WORK/kill.ini"
hits=$(kill_at_random "$WORK/kill.ini" "$WORK/kill2.log" 10 30 120)
diag "workers=2: $hits of 10 SIGKILLs hit a running ferry"
ok $(( hits >= 5 ? 0 : 1 )) "workers=2: at least 5 SIGKILLs hit a running ferry"
"$FERRY" run -c "$WORK/kill.ini" >>"$WORK/kill2.log" 2>&1; code=$?
is "$code" 0 "workers=2: the run after the kills completes"
load_csv "$WORK/out" events loaded_two
load_csv "$WORK/out-one-worker" events loaded_one
is "$(pg_sql "SELECT count(*) - count(DISTINCT id) FROM loaded_two")" 0 "workers=2: no duplicates"
is "$(rows_differ events loaded_two)" 0 "workers=2: the rows equal the source's"
is "$(rows_differ loaded_one loaded_two)" 0 "workers=2 wrote exactly the rows one worker wrote"

done_testing
