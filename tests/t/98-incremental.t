#!/usr/bin/env bash
# mode = incremental: the first run copies the table, each later run copies the rows changed since
# the mark, and the target ends equal to the source — in files (each run a generation of its own, a
# reader applying them in order), in MongoDB and in PostgreSQL (upserts by key). A transaction that
# commits after a run read past it is caught by the next (a column within lookback, xmin always);
# SIGKILLs during an incremental run leave the mark where it was until one run completes it; a run
# with nothing new writes nothing and exits 0; watermarks ferry cannot follow are refused with the
# file, line and key.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/mongo.sh"
. "$ROOT/tests/lib/pgtarget.sh"
. "$ROOT/tests/lib/s3.sh"
. "$ROOT/tests/lib/azure.sh"
trap 's3_stop; azure_stop; target_stop; mongo_stop; cleanup' EXIT
pg_start
mongo_start
target_start
s3_start || { echo "Bail out! the S3 test store did not start"; exit 1; }
azure_start || { echo "Bail out! Azurite did not start"; exit 1; }
cd "$WORK" || exit 1

N=20000
pg_sql "CREATE TABLE ev (id int PRIMARY KEY, v text, n bigint NOT NULL, updated_at timestamptz NOT NULL);
        INSERT INTO ev SELECT g, 'v' || g, g, now() - interval '1 day' FROM generate_series(1, $N) g;
        CREATE SEQUENCE ev_n START $((N + 1));
        ANALYZE ev"

# incremental_table WATERMARK [extra [table] lines] — a [table] section for public.ev
incremental_table() {
    printf '[table public.ev]\ntarget = ev\nmode = incremental\nwatermark = %s\npartition_rows = 5000\n%s\n' \
        "$1" "${2:-}"
}

# load_generations DIR TARGET RAW — every line of the dir sink's files of TARGET into table RAW
# (gen int, doc jsonb). Generation 0's files are <target>.p…, generation g's <target>.gGGGGGG.p….
load_generations() {
    local dir=$1 target=$2 raw=$3 f gen
    pg_sql "DROP TABLE IF EXISTS $raw; CREATE TABLE $raw (gen int, doc jsonb)"
    for f in "$dir/$target"/*.ndjson; do
        gen=$(basename "$f" | sed -n "s/^$target\\.g0*\\([0-9][0-9]*\\)\\..*/\\1/p")
        psql -X -q -v ON_ERROR_STOP=1 \
            -c "\\copy $raw (doc) FROM '$f' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')" \
            -c "UPDATE $raw SET gen = ${gen:-0} WHERE gen IS NULL"
    done
}

# What a reader of the dir sink's files sees: every generation applied in order, the last version
# of a key winning.
apply_generations() {
    local dir=$1 name=$2
    pg_sql "DROP TABLE IF EXISTS $name"
    load_generations "$dir" ev "${name}_raw"
    pg_sql "CREATE TABLE $name AS SELECT DISTINCT ON ((doc->>'id')::int) (doc->>'id')::int AS id, doc->>'v' AS v,
                   (doc->>'n')::bigint AS n, (doc->>'updated_at')::timestamptz AS updated_at
            FROM ${name}_raw ORDER BY (doc->>'id')::int, gen DESC"
}

# A change between runs: every 100th row updated, 100 inserted; CHANGED is how many rows that is.
change_rows() {
    local tag=$1
    CHANGED=$(( $(pg_sql "SELECT count(*) FROM ev WHERE id % 100 = 0") + 100 ))
    pg_sql "UPDATE ev SET v = '$tag' || id, n = nextval('ev_n'), updated_at = now() WHERE id % 100 = 0;
            INSERT INTO ev SELECT max_id + g, '$tag-new', nextval('ev_n'), now()
              FROM (SELECT max(id) AS max_id FROM ev) m, generate_series(1, 100) g"
}

# --- files, watermark = updated_at -------------------------------------------------------------
write_config files.ini "$WORK/files" ndjson "memory_limit = 8MB"
incremental_table updated_at >> files.ini
"$FERRY" run -c files.ini > files.log 2>&1; code=$?
is "$code" 0 "files: the first run (the full copy) exits 0"
is "$(cat "$WORK"/files/ev/ev.p*.ndjson | wc -l)" "$N" "files: it copies every row into generation 0"
like "$(sqlite3 files.state "SELECT marked || ' ' || mark_of FROM tables")" "^0 updated_at timestamptz" \
    "files: its bound is the mark once it is complete"

