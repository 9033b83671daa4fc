#!/usr/bin/env bash
# The postgres sink, into a second PostgreSQL 15: every type round-trips (EXCEPT ALL both ways),
# a rerun changes nothing, a target that does not match is refused before any load, bad rows are
# named or set aside, SIGKILLs with load = upsert and with load = append on a keyless target, a
# checkpoint lost after the target's commit, the target restarted and its backends terminated
# mid-load: the target equals the source exactly every time.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/pgtarget.sh"
pg_start
trap 'target_stop; cleanup' EXIT
target_start
psql -X -q -v ON_ERROR_STOP=1 -f "$ROOT/tests/lib/types.sql"

# copy_back TABLE SOURCE_LIKE AS: the target's TABLE into the source as AS (made LIKE SOURCE_LIKE),
# read out and in by psql, so the source's own operators compare the two.
copy_back() {
    pg_sql "DROP TABLE IF EXISTS $3; CREATE TABLE $3 (LIKE $2)"
    psql -X -q -h 127.0.0.1 -p "$TARGET_PORT" -U ferry -d postgres -c "COPY $1 TO STDOUT" |
        psql -X -q -v ON_ERROR_STOP=1 -c "COPY $3 FROM STDIN"
}
# differ A B: rows of A not in B plus rows of B not in A, duplicates counted.
differ() {
    pg_sql "SELECT (SELECT count(*) FROM (SELECT * FROM $1 EXCEPT ALL SELECT * FROM $2) a)
                 + (SELECT count(*) FROM (SELECT * FROM $2 EXCEPT ALL SELECT * FROM $1) b)"
}
# fingerprint TABLE: the target table's rows and the ledger, as one hash (a rerun must not move it).
fingerprint() {
    target_sql "SELECT md5((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM $1 t) ||
                           (SELECT string_agg(l::text, '|' ORDER BY l::text) FROM ferry_ledger l))"
}

# --- every type, into a table ferry creates ---
write_pg_config "$WORK/types.ini" "create_table = true"
sed -i "s|^conninfo = \(.*port=$TARGET_PORT.*\)|conninfo = \1 password=tgt-Secret-51|" "$WORK/types.ini"
chmod 600 "$WORK/types.ini" # it holds a password now: ferry refuses it readable by others
printf '[table public.types]\npartition_rows = 1000\n' >> "$WORK/types.ini"
"$FERRY" run -c "$WORK/types.ini" >"$WORK/types.log" 2>&1; code=$?
is "$code" 0 "types: ferry run exits 0"
like "$(cat "$WORK/types.log")" "created table public.types" "the missing target table is created"
is "$(target_sql "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
                  FROM pg_attribute WHERE attrelid = 'public.types'::regclass AND attnum > 0")" \
   "$(pg_sql "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
              FROM pg_attribute WHERE attrelid = 'public.types'::regclass AND attnum > 0")" \
   "with the source's columns and types"
is "$(target_sql "SELECT count(*) FROM pg_index WHERE indrelid = 'public.types'::regclass AND indisprimary")" 1 \
   "and the source's primary key"
copy_back types types types_back
is "$(differ types types_back)" 0 "every type round-trips exactly: EXCEPT ALL both ways is empty (3000 rows)"
"$FERRY" verify -c "$WORK/types.ini" >"$WORK/verify.log" 2>&1; code=$?
is "$code" 0 "verify: count and key hash per partition agree"
like "$(cat "$WORK/verify.log")" "3 partition\(s\) compared, 0 mismatch" "verify compares the 3 partitions"
before=$(fingerprint types)
"$FERRY" run -c "$WORK/types.ini" >>"$WORK/types.log" 2>&1; code=$?
is "$code" 0 "a rerun of the finished job exits 0"
is "$(fingerprint types)" "$before" "and changes nothing: the table and the ledger are as they were"
secret_seen=$( (cat "$WORK/types.log" "$WORK/verify.log"; sqlite3 "$WORK/types.state" .dump;
                "$FERRY" status -c "$WORK/types.ini") 2>&1 | grep -c 'tgt-Secret-51')
is "$secret_seen" 0 "the target's password is in no log, no state and no status"

# --- a target that does not match is refused before any load ---
target_sql "CREATE TABLE public.mismatch (id bigint PRIMARY KEY, i2 integer, extra text NOT NULL)"
write_pg_config "$WORK/mismatch.ini"
printf '[table public.types]\ntarget = public.mismatch\ncolumns = id, i2, txt\n' >> "$WORK/mismatch.ini"
out=$("$FERRY" run -c "$WORK/mismatch.ini" 2>&1); code=$?
ok $(( code != 0 ? 0 : 1 )) "a target whose columns differ: the run fails (exit $code)"
like "$out" "column i2 is integer there, smallint in the source" "the message names a column whose type differs"
like "$out" "column txt is missing" "and a column the target lacks"
like "$out" "column extra is NOT NULL without a default" "and a column the load could not fill"
is "$(target_sql "SELECT count(*) FROM mismatch")" 0 "nothing was loaded"

