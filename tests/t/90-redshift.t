#!/usr/bin/env bash
# Reading Amazon Redshift, through tests/tools/rsfront.py (PostgreSQL's protocol, Redshift's
# version(), system views, refusals, cursor cap and workload-manager aborts): the dialect found
# from the server, Redshift's types read value for value, nothing sent that Redshift refuses, and
# the founding failure — every query killed after 2 s, a cursor cap smaller than the table — ending
# in one run with every row exactly once.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/redshift.sh"
. "$ROOT/tests/lib/mongo.sh"
trap 'rs_stop; mongo_stop; cleanup' EXIT
pg_start
rs_start || { echo "Bail out! the Redshift front end did not start"; exit 1; }
mongo_start
cd "$WORK"

# The types of a Redshift table, as the backing PostgreSQL holds them (Redshift writes the same text).
# SUPER, GEOMETRY and HLLSKETCH are the front's domains (their text is Redshift's: JSON, EWKB in hex,
# the sketch's JSON form); VARBYTE is bytea, which the front writes as Redshift does (bare hex, oid 6551).
pg_sql "CREATE TABLE public.rtypes (id bigint PRIMARY KEY, i2 smallint, i4 integer, n38 numeric(38,0),
          n38s numeric(38,10), f4 real, f8 double precision, b boolean, c char(10), vc varchar(100),
          d date, ts timestamp, tstz timestamptz, t time, ttz timetz, sup redshift_catalog.super, vb bytea,
          geo redshift_catalog.geometry, hll redshift_catalog.hllsketch);
        INSERT INTO rtypes VALUES
          (1, -32768, -2147483648, -99999999999999999999999999999999999999,
           -9999999999999999999999999999.9999999999, -3.4e38, -1.7e308, false, '', '',
           '4713-01-01 BC', '0001-01-01 00:00:00', '1999-12-31 23:59:59.5+05', '00:00:00', '00:00:00+14',
           '{\"a\": 1, \"b\": [1, 2.5, {\"c\": null}], \"s\": \"q\\\"t ✓\", \"big\": 12345678901234567890}', '\\x00ff10',
           '0101000020E6100000000000000000F03F0000000000000040',
           '{\"version\":1,\"logm\":15,\"sparse\":{\"indices\":[4878,9559],\"values\":[1,2]}}'),
          (2, 32767, 2147483647, 99999999999999999999999999999999999999,
           9999999999999999999999999999.9999999999, 1.5e-30, 1e300, true, 'ünï ✓', 'quote \" back\\ comma, tab	 日本',
           '294276-12-31', '294276-12-31 23:59:59.999999', '2024-02-29 12:00:00+00', '23:59:59.999999', '12:34:56-07:30',
           '\"a lone string\"', '\\x', '0103000020E61000000100000004000000000000000000000000000000000000000000000000000000000000000000F03F000000000000F03F000000000000000000000000000000000000000000000000',
           'AQ8AAAAAAAA='),
          (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        INSERT INTO rtypes SELECT g, g % 100, g, g * 12345678901234567890, g / 7.0, g / 3.0, g / 7.0, g % 3 = 0,
          'c' || g % 10, repeat('v', g % 40) || g, '2020-01-01'::date + g % 1000,
          '2020-01-01'::timestamp + g * interval '1.5 second', '2020-01-01 00:00:00+00'::timestamptz + g * interval '1 minute',
          '00:00:00'::time + g * interval '1 second', '01:02:03+02'::timetz,
          jsonb_build_object('g', g, 'tags', jsonb_build_array(g % 3, 'x' || g), 'ok', g % 2 = 0),
          decode(md5(g::text), 'hex'), CASE WHEN g % 5 = 0 THEN NULL ELSE '0101000000000000000000F03F0000000000000040' END,
          NULL
        FROM generate_series(4, 6000) g;
        ANALYZE rtypes" >/dev/null

# ---- the dialect is the server's ----
write_rs_config "$WORK/types.ini" "$WORK/types" "workers = 2"
printf '[table public.rtypes]\npartition_rows = 1500\n' >> "$WORK/types.ini"
out=$("$FERRY" plan -c "$WORK/types.ini" 2>&1)
like "$out" "^source: redshift" "ferry plan says the source is Redshift (its version() says so)"
like "$out" "batches: .*by FETCHes of at most 1000 rows" "and that a single-node cluster is read 1000 rows a FETCH"
sed 's/^\[source\]$/&\ndialect = postgresql/' "$WORK/types.ini" > "$WORK/wrong.ini"
out=$("$FERRY" plan -c "$WORK/wrong.ini" 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^78 .*dialect = postgresql, but the server is redshift" "dialect = postgresql against Redshift: exit 78, told why"
write_config "$WORK/pg-as-rs.ini" "$WORK/pg-as-rs" ndjson
sed -i 's/^\[source\]$/&\ndialect = redshift/' "$WORK/pg-as-rs.ini"
printf '[table public.rtypes]\n' >> "$WORK/pg-as-rs.ini"
out=$("$FERRY" plan -c "$WORK/pg-as-rs.ini" 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^78 .*dialect = redshift, but the server is postgresql" "dialect = redshift against PostgreSQL: exit 78"
"$FERRY" run -c "$WORK/pg-as-rs.ini" > "$WORK/pg-as-rs.log" 2>&1; code=$?
like "$code $(tr "\n" " " < "$WORK/pg-as-rs.log")" "^78 .*dialect = redshift, but the server is postgresql" "and ferry run refuses it the same way, before writing anything"
is "$(find "$WORK/pg-as-rs" -type f ! -name .ferry-owner 2>/dev/null | wc -l)" 0 "no segment was written"

# (a declared primary key holding duplicates: 72-duplicate-keys.t)

# ---- Redshift's types, value for value: the same lines as the same rows read from PostgreSQL ----
: > "$RS_LOG"
"$FERRY" run -c "$WORK/types.ini" > "$WORK/types.log" 2>&1
is "$?" 0 "types: the run through the front exits 0"
write_config "$WORK/direct.ini" "$WORK/direct" ndjson
printf '[table public.rtypes]\n' >> "$WORK/direct.ini"
"$FERRY" run -c "$WORK/direct.ini" > "$WORK/direct.log" 2>&1
if cmp -s <(cat "$WORK"/types/public.rtypes/* | sort) <(cat "$WORK"/direct/public.rtypes/* | sort); then
    ok 0 "types: every row read from Redshift is, byte for byte, the row read from PostgreSQL ($(cat "$WORK"/types/public.rtypes/* | wc -l) rows)"
else
    ok 1 "types: the rows are the same"
    diff <(cat "$WORK"/types/public.rtypes/* | sort) <(cat "$WORK"/direct/public.rtypes/* | sort) | head -4 | sed 's/^/# /'
fi
"$FERRY" verify -c "$WORK/types.ini" > "$WORK/types-verify.log" 2>&1
is "$?" 0 "types: ferry verify agrees with the source"
FERRY_FAULTS=source_fetch=2 "$FERRY" verify -c "$WORK/types.ini" > "$WORK/types-verify2.log" 2>&1; code=$?
like "$code $(grep -c 'injected fault: connection lost; retry 1' "$WORK/types-verify2.log")" "^0 1$" \
    "verify meets a lost connection (injected at the 2nd FETCH), reads that range again, and agrees"
like "$("$FERRY" plan -c "$WORK/types.ini" 2>&1)" "sup super, vb binary varying, geo geometry, hll hllsketch" \
    "SUPER, VARBYTE, GEOMETRY and HLLSKETCH are planned under Redshift's names"
like "$(grep -h '"id":1,' "$WORK"/types/public.rtypes/*)" '"sup":\{"a": 1, "b": \[1, 2.5, \{"c": null\}\], "s": "q\\"t ✓", "big": 12345678901234567890\},"vb":"AP8Q","geo":"0101000020E6100000000000000000F03F0000000000000040","hll":"\{' \
    "SUPER is embedded as JSON, VARBYTE is base64 of its bytes (00ff10), GEOMETRY its EWKB hex, HLLSKETCH its text"

# Into MongoDB, value for value: the documents read from Redshift are those read from PostgreSQL.
write_mongo_config "$WORK/types-mongo-rs.ini"
sed -i "s|^conninfo = .*|conninfo = $(rs_conninfo)|" "$WORK/types-mongo-rs.ini"
printf '[table public.rtypes]\ntarget = rs_rtypes\n' >> "$WORK/types-mongo-rs.ini"
write_mongo_config "$WORK/types-mongo-pg.ini"
printf '[table public.rtypes]\ntarget = pg_rtypes\n' >> "$WORK/types-mongo-pg.ini"
# numeric(38) holds more digits than Decimal128: kept as strings rather than refused
sed -i 's/^\[sink\]$/&\ninexact_numeric = string/' "$WORK/types-mongo-rs.ini" "$WORK/types-mongo-pg.ini"
"$FERRY" run -c "$WORK/types-mongo-rs.ini" > "$WORK/types-mongo-rs.log" 2>&1; code_rs=$?
"$FERRY" run -c "$WORK/types-mongo-pg.ini" > "$WORK/types-mongo-pg.log" 2>&1; code_pg=$?
is "$code_rs $code_pg $(mongo_tool count rs_rtypes)" "0 0 6000" "types into MongoDB: both runs exit 0, 6000 documents"
if [ "$(mongo_tool count pg_rtypes)" = 6000 ] && cmp -s <(mongo_tool dump rs_rtypes | sort) <(mongo_tool dump pg_rtypes | sort); then
    ok 0 "types into MongoDB: every document read from Redshift is the one read from PostgreSQL (canonical extended JSON)"
else
    ok 1 "types into MongoDB: the documents are the same"
    diff <(mongo_tool dump rs_rtypes | sort) <(mongo_tool dump pg_rtypes | sort) | head -4 | sed 's/^/# /'
fi
like "$(mongo_tool relaxed rs_rtypes | grep '"_id" : 1,')" '"sup" : \{ "a" : 1, "b" : \[ 1, 2.5, \{ "c" : null \} \]' \
    "SUPER became a document in MongoDB"

if rs_real; then skip "the front's log"
else
    is "$(grep -v '^set \|^cursor ' "$RS_LOG" | sort | uniq -c | sed 's/^ *//' | tr '\n' ';')" "" \
        "nothing ferry sent was refused (no TABLESAMPLE, COPY TO, row values, arrays, FILTER, second cursor, FETCH over 1000)"
    like "$(grep '^set ' "$RS_LOG" | sort -u)" "query_group = 'ferry'" "every session sets query_group = 'ferry', for WLM routing"
fi

# ---- a read killed on Redshift: a smaller range, never a smaller FETCH ----
# (the cursor's whole result is computed at its first FETCH: asking fewer rows a FETCH cannot help)
write_rs_config "$WORK/killed.ini" "$WORK/killed" "workers = 2
retry_base_ms = 50"
printf '[table public.rtypes]\npartition_rows = 1500\n' >> "$WORK/killed.ini"
FERRY_FAULTS="source_kill@1=1,source_kill@1=2,source_kill@1=3" \
    "$FERRY" run -c "$WORK/killed.ini" > "$WORK/killed.log" 2>&1; code=$?
is "$code $(grep -c 'injected fault: canceling statement' "$WORK/killed.log")" "0 3" \
    "a partition killed 3 times: the run completes after the 3 kills"
like "$(cat "$WORK/killed.log")" "partition 1: killed 1 time\(s\), split its remaining" "the first kill split the partition"
is "$(grep -c 'FETCHes now ask' "$WORK/killed.log")" 0 "and no FETCH was made smaller"
if cmp -s <(cat "$WORK"/killed/public.rtypes/* | sort) <(cat "$WORK"/direct/public.rtypes/* | sort); then
    ok 0 "killed: every row once, as PostgreSQL has it"
else
    ok 1 "killed: every row once, as PostgreSQL has it"
fi

# ---- the founding failure: every query killed after 2 s, a cursor cap smaller than the table ----
rows=${FERRY_TEST_SEED_ROWS:-300000}
pg_sql "CREATE TABLE public.seed (id bigint PRIMARY KEY, account int, note varchar(64), amount numeric(18,2), at timestamp);
        INSERT INTO seed SELECT g, g % 977, md5(g::text), g * 0.25, '2021-01-01'::timestamp + g * interval '1 second'
        FROM generate_series(1, $rows) g;
        ANALYZE seed" >/dev/null
table_bytes=$(pg_sql "SELECT sum(octet_length(s::text)) FROM seed s")
cap=$(( table_bytes / 3 ))
if rs_real; then skip "injected aborts and a small cursor cap need the front"
else
    rs_restart --wlm-abort-after 2 --cursor-cap "$cap"
    write_rs_config "$WORK/seed.ini" "$WORK/seed" "workers = 2
retry_base_ms = 50
retry_cap_ms = 500"
    printf '[table public.seed]\npartition_rows = %d\n' "$rows" >> "$WORK/seed.ini"
    : > "$RS_LOG"
    "$FERRY" run -c "$WORK/seed.ini" > "$WORK/seed.log" 2>&1
    is "$?" 0 "seed: one run exits 0 under 2-second WLM aborts and a cursor cap of a third of the table"
    load_ndjson "$WORK/seed" got_seed
    is "$(pg_sql "SELECT count(*), count(DISTINCT (doc->>'id')::bigint) FROM got_seed")" "$rows|$rows" "seed: $rows rows, each once"
    is "$(pg_sql "SELECT count(*) FROM (SELECT id, note, amount::text FROM seed EXCEPT
                    SELECT (doc->>'id')::bigint, doc->>'note', doc->>'amount' FROM got_seed) d")" 0 "seed: every row as the source has it"
    aborts=$(grep -c '^wlm ' "$RS_LOG"); capped=$(grep -c '^cursor-cap ' "$RS_LOG")
    ok "$([ "$capped" -ge 1 ]; echo $?)" "seed: the cursor cap refused the whole table's cursor ($capped time(s)) and ferry split it"
    parts=$(sqlite3 "$WORK/seed.state" "SELECT count(*) FROM partitions")
    ok "$([ "$parts" -gt 1 ]; echo $?)" "seed: planned as one partition, read as $parts after splits ($aborts WLM abort(s) met)"
    like "$(cat "$WORK/seed.log")" "split its remaining" "seed: the log says where it split"
    # verify retries a kill but has no checkpoint inside a range: a partition the run read across
    # several kills is longer than 2 s to read again, so verify reads without aborts.
    rs_restart
    "$FERRY" verify -c "$WORK/seed.ini" > "$WORK/seed-verify.log" 2>&1
    is "$?" 0 "seed: ferry verify agrees with the source"
    rs_restart --wlm-abort-after 2 --cursor-cap "$cap"

    # The same into MongoDB.
    write_mongo_config "$WORK/seed-mongo.ini"
    sed -i "s|^conninfo = .*|conninfo = $(rs_conninfo)|; s/^\[ferry\]$/&\nworkers = 2/" "$WORK/seed-mongo.ini"
    printf '[table public.seed]\npartition_rows = %d\n' "$rows" >> "$WORK/seed-mongo.ini"
    : > "$RS_LOG"
    "$FERRY" run -c "$WORK/seed-mongo.ini" > "$WORK/seed-mongo.log" 2>&1
    is "$?" 0 "seed into MongoDB: one run exits 0 under the same aborts and cap"
    is "$(mongo_tool count public.seed)" "$rows" "seed into MongoDB: $rows documents"
    load_collection public.seed got_seed_mongo relaxed
    is "$(pg_sql "SELECT count(*) FROM (SELECT id, note FROM seed EXCEPT
                    SELECT (doc->>'_id')::bigint, doc->>'note' FROM got_seed_mongo) d")" 0 "seed into MongoDB: every row, by its key"
    ok "$([ "$(grep -c '^wlm \|^cursor-cap ' "$RS_LOG")" -ge 1 ]; echo $?)" "seed into MongoDB: aborts and the cap were met ($(grep -c '^wlm ' "$RS_LOG") and $(grep -c '^cursor-cap ' "$RS_LOG"))"
    rs_restart
fi

# ---- partitions cut to fit cursor_result_limit: no cursor refused ----
if rs_real; then skip "the front's cursor cap"
else
    rs_restart --cursor-cap "$cap"
    write_rs_config "$WORK/fit.ini" "$WORK/fit" "workers = 2"
    sed -i "s/^\[source\]$/&\ncursor_result_limit = $(( table_bytes / 8 ))/" "$WORK/fit.ini"
    printf '[table public.seed]\npartition_rows = %d\n' "$rows" >> "$WORK/fit.ini"
    out=$("$FERRY" plan -c "$WORK/fit.ini" 2>&1)
    like "$out" "partitions: (8|9|1[0-9]) .*smaller than partition_rows, so that a cursor holds at most cursor_result_limit" \
        "cursor_result_limit of an eighth of the table: the plan cuts it in about eight, and says why"
    : > "$RS_LOG"
    "$FERRY" run -c "$WORK/fit.ini" > "$WORK/fit.log" 2>&1
    is "$?" 0 "cut to fit: the run exits 0"
    is "$(grep -c '^cursor-cap ' "$RS_LOG")" 0 "cut to fit: no cursor was refused (two workers' cursors fit the cap of a third)"
    is "$(cat "$WORK"/fit/public.seed/* | wc -l)" "$rows" "cut to fit: every row"
fi

# ---- SIGKILL at random during cursor copies, then one run: every row once ----
if rs_real; then skip "kills through the front"
else
    rs_restart
    write_rs_config "$WORK/kill.ini" "$WORK/kill" "workers = 2"
    printf '[table public.seed]\npartition_rows = %d\n' $(( rows / 40 )) >> "$WORK/kill.ini"
    hits=$(kill_after_checkpoints "$WORK/kill.ini" "$WORK/kill.state" "$WORK/kill.log" 10 200)
    "$FERRY" run -c "$WORK/kill.ini" >> "$WORK/kill.log" 2>&1
    is "$?" 0 "SIGKILL: $hits of 10 kills hit a running ferry; the run after exits 0"
    load_ndjson "$WORK/kill" got_kill
    is "$(pg_sql "SELECT count(*), count(DISTINCT (doc->>'id')::bigint) FROM got_kill")" "$rows|$rows" "SIGKILL: $rows rows, each once"
    is "$(find "$WORK/kill" -name '*.tmp*' | wc -l)" 0 "SIGKILL: no half-written file is left"
    "$FERRY" verify -c "$WORK/kill.ini" > "$WORK/kill-verify.log" 2>&1
    is "$?" 0 "SIGKILL: ferry verify agrees"
fi

# ---- memory: rows from 100 B to 4 MiB, through cursors of 1000-row FETCHes, within the budget ----
rs_restart
# (A Redshift varchar holds at most 65,535 bytes; rows this wide are SUPER or many columns there. The
# column here is text, for the memory path.)
wide_table
baseline=$( { /usr/bin/time -f '%M' "$FERRY" --version >/dev/null; } 2>&1 | tail -1)
for workers in 1 2; do
    write_rs_config "$WORK/wide-$workers.ini" "$WORK/wide-$workers" "memory_limit = 64MB
workers = $workers"
    printf '[table public.wide]\npartition_rows = 1000\n' >> "$WORK/wide-$workers.ini"
    /usr/bin/time -f '%M' -o "$WORK/wide-$workers.rss" "$FERRY" run -c "$WORK/wide-$workers.ini" > "$WORK/wide-$workers.log" 2>&1
    code=$?
    peak=$(tail -1 "$WORK/wide-$workers.rss"); limit=$(( 64 * 1024 + baseline ))
    is "$code $(cat "$WORK"/wide-$workers/public.wide/* | wc -l)" "0 3000" "wide rows, $workers worker(s): the copy completes, 3000 rows"
    ok $(( peak <= limit ? 0 : 1 )) "wide rows, $workers worker(s): peak RSS $peak KiB within memory_limit + idle baseline ($limit KiB)"
done

# ---- incremental: a column watermark, read on the cluster's clock (sysdate, UTC); xmin refused ----
pg_sql "CREATE TABLE public.rinc (id int PRIMARY KEY, v varchar(20), updated_at timestamp NOT NULL);
        INSERT INTO rinc SELECT g, 'v' || g, (now() AT TIME ZONE 'UTC') - interval '1 day' FROM generate_series(1, 3000) g;
        ANALYZE rinc" >/dev/null
write_rs_config "$WORK/inc.ini" "$WORK/inc"
printf '[table public.rinc]\ntarget = rinc\nmode = incremental\nwatermark = updated_at\npartition_rows = 1000\n' >> "$WORK/inc.ini"
"$FERRY" run -c "$WORK/inc.ini" > "$WORK/inc.log" 2>&1; code=$?
is "$code $(cat "$WORK"/inc/rinc/rinc.p* | wc -l)" "0 3000" "incremental: the first run copies the table from Redshift"
pg_sql "UPDATE rinc SET v = 'changed', updated_at = now() AT TIME ZONE 'UTC' WHERE id % 10 = 0" >/dev/null
"$FERRY" run -c "$WORK/inc.ini" > "$WORK/inc1.log" 2>&1; code=$?
like "$code $(tr "\n" " " < "$WORK/inc1.log")" "^0 .*generation 1: 300 row\(s\) changed since" \
    "incremental: the next run finds the 300 rows changed, by the cluster's sysdate"
is "$(cat "$WORK"/inc/rinc/rinc.g000001.* | grep -c '"v":"changed"')" 300 "incremental: and writes them as generation 1"
sed 's/^watermark = updated_at$/watermark = xmin/' "$WORK/inc.ini" > "$WORK/xmin.ini"
out=$("$FERRY" plan -c "$WORK/xmin.ini" 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^78 .*xmin.ini:[0-9]+: key 'watermark': table public.rinc: watermark = xmin is PostgreSQL's row version marker, and redshift has none" \
    "watermark = xmin on Redshift is refused at its line, saying why"

done_testing
