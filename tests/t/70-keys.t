#!/usr/bin/env bash
# For every sink and every type that can be a key: a table keyed by it copies to exactly one
# record per source row (no two keys merged into one), or is refused when it is planned with
# the column named; and `ferry verify` reports no mismatch that is not a real difference.
# The edge values are the ones that merge or reorder keys: microseconds, NaN and infinities,
# bytea of different lengths, enum and inet order, intervals, text under an ICU collation.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/mongo.sh"
mongo_servers

N=2500 # three partitions of 1000 rows: the key ranges are exercised, not one partition alone
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL || { echo "Bail out! the key tables could not be made"; exit 1; }
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TYPE mood AS ENUM ('zzz', 'sad', 'ok', 'happy', 'aaa');
DO \$\$ BEGIN
  FOR i IN 1..$N LOOP EXECUTE format('ALTER TYPE mood ADD VALUE %L', 'm' || ($N - i)); END LOOP;
END \$\$;
CREATE FUNCTION mk(name text, typ text, vals text) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
  EXECUTE format('CREATE TABLE %I (k %s PRIMARY KEY, v int)', 'k_' || name, typ);
  EXECUTE format('INSERT INTO %I SELECT k, row_number() OVER () FROM (%s) s(k) ON CONFLICT DO NOTHING',
                 'k_' || name, vals);
  EXECUTE format('ANALYZE %I', 'k_' || name);
END \$\$;
SELECT FROM mk('int2', 'smallint', 'SELECT g::smallint FROM generate_series(-32768, -32768 + $N - 3) g UNION ALL VALUES (0::smallint), (32767)');
SELECT FROM mk('int4', 'int', 'SELECT g FROM generate_series(-1000, $N - 1003) g UNION ALL VALUES (-2147483648), (2147483647)');
SELECT FROM mk('int8', 'bigint', 'SELECT g::bigint * 1000000007 FROM generate_series(-1250, $N - 1253) g UNION ALL VALUES (-9223372036854775808), (9223372036854775807)');
SELECT FROM mk('float4', 'real', 'SELECT (g / 7.0)::real FROM generate_series(1, $N - 4) g UNION ALL VALUES (''NaN''::real), (''Infinity''), (''-Infinity''), (1e-45)');
SELECT FROM mk('float8', 'float8', 'SELECT g / 7.0 FROM generate_series(-1000, $N - 1005) g UNION ALL VALUES (''NaN''::float8), (''Infinity''), (''-Infinity''), (5e-324), (1.7976931348623157e308)');
SELECT FROM mk('numeric', 'numeric', 'SELECT g * 1.000001 FROM generate_series(-1000, $N - 1005) g UNION ALL VALUES (''NaN''::numeric), (''Infinity''), (''-Infinity''), (0.0000000000000000000000000001), (1234567890123456789012345678.901234)');
SELECT FROM mk('bool', 'boolean', 'VALUES (true), (false)');
SELECT FROM mk('text', 'text', 'SELECT ''k'' || g FROM generate_series(1, $N - 6) g UNION ALL VALUES (''''), (''Zebra''), (''apple''), (''Éclair''), (''eclair''), (''日本'')');
SELECT FROM mk('text_icu', 'text COLLATE "und-x-icu"', 'SELECT ''k'' || g FROM generate_series(1, $N - 6) g UNION ALL VALUES (''''), (''Zebra''), (''apple''), (''Éclair''), (''eclair''), (''e'' || chr(769) || ''clair'')');
SELECT FROM mk('text_ci', 'text COLLATE ci', 'SELECT ''k'' || g FROM generate_series(1, $N - 4) g UNION ALL VALUES (''Zebra''), (''apple''), (''Éclair''), (''e'' || chr(769) || ''x'')');
SELECT FROM mk('varchar', 'varchar(20)', 'SELECT md5(g::text)::varchar(20) FROM generate_series(1, $N) g');
SELECT FROM mk('bpchar', 'char(6)', 'SELECT lpad(g::text, 5, ''0'') FROM generate_series(1, $N - 2) g UNION ALL VALUES (''a''), (''a'' || chr(9))');
SELECT FROM mk('bytea', 'bytea', 'SELECT decode(md5(g::text), ''hex'') FROM generate_series(1, $N - 5) g UNION ALL VALUES (''\\x''::bytea), (''\\x00''), (''\\x0000''), (''\\xff''), (''\\x01ff'')');
SELECT FROM mk('uuid', 'uuid', 'SELECT md5(g::text)::uuid FROM generate_series(1, $N) g');
SELECT FROM mk('date', 'date', 'SELECT ''2000-01-01''::date + g FROM generate_series(1, $N - 4) g UNION ALL VALUES (''infinity''::date), (''-infinity''), (''4713-01-01 BC''), (''5874897-12-31'')');
SELECT FROM mk('ts_us', 'timestamp', 'SELECT ''2020-01-01''::timestamp + g * interval ''1 microsecond'' FROM generate_series(1, $N - 4) g UNION ALL VALUES (''infinity''::timestamp), (''-infinity''), (''4714-11-24 00:00:00 BC''), (''294276-12-31 23:59:59.999999'')');
SELECT FROM mk('tstz_us', 'timestamptz', 'SELECT ''2020-01-01 00:00:00+00''::timestamptz + g * interval ''1 microsecond'' FROM generate_series(1, $N - 2) g UNION ALL VALUES (''infinity''::timestamptz), (''-infinity'')');
SELECT FROM mk('interval', 'interval', 'SELECT g * interval ''1 microsecond'' FROM generate_series(1, $N - 3) g UNION ALL VALUES (interval ''1 year''), (interval ''-1 day''), (interval ''1 mon -30 days 1 microsecond'')');
SELECT FROM mk('enum', 'mood', 'SELECT e FROM unnest(enum_range(NULL::mood)) e LIMIT $N');
SELECT FROM mk('inet', 'inet', 'SELECT ''10.0.0.0''::inet + g FROM generate_series(1, $N - 3) g UNION ALL VALUES (''::1''::inet), (''192.168.0.1/24''), (''192.168.0.1'')');
SELECT FROM mk('jsonb', 'jsonb', 'SELECT jsonb_build_object(''g'', g) FROM generate_series(1, $N - 5) g UNION ALL VALUES (''{"\$x": 1}''::jsonb), (''{"＄x": 1}''), (''{"a.b": 1}''), (''{"n": 1e-400}''), (''{"n": 2e-400}'')');
SELECT FROM mk('intarr', 'int[]', 'SELECT ARRAY[g, -g] FROM generate_series(1, $N - 3) g UNION ALL VALUES (''{}''::int[]), (''{1,2}''), (''[0:1]={1,2}'')');
CREATE TABLE k_composite (a int, t timestamptz, v int, PRIMARY KEY (a, t));
INSERT INTO k_composite SELECT g % 3, '2020-01-01 00:00:00+00'::timestamptz + g * interval '1 microsecond', g FROM generate_series(1, $N) g;
ANALYZE k_composite;
SQL
TYPES="int2 int4 int8 float4 float8 numeric bool text text_icu text_ci varchar bpchar bytea uuid date ts_us tstz_us interval enum inet jsonb intarr composite"

