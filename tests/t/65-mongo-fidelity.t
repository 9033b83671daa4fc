#!/usr/bin/env bash
# The MongoDB sink keeps every row and every value: an inheritance parent is its own rows, json
# numbers are exact, no lone surrogate becomes invalid UTF-8, no two columns or json keys become
# one field, and no collection collation makes two keys one. Against minimongo, or a real server.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/mongo.sh"
mongo_servers

# --- inheritance: the parent's collection holds the parent's rows, once each ---
pg_sql "CREATE TABLE parent (id int PRIMARY KEY, v text);
        CREATE TABLE child (extra int) INHERITS (parent);
        INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 3000) g;
        INSERT INTO child SELECT g, 'c' || g, g FROM generate_series(1, 3000) g; ANALYZE"
write_mongo_config "$WORK/inh.ini"
printf '[table public.parent]\ntarget = parent\npartition_rows = 1000\n' >> "$WORK/inh.ini"
"$FERRY" run -c "$WORK/inh.ini" >"$WORK/inh.log" 2>&1; code=$?
is "$code" 0 "inheritance: exit 0"
is "$(mongo_tool count parent)|$(mongo_tool relaxed parent | grep -c '"v" : "c')" "3000|0" \
    "the parent's 3000 rows, none of its child's"
like "$("$FERRY" status -c "$WORK/inh.ini")" "public.parent +complete +3/3 +3000 " "status: 3000 rows, as the collection holds"

# --- json values: exact numbers, lone surrogates ---
pg_sql "CREATE TABLE js (id int PRIMARY KEY, j json);
        INSERT INTO js VALUES (1, '{\"x\": 1e1000}'), (2, '123456789012345678901234567890'),
                              (3, '0.0000000000000000000000000001'), (4, '[2.5, -7, 9007199254740993]'),
                              (5, '\"\\ud800\"'), (6, '\"a\\udc00b\"'), (7, '\"\\ud83d\\ude00\"'),
                              (8, '1.0000000000000000000000000000000000001')"
write_mongo_config "$WORK/js.ini" "on_reject = skip
reject_dir = $WORK/rejects"
printf '[table public.js]\ntarget = js\n' >> "$WORK/js.ini"
out=$("$FERRY" run -c "$WORK/js.ini" 2>&1); code=$?
is "$code" 0 "json values: exit 0 (bad rows set aside)"
dump=$(mongo_tool dump js); code=$?
is "$code" 0 "every document reads back: no invalid UTF-8 for a driver to refuse"
load_collection js jc dump
is "$(pg_sql "SELECT string_agg(doc->'_id'->>'\$numberInt' || '=' || (doc->'j')::text, ' ' ORDER BY (doc->'_id'->>'\$numberInt')::int) FROM jc")" \
    '1={"x": {"$numberDecimal": "1E+1000"}} 2={"$numberDecimal": "123456789012345678901234567890"} 3={"$numberDecimal": "1E-28"} 4=[{"$numberDouble": "2.5"}, {"$numberInt": "-7"}, {"$numberLong": "9007199254740993"}] 7="😀"' \
    "json numbers: exact (a double only where it is the number, else Decimal128, never Infinity); a surrogate pair is one character"
rejects=$(cat "$WORK"/rejects/js.p*.ndjson 2>/dev/null)
like "$rejects" '"key" : \{ "id" : "5" \}, "reason" : "column \\"j\\": a lone UTF-16 surrogate' "a lone high surrogate is a bad row, named"
like "$rejects" '"key" : \{ "id" : "6" \}' "a lone low surrogate too"
like "$rejects" '"key" : \{ "id" : "8" \}, "reason" : "column \\"j\\": a json number that neither a double nor Decimal128' \
    "a 38-digit json number is a bad row under inexact_numeric = reject"
write_mongo_config "$WORK/rep.ini" "lone_surrogates = replace
inexact_numeric = string"
printf '[table public.js]\ntarget = js_replaced\n' >> "$WORK/rep.ini"
"$FERRY" run -c "$WORK/rep.ini" >"$WORK/rep.log" 2>&1; code=$?
is "$code" 0 "lone_surrogates = replace, inexact_numeric = string: exit 0"
load_collection js_replaced jr relaxed
is "$(pg_sql "SELECT string_agg(doc->>'_id' || '=' || (doc->'j')::text, ' ' ORDER BY (doc->>'_id')::int) FROM jr WHERE (doc->>'_id')::int IN (5, 6, 8)")" \
    '5="�" 6="a�b" 8="1.0000000000000000000000000000000000001"' "U+FFFD for each lone half; the long number as its text"