change_rows a
"$FERRY" run -c files.ini > files1.log 2>&1; code=$?
is "$code" 0 "files: the first incremental run exits 0"
like "$(cat files1.log)" "generation 1: $CHANGED row\(s\) changed since" "files: it finds the $CHANGED rows changed"
is "$(cat "$WORK"/files/ev/ev.g000001.*.ndjson | wc -l)" "$CHANGED" "files: and writes them, alone, as generation 1"
apply_generations "$WORK/files" files_applied
is "$(rows_differ ev files_applied)" 0 "files: generations applied in order equal the source"

# A transaction that wrote its rows before a run's capture and commits after the run read past them.
coproc LATE { psql -X -q -A -t 2>&1; }
echo "BEGIN; UPDATE ev SET v = 'late', updated_at = now() WHERE id = 7; SELECT 'held';" >&"${LATE[1]}"
read -r held <&"${LATE[0]}"
is "$held" held "files: a transaction holds an update of id 7, uncommitted"
change_rows b
"$FERRY" run -c files.ini > files2.log 2>&1; code=$?
is "$code" 0 "files: a run while it is open exits 0"
echo "COMMIT; SELECT 'committed';" >&"${LATE[1]}"
read -r held <&"${LATE[0]}"
echo '\q' >&"${LATE[1]}"
"$FERRY" run -c files.ini > files3.log 2>&1; code=$?
is "$code" 0 "files: the next run exits 0"
apply_generations "$WORK/files" files_applied
is "$(pg_sql "SELECT v FROM files_applied WHERE id = 7")" late \
    "files: the late commit is caught by the next run (its updated_at is within lookback of the mark)"
is "$(rows_differ ev files_applied)" 0 "files: generations applied in order still equal the source"
is "$(pg_sql "SELECT count(*) FROM files_applied_raw GROUP BY gen ORDER BY count(*) DESC LIMIT 1")" "$N" \
    "files: no generation holds a key twice or more rows than the first copy"

# --- SIGKILLs during an incremental run ---------------------------------------------------------
# 80 MB: many batches at memory_limit = 8MB, and more than six runs cut short after a checkpoint or two can copy
pg_sql "UPDATE ev SET v = repeat('big', 1300) || id, updated_at = now()"
mark_before=$(sqlite3 files.state "SELECT mark FROM tables")
gen_before=$(sqlite3 files.state "SELECT generation FROM tables")
hits=$(kill_after_checkpoints files.ini files.state kills.log 6 40)
ok $(( hits >= 4 ? 0 : 1 )) "kills: at least 4 of 6 SIGKILLs hit a running ferry during the incremental run ($hits)"
is "$(sqlite3 files.state "SELECT mark FROM tables")" "$mark_before" \
    "kills: the mark has not moved while the run is incomplete"
"$FERRY" run -c files.ini > files4.log 2>&1; code=$?
is "$code" 0 "kills: one more run completes it"
is "$(sqlite3 files.state "SELECT generation FROM tables")" "$((gen_before + 1))" \
    "kills: the killed runs and the last one were one generation"
like "$(cat files4.log)" "generation $((gen_before + 1)) is complete" "kills: which the run after them completed"
apply_generations "$WORK/files" files_applied
is "$(rows_differ ev files_applied)" 0 "kills: generations applied in order equal the source"
is "$(pg_sql "SELECT count(*) - count(DISTINCT doc->>'id') FROM files_applied_raw WHERE gen = $((gen_before + 1))")" 0 \
    "kills: the killed generation holds no key twice (a replayed segment replaced itself)"
mark_after=$(sqlite3 files.state "SELECT mark FROM tables")
ok $([ "$mark_after" != "$mark_before" ]; echo $?) "kills: the mark moved once it was complete"

# run --full into files: a whole generation, and the generations before it removed once it is complete,
# so rows DELETEd at the source (which no watermark sees) leave what a reader applies.
pg_sql "DELETE FROM ev WHERE id % 101 = 3"
"$FERRY" run -c files.ini --full public.ev > files5.log 2>&1; code=$?
full_gen=$(sqlite3 files.state "SELECT generation FROM tables")
like "$code $(tr "\n" " " < files5.log)" "^0 .*removed [0-9]+ objects of ev's generations before $full_gen, which holds every row" \
    "files: run --full writes generation $full_gen whole and removes the generations before it"
is "$(ls "$WORK"/files/ev | grep -vc "^ev\.g$(printf '%06d' "$full_gen")\.")" 0 "files: only generation $full_gen's files are left"
apply_generations "$WORK/files" files_applied
is "$(rows_differ ev files_applied)" 0 "files: and they equal the source, its deleted rows gone"

