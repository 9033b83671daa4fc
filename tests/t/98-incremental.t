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
trap 'target_stop; mongo_stop; cleanup' EXIT
pg_start
mongo_start
target_start
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

# What a reader of the dir sink's files sees: every generation applied in order, the last version
# of a key winning. Generation 0's files are <target>.p…, generation g's <target>.gGGGGGG.p….
apply_generations() {
    local dir=$1 name=$2 f gen
    pg_sql "DROP TABLE IF EXISTS $name, ${name}_raw; CREATE TABLE ${name}_raw (gen int, doc jsonb)"
    for f in "$dir"/ev/*.ndjson; do
        gen=$(basename "$f" | sed -n 's/^ev\.g0*\([0-9][0-9]*\)\..*/\1/p')
        psql -X -q -v ON_ERROR_STOP=1 \
            -c "\\copy ${name}_raw (doc) FROM '$f' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')" \
            -c "UPDATE ${name}_raw SET gen = ${gen:-0} WHERE gen IS NULL"
    done
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
pg_sql "UPDATE ev SET v = repeat('big', 700) || id, updated_at = now() WHERE id % 4 <> 0" # 30 MB: many batches
mark_before=$(sqlite3 files.state "SELECT mark FROM tables")
gen_before=$(sqlite3 files.state "SELECT generation FROM tables")
hits=$(kill_after_checkpoints files.ini files.state kills.log 6 40)
ok $(( hits >= 4 ? 0 : 1 )) "kills: at least 4 of 6 SIGKILLs hit a running ferry during the incremental run ($hits)"
is "$(sqlite3 files.state "SELECT mark FROM tables")" "$mark_before" \
    "kills: the mark has not moved while the run is incomplete"
"$FERRY" run -c files.ini > files4.log 2>&1; code=$?
is "$code" 0 "kills: one more run completes it"
is "$(sqlite3 files.state "SELECT generation FROM tables")" "$((gen_before + 1))" \
    "kills: the killed runs and the last one were one generation" ||
    diag "$(grep -E 'generation|complete|nothing' kills.log files4.log)"
apply_generations "$WORK/files" files_applied
is "$(rows_differ ev files_applied)" 0 "kills: generations applied in order equal the source"
is "$(pg_sql "SELECT count(*) - count(DISTINCT doc->>'id') FROM files_applied_raw WHERE gen = $((gen_before + 1))")" 0 \
    "kills: the killed generation holds no key twice (a replayed segment replaced itself)"
mark_after=$(sqlite3 files.state "SELECT mark FROM tables")
ok $([ "$mark_after" != "$mark_before" ]; echo $?) "kills: the mark moved once it was complete"

# --- MongoDB, watermark = xmin --------------------------------------------------------------------
write_mongo_config mongo.ini
incremental_table xmin >> mongo.ini
"$FERRY" run -c mongo.ini > mongo.log 2>&1; code=$?
is "$code" 0 "mongo: the first run exits 0"
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
is "$(rows_differ ev_rows mongo_rows)" 0 "mongo: the collection equals the source"
status=$("$FERRY" status --json -c mongo.ini)
like "$status" '"mode":"incremental","generation":2,"watermark":"xmin","mark":"[0-9]+:[0-9]+:' \
    "mongo: status --json shows the mode, generation and xmin mark"
like "$status" '"last_delta_rows":0' "mongo: and that the last run's delta was empty"

# run --full: the table read whole into a new generation, the collection still the source's.
"$FERRY" run -c mongo.ini --full public.ev > mongo4.log 2>&1; code=$?
like "$code $(cat mongo4.log)" "^0 .*generation 3 reads every row \(run --full\)" "mongo: run --full reads every row as generation 3"
like "$(cat mongo4.log)" "run complete: $(pg_sql "SELECT count(*) FROM ev") rows" "mongo: all of them"
load_collection ev mongo_docs relaxed
pg_sql "DROP TABLE mongo_rows; CREATE TABLE mongo_rows AS
          SELECT (doc->>'_id')::int AS id, doc->>'v' AS v, (doc->>'n')::bigint AS n FROM mongo_docs"
is "$(rows_differ ev_rows mongo_rows)" 0 "mongo: and the collection still equals the source"
"$FERRY" run -c mongo.ini > mongo5.log 2>&1; code=$?
like "$code $(cat mongo5.log)" "^0 .*nothing changed since" "mongo: the run after it finds nothing new"
out=$("$FERRY" run -c mongo.ini --full public.nosuch 2>&1); code=$?
like "$code $out" "^2 .*--full public.nosuch: no such table" "run --full of a table not configured: exit 2"
out=$("$FERRY" run -c mongo.ini --full 2>&1); code=$?
like "$code $out" "^2 .*--full applies to run, with the table" "run --full without a table: exit 2"

# --- PostgreSQL target, watermark = n (an integer) --------------------------------------------
write_pg_config pg.ini "load = upsert
create_table = true"
incremental_table n >> pg.ini
"$FERRY" run -c pg.ini > pg.log 2>&1; code=$?
is "$code" 0 "postgres: the first run exits 0"
change_rows d
"$FERRY" run -c pg.ini > pg1.log 2>&1; code=$?
is "$code" 0 "postgres: the incremental run exits 0"
like "$(cat pg1.log)" "generation 1: $CHANGED row\(s\) changed since [0-9]+ \(watermark n integer" \
    "postgres: the integer watermark finds the $CHANGED rows"
src=$(psql -X -q -A -t -c "COPY (SELECT * FROM ev ORDER BY id) TO STDOUT" | md5sum)
dst=$(psql -X -q -A -t -h 127.0.0.1 -p "$TARGET_PORT" -U ferry -d postgres \
      -c "COPY (SELECT * FROM ev ORDER BY id) TO STDOUT" | md5sum)
is "$dst" "$src" "postgres: the target table equals the source"
"$FERRY" run -c pg.ini > pg2.log 2>&1; code=$?
like "$code $(cat pg2.log)" "^0 .*nothing changed since" "postgres: a run with nothing new exits 0 and says so"

# reset --since: the mark moved back; the next run copies every row changed since.
out=$("$FERRY" reset -c pg.ini --since 0 public.ev 2>&1); code=$?
like "$code $out" "^0 .*its mark is now 0 \(n integer\)" "reset --since 0 sets the integer mark"
"$FERRY" run -c pg.ini > pg3.log 2>&1; code=$?
like "$code $(cat pg3.log)" "^0 .*generation 2: $(pg_sql "SELECT count(*) FROM ev") row\(s\) changed since 0" \
    "postgres: the next run reads every row since that mark"
dst=$(psql -X -q -A -t -h 127.0.0.1 -p "$TARGET_PORT" -U ferry -d postgres \
      -c "COPY (SELECT * FROM ev ORDER BY id) TO STDOUT" | md5sum)
is "$dst" "$src" "postgres: and the target table is still the source's, row for row"
out=$("$FERRY" reset -c pg.ini --since yesterday-ish public.ev 2>&1); code=$?
like "$code $out" "^2 .*--since yesterday-ish is not a mark of table public.ev's watermark" \
    "reset --since with a value the watermark's type cannot hold: exit 2, named"
out=$("$FERRY" reset -c pg.ini --since 5 2>&1); code=$?
like "$code $out" "^2 .*--since applies to reset, with the table" "reset --since without a table: exit 2"

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
like "$code $(cat loc1.log)" "^0 .*generation 1: 10 row\(s\) changed" \
    "timestamp: a local-time watermark read in source_timezone finds the rows written now"
like "$("$FERRY" status -c loc.ini)" "3 row\(s\) have a NULL watermark" "timestamp: status counts the NULL watermarks"

# --- what is refused, with the file, line and key ----------------------------------------------
refused() { # refused NAME CONFIG-TAIL PATTERN WHAT
    write_config "$1.ini" "$WORK/$1" ndjson
    printf '%s\n' "$2" >> "$1.ini"
    local out code
    out=$("$FERRY" plan -c "$1.ini" 2>&1); code=$?
    like "$code $out" "^78 .*$3" "$4"
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
refused fullwm "[table public.ev]
watermark = updated_at" "fullwm.ini:[0-9]+: key 'watermark': table public.ev is copied in full" \
    "a watermark on a table copied in full is refused"
write_pg_config append.ini "load = append"
incremental_table updated_at >> append.ini
out=$("$FERRY" plan -c append.ini 2>&1); code=$?
like "$code $out" "^78 .*append.ini:[0-9]+: key 'mode'.*set load = upsert" \
    "incremental into an appending sink is refused: every changed row would be added again"

done_testing