for sink in dir mongo; do
    for t in $TYPES; do
        ini=$WORK/$sink-$t.ini
        if [ "$sink" = dir ]; then
            write_config "$ini" "$WORK/out-$t" ndjson
        else
            write_mongo_config "$ini"
        fi
        printf '[table public.k_%s]\ntarget = k_%s\npartition_rows = 1000\n' "$t" "$t" >> "$ini"
        rows=$(pg_sql "SELECT count(*) FROM k_$t")
        out=$("$FERRY" run -c "$ini" 2>&1); code=$?
        if [ "$code" -ne 0 ]; then
            # A refusal is allowed only at plan time, naming the column.
            out=$("$FERRY" plan -c "$ini" 2>&1); code=$?
            like "$code $out" "^78 .*column \"(k|a|t)\"" "$sink, key $t: refused at plan time, the column named"
            continue
        fi
        if [ "$sink" = dir ]; then
            records=$(cat "$WORK/out-$t"/k_$t/*.ndjson | wc -l)
        else
            records=$(mongo_tool count "k_$t")
        fi
        is "$records" "$rows" "$sink, key $t: one record per source row ($rows)"
        verify=$("$FERRY" verify -c "$ini" 2>&1); code=$?
        is "$code" 0 "$sink, key $t: verify finds no mismatch"
        [ "$code" -eq 0 ] || diag "$verify"
    done
done

# The key forms that keep such keys apart, as the documents hold them.
is "$(mongo_tool relaxed k_tstz_us | grep -c '"_id" : "2020-01-01T00:00:00.00000[1-9]Z"')" 9 \
    "mongo: a timestamptz key keeps its microseconds in _id (…00.000001Z to …00.000009Z)"
like "$(mongo_tool relaxed k_tstz_us | grep '"_id" : "2020-01-01T00:00:00.000001Z"')" '"k" : \{ "\$date" : "2020-01-01T00:00:00Z" \}' \
    "mongo: the key's own field is still a date"
is "$(mongo_tool relaxed k_intarr | grep -c '"_id" : "\(\[0:1\]=\)\?{1,2}"')" 2 \
    "mongo: an array key is its PostgreSQL text in _id: {1,2} and [0:1]={1,2} stay two documents"
like "$("$FERRY" run -c "$WORK/mongo-ts_us.ini" 2>&1)" 'key column "k" \(timestamp without time zone\) is stored in _id as an ISO 8601 string' \
    "mongo: the run says which key column is stored in its key form, and why"
like "$("$FERRY" verify -c "$WORK/mongo-float8.ini" 2>&1)" 'public.k_float8 +all +the whole table \(3 partitions\) +'"$(pg_sql "SELECT count(*) FROM k_float8")"' +'"$(pg_sql "SELECT count(*) FROM k_float8")"' +same' \
    "mongo: a float key (NaN first in BSON, last in PostgreSQL) is verified over the whole table"
like "$("$FERRY" verify -c "$WORK/mongo-int8.ini" 2>&1)" '3 partition\(s\) compared, 0 mismatch' \
    "mongo: an integer key is still verified partition by partition"

# document_id = mongo: the key fields take the key form, and the unique index on them keeps
# microsecond keys apart too.
write_mongo_config "$WORK/oid.ini" "document_id = mongo"
printf '[table public.k_composite]\ntarget = oid_composite\npartition_rows = 1000\n' >> "$WORK/oid.ini"
"$FERRY" run -c "$WORK/oid.ini" >"$WORK/oid.log" 2>&1; code=$?
is "$code" 0 "document_id = mongo, key (int, timestamptz): exit 0"
is "$(mongo_tool count oid_composite)" "$N" "document_id = mongo: one document per row"
"$FERRY" verify -c "$WORK/oid.ini" >"$WORK/oid-verify.log" 2>&1; code=$?
is "$code" 0 "document_id = mongo: verify finds no mismatch"

done_testing