# --- MongoDB, watermark = xmin --------------------------------------------------------------------
write_mongo_config mongo.ini
incremental_table xmin "deletes = reconcile" >> mongo.ini
"$FERRY" run -c mongo.ini > mongo.log 2>&1; code=$?
is "$code" 0 "mongo: the first run exits 0"
pg_sql "DELETE FROM ev WHERE id % 97 = 5"
change_rows c
coproc LATE2 { psql -X -q -A -t 2>&1; }
echo "BEGIN; UPDATE ev SET v = 'late-xmin', updated_at = now() - interval '1 day' WHERE id = 9; SELECT 'held';" >&"${LATE2[1]}"
read -r held <&"${LATE2[0]}"
"$FERRY" run -c mongo.ini > mongo1.log 2>&1; code=$?
is "$code" 0 "mongo: an incremental run while a transaction is open exits 0"
like "$(cat mongo1.log)" "generation 1: $CHANGED row\(s\) changed" "mongo: it finds the $CHANGED committed changes"
echo "COMMIT; SELECT 'committed';" >&"${LATE2[1]}"
read -r held <&"${LATE2[0]}"
echo '\q' >&"${LATE2[1]}"
"$FERRY" run -c mongo.ini > mongo2.log 2>&1; code=$?
is "$code" 0 "mongo: the next run exits 0"
like "$(cat mongo2.log)" "generation 2: 1 row\(s\) changed" \
    "mongo: it reads the late transaction's row, though its updated_at is a day old"
"$FERRY" run -c mongo.ini > mongo3.log 2>&1; code=$?
is "$code" 0 "mongo: a run with nothing new exits 0"
like "$(cat mongo3.log)" "nothing changed since" "mongo: and says nothing changed"
like "$(cat mongo3.log)" "run complete: 0 rows" "mongo: it copies no row"
load_collection ev mongo_docs relaxed
pg_sql "CREATE TABLE mongo_rows AS SELECT (doc->>'_id')::int AS id, doc->>'v' AS v, (doc->>'n')::bigint AS n FROM mongo_docs;
        CREATE TABLE ev_rows AS SELECT id, v, n FROM ev"
is "$(rows_differ ev_rows mongo_rows)" 0 "mongo: the collection equals the source (inserts, updates, a late commit and deletes)"
status=$("$FERRY" status --json -c mongo.ini)
like "$status" '"mode":"incremental","generation":2,"watermark":"xmin","mark":"[0-9]+:[0-9]+:' \
    "mongo: status --json shows the mode, generation and xmin mark"
like "$status" '"last_delta_rows":0' "mongo: and that the last run's delta was empty"
lag=$(grep -o '"mark_lag_seconds":-\?[0-9]*' <<< "$status" | cut -d: -f2)
ok $(( ${lag:--1} >= 0 && ${lag:--1} < 120 ? 0 : 1 )) \
    "mongo: and how far the mark lags the source's clock (${lag:-none} s, the last run a moment ago)"

# run --full: the table read whole into a new generation, the collection still the source's.
"$FERRY" run -c mongo.ini --full public.ev > mongo4.log 2>&1; code=$?
like "$code $(tr "\n" " " < mongo4.log)" "^0 .*generation 3 reads every row \(run --full\)" "mongo: run --full reads every row as generation 3"
like "$(cat mongo4.log)" "run complete: $(pg_sql "SELECT count(*) FROM ev") rows" "mongo: all of them"
load_collection ev mongo_docs relaxed
pg_sql "DROP TABLE mongo_rows; CREATE TABLE mongo_rows AS
          SELECT (doc->>'_id')::int AS id, doc->>'v' AS v, (doc->>'n')::bigint AS n FROM mongo_docs"
