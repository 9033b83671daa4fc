#!/usr/bin/env bash
# Keys that repeat: Redshift does not enforce its primary keys, and a declared key may not be
# unique. on_duplicate_key = fail names the table and the key before the rows are written;
# keep_last writes one row per key, keep_all every row; a batch, and so a checkpoint, never ends
# between two rows of one key, so SIGKILLs and resumes neither lose nor double them.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/redshift.sh"
. "$ROOT/tests/lib/mongo.sh"
trap 'rs_stop; mongo_stop; cleanup' EXIT
pg_start
rs_start || { echo "Bail out! the Redshift front end did not start"; exit 1; }
mongo_start
cd "$WORK"

# A declared primary key holding repeats, as Redshift allows (the backing index is made not
# ready, so PostgreSQL keeps the constraint and takes the rows): 600 keys, every seventh twice
# and every 50th three times, each row told apart by n.
pg_sql "CREATE TABLE public.dupkey (id int PRIMARY KEY, n int NOT NULL, v varchar(40));
        UPDATE pg_index SET indisready = false, indisvalid = false WHERE indrelid = 'public.dupkey'::regclass;
        INSERT INTO dupkey SELECT g, g, md5(g::text) FROM generate_series(1, 600) g;
        INSERT INTO dupkey SELECT g, 1000 + g, 'again' FROM generate_series(1, 600) g WHERE g % 7 = 0;
        INSERT INTO dupkey SELECT g, 2000 + g, 'third' FROM generate_series(1, 600) g WHERE g % 50 = 0;
        ANALYZE dupkey" >/dev/null
total=$(pg_sql "SELECT count(*) FROM dupkey")
keys=$(pg_sql "SELECT count(DISTINCT id) FROM dupkey")

# ---- fail (the default): the table fails, named with its key and a repeated value ----
write_rs_config "$WORK/fail.ini" "$WORK/fail"
printf '[table public.dupkey]\n' >> "$WORK/fail.ini"
"$FERRY" run -c "$WORK/fail.ini" > "$WORK/fail.log" 2>&1; code=$?
like "$code $(tr "\n" " " < "$WORK/fail.log")" \
    "^1 .*table public.dupkey partition 0: key \(id\) is not unique: rows would be lost \(id = 7 appears more than once\); set on_duplicate_key = keep_last or keep_all for table public.dupkey" \
    "fail: the run exits 1, naming the table, its partition, the key, the first repeated value and what to set"
is "$(find "$WORK/fail" -type f ! -name .ferry-owner 2>/dev/null | wc -l)" 0 "fail: nothing was written (but the folder's owner marker)"
like "$(cat "$WORK/fail.log")" "not enforced by the server; repeated keys are looked for as rows are read" \
    "fail: on Redshift the plan scans no GROUP BY of the table; the reader looks"
if rs_real; then skip "the front's log"
else is "$(grep -ci 'group by' "$RS_LOG")" 0 "no GROUP BY was sent to the cluster"; fi

# ---- the same state goes on under keep_last: fail wrote no key's rows, so the choice may follow ----
printf 'on_duplicate_key = keep_last\n' >> "$WORK/fail.ini"
"$FERRY" run -c "$WORK/fail.ini" > "$WORK/fail2.log" 2>&1
is "$? $(cat "$WORK"/fail/public.dupkey/* | wc -l)" "0 $(pg_sql "SELECT count(DISTINCT id) FROM dupkey")" \
    "after the failure, keep_last on the same state: the run completes, one row per key"

# ---- keep_last: one row per key, one of that key's rows; verify agrees ----
write_rs_config "$WORK/last.ini" "$WORK/last" "workers = 2"
printf '[table public.dupkey]\non_duplicate_key = keep_last\npartition_rows = 1000\n' >> "$WORK/last.ini"
like "$("$FERRY" plan -c "$WORK/last.ini" 2>&1)" "key: +id \(primary key, not enforced by the server\); repeated keys: keep_last" \
    "plan says the key is not enforced and what repeats become"
"$FERRY" run -c "$WORK/last.ini" > "$WORK/last.log" 2>&1
is "$?" 0 "keep_last: the run exits 0"
load_ndjson "$WORK/last" got_last
is "$(pg_sql "SELECT count(*), count(DISTINCT (doc->>'id')::int) FROM got_last")" "$keys|$keys" \
    "keep_last: $keys rows, one per key ($total in the source)"
is "$(pg_sql "SELECT count(*) FROM got_last g WHERE NOT EXISTS (SELECT 1 FROM dupkey d
                WHERE d.id = (g.doc->>'id')::int AND d.n = (g.doc->>'n')::int AND d.v = g.doc->>'v')")" 0 \
    "keep_last: each row written is one of its key's rows, whole"
like "$(cat "$WORK/last.log")" "table public.dupkey: $(( total - keys )) row\(s\) read in this run repeated the key of the row before; only the last row of each key was written" \
    "keep_last: the log counts the rows dropped"
"$FERRY" verify -c "$WORK/last.ini" > "$WORK/last-verify.log" 2>&1
is "$?" 0 "keep_last: ferry verify agrees (each source key counted once)"

# ---- keep_all: every row; verify agrees ----
write_rs_config "$WORK/all.ini" "$WORK/all"
printf '[table public.dupkey]\non_duplicate_key = keep_all\n' >> "$WORK/all.ini"
"$FERRY" run -c "$WORK/all.ini" > "$WORK/all.log" 2>&1
is "$?" 0 "keep_all: the run exits 0"
load_ndjson "$WORK/all" got_all
is "$(pg_sql "SELECT count(*) FROM (SELECT id, n, v FROM dupkey EXCEPT ALL
                SELECT (doc->>'id')::int, (doc->>'n')::int, doc->>'v' FROM got_all) d"),$(pg_sql "SELECT count(*) FROM got_all")" \
    "0,$total" "keep_all: all $total rows, each once"
