#!/usr/bin/env bash
# The fault matrix: server-side kills, statement timeouts, a server restart, a frozen and a cut
# connection, SIGKILLs during all that, and injected sink and state failures. Every case must end
# with exactly the source's rows: none lost, none doubled.
. "$(dirname "$0")/../lib/common.sh"
RELAY_BIN=$ROOT/build/relay
pg_start

pg_sql "
CREATE TABLE public.events (id bigint PRIMARY KEY, kind text, payload jsonb, amount numeric(14,4), note text);
INSERT INTO events SELECT g, (ARRAY['a','b','c'])[1 + g % 3], jsonb_build_object('g', g), g * 1.0001,
    CASE WHEN g % 13 = 0 THEN NULL ELSE repeat(md5(g::text), 2) END
FROM generate_series(1, 400000) g;
ANALYZE events;"
source_rows=$(pg_sql "SELECT count(*) FROM events")

MATRIX=""
# fault_config NAME [port] — a config with quick retries for the fault cases, two workers. The
# injected faults name their partition (FERRY_FAULTS="point@P=N"), so which call fails does not
# depend on which worker reaches it first.
fault_config() {
    local name=$1 port=${2:-$PGPORT}
    rm -rf "$WORK/$name" "$WORK/$name".state*
    cat > "$WORK/$name.ini" <<INI
[ferry]
state = $name.state
${FERRY_TEST_READ_ORDER:+read_order = $FERRY_TEST_READ_ORDER}
workers = 2
memory_limit = 14MB
retry_attempts = 60
retry_base_ms = 50
retry_cap_ms = 1000
retry_max_seconds = 120

[source]
conninfo = host=127.0.0.1 port=$port user=ferry dbname=postgres
connect_timeout = 2
read_timeout = 2

[sink]
type = dir
path = $name
format = csv

[table public.events]
partition_rows = 40000
INI
}

# check NAME FAULT KILLS [SOURCE]: compare the sink with the source (a table or view, default
# events), add a matrix row, assert no loss or duplicate.
check() {
    local name=$1 fault=$2 kills=$3 src=${4:-events}
    load_csv "$WORK/$name" events "loaded_$name"
    local expected found dups differ
    expected=$(pg_sql "SELECT count(*) FROM $src")
    found=$(pg_sql "SELECT count(*) FROM loaded_$name")
    dups=$(pg_sql "SELECT count(*) - count(DISTINCT id) FROM loaded_$name")
    differ=$(rows_differ "$src" "loaded_$name")
    MATRIX+=$(printf '\n# %-44s %6s %10s %10s %10s' "$fault" "$kills" "$expected" "$found" "$dups")
    is "$found|$dups|$differ" "$expected|0|0" "$fault: rows found = expected, 0 duplicates, rows equal"
    "$FERRY" verify -c "$WORK/$name.ini" >"$WORK/$name.verify" 2>&1
    is "$?" 0 "$fault: ferry verify finds every partition equal to the source"
    pg_sql "DROP TABLE loaded_$name"
}

terminations() { # kill ferry's backends; prints how many
    pg_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE application_name = 'ferry' AND pid <> pg_backend_pid()" 2>/dev/null || echo 0
}

# --- 1. pg_terminate_backend every 50 ms, during one run (read with a cursor: more round trips) ---
fault_config term
sed -i 's/^\[source\]/[source]\nread_method = cursor/' "$WORK/term.ini"
"$FERRY" run -c "$WORK/term.ini" >"$WORK/term.log" 2>&1 &
pid=$!
killed=0
# The first kills come right after checkpoints (events: a fast run meets them as a slow one
# does), then every 50 ms to the end.
last=0
while kill -0 "$pid" 2>/dev/null; do
    if [ "$killed" -lt 3 ]; then
        now=$(sqlite3 "$WORK/term.state" "SELECT coalesce(sum(rows), 0) FROM partitions" 2>/dev/null || echo 0)
        if [ "${now:-0}" -le "$last" ]; then sleep 0.01; continue; fi
        last=$now
    fi
    n=$(terminations); killed=$((killed + ${n:-0})); sleep 0.05
done
wait "$pid"; code=$?
is "$code" 0 "terminate: one run survives $killed server-side kills and completes"
ok $(( killed >= 3 ? 0 : 1 )) "terminate: the run met at least 3 kills (it met $killed)"
check term "pg_terminate_backend every 50 ms" "$killed"

