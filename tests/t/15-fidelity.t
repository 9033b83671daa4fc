#!/usr/bin/env bash
# What a table means and how its values read: inheritance children, domains, session settings
# the database overrides, names that need quoting — each copied and compared with the source.
. "$(dirname "$0")/../lib/common.sh"
pg_start

# --- inheritance: a parent is read ONLY itself; its children only when asked, under a checked key ---
pg_sql "CREATE TABLE parent (id int PRIMARY KEY, v text);
        CREATE TABLE child (extra int, PRIMARY KEY (id)) INHERITS (parent);
        INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 3000) g;
        INSERT INTO child SELECT g, 'c' || g, g FROM generate_series(1, 3000) g;
        CREATE TABLE kid2 (id int PRIMARY KEY, v text);
        CREATE TABLE parent2 (id int PRIMARY KEY, v text);
        ALTER TABLE kid2 INHERIT parent2;
        INSERT INTO parent2 SELECT g, 'p' || g FROM generate_series(1, 1000) g;
        INSERT INTO kid2 SELECT g, 'k' || g FROM generate_series(1001, 1500) g;
        ANALYZE"
write_config "$WORK/inh.ini" "$WORK/inh" ndjson "workers = 2"
printf '[table public.parent]\npartition_rows = 1000\n[table public.child]\npartition_rows = 1000\n' >> "$WORK/inh.ini"
out=$("$FERRY" run -c "$WORK/inh.ini" 2>&1); code=$?
is "$code" 0 "inheritance: parent and child configured apart: exit 0"
like "$out" "table public.parent has inheritance children; they are not read" "the run says the children are left out"
load_ndjson "$WORK/inh/public.parent" jp
load_ndjson "$WORK/inh/public.child" jc
is "$(pg_sql "SELECT count(*), count(DISTINCT doc->>'id'), count(*) FILTER (WHERE doc->>'v' LIKE 'c%') FROM jp")" "3000|3000|0" \
    "the parent's output holds its own 3000 rows, each id once, none of the child's"
is "$(pg_sql "SELECT count(*), count(DISTINCT doc->>'id'), count(*) FILTER (WHERE doc ? 'extra') FROM jc")" "3000|3000|3000" \
    "the child's output holds the child's 3000 rows once each"
like "$("$FERRY" status -c "$WORK/inh.ini")" "public.parent +complete +3/3 +3000 " "status counts the parent's own 3000 rows"
verify=$("$FERRY" verify -c "$WORK/inh.ini" 2>&1); code=$?
is "$code" 0 "inheritance: verify finds both outputs equal to their tables"

write_config "$WORK/inc.ini" "$WORK/inc" ndjson
printf '[table public.parent]\nchildren = include\n' >> "$WORK/inc.ini"
out=$("$FERRY" run -c "$WORK/inc.ini" 2>&1); code=$?
is "$code" 1 "children = include where a child repeats the parent's keys: refused, exit 1"
like "$out" "table public.parent: key \(id\) is not unique over the table and its inheritance children: rows would be lost" \
    "the refusal names the table and the key, and says why"
is "$(find "$WORK/inc" -name '*.ndjson' 2>/dev/null | wc -l)" 0 "nothing was written for the refused table"

write_config "$WORK/inc2.ini" "$WORK/inc2" ndjson
printf '[table public.parent2]\nchildren = include\npartition_rows = 1000\n' >> "$WORK/inc2.ini"
"$FERRY" run -c "$WORK/inc2.ini" >"$WORK/inc2.log" 2>&1; code=$?
is "$code" 0 "children = include under a key unique over parent and child: exit 0"
load_ndjson "$WORK/inc2" ji
is "$(pg_sql "SELECT count(*), count(DISTINCT doc->>'id'), count(*) FILTER (WHERE doc->>'v' LIKE 'k%') FROM ji")" "1500|1500|500" \
    "every row of parent and child, once each"

