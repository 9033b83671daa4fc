#!/usr/bin/env bash
# A copy equals the source row for row (NDJSON and CSV, every type), composite and text keys
# partition correctly, and running a finished job again changes nothing.
. "$(dirname "$0")/../lib/common.sh"
pg_start

# Every type ferry maps, with the edge values of each (shared with the MongoDB test).
psql -X -q -v ON_ERROR_STOP=1 -f "$ROOT/tests/lib/types.sql"
pg_iso_functions

# --- NDJSON ---
write_config "$WORK/json.ini" "$WORK/json" ndjson
printf '[table public.types]\npartition_rows = 1000\n' >> "$WORK/json.ini"
out=$("$FERRY" run -c "$WORK/json.ini" 2>&1); code=$?
is "$code" 0 "ndjson: ferry run exits 0"
like "$out" "planned 3 partitions" "ndjson: a 3000-row table at 1000 rows a partition gets 3 partitions"
load_ndjson "$WORK/json" j
is "$(pg_sql "SELECT count(*), count(DISTINCT doc->>'id') FROM j")" "3000|3000" "ndjson: 3000 documents, 3000 distinct ids"
mismatch=$(pg_sql "
SELECT string_agg(t.id::text, ',') FROM types t JOIN j ON (j.doc->>'id')::bigint = t.id
WHERE NOT (
    (doc->>'i2')::smallint IS NOT DISTINCT FROM i2 AND (doc->>'i4')::int IS NOT DISTINCT FROM i4
AND (doc->>'f4')::real IS NOT DISTINCT FROM f4 AND (doc->>'f8')::float8 IS NOT DISTINCT FROM f8
AND (doc->>'n')::numeric IS NOT DISTINCT FROM n AND (doc->>'b')::bool IS NOT DISTINCT FROM b
AND (doc->>'txt') IS NOT DISTINCT FROM txt AND (doc->>'vc') IS NOT DISTINCT FROM vc
AND (doc->'js') IS NOT DISTINCT FROM (CASE WHEN js IS NULL THEN 'null'::jsonb ELSE js END)
AND decode(doc->>'raw', 'base64') IS NOT DISTINCT FROM raw
AND iso_ts(doc->>'ts') IS NOT DISTINCT FROM ts AND iso_tstz(doc->>'tstz') IS NOT DISTINCT FROM tstz
AND (doc->>'d')::date IS NOT DISTINCT FROM d AND (doc->>'u')::uuid IS NOT DISTINCT FROM u
AND (doc->>'iv')::interval IS NOT DISTINCT FROM iv AND (doc->>'c')::char(3) IS NOT DISTINCT FROM c
AND (CASE WHEN arr IS NULL THEN jsonb_typeof(doc->'arr') = 'null'
          WHEN cardinality(arr) = 0 THEN doc->'arr' = '[]'
          ELSE (doc->'arr') = to_jsonb(arr) END)
AND (CASE WHEN tarr IS NULL THEN jsonb_typeof(doc->'tarr') = 'null' ELSE (doc->'tarr') = to_jsonb(tarr) END))")
is "$mismatch" "" "ndjson: every value of every row reads back equal to the source"
is "$(pg_sql "SELECT jsonb_typeof(doc->'id') || jsonb_typeof(doc->'i4') || jsonb_typeof(doc->'f8') || jsonb_typeof(doc->'b') || jsonb_typeof(doc->'n') || jsonb_typeof(doc->'js') || jsonb_typeof(doc->'arr') FROM j WHERE doc->>'id' = '7'")" \
   "numbernumbernumberbooleanstringobjectarray" "ndjson: numbers, booleans, exact numeric strings, embedded json and arrays"
is "$(pg_sql "SELECT doc->>'f4' || ' ' || (doc->>'f8') || ' ' || (doc->>'tstz') || ' ' || (doc->>'ts') FROM j WHERE doc->>'id' = '1'")" \
   "NaN Infinity infinity 0001-01-01T00:00:00" "ndjson: NaN and infinities as strings, timestamps ISO-8601"
is "$(pg_sql "SELECT doc->>'tstz' FROM j WHERE doc->>'id' = '2'")" "1999-12-31T18:59:59.5Z" "ndjson: timestamptz converted to UTC"

# Running the finished job again changes nothing.
before=$(cd "$WORK/json" && find . -type f -printf '%p %s %T@\n' | sort | md5sum)
state_before=$(sqlite3 "$WORK/json.state" "SELECT group_concat(part || ':' || status || ':' || rows || ':' || next_seq, ' ') FROM partitions" 2>/dev/null || "$FERRY" status -c "$WORK/json.ini" --json | sed 's/"runs".*//')
out=$("$FERRY" run -c "$WORK/json.ini" 2>&1); code=$?
is "$code" 0 "rerun of a finished job exits 0"
like "$out" "run complete: 0 rows" "rerun copies nothing"
after=$(cd "$WORK/json" && find . -type f -printf '%p %s %T@\n' | sort | md5sum)
is "$after" "$before" "rerun leaves every output file as it was (names, sizes, times)"
state_after=$(sqlite3 "$WORK/json.state" "SELECT group_concat(part || ':' || status || ':' || rows || ':' || next_seq, ' ') FROM partitions" 2>/dev/null || "$FERRY" status -c "$WORK/json.ini" --json | sed 's/"runs".*//')
is "$state_after" "$state_before" "rerun leaves the checkpoints as they were"

# verify reads the files back and compares each partition with the source.
out=$("$FERRY" verify -c "$WORK/json.ini" 2>&1); code=$?
is "$code" 0 "verify (ndjson): exit 0"
like "$out" "3 partition\(s\) compared, 0 mismatch" "verify (ndjson): every partition matches"
first=$(ls "$WORK"/json/public.types/*.p000001.* | head -1)
cp "$first" "$WORK/saved"
sed -i '5d' "$first"
out=$("$FERRY" verify -c "$WORK/json.ini" 2>&1); code=$?
is "$code" 1 "verify after a row was deleted from the sink: exit 1"
like "$out" "public.types +1 .* MISMATCH" "and partition 1 is named as the mismatch"
cp "$WORK/saved" "$first"
sed -i '7s/^{"id":[0-9]*/{"id":999999999/' "$first"
out=$("$FERRY" verify -c "$WORK/json.ini" 2>&1)
like "$out" "public.types +1 .* DIFFER +MISMATCH" "verify catches a changed key with equal counts"
cp "$WORK/saved" "$first"

# --- CSV: load it back with COPY and compare as multisets ---
write_config "$WORK/csv.ini" "$WORK/csv" csv
printf '[table public.types]\npartition_rows = 1000\n' >> "$WORK/csv.ini"
"$FERRY" run -c "$WORK/csv.ini" 2>"$WORK/csv.log"; code=$?
is "$code" 0 "csv: ferry run exits 0"
load_csv "$WORK/csv" types types_csv
is "$(rows_differ types types_csv)" 0 "csv: COPY … CSV reads back exactly the source's rows (EXCEPT ALL both ways)"
out=$("$FERRY" verify -c "$WORK/csv.ini" 2>&1); code=$?
is "$code" 0 "verify (csv, quoted fields with newlines): every partition matches"

# --- composite and text keys, skewed; read with a cursor (the default reads with COPY) ---
pg_sql "
CREATE TABLE public.lines (region text COLLATE \"C\", order_id int, line_no int, amount numeric(10,2), note text,
                           PRIMARY KEY (region, order_id, line_no));
INSERT INTO lines SELECT CASE WHEN g % 10 < 7 THEN 'eu' ELSE 'us-' || (g % 10) END, g / 3, g % 3, g * 0.01, 'n' || g
FROM generate_series(1, 30000) g;
CREATE TABLE public.words (w text PRIMARY KEY, n int);
INSERT INTO words SELECT md5(g::text) || CASE WHEN g % 2 = 0 THEN ' é,\"' ELSE '' END, g FROM generate_series(1, 20000) g;
ANALYZE lines; ANALYZE words;"
write_config "$WORK/keys.ini" "$WORK/keys" csv
sed -i 's/^\[source\]/[source]\nread_method = cursor/' "$WORK/keys.ini" # the FETCH path (Redshift's)
printf '[table public.lines]\npartition_rows = 4000\n[table public.words]\npartition_rows = 3000\n' >> "$WORK/keys.ini"
out=$("$FERRY" run -c "$WORK/keys.ini" 2>&1); code=$?
is "$code" 0 "composite and text keys: ferry run exits 0"
like "$out" "public.lines: planned [5-9] partitions" "a skewed composite key still gets several partitions"
like "$out" "public.words: planned [5-9] partitions" "a text key gets several partitions"
load_csv "$WORK/keys/public.lines" lines lines_csv
load_csv "$WORK/keys/public.words" words words_csv
is "$(rows_differ lines lines_csv)" 0 "composite key: rows equal the source"
is "$(rows_differ words words_csv)" 0 "text key: rows equal the source"
out=$("$FERRY" verify -c "$WORK/keys.ini" 2>&1); code=$?
is "$code" 0 "verify: composite and text keys match the source partition by partition"
[ "$code" = 0 ] || diag "$out"
sizes=$(for f in "$WORK"/keys/public.lines/*.csv; do wc -l < "$f"; done | sort -n | sed -n '1p;$p' | tr '\n' ' ')
diag "partition file sizes (smallest, largest) for the skewed key: $sizes"
min=$(echo "$sizes" | cut -d' ' -f1); max=$(echo "$sizes" | cut -d' ' -f2)
ok $(( max <= 4 * min ? 0 : 1 )) "quantile bounds keep partitions of a skewed key within 4x of each other"

# --- compression: gzip (several members) and zstd, read by the gzip and zstd programs ---
# words and lines in one plan, 3 MiB and more a segment, so a gzip file holds several members.
for kind in gzip zstd; do
    write_config "$WORK/c-$kind.ini" "$WORK/c-$kind" ndjson "memory_limit = 256MB
workers = 1"
    sed -i "s|^format = ndjson\$|&\ncompression = $kind|" "$WORK/c-$kind.ini"
    printf '[table public.lines]\npartition_rows = 100000\n[table public.words]\npartition_rows = 100000\n' >> "$WORK/c-$kind.ini"
    "$FERRY" run -c "$WORK/c-$kind.ini" > "$WORK/c-$kind.log" 2>&1
    is "$?" 0 "compression = $kind: ferry run exits 0"
done
write_config "$WORK/c-none.ini" "$WORK/c-none" ndjson "memory_limit = 256MB
workers = 1"
printf '[table public.lines]\npartition_rows = 100000\n[table public.words]\npartition_rows = 100000\n' >> "$WORK/c-none.ini"
"$FERRY" run -c "$WORK/c-none.ini" > "$WORK/c-none.log" 2>&1
same=0
for f in "$WORK"/c-none/*/*.ndjson; do
    rel=${f#"$WORK/c-none/"}
    gzip -dc "$WORK/c-gzip/$rel.gz" | cmp -s - "$f" || same=1
    zstd -qdc "$WORK/c-zstd/$rel.zst" | cmp -s - "$f" || same=1
done
is "$same" 0 "gzip -d and zstd -d give back each uncompressed file byte for byte"
first=$(ls "$WORK"/c-gzip/public.lines/*.gz | head -1)
members=$(LC_ALL=C grep -c $'\x1f\x8b\x08' "$first" 2>/dev/null || echo 0)
ok "$([ "$(gzip -dc "$first" | wc -c)" -gt 1048576 ] && [ "$members" -ge 2 ]; echo $?)" \
    "a gzip file of more than a MiB is several members, read as one ($members found)"
zstd -qt "$WORK"/c-zstd/*/*.zst
is "$?" 0 "zstd -t: every zstd file is whole, its checksums right"

done_testing