# --- 2. statement_timeout below what one partition needs: FETCH shrinks, partitions split ---
# Ferry reads 100,000 rows, as one partition, as a role whose rows pass a slow row-level
# security check: every 40th row sleeps 1 ms, so no machine reads more than 40,000 rows a second
# (a floor, not a CPU cost a faster machine beats). A FETCH of the whole partition takes seconds
# while statement_timeout allows 300 ms, and halving the FETCH once is not enough.
pg_sql "
CREATE ROLE reader LOGIN;
GRANT SELECT ON events TO reader;
CREATE FUNCTION costly(i bigint) RETURNS boolean LANGUAGE plpgsql AS \$\$
DECLARE s bigint := 0; BEGIN FOR j IN 1..400 LOOP s := s + j; END LOOP; RETURN s > 0; END \$\$;
CREATE FUNCTION paced(i bigint) RETURNS boolean LANGUAGE plpgsql AS \$\$
BEGIN IF i % 40 = 0 THEN PERFORM pg_sleep(0.001); END IF; RETURN true; END \$\$;
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
CREATE POLICY paced_read ON events FOR SELECT TO reader USING (paced(id));
ALTER ROLE reader SET statement_timeout = '300ms';"
fault_config timeout
sed -i 's/user=ferry/user=reader/; s/^partition_rows = 40000/partition_rows = 400000\nwhere = id <= 100000/; s/^memory_limit = 14MB/memory_limit = 64MB/' \
    "$WORK/timeout.ini"
pg_sql "CREATE VIEW events_head AS SELECT * FROM events WHERE id <= 100000"
"$FERRY" run -c "$WORK/timeout.ini" >"$WORK/timeout.log" 2>&1; code=$?
is "$code" 0 "statement_timeout: the run completes"
timeouts=$(grep -c "canceling statement due to statement timeout" "$WORK/timeout.log")
like "$(cat "$WORK/timeout.log")" "split its remaining" "statement_timeout: the partition was split"
parts=$(sqlite3 "$WORK/timeout.state" "SELECT count(*) FROM partitions")
ok $(( parts > 1 ? 0 : 1 )) "statement_timeout: the split is kept in the state ($parts partitions)"
pg_sql "ALTER TABLE events DISABLE ROW LEVEL SECURITY"
check timeout "statement_timeout 300 ms, split + smaller FETCH" "$timeouts" events_head

# --- 2a. a partition too small to split, killed three times: read whole, not given up ---
# (source_kill: the server cancels a FETCH or COPY as statement_timeout does, SQLSTATE 57014)
fault_config small
sed -i 's/^partition_rows = 40000/partition_rows = 40000\nwhere = id <= 60/' "$WORK/small.ini"
pg_sql "CREATE VIEW events_60 AS SELECT * FROM events WHERE id <= 60"
FERRY_FAULTS="source_kill@0=1,source_kill@0=2,source_kill@0=3" \
    "$FERRY" run -c "$WORK/small.ini" >"$WORK/small.log" 2>&1; code=$?
is "$code $(grep -c 'injected fault: canceling statement' "$WORK/small.log")" "0 3" \
    "a 60-row partition killed 3 times: the run completes (exit 0) after the 3 kills"
like "$(cat "$WORK/small.log")" "remaining key range \(-inf, \+inf\] \(about [0-9]+ rows\) is too small to split; reading it whole" \
    "the log says the range was too small to split and was read whole"
like "$(cat "$WORK/small.log")" "FETCHes now ask for at most [0-9]+ rows" "and that FETCHes ask for fewer rows"
check small "3 kills of a range too small to split" 3 events_60
# killed at every read: once a FETCH of one row is killed, nothing more can help; the table fails, told why
fault_config hopeless
sed -i 's/^partition_rows = 40000/partition_rows = 40000\nwhere = id <= 60/' "$WORK/hopeless.ini"
FERRY_FAULTS="source_kill@0=1+" "$FERRY" run -c "$WORK/hopeless.ini" >"$WORK/hopeless.log" 2>&1; code=$?
like "$code $(grep ERROR "$WORK/hopeless.log" | head -1)" \
    "^1 .*partition 0 keeps being killed and its remaining key range \(-inf, \+inf\] is too small to split: raise the source's statement_timeout" \
    "killed at every FETCH, down to one row: exit 1, the partition named, what to raise said"
is "$(find "$WORK/hopeless" -type f ! -name .ferry-owner 2>/dev/null | wc -l)" 0 "and nothing was written (but the folder's owner marker)"