# --- a partitioned table is read whole; its partitions by themselves are tables of their own ---
pg_sql "CREATE TABLE measure (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
        CREATE TABLE measure_a PARTITION OF measure FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
        CREATE TABLE measure_b PARTITION OF measure FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
        INSERT INTO measure SELECT g, '2020-01-01'::date + g % 700 FROM generate_series(1, 2000) g; ANALYZE"
write_config "$WORK/part.ini" "$WORK/part" csv
printf '[table public.measure]\npartition_rows = 1000\n' >> "$WORK/part.ini"
"$FERRY" run -c "$WORK/part.ini" >"$WORK/part.log" 2>&1; code=$?
is "$code" 0 "a partitioned table: exit 0"
load_csv "$WORK/part" measure lm
is "$(rows_differ measure lm)" 0 "every row of every partition, once"

# --- values: domains (and arrays of them) by their base type; settings the database overrides ---
pg_sql "CREATE DOMAIN posint AS int CHECK (VALUE > 0);
        CREATE DOMAIN posint2 AS posint;
        CREATE TABLE doms (id posint2 PRIMARY KEY, one posint, many posint[], deep posint2[]);
        INSERT INTO doms VALUES (1, 5, '{1,2}', '{{3},{4}}'), (2, NULL, '{}', NULL);
        CREATE TABLE settings (id int PRIMARY KEY, iv interval, m money, d date, t timestamptz, f float8, raw bytea);
        INSERT INTO settings VALUES (1, '1 year 2 mons 3 days 04:05:06.7', 1234.5, '2024-02-29',
                                     '2024-01-02 03:04:05.678+00', 0.1, '\\x00ff');
        ALTER ROLE ferry SET IntervalStyle = sql_standard;
        ALTER ROLE ferry SET DateStyle = 'SQL, DMY';
        ALTER ROLE ferry SET TimeZone = 'Asia/Kolkata';
        ALTER ROLE ferry SET extra_float_digits = -3;
        ALTER ROLE ferry SET bytea_output = escape;
        ALTER ROLE ferry SET lc_monetary = 'C.UTF-8'"
write_config "$WORK/vals.ini" "$WORK/vals" ndjson
printf '[table public.doms]\n[table public.settings]\n' >> "$WORK/vals.ini"
"$FERRY" run -c "$WORK/vals.ini" >"$WORK/vals.log" 2>&1; code=$?
is "$code" 0 "domains and overridden settings: exit 0"
is "$(cat "$WORK"/vals/public.doms/*.ndjson | sort)" '{"id":1,"one":5,"many":[1,2],"deep":[[3],[4]]}
{"id":2,"one":null,"many":[],"deep":null}' "a domain over a domain, and arrays of domains, are written as numbers"
is "$(cat "$WORK"/vals/public.settings/*.ndjson)" \
    '{"id":1,"iv":"1 year 2 mons 3 days 04:05:06.7","m":"$1,234.50","d":"2024-02-29","t":"2024-01-02T03:04:05.678Z","f":0.1,"raw":"AP8="}' \
    "IntervalStyle, DateStyle, TimeZone, extra_float_digits, bytea_output and lc_monetary set on the role change nothing"
pg_sql "ALTER ROLE ferry RESET ALL"

# --- names that must be quoted: a table with a space and a dot, columns with a comma and a quote ---
pg_sql "CREATE TABLE \"Odd Table.x\" (\"a,b\" int, \"q\"\"z\" text, \"x.y\" text, PRIMARY KEY (\"a,b\", \"q\"\"z\"));
        INSERT INTO \"Odd Table.x\" SELECT g, 'k' || g, 'v' || g FROM generate_series(1, 2500) g; ANALYZE"
write_config "$WORK/odd.ini" "$WORK/odd" ndjson
cat >> "$WORK/odd.ini" <<'INI'
[table public."Odd Table.x"]
key = "a,b", "q""z"
columns = "x.y", "a,b", "q""z"
partition_rows = 1000
INI
out=$("$FERRY" run -c "$WORK/odd.ini" 2>&1); code=$?
is "$code" 0 "quoted names in the section, key and columns: exit 0"
like "$out" 'planned 3 partitions' "the table is planned (3 partitions)"
load_ndjson "$WORK/odd" jo
is "$(pg_sql "SELECT count(*), count(DISTINCT (doc->>'a,b', doc->>'q\"z')), min(doc->>'x.y') FROM jo")" "2500|2500|v1" \
    "2500 rows under the names as the catalog spells them"