# --- keep_all into a table that keeps one row per key is refused at its line ---
write_pg_config "$WORK/keepall.ini"
printf '[table public.types]\non_duplicate_key = keep_all\n' >> "$WORK/keepall.ini"
out=$("$FERRY" plan -c "$WORK/keepall.ini" 2>&1); code=$?
is "$code" 78 "load = upsert with on_duplicate_key = keep_all: refused as a bad configuration"
like "$out" "keepall.ini:[0-9]+: key 'on_duplicate_key': keep_all .* postgres sink stores one row per key" \
    "naming the file, the line and the key"
sed -i 's/^type = postgres$/type = postgres\nload = append/' "$WORK/keepall.ini"
"$FERRY" plan -c "$WORK/keepall.ini" >/dev/null 2>&1; code=$?
is "$code" 0 "with load = append, keep_all is taken"

# --- bad rows: named, or set aside ---
pg_sql "CREATE TABLE public.checked (id bigint PRIMARY KEY, v integer);
        INSERT INTO checked SELECT g, g FROM generate_series(1, 2000) g"
target_sql "CREATE TABLE public.checked (id bigint PRIMARY KEY, v integer CHECK (v <> 77 AND v <> 1500))"
write_pg_config "$WORK/bad.ini"
printf '[table public.checked]\npartition_rows = 1000\n' >> "$WORK/bad.ini"
out=$("$FERRY" run -c "$WORK/bad.ini" 2>&1); code=$?
is "$code" 1 "on_reject = fail: a row the target refuses fails the table (exit 1)"
like "$out" "table public.checked, key \(id\) = \(77\): .*violates check constraint" \
    "the message names the table, the key and the target's reason"
write_pg_config "$WORK/skip.ini" "on_reject = skip
reject_dir = $WORK/rejects"
printf '[table public.checked]\npartition_rows = 1000\n' >> "$WORK/skip.ini"
target_sql "TRUNCATE checked"
# Another job (another state file) on the same target: it takes it over, as it must say.
out=$("$FERRY" run -c "$WORK/skip.ini" --take-over public.checked 2>&1); code=$?
is "$code" 0 "on_reject = skip: the run completes"
is "$(target_sql "SELECT count(*), sum(id) FROM checked")" "1998|$(( 2001000 - 77 - 1500 ))" \
   "every row but the two refused is in the target"
rejects=$(cat "$WORK"/rejects/public.checked.p*.ndjson 2>/dev/null)
like "$rejects" '"table":"public.checked".*"key":\{"id":"77"\}.*check constraint' "the reject file names row 77 and why"
like "$rejects" '"key":\{"id":"1500"\}' "and row 1500"
like "$("$FERRY" status -c "$WORK/skip.ini")" "public.checked +complete .* 2 rejected" "status counts the two rows set aside"

# --- load = upsert into a table that held rows first: staged and merged by key ---
target_sql "CREATE TABLE public.held (id bigint PRIMARY KEY, v integer);
            INSERT INTO held SELECT g, -g FROM generate_series(1500, 2600) g" # 1500..2000 the source's too
write_pg_config "$WORK/held.ini"
sed -i "s/^\[ferry\]/[ferry]\nmemory_limit = 8MB/" "$WORK/held.ini"
printf '[table public.checked]\ntarget = public.held\npartition_rows = 1000\n' >> "$WORK/held.ini"
FERRY_FAULTS="sink_commit=2,sink_mid_write=3" "$FERRY" run -c "$WORK/held.ini" >"$WORK/held.log" 2>&1; code=$?
is "$code" 0 "upsert into a table with rows of its own: the run completes (two failed loads retried)"
is "$(target_sql "SELECT count(*), count(*) FILTER (WHERE v = id), count(*) FILTER (WHERE v = -id AND id > 2000)
                  FROM held")" "2600|2000|600" \
   "the source's 2000 rows replace the target's of their key; its 600 others stay"
is "$(target_sql "SELECT sum(rows) FROM ferry_ledger WHERE target = 'public.held' AND partition >= 0")" 2000 \
   "the ledger counts the 2000 rows once, the retried loads included"

# --- SIGKILLs at random points ---
pg_sql "CREATE TABLE public.events (id bigint PRIMARY KEY, kind text, payload jsonb, note text);
        INSERT INTO events SELECT g * 3, (ARRAY['a','b','c'])[1 + g % 3], jsonb_build_object('g', g),
               CASE WHEN g % 7 = 0 THEN NULL ELSE repeat(md5(g::text), 1 + g % 3) END
        FROM generate_series(1, 1000000) g;
        ANALYZE events"