# --- 2b. killed again and again during one long partition that checkpoints between kills ---
# Each row passes costly() (above), so the partition takes seconds. The server terminates ferry's
# backend as soon as each new checkpoint is in, four times (progress is an event here, not a
# time: a fast machine must meet the kills as a slow one does). retry_attempts = 2 is fewer
# than the kills: only failures without a checkpoint between them may count, or the run would
# give up with work advancing.
fault_config everysec
sed -i 's/^retry_attempts = 60/retry_attempts = 2/; s/^partition_rows = 40000/partition_rows = 400000\nwhere = costly(id) AND id <= 150000/' \
    "$WORK/everysec.ini"
# read_timeout above a FETCH of costly rows (2 s is the cases' default): verify reads them too.
sed -i 's/^\[source\]/[source]\nread_method = cursor/; s/^read_timeout = 2$/read_timeout = 30/' "$WORK/everysec.ini"
pg_sql "CREATE VIEW events_150k AS SELECT * FROM events WHERE id <= 150000"
checkpointed() { sqlite3 "$WORK/everysec.state" "SELECT coalesce(sum(rows), 0) FROM partitions" 2>/dev/null || echo 0; }
"$FERRY" run -c "$WORK/everysec.ini" >"$WORK/everysec.log" 2>&1 &
pid=$!
killed=0
rounds=0
last=0
# Rounds, not backends: an idle second worker's connection, open or not at that moment, is not a
# kill of the partition's read.
while kill -0 "$pid" 2>/dev/null && [ "$rounds" -lt 4 ]; do
    # the next kill waits for a checkpoint past the last one
    while kill -0 "$pid" 2>/dev/null && [ "$(checkpointed)" -le "$last" ]; do sleep 0.05; done
    last=$(checkpointed)
    n=$(terminations); killed=$((killed + ${n:-0})); rounds=$((rounds + (${n:-0} > 0)))
done
wait "$pid"; code=$?
is "$code" 0 "killed after each of four checkpoints: one run completes (retry_attempts = 2, $killed kills)"
ok $(( rounds > 2 ? 0 : 1 )) "the run met more kills than retry_attempts allows in a row ($rounds rounds, $killed backends)"
like "$(grep -c 'retry 1 in' "$WORK/everysec.log")" '^([3-9]|[1-9][0-9]+)$' \
    "each kill after a checkpoint was retried as a first retry (the count started afresh)"
check everysec "pg_terminate_backend after each checkpoint, progress between" "$killed" events_150k

# --- 3. the server restarted (immediate shutdown) mid-run ---
fault_config restart
"$FERRY" run -c "$WORK/restart.ini" >"$WORK/restart.log" 2>&1 &
pid=$!
sleep 0.8
pg_restart_immediate
wait "$pid"; code=$?
is "$code" 0 "restart: the run survives pg_ctl restart -m immediate and completes"
check restart "pg_ctl restart -m immediate" 1

# --- 4. the connection frozen, then cut, through a relay ---
RELAY_PORT=$(free_port)
"$RELAY_BIN" "$RELAY_PORT" "$PGPORT" >"$WORK/relay.out" 2>&1 &
relay=$!
for _ in $(seq 1 50); do grep -q ready "$WORK/relay.out" && break; sleep 0.1; done
fault_config relay "$RELAY_PORT"
"$FERRY" run -c "$WORK/relay.ini" >"$WORK/relay.log" 2>&1 &
pid=$!
# Freeze once the workers read — after the first checkpoint — so a FETCH is what waits.
wait_for_checkpoint "$WORK/relay.state"
kill -USR1 "$relay"              # freeze: no byte moves, connections stay open
sleep 3.5; kill -USR1 "$relay"   # thaw
sleep 0.5; kill -USR2 "$relay"   # cut every connection
sleep 0.5; kill -USR2 "$relay"
wait "$pid"; code=$?
kill "$relay" 2>/dev/null; wait "$relay" 2>/dev/null
is "$code" 0 "relay: the run survives a frozen connection and two cuts"
like "$(cat "$WORK/relay.log")" "no data from the source for 2 s" "relay: the frozen connection was noticed by read_timeout"
sed -i "s/port=$RELAY_PORT/port=$PGPORT/" "$WORK/relay.ini" # verify reads past the relay, now gone
check relay "connection frozen 3.5 s, then cut twice" 3