like "$("$FERRY" status -c "$WORK/odd.ini")" 'public."Odd Table.x" +complete' "status shows the table as configured"
"$FERRY" run -c "$WORK/odd.ini" >"$WORK/odd2.log" 2>&1; code=$?
is "$code" 0 "a second run of the quoted key resumes the state (same key) and exits 0"
for bad in 'public."Odd' 'public.' '"a""b' 'public."x"y'; do
    write_config "$WORK/bad.ini" "$WORK/bad" ndjson
    printf '[table %s]\n' "$bad" >> "$WORK/bad.ini"
    out=$("$FERRY" plan -c "$WORK/bad.ini" 2>&1); code=$?
    like "$code $out" "^78 .*bad.ini:[0-9]+: a table section must look like \[table schema.name\]" \
        "[table $bad] is refused with the file, the line and the rule"
done

# --- NDJSON: SQL NULL and json null apart (nulls = omit); array bounds; timestamps past 1..9999 ---
pg_iso_functions
pg_sql "CREATE TABLE nj (id int PRIMARY KEY, j jsonb, n int, arr numeric[], ts timestamp, tz timestamptz);
        INSERT INTO nj VALUES (1, 'null', NULL, '[0:1]={1.1,2.2}', '4714-11-24 00:00:00 BC', '10000-01-01 00:00:00+00'),
                              (2, NULL, 5, '[4:4]={NULL}', '0001-01-01 00:00:00 BC', '0002-06-01 12:00:00.5+00 BC'),
                              (3, '{\"a\": null}', NULL, '{1}', '2024-01-02 03:04:05.000001', 'infinity')"
write_config "$WORK/nj.ini" "$WORK/nj" ndjson
printf 'nulls = omit\n[table public.nj]\n' >> "$WORK/nj.ini"
"$FERRY" run -c "$WORK/nj.ini" >"$WORK/nj.log" 2>&1; code=$?
is "$code" 0 "nulls = omit: exit 0"
load_ndjson "$WORK/nj" jn
is "$(pg_sql "SELECT string_agg(id || ':' || (doc ? 'j') || '/' || coalesce(jsonb_typeof(doc->'j'), '-') || '/' || (doc ? 'n'), ' ' ORDER BY id)
              FROM (SELECT (doc->>'id')::int AS id, doc FROM jn) x")" "1:true/null/false 2:false/-/true 3:true/object/false" \
    "nulls = omit: a SQL NULL leaves its field out, a json null is null"
is "$(pg_sql "SELECT count(*) FROM jn j JOIN nj ON nj.id = (j.doc->>'id')::int
              WHERE iso_ts(j.doc->>'ts') IS NOT DISTINCT FROM nj.ts AND iso_tstz(j.doc->>'tz') IS NOT DISTINCT FROM nj.tz")" 3 \
    "timestamps before year 1 and after 9999 read back exactly"
is "$(pg_sql "SELECT string_agg(concat_ws(' ', doc->>'ts', doc->>'tz'), ' | ' ORDER BY (doc->>'id')::int) FROM jn")" \
    "-4713-11-24T00:00:00 +10000-01-01T00:00:00Z | 0000-01-01T00:00:00 -0001-06-01T12:00:00.5Z | 2024-01-02T03:04:05.000001 infinity" \
    "NDJSON timestamps are ISO 8601 in one form, expanded years included (4714 BC is -4713, 1 BC is 0000)"
is "$(pg_sql "SELECT string_agg((doc->'arr')::text, ' ' ORDER BY (doc->>'id')::int) FROM jn")" '["1.1", "2.2"] [null] ["1"]' \
    "arrays are written with their elements; bounds other than 1 are not kept (documented)"