"$FERRY" verify -c "$WORK/all.ini" > "$WORK/all-verify.log" 2>&1
is "$?" 0 "keep_all: ferry verify agrees"

# ---- a changed choice on a started table is refused, not mixed ----
sed -i 's/^on_duplicate_key = keep_all$/on_duplicate_key = keep_last/' "$WORK/all.ini"
"$FERRY" run -c "$WORK/all.ini" > "$WORK/all2.log" 2>&1; code=$?
like "$code $(cat "$WORK/all2.log")" "^78 .*option 'table public.dupkey.on_duplicate_key' is \"keep_last\" but this state was started with \"keep_all\"" \
    "keep_all then keep_last on the same state: refused (exit 78) until the table is reset"
like "$(cat "$WORK/all2.log")" 'run `ferry reset -c FILE public.dupkey` to copy that table again' \
    "and the advice names the table to reset"

# ---- into MongoDB: keep_last is one document per key; keep_all is refused where it would merge ----
write_mongo_config "$WORK/mongo.ini"
sed -i "s|^conninfo = .*|conninfo = $(rs_conninfo)|" "$WORK/mongo.ini"
printf '[table public.dupkey]\non_duplicate_key = keep_last\n' >> "$WORK/mongo.ini"
"$FERRY" run -c "$WORK/mongo.ini" > "$WORK/mongo.log" 2>&1
is "$? $(mongo_tool count public.dupkey)" "0 $keys" "keep_last into MongoDB: exit 0, $keys documents"
"$FERRY" verify -c "$WORK/mongo.ini" > "$WORK/mongo-verify.log" 2>&1
is "$?" 0 "keep_last into MongoDB: ferry verify agrees"
write_mongo_config "$WORK/mongo-all.ini"
printf '[table public.dupkey]\non_duplicate_key = keep_all\n' >> "$WORK/mongo-all.ini"
line=$(grep -n '^on_duplicate_key' "$WORK/mongo-all.ini" | cut -d: -f1)
"$FERRY" run -c "$WORK/mongo-all.ini" > "$WORK/mongo-all.log" 2>&1; code=$?
like "$code $(cat "$WORK/mongo-all.log")" \
    "^78 .*mongo-all.ini:$line: key 'on_duplicate_key': keep_all keeps every row of a repeated key, but the mongo sink stores one row per key" \
    "keep_all into MongoDB: refused before anything runs, naming the file, line and key"

# ---- SIGKILLs between the rows of one key: a declared key on PostgreSQL, three rows a key ----
# Batches of a few thousand rows end wherever the memory says, so without whole keys per batch a
# checkpoint would fall inside a key's rows about two times in three, and the resume after it
# (key > checkpoint) would lose the rest of them.
pg_sql "CREATE TABLE public.reps (id int NOT NULL, n int, body text);
        INSERT INTO reps SELECT g / 3, g, repeat(md5(g::text), 24) FROM generate_series(0, 149999) g;
        ANALYZE reps" >/dev/null
reps_keys=$(pg_sql "SELECT count(DISTINCT id) FROM reps")
for mode in keep_all keep_last; do
    write_config "$WORK/reps-$mode.ini" "$WORK/reps-$mode" ndjson "memory_limit = 64MB
workers = 2"
    printf '[table public.reps]\nkey = id\non_duplicate_key = %s\npartition_rows = 100000\n' "$mode" >> "$WORK/reps-$mode.ini"
    hits=$(kill_after_checkpoints "$WORK/reps-$mode.ini" "$WORK/reps-$mode.state" "$WORK/reps-$mode.log" 10 150)
    "$FERRY" run -c "$WORK/reps-$mode.ini" >> "$WORK/reps-$mode.log" 2>&1
    is "$?" 0 "$mode: $hits of 10 SIGKILLs hit a running ferry; the run after exits 0"
    load_ndjson "$WORK/reps-$mode" got_reps
    if [ "$mode" = keep_all ]; then
        is "$(pg_sql "SELECT count(*) FROM (SELECT id, n FROM reps EXCEPT ALL
                        SELECT (doc->>'id')::int, (doc->>'n')::int FROM got_reps) d"),$(pg_sql "SELECT count(*) FROM got_reps")" \
            "0,150000" "keep_all after the kills: all 150000 rows, each once (every key's three)"
    else
        is "$(pg_sql "SELECT count(*), count(DISTINCT (doc->>'id')::int) FROM got_reps")" "$reps_keys|$reps_keys" \
            "keep_last after the kills: $reps_keys rows, one per key"
        is "$(pg_sql "SELECT count(*) FROM got_reps g WHERE NOT EXISTS (SELECT 1 FROM reps r
                        WHERE r.id = (g.doc->>'id')::int AND r.n = (g.doc->>'n')::int)")" 0 \
            "keep_last after the kills: each row is one of its key's"
    fi
    batches=$(sqlite3 "$WORK/reps-$mode.state" "SELECT sum(next_seq) FROM partitions")
    ok "$([ "$batches" -gt 6 ]; echo $?)" "$mode: the table was written in $batches segments (batch ends met many keys)"
    "$FERRY" verify -c "$WORK/reps-$mode.ini" > "$WORK/reps-$mode-verify.log" 2>&1
    is "$?" 0 "$mode: ferry verify agrees"
done

done_testing