is "$(rows_differ ev_rows mongo_rows)" 0 "mongo: and the collection still equals the source"
"$FERRY" run -c mongo.ini > mongo5.log 2>&1; code=$?
like "$code $(tr "\n" " " < mongo5.log)" "^0 .*nothing changed since" "mongo: the run after it finds nothing new"
out=$("$FERRY" run -c mongo.ini --full public.nosuch 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^2 .*--full public.nosuch: no such table" "run --full of a table not configured: exit 2"
out=$("$FERRY" run -c mongo.ini --full 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^2 .*--full applies to run, with the table" "run --full without a table: exit 2"

# --- PostgreSQL target, watermark = n (an integer) --------------------------------------------
write_pg_config pg.ini "load = upsert
create_table = true"
incremental_table n "deletes = reconcile" >> pg.ini
"$FERRY" run -c pg.ini > pg.log 2>&1; code=$?
is "$code" 0 "postgres: the first run exits 0"
pg_sql "DELETE FROM ev WHERE id % 89 = 4"
change_rows d
"$FERRY" run -c pg.ini > pg1.log 2>&1; code=$?
is "$code" 0 "postgres: the incremental run exits 0"
like "$(cat pg1.log)" "generation 1: $CHANGED row\(s\) changed since [0-9]+ \(watermark n integer" \
    "postgres: the integer watermark finds the $CHANGED rows"
src=$(psql -X -q -A -t -c "COPY (SELECT * FROM ev ORDER BY id) TO STDOUT" | md5sum)
dst=$(psql -X -q -A -t -h 127.0.0.1 -p "$TARGET_PORT" -U ferry -d postgres \
      -c "COPY (SELECT * FROM ev ORDER BY id) TO STDOUT" | md5sum)
is "$dst" "$src" "postgres: the target table equals the source (inserts, updates and deletes)"
"$FERRY" run -c pg.ini > pg2.log 2>&1; code=$?
like "$code $(tr "\n" " " < pg2.log)" "^0 .*nothing changed since" "postgres: a run with nothing new exits 0 and says so"

# reset --since: the mark moved back; the next run copies every row changed since.
out=$("$FERRY" reset -c pg.ini --since 0 public.ev 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^0 .*its mark is now 0 \(n integer\)" "reset --since 0 sets the integer mark"
"$FERRY" run -c pg.ini > pg3.log 2>&1; code=$?
like "$code $(tr "\n" " " < pg3.log)" "^0 .*generation 2: $(pg_sql "SELECT count(*) FROM ev") row\(s\) changed since 0" \
    "postgres: the next run reads every row since that mark"
dst=$(psql -X -q -A -t -h 127.0.0.1 -p "$TARGET_PORT" -U ferry -d postgres \
      -c "COPY (SELECT * FROM ev ORDER BY id) TO STDOUT" | md5sum)
is "$dst" "$src" "postgres: and the target table is still the source's, row for row"
out=$("$FERRY" reset -c pg.ini --since yesterday-ish public.ev 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^2 .*--since yesterday-ish is not a mark of table public.ev's watermark" \
    "reset --since with a value the watermark's type cannot hold: exit 2, named"
out=$("$FERRY" reset -c pg.ini --since 5 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^2 .*--since applies to reset, with the table" "reset --since without a table: exit 2"

# --- deletes = soft: a deleted row removes its key, in every sink --------------------------------
pg_sql "CREATE TABLE sd (id int PRIMARY KEY, v text, deleted boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL);
        INSERT INTO sd SELECT g, 'v' || g, g % 50 = 0, now() - interval '1 day' FROM generate_series(1, 2000) g"
soft_table() { printf '[table public.sd]\ntarget = sd\nmode = incremental\nwatermark = updated_at\ndeletes = soft deleted\npartition_rows = 1000\n'; }
write_config sdfiles.ini "$WORK/sdfiles" ndjson; soft_table >> sdfiles.ini
write_mongo_config sdmongo.ini; soft_table >> sdmongo.ini
write_pg_config sdpg.ini "create_table = true"; soft_table >> sdpg.ini
write_s3_config sds3.ini; soft_table >> sds3.ini
write_azure_config sdazure.ini; soft_table >> sdazure.ini
# live_in NAME SINK: the rows the sink holds, as (id, v), into table NAME
live_in() {
    case $2 in
    sdfiles | sds3 | sdazure)
        rm -rf "$WORK/got-$2"
        mkdir -p "$WORK/got-$2"
        case $2 in
        sdfiles) cp -r "$WORK/sdfiles/sd" "$WORK/got-$2/" ;;
        sds3) s3_aws s3 cp --recursive --quiet "s3://$S3_BUCKET/$S3_PREFIX/" "$WORK/got-$2" >/dev/null ;;
        sdazure) azure_blob get "$AZ_CONTAINER" "$AZ_PREFIX/" "$WORK/got-$2" ;;
        esac
        load_generations "$WORK/got-$2" sd sd_raw
        pg_sql "DROP TABLE IF EXISTS $1; CREATE TABLE $1 AS SELECT id, v FROM (SELECT DISTINCT ON ((doc->>'id')::int) (doc->>'id')::int AS id,
                       doc->>'v' AS v, doc ? '_deleted' AS gone FROM sd_raw ORDER BY (doc->>'id')::int, gen DESC) l
                WHERE NOT gone" ;;
    sdmongo)
        load_collection sd sd_docs relaxed
        pg_sql "DROP TABLE IF EXISTS $1; CREATE TABLE $1 AS SELECT (doc->>'_id')::int AS id, doc->>'v' AS v FROM sd_docs" ;;
    sdpg)
        pg_sql "DROP TABLE IF EXISTS $1; CREATE TABLE $1 (id int, v text)"
        psql -X -q -A -t -h 127.0.0.1 -p "$TARGET_PORT" -U ferry -d postgres -c "COPY (SELECT id, v FROM sd) TO STDOUT" |
            psql -X -q -c "COPY $1 FROM STDIN" ;;
    esac
}
pg_sql "CREATE VIEW sd_live AS SELECT id, v FROM sd WHERE NOT deleted"
for sink in sdfiles sdmongo sdpg sds3 sdazure; do
    "$FERRY" run -c $sink.ini > $sink.log 2>&1; code=$?
    live_in got_$sink $sink
    is "$code $(rows_differ sd_live got_$sink)" "0 0" "soft deletes, $sink: the first copy holds the rows not deleted"