write_config "$WORK/nk.ini" "$WORK/nk" ndjson
printf '[table public.nj]\n' >> "$WORK/nk.ini"
"$FERRY" run -c "$WORK/nk.ini" >"$WORK/nk.log" 2>&1
is "$(cat "$WORK"/nk/public.nj/*.ndjson | grep -c '"n":null')" 2 "nulls = null (the default) writes SQL NULL as null"

# --- a SQL_ASCII database keeps text as any bytes: UTF-8 passes, other bytes stop the table by key ---
pg_sql "CREATE DATABASE legacy ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
PGDATABASE=legacy pg_sql "CREATE TABLE t (id int PRIMARY KEY, v text);
        INSERT INTO t SELECT g, 'caf' || convert_from('\\xc3a9'::bytea, 'SQL_ASCII') || g FROM generate_series(1, 3000) g;
        CREATE TABLE bad (id int PRIMARY KEY, v text);
        INSERT INTO bad SELECT g, 'ok' FROM generate_series(1, 3000) g;
        UPDATE bad SET v = 'caf' || convert_from('\\xe9'::bytea, 'SQL_ASCII') WHERE id = 2500"
write_config "$WORK/ascii.ini" "$WORK/ascii" ndjson
sed -i 's/dbname=postgres/dbname=legacy/' "$WORK/ascii.ini"
printf '[table public.t]\n' >> "$WORK/ascii.ini"
"$FERRY" run -c "$WORK/ascii.ini" >"$WORK/ascii.log" 2>&1; code=$?
is "$code" 0 "SQL_ASCII: a table whose text is UTF-8: exit 0"
is "$(cat "$WORK"/ascii/public.t/*.ndjson | grep -c '"v":"café[0-9]*"')" 3000 "its 3000 values arrive as the UTF-8 they are"
write_config "$WORK/ascii2.ini" "$WORK/ascii2" ndjson
sed -i 's/dbname=postgres/dbname=legacy/' "$WORK/ascii2.ini"
printf '[table public.bad]\npartition_rows = 1000\n' >> "$WORK/ascii2.ini"
out=$("$FERRY" run -c "$WORK/ascii2.ini" 2>&1); code=$?
is "$code" 1 "SQL_ASCII: a value that is not UTF-8: the table fails, exit 1"
like "$out" "table public.bad, key \(id\) = \(2500\): column \"v\" holds bytes that are not UTF-8 \(0xe9 at byte 4\); the database's encoding is SQL_ASCII" \
    "the error names the table, the key, the column and the byte"
is "$(cat "$WORK"/ascii2/public.bad/*.ndjson 2>/dev/null | iconv -f UTF-8 -t UTF-8 >/dev/null && echo valid)" valid \
    "what was written is UTF-8 throughout"
is "$(cat "$WORK"/ascii2/public.bad/*.ndjson 2>/dev/null | grep -c '"id":2500,')" 0 "the bad row was written nowhere"
like "$("$FERRY" status -c "$WORK/ascii2.ini")" "public.bad +FAILED +2/3 +2000 " "status: the other two partitions are complete, 2000 rows"
PGDATABASE=legacy pg_sql "CREATE VIEW bad_utf8 AS
        SELECT id, convert_from(convert(textsend(v), 'LATIN1', 'UTF8'), 'SQL_ASCII') AS v FROM bad"
write_config "$WORK/ascii3.ini" "$WORK/ascii3" ndjson
sed -i 's/dbname=postgres/dbname=legacy/' "$WORK/ascii3.ini"
printf '[table public.bad_utf8]\nkey = id\n' >> "$WORK/ascii3.ini"
"$FERRY" run -c "$WORK/ascii3.ini" >"$WORK/ascii3.log" 2>&1; code=$?
is "$code" 0 "the view the error proposes reads the same table: exit 0"
is "$(cat "$WORK"/ascii3/public.bad_utf8/*.ndjson | grep '"id":2500,')" '{"id":2500,"v":"café"}' \
    "the Latin-1 byte arrives as its UTF-8 character"

done_testing
