#!/usr/bin/env bash
# The redshift sink, through the Redshift front end: segments staged in the S3 test store as CSV,
# COPYed from their manifest. Every type lands as README's mapping says (EXCEPT ALL both ways of
# the mapped values), values Redshift would round or cannot hold and strings over their VARCHAR's
# bytes are named or set aside, a rerun changes nothing, SIGKILLs with load = upsert and with
# load = append on a keyless target leave the target equal to the source, error 1023 and WLM
# aborts injected into loads are retried to an exact result, concurrent loads into one table take
# the lock and never race, and nothing staged is left behind.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/redshift.sh"
. "$ROOT/tests/lib/s3.sh"
trap 'rs_stop; s3_stop; cleanup' EXIT
pg_start
s3_start || { echo "Bail out! the S3 store did not start"; exit 1; }
rs_start $(rs_s3_args) || { echo "Bail out! the Redshift front end did not start"; exit 1; }
cd "$WORK"
if rs_real; then skip_all "the Redshift sink against a real cluster needs its role and bucket: not wired yet"; fi
psql -X -q -v ON_ERROR_STOP=1 -f "$ROOT/tests/lib/types.sql"
# A string of 40,000 characters and 80,000 bytes: within VARCHAR(65535) in characters, not in bytes.
pg_sql "INSERT INTO types (id, txt) VALUES (5000, repeat('é', 40000)); CREATE SCHEMA rs" >/dev/null