done
pg_sql "UPDATE sd SET deleted = true, updated_at = now() WHERE id % 7 = 0 AND NOT deleted;
        UPDATE sd SET v = 'u' || id, updated_at = now() WHERE id % 11 = 0 AND NOT deleted;
        INSERT INTO sd SELECT g, 'new', g % 3 = 0, now() FROM generate_series(2001, 2100) g"
for sink in sdfiles sdmongo sdpg sds3 sdazure; do
    "$FERRY" run -c $sink.ini > $sink-1.log 2>&1; code=$?
    live_in got_$sink $sink
    is "$code $(rows_differ sd_live got_$sink)" "0 0" \
        "soft deletes, $sink: after deletes, updates and inserts the sink holds exactly the rows not deleted"
done
like "$(grep -h '"_deleted":true' "$WORK"/sdfiles/sd/sd.g000001.* | head -1)" '^\{"_deleted":true,"id":[0-9]+\}$' \
    "soft deletes, files: a deleted row is a tombstone line of its key"
like "$("$FERRY" verify -c sdpg.ini 2>&1)" "0 mismatch" "soft deletes, postgres: verify counts the rows not deleted"
for sink in sdfiles sds3; do
    out=$("$FERRY" verify -c $sink.ini 2>&1)
    like "${out//$'\n'/ }" "generations 0-1, key share 1 of 1 .* same .*0 mismatch" \
        "soft deletes, $sink: verify applies both generations, the tombstones too, and agrees"