# --- field names: two columns that escaping makes one, json keys likewise ---
pg_sql "CREATE TABLE names (id int PRIMARY KEY, \"\$x\" int, \"＄x\" int);
        INSERT INTO names VALUES (1, 1, 2);
        CREATE TABLE dotted (id int PRIMARY KEY, \"a.b\" int, \"a．b\" int);
        CREATE TABLE jkeys (id int PRIMARY KEY, j jsonb, r json);
        INSERT INTO jkeys VALUES (1, '{\"\$x\": 1, \"＄x\": 2}', NULL), (2, '{\"ok\": 1}', '{\"a\": 1, \"a\": 2}'), (3, '{\"ok\": 2}', NULL)"
write_mongo_config "$WORK/names.ini"
printf '[table public.names]\ntarget = names\n[table public.dotted]\ntarget = dotted\n' >> "$WORK/names.ini"
out=$("$FERRY" plan -c "$WORK/names.ini" 2>&1); code=$?
is "$code" 78 "columns \$x and ＄x: ferry plan refuses, exit 78"
like "$out" 'columns "\$x" and "＄x" of names would both be the MongoDB field "＄x"' "the refusal names both columns and the field"
like "$out" 'columns "a.b" and "a．b" of dotted would both be the MongoDB field "a．b"' "a dot likewise"
out=$("$FERRY" run -c "$WORK/names.ini" 2>&1); code=$?
is "$code" 1 "ferry run refuses the tables before writing (exit 1)"
is "$(mongo_tool count names)" 0 "nothing was written to the refused collection"
write_mongo_config "$WORK/keep.ini" "field_names = keep"
printf '[table public.names]\ntarget = names_kept\n' >> "$WORK/keep.ini"
"$FERRY" run -c "$WORK/keep.ini" >"$WORK/keep.log" 2>&1; code=$?
is "$code|$(mongo_tool count names_kept)" "0|1" "field_names = keep copies them as two fields"
write_mongo_config "$WORK/jk.ini" "on_reject = skip
reject_dir = $WORK/jrejects"
printf '[table public.jkeys]\ntarget = jkeys\n' >> "$WORK/jk.ini"
"$FERRY" run -c "$WORK/jk.ini" >"$WORK/jk.log" 2>&1; code=$?
is "$code|$(mongo_tool count jkeys)" "0|1" "json keys that would repeat a field: two bad rows set aside, one document written"
jrejects=$(cat "$WORK"/jrejects/jkeys.p*.ndjson 2>/dev/null)
like "$jrejects" '"id" : "1" \}, "reason" : "column \\"j\\": a json object holds two keys that are one field name' "\$x and ＄x in one object, named"
like "$jrejects" '"id" : "2" \}, "reason" : "column \\"r\\": a json object holds the same key twice' "a repeated json key, named"

# --- a collection with a default collation: string keys could be one _id ---
pg_sql "CREATE TABLE words (w text PRIMARY KEY, n int); INSERT INTO words VALUES ('apple', 1), ('Apple', 2), ('APPLE', 3);
        CREATE TABLE nums (id int PRIMARY KEY, w text); INSERT INTO nums VALUES (1, 'a'), (2, 'A')"
mongo_tool create words_ci '{"collation": {"locale": "en", "strength": 2}}'
mongo_tool create nums_ci '{"collation": {"locale": "en", "strength": 2}}'
write_mongo_config "$WORK/ci.ini"
printf '[table public.words]\ntarget = words_ci\n[table public.nums]\ntarget = nums_ci\n' >> "$WORK/ci.ini"
out=$("$FERRY" run -c "$WORK/ci.ini" 2>&1); code=$?
is "$code" 1 "a text key into a collection with a case-insensitive collation: the table fails, exit 1"
like "$out" 'collection words_ci has the default collation "en", under which distinct string keys of public.words can be one _id' \
    "the error names the collection, its collation and the table"
is "$(mongo_tool count words_ci)|$(mongo_tool count nums_ci)" "0|2" "nothing was written for it; an integer key under the same collation is copied"

done_testing