staged() { s3_aws s3 ls --recursive "s3://$S3_BUCKET/$S3_PREFIX/stage/" 2>/dev/null | wc -l; }
# differ A B: rows of A not in B plus rows of B not in A, duplicates counted.
differ() {
    local n
    n=$(pg_sql "SELECT (SELECT count(*) FROM ($1 EXCEPT ALL $2) a) + (SELECT count(*) FROM ($2 EXCEPT ALL $1) b)")
    [ "$n" != 0 ] && pg_sql "($1 EXCEPT ALL $2) LIMIT 2; ($2 EXCEPT ALL $1) LIMIT 2" | cut -c1-300 | sed 's/^/# /' >&2
    echo "$n"
}
fingerprint() { # TABLE: its rows and the ledger's, as one hash
    pg_sql "SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM $1 t), '') ||
                       (SELECT string_agg(l::text, '|' ORDER BY l::text) FROM (SELECT target, generation,
                        \"partition\", sequence, last_key, rows, rejected, last FROM ferry_ledger) l))"
}

# --- every type, into a table ferry creates by the mapping ---
write_rs_sink_config "$WORK/types.ini" "create_table = true
on_reject = skip
reject_dir = $WORK/rejects"
sed -i "s|^conninfo = \(.*port=$RS_PORT.*\)|conninfo = \1 password=rs-Secret-77|" "$WORK/types.ini"
chmod 600 "$WORK/types.ini" # it holds a password now: ferry refuses it readable by others
printf '[table public.types]\ntarget = rs.types\npartition_rows = 1000\n' >> "$WORK/types.ini"
: > "$RS_LOG"
"$FERRY" run -c "$WORK/types.ini" >"$WORK/types.log" 2>&1; code=$?
is "$code" 0 "types: ferry run exits 0"
like "$(cat "$WORK/types.log")" "created table rs.types" "the missing target table is created"
is "$(pg_sql "SELECT string_agg(column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', ''),
                               ', ' ORDER BY ordinal_position) FROM redshift_catalog.svv_columns
              WHERE table_schema = 'rs' AND table_name = 'types'")" \
   "id bigint, i2 smallint, i4 integer, f4 real, f8 double precision, n numeric, b boolean, txt character varying(65535), vc character varying(48), js super, raw binary varying, ts timestamp without time zone, tstz timestamp with time zone, d date, u character varying(65535), arr super, tarr super, iv character varying(65535), c character varying(12)" \
   "with README's mapping: text and varchar at 4 bytes a character, json and arrays SUPER, bytea VARBYTE"
is "$(pg_sql "SELECT numeric_precision || ',' || numeric_scale FROM redshift_catalog.svv_columns
              WHERE table_schema = 'rs' AND table_name = 'types' AND column_name = 'n'")" "38,9" \
   "numeric without a precision becomes NUMERIC(38,9)"
like "$(grep '^create rs.types' "$RS_LOG")" 'DISTKEY \("id"\) SORTKEY \("id"\)' "DISTKEY and SORTKEY from the key"
is "$(cat "$WORK"/rejects/rs.types.* 2>/dev/null | wc -l)" 4 "four rows are set aside"
rejects=$(cat "$WORK"/rejects/rs.types.*)
like "$rejects" '"id":"1".*column n: NaN: Redshift.s NUMERIC has none' "NaN is refused before staging, naming the column"
like "$rejects" '"id":"2".*column n: -123456789012345678901234567890.1234.* does not fit numeric\(38,9\)' \
     "so is a numeric COPY would round"
like "$rejects" '"id":"4".*column tstz: -infinity: Redshift has no infinite' "and an infinite timestamp"
like "$rejects" '"id":"5000".*column txt: String length exceeds DDL length \(Redshift load error 1204\)' \
     "a string over its VARCHAR's bytes is read back from stl_load_errors, the column and Redshift's reason named"
is "$(differ "SELECT id, i2, i4, f4, f8, n, b, txt, vc, js, raw, ts, tstz, d, u::text, array_to_json(arr)::jsonb,
                     array_to_json(tarr)::jsonb, iv::text, CASE WHEN c IS NOT NULL THEN concat(c) END FROM public.types WHERE id NOT IN (1, 2, 4, 5000)" \
             "SELECT id, i2, i4, f4, f8, n, b, txt, vc, js::jsonb, raw, ts, tstz, d, u, arr::jsonb, tarr::jsonb, iv, c
              FROM rs.types")" 0 \
   "every other row lands as the mapping says: EXCEPT ALL both ways is empty ($(pg_sql "SELECT count(*) - 4 FROM types") rows)"
is "$(staged)" 0 "nothing staged is left"
before=$(fingerprint rs.types)
"$FERRY" run -c "$WORK/types.ini" >>"$WORK/types.log" 2>&1; code=$?
is "$code" 0 "a rerun of the finished job exits 0"
is "$(fingerprint rs.types)" "$before" "and changes nothing: the table and the ledger are as they were"
secret_seen=$( (cat "$WORK/types.log"; sqlite3 "$WORK/types.state" .dump;
                "$FERRY" status -c "$WORK/types.ini") 2>&1 | grep -c 'rs-Secret-77')
is "$secret_seen" 0 "the cluster's password is in no log, no state and no status"

# --- on_reject = fail: the table fails naming the key, the column and Redshift's reason ---
write_rs_sink_config "$WORK/fail.ini" "create_table = true"
printf '[table public.types]\ntarget = rs.types_fail\npartition_rows = 1000\ncolumns = id, txt\n' >> "$WORK/fail.ini"
"$FERRY" run -c "$WORK/fail.ini" >"$WORK/fail.log" 2>&1; code=$?
ok $(( code != 0 ? 0 : 1 )) "a string over its VARCHAR's bytes fails the run"
like "$(cat "$WORK/fail.log")" 'table rs.types_fail, key \(id\) = \(5000\): column txt: String length exceeds DDL length' \
     "naming the table, the key, the column and Redshift's reason"
is "$(pg_sql "SELECT count(*) FROM rs.types_fail WHERE id = 5000")" 0 "the row is not loaded"

# --- a string key under upsert is refused at plan time: Redshift ignores trailing blanks ---
pg_sql "CREATE TABLE public.named (name text PRIMARY KEY, v int); INSERT INTO named VALUES ('a', 1), ('a ', 2)" >/dev/null
write_rs_sink_config "$WORK/named.ini" "create_table = true"
printf '[table public.named]\ntarget = rs.named\n' >> "$WORK/named.ini"
"$FERRY" plan -c "$WORK/named.ini" >"$WORK/named.log" 2>&1; code=$?
ok $(( code != 0 ? 0 : 1 )) "a text key with load = upsert is refused"
like "$(cat "$WORK/named.log")" "ignoring trailing blanks.*set load = append" "saying why and what to do"
sed -i 's/^type = redshift$/&\nload = append/' "$WORK/named.ini"
"$FERRY" run -c "$WORK/named.ini" >>"$WORK/named.log" 2>&1; code=$?
is "$code" 0 "with load = append it loads"
is "$(pg_sql "SELECT string_agg(quote_literal(name) || v, ' ' ORDER BY v) FROM rs.named")" "'a'1 'a '2" \
   "both keys, each once"

# --- SIGKILLs at random points, two workers on one table ---
pg_sql "CREATE TABLE public.events (id bigint PRIMARY KEY, kind text, payload jsonb, note text);
        INSERT INTO events SELECT g * 3, (ARRAY['a','b','c'])[1 + g % 3], jsonb_build_object('g', g),
               CASE WHEN g % 7 = 0 THEN NULL WHEN g % 11 = 0 THEN '' ELSE repeat(md5(g::text), 1 + g % 3) END
        FROM generate_series(1, 80000) g;
        ANALYZE events;
        CREATE TABLE rs.events_log (id bigint, kind varchar(65535), payload redshift_catalog.super, note varchar(65535))" >/dev/null
for load in upsert append; do
    target=$([ "$load" = upsert ] && echo rs.events || echo rs.events_log)
    write_rs_sink_config "$WORK/kill-$load.ini" "load = $load
create_table = true"
    sed -i "s/^\[ferry\]/[ferry]\nmemory_limit = 48MB\nworkers = 2/" "$WORK/kill-$load.ini"
    printf '[table public.events]\ntarget = %s\npartition_rows = 20000\n' "$target" >> "$WORK/kill-$load.ini"
    : > "$RS_LOG"
    hits=$(kill_after_checkpoints "$WORK/kill-$load.ini" "$WORK/kill-$load.state" "$WORK/kill-$load.log" 10 400)
    diag "load = $load: $hits of 10 SIGKILLs hit a running ferry"
    ok $(( hits >= 8 ? 0 : 1 )) "load = $load: at least 8 of 10 SIGKILLs hit a running ferry"
    "$FERRY" run -c "$WORK/kill-$load.ini" >>"$WORK/kill-$load.log" 2>&1; code=$?
    is "$code" 0 "load = $load: the run after the kills completes"
    is "$(pg_sql "SELECT count(*) - count(DISTINCT id) FROM $target")" 0 "load = $load: no row is doubled"
    is "$(differ "SELECT id, kind, payload, note FROM public.events" \
                 "SELECT id, kind, payload::jsonb, note FROM $target")" 0 \
       "load = $load: the target equals the source exactly (80000 rows)"
    is "$(pg_sql "SELECT sum(rows) FROM ferry_ledger WHERE target = '$target'")" 80000 \
       "load = $load: the ledger counts each row once"
    is "$(grep -c '^1023 ' "$RS_LOG")" 0 "load = $load: two workers loading one table never raced (no 1023)"
    is "$(staged)" 0 "load = $load: nothing staged is left"
    before=$(fingerprint "$target")
    "$FERRY" run -c "$WORK/kill-$load.ini" >>"$WORK/kill-$load.log" 2>&1
    is "$(fingerprint "$target")" "$before" "load = $load: a rerun changes neither the table nor the ledger"
done
"$FERRY" verify -c "$WORK/kill-upsert.ini" >"$WORK/verify.log" 2>&1; code=$?
is "$code" 0 "verify: count and key hash per partition agree"
like "$(cat "$WORK/verify.log")" "4 partition\(s\) compared, 0 mismatch" "verify reads the 4 partitions back from the cluster"

# --- the front raises 1023 for writers that race without the lock, as Redshift does ---
pg_sql "CREATE TABLE rs.race (v int)" >/dev/null
coproc HOLDER { psql -X -q -h 127.0.0.1 -p "$RS_PORT" -U ferry -d postgres 2>&1; }
holder_pid=$HOLDER_PID   # bash unsets HOLDER_PID once the coprocess has ended
echo "BEGIN; INSERT INTO rs.race VALUES (1); \\echo held" >&"${HOLDER[1]}"
read -r -t 30 line <&"${HOLDER[0]}"
is "$line" "held" "one session holds an open write to rs.race"
race=$(psql -X -q -h 127.0.0.1 -p "$RS_PORT" -U ferry -d postgres -c "BEGIN; INSERT INTO rs.race VALUES (2); COMMIT" 2>&1 |
       tr '\n' ' ')
like "$race" "1023.*Serializable isolation violation on table" "a second writer without the lock gets error 1023"
echo "COMMIT; \\q" >&"${HOLDER[1]}"
wait "$holder_pid" 2>/dev/null

# --- 1023 and WLM aborts injected into loads: retried, exact, nothing staged left ---
rs_restart $(rs_s3_args) --conflict-copies 3 --wlm-abort-copies 5
write_rs_sink_config "$WORK/faults.ini" "create_table = true"
sed -i "s/^\[ferry\]/[ferry]\nmemory_limit = 48MB\nworkers = 2\nretry_base_ms = 50\nretry_cap_ms = 500/" "$WORK/faults.ini"
printf '[table public.events]\ntarget = rs.events_faults\npartition_rows = 20000\n' >> "$WORK/faults.ini"
: > "$RS_LOG"
"$FERRY" run -c "$WORK/faults.ini" >"$WORK/faults.log" 2>&1; code=$?
is "$code" 0 "with every 3rd COPY failing with 1023 and every 5th aborted by WLM, the run completes"
conflicts=$(grep -c '^1023 ' "$RS_LOG"); aborts=$(grep -c '^wlm ' "$RS_LOG")
ok $(( conflicts > 0 && aborts > 0 ? 0 : 1 )) "the front failed $conflicts loads with 1023 and aborted $aborts"
like "$(cat "$WORK/faults.log")" "Serializable isolation violation.*loading the segment again" "a 1023 is retried"
like "$(cat "$WORK/faults.log")" "WLM.*loading the segment again" "so is a WLM abort"
is "$(differ "SELECT id, kind, payload, note FROM public.events" \
             "SELECT id, kind, payload::jsonb, note FROM rs.events_faults")" 0 "the target equals the source exactly"
is "$(pg_sql "SELECT sum(rows) FROM ferry_ledger WHERE target = 'rs.events_faults'")" 80000 \
   "the ledger counts each row once"
is "$(staged)" 0 "nothing staged is left"

# --- incremental: updates and inserts merged, DELETEs reconciled, into the cluster ---
pg_sql "CREATE TABLE public.inc (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
        INSERT INTO inc SELECT g, 'v' || g, now() - interval '1 day' FROM generate_series(1, 5000) g;
        ANALYZE inc" >/dev/null
write_rs_sink_config "$WORK/inc.ini" "create_table = true"
printf '[table public.inc]\ntarget = rs.inc\nmode = incremental\nwatermark = updated_at\ndeletes = reconcile\npartition_rows = 2000\n' >> "$WORK/inc.ini"
"$FERRY" run -c "$WORK/inc.ini" > "$WORK/inc.log" 2>&1; code=$?
is "$code $(pg_sql "SELECT count(*) FROM rs.inc")" "0 5000" "incremental: the first run loads the table"
pg_sql "UPDATE inc SET v = 'changed', updated_at = now() WHERE id % 10 = 0; DELETE FROM inc WHERE id % 33 = 1;
        INSERT INTO inc SELECT g, 'new', now() FROM generate_series(5001, 5200) g" >/dev/null
changed=$(pg_sql "SELECT count(*) FROM inc WHERE updated_at > now() - interval '1 hour'")
"$FERRY" run -c "$WORK/inc.ini" > "$WORK/inc1.log" 2>&1; code=$?
like "$code $(tr "\n" " " < "$WORK/inc1.log")" "^0 .*reconciled in .*: 152 removed.*generation 1: $changed row\(s\) changed" \
    "incremental: the next run removes the 152 keys deleted at the source, then loads the $changed rows changed"
is "$(differ "SELECT id, v FROM public.inc" "SELECT id, v FROM rs.inc")" 0 \
    "incremental: the cluster's table equals the source (EXCEPT ALL both ways)"
is "$(staged)" 0 "incremental: nothing staged is left"

done_testing