done
# S3 and Azure: a manifest per generation, each listing that generation's objects and no other's.
for sink in sds3 sdazure; do
    g0=$(find "$WORK/got-$sink/sd" -name 'sd.p*' | sed 's|.*/||' | sort)
    g1=$(find "$WORK/got-$sink/sd" -name 'sd.g000001.p*' | sed 's|.*/||' | sort)
    is "$(grep -o '"url": "[^"]*"' "$WORK/got-$sink/sd/sd.manifest" | sed 's|.*/||; s|"$||' | sort)" "$g0" \
        "$sink: sd.manifest lists generation 0's objects, and only those"
    is "$(grep -o '"url": "[^"]*"' "$WORK/got-$sink/sd/sd.g000001.manifest" | sed 's|.*/||; s|"$||' | sort)" "$g1" \
        "$sink: sd.g000001.manifest lists generation 1's objects, and only those"
done
write_config sdcsv.ini "$WORK/sdcsv" csv; soft_table >> sdcsv.ini
out=$("$FERRY" plan -c sdcsv.ini 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^78 .*tombstone line .*set format = ndjson" "soft deletes into CSV files: refused, saying why"
write_config rccsv.ini "$WORK/rccsv" csv
printf '[table public.sd]\ntarget = sd\nmode = incremental\nwatermark = updated_at\ndeletes = reconcile\n' >> rccsv.ini
out=$("$FERRY" plan -c rccsv.ini 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^78 .*deletes = reconcile writes a deleted key as a tombstone line .*set format = ndjson" \
    "deletes = reconcile into CSV files: refused, saying why"

# --- deletes = reconcile: keys DELETEd at the source leave the sink, in bounded memory ------------
pg_sql "CREATE TABLE rc (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
        INSERT INTO rc SELECT g, md5(g::text), now() - interval '1 day' FROM generate_series(1, 1000000) g;
        ANALYZE rc"
rc_table() { printf '[table public.rc]\ntarget = rc\nmode = incremental\nwatermark = updated_at\ndeletes = reconcile\n'; }
write_pg_config rcpg.ini "create_table = true"; rc_table >> rcpg.ini
sed -i 's/^\[ferry\]$/&\nmemory_limit = 64MB/' rcpg.ini
"$FERRY" run -c rcpg.ini > rcpg.log 2>&1; code=$?
is "$code" 0 "reconcile, postgres: the first run copies 1,000,000 rows"
pg_sql "DELETE FROM rc WHERE id % 100 = 7; UPDATE rc SET v = 'changed', updated_at = now() WHERE id % 1000 = 1"
baseline=$( { /usr/bin/time -f '%M' "$FERRY" --version >/dev/null; } 2>&1 | tail -1)
/usr/bin/time -f '%M' -o rcpg.rss "$FERRY" run -c rcpg.ini > rcpg1.log 2>&1; code=$?
peak=$(tail -1 rcpg.rss); limit=$(( 64 * 1024 + baseline ))
like "$code $(tr "\n" " " < rcpg1.log)" "^0 .*reconciled in .* 3 key range\\(s\\) compared, 3 of them held keys the source no longer has: 10000 removed" \
    "reconcile, postgres: 10,000 keys deleted at the source (1%) are removed from the target"
src=$(psql -X -q -A -t -c "COPY (SELECT id, v FROM rc ORDER BY id) TO STDOUT" | md5sum)
dst=$(psql -X -q -A -t -h 127.0.0.1 -p "$TARGET_PORT" -U ferry -d postgres \
      -c "COPY (SELECT id, v FROM rc ORDER BY id) TO STDOUT" | md5sum)
is "$dst" "$src" "reconcile, postgres: and the target equals the source, the updates in it"
ok $(( peak <= limit ? 0 : 1 )) "reconcile, postgres: peak RSS $peak KiB within memory_limit + idle baseline ($limit KiB)"
like "$("$FERRY" status -c rcpg.ini)" "last reconcile .*: 10000 key\(s\) the source no longer has removed" \
    "reconcile, postgres: status shows the last reconcile"
"$FERRY" run -c rcpg.ini > rcpg2.log 2>&1; code=$?
like "$code $(tr "\n" " " < rcpg2.log)" "^0 .*0 of them held keys the source no longer has: 0 removed" \
    "reconcile, postgres: the next run finds nothing to remove"
pg_sql "CREATE TABLE rcm AS SELECT * FROM rc WHERE id <= 20000; ALTER TABLE rcm ADD PRIMARY KEY (id)"
write_mongo_config rcmongo.ini; printf '[table public.rcm]\ntarget = rcm\nmode = incremental\nwatermark = updated_at\ndeletes = reconcile\n' >> rcmongo.ini
"$FERRY" run -c rcmongo.ini > rcmongo.log 2>&1
pg_sql "DELETE FROM rcm WHERE id % 50 = 3"
"$FERRY" run -c rcmongo.ini > rcmongo1.log 2>&1; code=$?
load_collection rcm rcm_docs relaxed
pg_sql "CREATE TABLE rcm_got AS SELECT (doc->>'_id')::int AS id, doc->>'v' AS v FROM rcm_docs;
        CREATE TABLE rcm_want AS SELECT id, v FROM rcm"
like "$code $(tr "\n" " " < rcmongo1.log)" "^0 .*: 400 removed" "reconcile, mongo: the 400 keys deleted at the source are removed"
is "$(rows_differ rcm_want rcm_got)" 0 "reconcile, mongo: the collection equals the source"

# Files: a key cannot be removed, so each key the source lost gets a tombstone, in a generation of the
# tombstones alone; a reader applying the generations in order (tombstones honoured) sees the source.
# rc_files_applied DIR NAME: the rc files under DIR, applied in order, as (id, v) into table NAME
rc_files_applied() {
    load_generations "$1" rc rc_raw
    pg_sql "DROP TABLE IF EXISTS $2; CREATE TABLE $2 AS SELECT id, v FROM (SELECT DISTINCT ON ((doc->>'id')::int)
                   (doc->>'id')::int AS id, doc->>'v' AS v, doc ? '_deleted' AS gone
            FROM rc_raw ORDER BY (doc->>'id')::int, gen DESC) l WHERE NOT gone;
            DROP TABLE IF EXISTS rc_want; CREATE TABLE rc_want AS SELECT id, v FROM rc"
}
pg_sql "DROP TABLE rc; CREATE TABLE rc (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
        INSERT INTO rc SELECT g, md5(g::text), now() - interval '1 day' FROM generate_series(1, 1000000) g;
        ANALYZE rc"
write_config rcfiles.ini "$WORK/rcfiles" ndjson "memory_limit = 64MB"; rc_table >> rcfiles.ini
"$FERRY" run -c rcfiles.ini > rcfiles.log 2>&1; code=$?
is "$code" 0 "reconcile, files: the first run copies 1,000,000 rows"
pg_sql "DELETE FROM rc WHERE id % 100 = 7; UPDATE rc SET v = 'changed', updated_at = now() WHERE id % 1000 = 1"
/usr/bin/time -f '%M' -o rcfiles.rss "$FERRY" run -c rcfiles.ini > rcfiles1.log 2>&1; code=$?
peak=$(tail -1 rcfiles.rss)
like "$code $(tr "\n" " " < rcfiles1.log)" "^0 .*reconciled in .* ([0-9]+) key bucket\\(s\\) compared, \\1 of them held keys the source no longer has: 10000 tombstoned in a generation of their own.*generation 2: 1000 row\\(s\\) changed" \
    "reconcile, files: 10,000 keys deleted at the source get tombstones (generation 1), before the changed rows (generation 2)"
is "$(cat "$WORK"/rcfiles/rc/rc.g000001.*.ndjson | wc -l) $(cat "$WORK"/rcfiles/rc/rc.g000001.*.ndjson | grep -cE '^\{"_deleted":true,"id":([0-9]*0)?7\}$')" "10000 10000" \
    "reconcile, files: generation 1 is the 10,000 tombstones, one per deleted key, and nothing else"
rc_files_applied "$WORK/rcfiles" rc_got
is "$(rows_differ rc_want rc_got)" 0 "reconcile, files: the generations applied in order equal the source"
ok $(( peak <= limit ? 0 : 1 )) "reconcile, files: peak RSS $peak KiB within memory_limit + idle baseline ($limit KiB)"
out=$("$FERRY" verify -c rcfiles.ini 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^0 .*generations 0-2, key share ([0-9]+) of \\1 .* same .*verify: \\1 partition\\(s\\) compared, 0 mismatch" \
    "reconcile, files: verify applies the three generations and finds them equal to the source"
"$FERRY" run -c rcfiles.ini > rcfiles2.log 2>&1; code=$?
like "$code $(tr "\n" " " < rcfiles2.log)" "^0 .*0 of them held keys the source no longer has: 0 removed" \
    "reconcile, files: the next run finds nothing to tombstone"
# A reconcile that fails after two of its buckets' tombstones were written (the third bucket's commit fails):
# what it wrote was never recorded, so its retry removes that first, and the run ends exact.
pg_sql "DELETE FROM rc WHERE id % 100 = 13"
FERRY_FAULTS="sink_commit@0=3" "$FERRY" run -c rcfiles.ini > rcfiles-fault.log 2>&1; code=$?
like "$code $(tr "\n" " " < rcfiles-fault.log)" "^0 .*reconciling deletes: dir sink: injected fault: .*rc\\.g[0-9]+\\.p000000\\.s00000003.*removed 2 objects of rc past generation [0-9]+, which no run recorded.*10000 tombstoned" \
    "reconcile, files: the third bucket's tombstones fail to commit; the retry removes the two unrecorded objects, then tombstones the 10,000 keys"
rc_files_applied "$WORK/rcfiles" rc_got
is "$(rows_differ rc_want rc_got)" 0 "reconcile, files: and the generations applied in order equal the source"

# A key written to the files and then deleted at the source is found missing by verify, and named as a mismatch.
pg_sql "DELETE FROM rc WHERE id = 500"
out=$("$FERRY" verify -c rcfiles.ini 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^1 .*DIFFER  MISMATCH.* 1 mismatch" "reconcile, files: verify sees a key deleted since as a mismatch"
"$FERRY" run -c rcfiles.ini > rcfiles3.log 2>&1
out=$("$FERRY" verify -c rcfiles.ini 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^0 .*generations 0-[0-9]+.*0 mismatch" "reconcile, files: which the next run tombstones"

# S3 and Azure: the same, read back with their own clients; a manifest of the tombstones' generation.
for sink in s3 azure; do
    write_${sink}_config rc$sink.ini; printf '[table public.rcm]\ntarget = rcm\nmode = incremental\nwatermark = updated_at\ndeletes = reconcile\n' >> rc$sink.ini
    "$FERRY" run -c rc$sink.ini > rc$sink.log 2>&1
done
pg_sql "DELETE FROM rcm WHERE id % 50 = 13"
for sink in s3 azure; do
    "$FERRY" run -c rc$sink.ini > rc$sink-1.log 2>&1; code=$?
    rm -rf "$WORK/got-rc$sink"; mkdir -p "$WORK/got-rc$sink"
    case $sink in
    s3) s3_aws s3 cp --recursive --quiet "s3://$S3_BUCKET/$S3_PREFIX/" "$WORK/got-rc$sink" >/dev/null ;;
    azure) azure_blob get "$AZ_CONTAINER" "$AZ_PREFIX/" "$WORK/got-rc$sink" ;;
    esac
    load_generations "$WORK/got-rc$sink" rcm rcm_raw
    pg_sql "DROP TABLE IF EXISTS rcm_got_$sink; CREATE TABLE rcm_got_$sink AS SELECT id, v FROM (SELECT DISTINCT ON ((doc->>'id')::int)
                   (doc->>'id')::int AS id, doc->>'v' AS v, doc ? '_deleted' AS gone
            FROM rcm_raw ORDER BY (doc->>'id')::int, gen DESC) l WHERE NOT gone;
            DROP TABLE IF EXISTS rcm_want; CREATE TABLE rcm_want AS SELECT id, v FROM rcm"
    like "$code $(tr "\n" " " < rc$sink-1.log)" "^0 .*: 400 tombstoned" "reconcile, $sink: the 400 keys deleted at the source get tombstones"
    is "$(rows_differ rcm_want rcm_got_$sink)" 0 "reconcile, $sink: its objects applied in order equal the source"
    is "$(grep -o '"url": "[^"]*"' "$WORK/got-rc$sink/rcm/rcm.g000001.manifest" | sed 's|.*/||; s|"$||' | sort)" \
        "$(find "$WORK/got-rc$sink/rcm" -name 'rcm.g000001.p*' | sed 's|.*/||' | sort)" \
        "reconcile, $sink: rcm.g000001.manifest lists the tombstones' objects"
    like "$("$FERRY" verify -c rc$sink.ini 2>&1)" "0 mismatch" "reconcile, $sink: verify applies the generations and agrees"
done

# --- NULL watermarks and timestamp without time zone ---------------------------------------------
pg_sql "CREATE TABLE loc (id int PRIMARY KEY, v text, ts timestamp);
        INSERT INTO loc SELECT g, 'v', (now() - interval '1 day') AT TIME ZONE 'America/New_York' FROM generate_series(1, 1000) g;
        UPDATE loc SET ts = NULL WHERE id <= 3"
write_config loc.ini "$WORK/loc" ndjson
printf '[table public.loc]\ntarget = loc\nmode = incremental\nwatermark = ts\nsource_timezone = America/New_York\n' >> loc.ini
"$FERRY" run -c loc.ini > loc.log 2>&1; code=$?
is "$code" 0 "timestamp: the first run exits 0"
pg_sql "UPDATE loc SET v = 'now', ts = now() AT TIME ZONE 'America/New_York' WHERE id BETWEEN 500 AND 509"
"$FERRY" run -c loc.ini > loc1.log 2>&1; code=$?
like "$code $(tr "\n" " " < loc1.log)" "^0 .*generation 1: 10 row\(s\) changed" \
    "timestamp: a local-time watermark read in source_timezone finds the rows written now"
like "$("$FERRY" status -c loc.ini)" "3 row\(s\) have a NULL watermark" "timestamp: status counts the NULL watermarks"

# --- what is refused, with the file, line and key ----------------------------------------------
refused() { # refused NAME CONFIG-TAIL PATTERN WHAT
    write_config "$1.ini" "$WORK/$1" ndjson
    printf '%s\n' "$2" >> "$1.ini"
    local out code
    out=$("$FERRY" plan -c "$1.ini" 2>&1); code=$?
    like "$code ${out//$'\n'/ }" "^78 .*$3" "$4"
}
refused text "[table public.ev]
mode = incremental
watermark = v" "text.ini:[0-9]+: key 'watermark': table public.ev: watermark v is text" \
    "a text watermark is refused, naming its type"
refused nowm "[table public.ev]
mode = incremental" "nowm.ini:[0-9]+: key 'mode': mode = incremental needs a watermark" \
    "mode = incremental without a watermark is refused"
refused intspan "[table public.ev]
mode = incremental
watermark = n
lookback = 5 minutes" "intspan.ini:[0-9]+: key 'lookback': .*give lookback as a count" \
    "a span as lookback of an integer watermark is refused at its line"
refused xminlb "[table public.ev]
mode = incremental
watermark = xmin
lookback = 10" "xminlb.ini:[0-9]+: key 'lookback'" "lookback with watermark = xmin is refused"
refused sdnot "[table public.ev]
mode = incremental
watermark = updated_at
columns = id, v, updated_at
deletes = soft n" "sdnot.ini:[0-9]+: key 'deletes': table public.ev: column n is not among the columns copied" \
    "a soft-delete column that is not copied is refused"
refused fullwm "[table public.ev]
watermark = updated_at" "fullwm.ini:[0-9]+: key 'watermark': table public.ev is copied in full" \
    "a watermark on a table copied in full is refused"
write_pg_config append.ini "load = append"
incremental_table updated_at >> append.ini
out=$("$FERRY" plan -c append.ini 2>&1); code=$?
like "$code ${out//$'\n'/ }" "^78 .*append.ini:[0-9]+: key 'mode'.*set load = upsert" \
    "incremental into an appending sink is refused: every changed row would be added again"

done_testing