# --- 5. SIGKILL of ferry at random points while its backends are being terminated ---
# Each run goes on where the last was killed, so the table must outlast ten short runs: each run is
# let make one checkpoint (progress, an event: a fast machine meets the kills as a slow one does),
# then its backends are terminated and it is killed within 60 ms.
fault_config chaos
sed -i 's/^\[source\]/[source]\nread_method = cursor/' "$WORK/chaos.ini"
kills=0 killed=0 last=0
for i in $(seq 1 10); do
    "$FERRY" run -c "$WORK/chaos.ini" >>"$WORK/chaos.log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        now=$(sqlite3 "$WORK/chaos.state" "SELECT coalesce(sum(rows), 0) FROM partitions" 2>/dev/null || echo 0)
        [ "${now:-0}" -gt "$last" ] && break
        sleep 0.01
    done
    last=${now:-$last}
    n=$(terminations); killed=$((killed + ${n:-0}))
    sleep "$(printf '0.%03d' $(( RANDOM % 60 )))"
    kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null
done
"$FERRY" run -c "$WORK/chaos.ini" >>"$WORK/chaos.log" 2>&1; code=$?
is "$code" 0 "chaos: after $kills SIGKILLs and $killed backend kills, a last run completes"
ok $(( kills >= 5 ? 0 : 1 )) "chaos: at least 5 of 10 SIGKILLs hit a running ferry (hit: $kills)"
check chaos "SIGKILL ($kills) + pg_terminate_backend ($killed)" "$((kills + killed))"

# --- 6. injected failures: before a sink write, inside one, at the sink's commit (fsynced, not yet
# renamed), at a state commit, at FETCHes — each in a partition of its own, two workers ---
fault_config inject
FERRY_FAULTS="sink_write@1=3,sink_mid_write@2=2,sink_commit@3=2,state_commit@4=3,source_fetch@5=2,source_fetch@6=4" \
    "$FERRY" run -c "$WORK/inject.ini" >"$WORK/inject.log" 2>&1; code=$?
is "$code" 0 "injected: the run retries past 6 injected failures and completes"
is "$(grep -c "injected fault" "$WORK/inject.log")" 6 "injected: all 6 failures happened and were reported"
like "$(grep "injected fault" "$WORK/inject.log" | grep -o 'partition [0-9]*' | sort -u | tr '\n' ' ')" \
    "partition 1 partition 2 partition 3 partition 4 partition 5 partition 6" "injected: each in the partition it names"
is "$(find "$WORK/inject" -name '.*.tmp' | wc -l)" 0 "injected: no temporary file is left behind"
check inject "injected sink/state/fetch failures" 6

# --- 7. the sink's disk full for good: exit 75, nothing damaged, a rerun resumes ---
fault_config full
sed -i 's/^retry_attempts = 60/retry_attempts = 1/' "$WORK/full.ini"
FERRY_FAULTS="sink_write@0=4+" "$FERRY" run -c "$WORK/full.ini" >"$WORK/full.log" 2>&1; code=$?
is "$code" 75 "sink failing past its retries: exit 75 (work left)"
like "$("$FERRY" status -c "$WORK/full.ini")" "last error: .*injected fault: sink write failed" "status shows the last error"
"$FERRY" run -c "$WORK/full.ini" >>"$WORK/full.log" 2>&1; code=$?
is "$code" 0 "full: the rerun completes"
check full "sink write failing for good (partition 0)" "$(grep -c 'injected fault' "$WORK/full.log")"

# --- 8. the state file failing past its retries (a full disk): exit 75, nothing corrupt, resume ---
fault_config statefull
sed -i 's/^retry_attempts = 60/retry_attempts = 1/' "$WORK/statefull.ini"
FERRY_FAULTS="state_commit@0=3+" "$FERRY" run -c "$WORK/statefull.ini" >"$WORK/statefull.log" 2>&1; code=$?
is "$code" 75 "state commits failing past their retries: exit 75"
is "$(sqlite3 "$WORK/statefull.state" "PRAGMA integrity_check")" "ok" "the state file is intact"
"$FERRY" run -c "$WORK/statefull.ini" >>"$WORK/statefull.log" 2>&1; code=$?
is "$code" 0 "statefull: the rerun completes"
check statefull "state commit failing for good (partition 0)" "$(grep -c 'injected fault' "$WORK/statefull.log")"

echo "# fault matrix"
printf '# %-44s %6s %10s %10s %10s' "fault" "kills" "expected" "found" "duplicates"
echo "$MATRIX"
done_testing