target_sql "CREATE TABLE public.events_log (id bigint, kind text, payload jsonb, note text)" # no key at all
for load in upsert append; do
    target=$([ "$load" = upsert ] && echo public.events || echo public.events_log)
    write_pg_config "$WORK/kill-$load.ini" "load = $load
create_table = true"
    sed -i "s/^\[ferry\]/[ferry]\nmemory_limit = 14MB\nworkers = 2/" "$WORK/kill-$load.ini"
    printf '[table public.events]\ntarget = %s\npartition_rows = 200000\n' "$target" >> "$WORK/kill-$load.ini"
    hits=$(kill_after_checkpoints "$WORK/kill-$load.ini" "$WORK/kill-$load.state" "$WORK/kill-$load.log" 10 250)
    diag "load = $load: $hits of 10 SIGKILLs hit a running ferry"
    ok $(( hits >= 8 ? 0 : 1 )) "load = $load: at least 8 of 10 SIGKILLs hit a running ferry"
    "$FERRY" run -c "$WORK/kill-$load.ini" >>"$WORK/kill-$load.log" 2>&1; code=$?
    is "$code" 0 "load = $load: the run after the kills completes"
    copy_back "$target" events "back_$load"
    is "$(pg_sql "SELECT count(*) - count(DISTINCT id) FROM back_$load")" 0 "load = $load: no row is doubled"
    is "$(differ events "back_$load")" 0 "load = $load: the target equals the source exactly (1000000 rows)"
    is "$(target_sql "SELECT sum(rows) FROM ferry_ledger WHERE target = '$target'")" 1000000 \
       "load = $load: the ledger counts each row once"
    before=$(fingerprint "$target")
    "$FERRY" run -c "$WORK/kill-$load.ini" >>"$WORK/kill-$load.log" 2>&1
    is "$(fingerprint "$target")" "$before" "load = $load: a rerun changes neither the table nor the ledger"
done

# --- the checkpoint lost after the target committed: the ledger settles it ---
write_pg_config "$WORK/lost.ini" "load = append"
sed -i "s/^\[ferry\]/[ferry]\nmemory_limit = 8MB\nworkers = 1/" "$WORK/lost.ini"
printf '[table public.events]\ntarget = public.events_lost\npartition_rows = 200000\n' >> "$WORK/lost.ini"
target_sql "CREATE TABLE public.events_lost (id bigint, kind text, payload jsonb, note text)"
FERRY_FAULTS="state_commit=8,state_commit=15,state_commit=23" "$FERRY" run -c "$WORK/lost.ini" >"$WORK/lost.log" 2>&1
code=$?
is "$code" 0 "three checkpoints fail after the target's commit, and the run still completes"
is "$(grep -c 'was committed by the sink before ferry stopped; taken as done' "$WORK/lost.log")" 3 \
   "each of the three segments is found in the ledger and taken as done"
copy_back events_lost events back_lost
is "$(differ events back_lost)" 0 "none of them is loaded twice: the target equals the source"

# --- the target restarted, and its backends terminated, mid-load ---
write_pg_config "$WORK/crash.ini" "create_table = true"
sed -i "s/^\[ferry\]/[ferry]\nmemory_limit = 14MB\nworkers = 2\nretry_base_ms = 50\nretry_cap_ms = 500/" "$WORK/crash.ini"
printf '[table public.events]\ntarget = public.events_crash\npartition_rows = 100000\n' >> "$WORK/crash.ini"
rows_loaded() { target_sql "SELECT coalesce(sum(rows), 0) FROM ferry_ledger WHERE target = 'public.events_crash'" 2>/dev/null || echo 0; }
until_loaded() { # until the target holds more than $1 rows, or ferry is gone
    while kill -0 "$pid" 2>/dev/null && [ "$(rows_loaded)" -le "$1" ]; do sleep 0.05; done
}
"$FERRY" run -c "$WORK/crash.ini" >"$WORK/crash.log" 2>&1 &
pid=$!
until_loaded 0
target_restart_immediate
ok $(( $(rows_loaded) < 1000000 ? 0 : 1 )) "the target is restarted (-m immediate) mid-load"
seen=$(rows_loaded)
until_loaded "$seen"
killed=$(target_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'ferry'")
ok $(( killed > 0 && $(rows_loaded) < 1000000 ? 0 : 1 )) "and then ferry's backends are terminated mid-load ($killed)"
wait "$pid"; code=$?
is "$code" 0 "the run rides out both and completes"
like "$(cat "$WORK/crash.log")" "postgres sink.*retry" "it retried the failed loads"
copy_back events_crash events back_crash
is "$(differ events back_crash)" 0 "the target equals the source exactly"

done_testing
