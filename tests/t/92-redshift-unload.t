#!/usr/bin/env bash
# Reading Redshift through UNLOAD: the front runs UNLOAD ('query') TO 's3://…' into the S3 test
# store (s3rver behind s3front) as Redshift documents it, and ferry reads the staged objects back,
# an object a batch. Rows equal those read from PostgreSQL directly (NULLs and '' told apart, the
# escapes undone, VARBYTE as bytea); a failure or a SIGKILL after the UNLOAD reads on from the
# staged objects without unloading again; nothing staged is left behind.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/redshift.sh"
. "$ROOT/tests/lib/s3.sh"
trap 'rs_stop; s3_stop; cleanup' EXIT
pg_start
s3_start || { echo "Bail out! the S3 store did not start"; exit 1; }
ROLE=arn:aws:iam::123456789012:role/ferry-unload
FRONT_S3=(--unload-role "$ROLE" --s3-endpoint "$S3_ENDPOINT" --s3-region "$S3_REGION"
          --s3-key-id "$S3_KEY_ID" --s3-secret-file "$S3_SECRET_FILE")
rs_start "${FRONT_S3[@]}" || { echo "Bail out! the Redshift front end did not start"; exit 1; }
cd "$WORK"
if rs_real; then skip_all "UNLOAD against a real cluster needs its role and bucket: not wired yet"; fi

# Values that UNLOAD's text must carry exactly: NULL beside '', the delimiter, backslashes, line
# breaks, quotes, VARBYTE, SUPER; wide enough that each partition stages several 5 MB objects.
pg_sql "CREATE TABLE public.ut (id bigint PRIMARY KEY, t text, n numeric(18,2), ts timestamp, b boolean,
          vb bytea, sup redshift_catalog.super, body varchar(200));
        INSERT INTO ut VALUES (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL), (2, '', 0, '2020-01-01', false, '\\x', 'null', ''),
          (3, 'a|b||c', -1.5, '1999-12-31 23:59:59.999999', true, '\\x7c5c0a', '{\"k\": \"a|b\\\\\\\\c\"}', '|'),
          (4, E'back\\\\slash \\\\N and \\\\', 2.25, NULL, NULL, '\\x00', '[1, \"x\", null]', E'\\\\N'),
          (5, E'line\\nbreak\\r\\nand tab\\there', NULL, NULL, NULL, NULL, NULL, E'\\n'),
          (6, 'quote\" and apos'' ✓ 日本', NULL, NULL, NULL, NULL, '\"s\"', '\"');
        INSERT INTO ut SELECT g, 't' || g, g * 0.25, '2021-01-01'::timestamp + g * interval '1 second', g % 2 = 0,
          decode(md5(g::text), 'hex'), jsonb_build_object('g', g), repeat(md5(g::text), 4)
        FROM generate_series(7, 90000) g;
        ANALYZE ut" >/dev/null
rows=$(pg_sql "SELECT count(*) FROM ut")

write_config "$WORK/direct.ini" "$WORK/direct" ndjson
printf '[table public.ut]\n' >> "$WORK/direct.ini"
"$FERRY" run -c "$WORK/direct.ini" > "$WORK/direct.log" 2>&1 || { echo "Bail out! the direct read failed"; exit 1; }

write_unload_config() { # FILE OUT [extra [ferry] lines]
    write_rs_config "$1" "$2" "${3:-}"
    sed -i 's/^\[source\]$/&\nread_method = unload/' "$1"
    { echo "[unload]"; echo "iam_role = $ROLE"; echo "max_file_size = 5MB"
      s3_sink_lines | grep -v '^type =' | sed "s|^prefix = .*|prefix = $S3_PREFIX/stage|"; echo; } >> "$1"
    printf '[table public.ut]\npartition_rows = 45000\n' >> "$1"
}
staged() { s3_aws s3 ls --recursive "s3://$S3_BUCKET/$S3_PREFIX/stage/" 2>/dev/null | wc -l; }
same_rows() { cmp -s <(cat "$1"/public.ut/* | sort) <(cat "$WORK"/direct/public.ut/* | sort); }

# ---- one run: every row as PostgreSQL has it, one UNLOAD per partition, nothing staged left ----
write_unload_config "$WORK/u.ini" "$WORK/u" "workers = 2"
: > "$RS_LOG"
"$FERRY" run -c "$WORK/u.ini" > "$WORK/u.log" 2>&1
is "$?" 0 "read_method = unload: the run exits 0"
if same_rows "$WORK/u"; then ok 0 "every row read through UNLOAD is, byte for byte, the row read from PostgreSQL ($rows rows)"
else ok 1 "the rows are the same"; diff <(cat "$WORK"/u/public.ut/* | sort) <(cat "$WORK"/direct/public.ut/* | sort) | head -6 | sed 's/^/# /'; fi
parts=$(sqlite3 "$WORK/u.state" "SELECT count(*) FROM partitions")
is "$(grep -c '^unload ' "$RS_LOG")" "$parts" "one UNLOAD per partition ($parts)"
objects=$(grep '^unload ' "$RS_LOG" | awk '{s += $4} END {print s}')
ok "$([ "$objects" -gt "$parts" ]; echo $?)" "the partitions were staged as $objects objects of at most 5 MB, each a batch"
is "$(sqlite3 "$WORK/u.state" "SELECT sum(next_seq) FROM partitions")" "$objects" "one segment and one checkpoint per object"
is "$(staged)" 0 "no staged object is left in S3"
"$FERRY" verify -c "$WORK/u.ini" > "$WORK/u-verify.log" 2>&1
is "$?" 0 "ferry verify agrees"

# ---- read_method = auto: UNLOAD for a table of [unload] min_table_size or more, cursors below ----
write_unload_config "$WORK/auto.ini" "$WORK/auto"
sed -i 's/^read_method = unload$/read_method = auto/; s/^max_file_size = 5MB$/&\nmin_table_size = 1MB/' "$WORK/auto.ini"
like "$("$FERRY" plan -c "$WORK/auto.ini" 2>&1)" "read through UNLOAD, a staged object a batch" "auto, a table of ~18 MB and min_table_size = 1MB: the plan reads it through UNLOAD"
sed -i 's/^min_table_size = 1MB$/min_table_size = 1GB/' "$WORK/auto.ini"
: > "$RS_LOG"
"$FERRY" run -c "$WORK/auto.ini" > "$WORK/auto.log" 2>&1
is "$? $(grep -c '^unload ' "$RS_LOG")" "0 0" "auto with min_table_size = 1GB: the same table is read by cursor, no UNLOAD"

# ---- a sink failure after the UNLOAD: the retry reads on from the staged objects ----
write_unload_config "$WORK/f.ini" "$WORK/f" "workers = 1
retry_base_ms = 50"
: > "$RS_LOG"
FERRY_FAULTS=sink_write@0=2 "$FERRY" run -c "$WORK/f.ini" > "$WORK/f.log" 2>&1
is "$? $(grep -c 'injected fault: sink write failed' "$WORK/f.log")" "0 1" "a sink write fails at partition 0's second object; the run completes"
is "$(grep -c '^unload .*/p000000-' "$RS_LOG")" 1 "partition 0 was unloaded once"
like "$(cat "$WORK/f.log")" "partition 0: reading on from .*p000000-s00000000/, unloaded before" "the retry read on from its stage"
if same_rows "$WORK/f"; then ok 0 "after the failure: every row once"; else ok 1 "after the failure: every row once"; fi

# ---- SIGKILL right after a partition's UNLOAD: the next run reads the stage, no second UNLOAD ----
write_unload_config "$WORK/k.ini" "$WORK/k" "workers = 1"
: > "$RS_LOG"
"$FERRY" run -c "$WORK/k.ini" > "$WORK/k.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q '^unload ' "$RS_LOG" && break; sleep 0.05; done
kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
"$FERRY" run -c "$WORK/k.ini" >> "$WORK/k.log" 2>&1
is "$?" 0 "killed after the first UNLOAD, the next run exits 0"
is "$(grep -c '^unload .*/p000000-' "$RS_LOG")" 1 "and did not unload partition 0 again"
if same_rows "$WORK/k"; then ok 0 "every row once"; else ok 1 "every row once"; fi
is "$(staged)" 0 "no staged object is left"

# ---- killed after an UNLOAD, then reset: the new plan's partition 0 is unloaded afresh ----
# (its stage from the plan that was reset has the same name and other rows: it is removed at the plan)
: > "$RS_LOG"
"$FERRY" reset -c "$WORK/k.ini" > /dev/null
sed -i 's/^partition_rows = 45000$/partition_rows = 30000/' "$WORK/k.ini"
"$FERRY" run -c "$WORK/k.ini" > "$WORK/k2.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q '^unload ' "$RS_LOG" && break; sleep 0.05; done
kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
"$FERRY" reset -c "$WORK/k.ini" > /dev/null
sed -i 's/^partition_rows = 30000$/partition_rows = 45000/' "$WORK/k.ini"
"$FERRY" run -c "$WORK/k.ini" >> "$WORK/k2.log" 2>&1
is "$? $(grep -c 'unloaded before' "$WORK/k2.log")" "0 0" "after a reset, no stage of the plan before is read as the new plan's"
if same_rows "$WORK/k"; then ok 0 "every row once"; else ok 1 "every row once"; fi

# ---- SIGKILL at random points, 10 times, then one run ----
# (anywhere in a whole run's time: during an UNLOAD, between it and the sink, inside a segment)
span=$(sed -n 's/.*run complete: .* in \([0-9]*\)\.[0-9] s .*/\1/p' "$WORK/u.log")
span_ms=$(( (${span:-2} + 1) * 1000 ))
write_unload_config "$WORK/r.ini" "$WORK/r" "workers = 2"
hits=$(kill_at_random "$WORK/r.ini" "$WORK/r.log" 10 0 "$span_ms")
"$FERRY" run -c "$WORK/r.ini" >> "$WORK/r.log" 2>&1
is "$?" 0 "SIGKILL: $hits of 10 kills hit a running ferry; the run after exits 0"
if same_rows "$WORK/r"; then ok 0 "SIGKILL: every row once, as PostgreSQL has it"; else ok 1 "SIGKILL: every row once"; fi
is "$(staged)" 0 "SIGKILL: no staged object is left"
is "$(find "$WORK/r" -name '*.tmp*' | wc -l)" 0 "SIGKILL: no half-written file is left"

# ---- WLM aborts an UNLOAD of over 50,000 rows (a rule on rows returned, which no machine's speed
# changes): the range is split and unloaded in smaller pieces ----
rs_restart "${FRONT_S3[@]}" --wlm-abort-rows 50000
write_unload_config "$WORK/w.ini" "$WORK/w" "workers = 2
retry_base_ms = 50"
sed -i 's/^partition_rows = 45000$/partition_rows = 90000/' "$WORK/w.ini"
: > "$RS_LOG"
"$FERRY" run -c "$WORK/w.ini" > "$WORK/w.log" 2>&1
is "$?" 0 "UNLOADs aborted by WLM over 50,000 rows: the run exits 0"
ok "$([ "$(grep -c '^wlm ' "$RS_LOG")" -ge 1 ]; echo $?)" "WLM aborted $(grep -c '^wlm ' "$RS_LOG") UNLOAD(s)"
like "$(cat "$WORK/w.log")" "partition 0: killed 1 time\(s\), split its remaining" "the first abort split the partition"
if same_rows "$WORK/w"; then ok 0 "every row once"; else ok 1 "every row once"; fi
is "$(staged)" 0 "no staged object is left (the aborted UNLOADs' pieces included)"
rs_restart "${FRONT_S3[@]}"

# ---- repeated keys across staged objects: three rows a key, objects ending where their size says ----
pg_sql "CREATE TABLE public.ut3 (id int PRIMARY KEY, n int, body varchar(200));
        UPDATE pg_index SET indisready = false, indisvalid = false WHERE indrelid = 'public.ut3'::regclass;
        INSERT INTO ut3 SELECT g / 3, g, repeat(md5(g::text), 4) FROM generate_series(0, 89999) g;
        ANALYZE ut3" >/dev/null
for mode in keep_all keep_last; do
    write_unload_config "$WORK/d-$mode.ini" "$WORK/d-$mode"
    sed -i "s/^\[table public.ut\]$/[table public.ut3]\non_duplicate_key = $mode/; s/^partition_rows = 45000$/partition_rows = 90000/" "$WORK/d-$mode.ini"
    : > "$RS_LOG"
    "$FERRY" run -c "$WORK/d-$mode.ini" > "$WORK/d-$mode.log" 2>&1
    code=$?
    load_ndjson "$WORK/d-$mode" got_d
    if [ "$mode" = keep_all ]; then
        is "$code $(pg_sql "SELECT count(*) FROM (SELECT id, n FROM ut3 EXCEPT ALL
                              SELECT (doc->>'id')::int, (doc->>'n')::int FROM got_d) d"),$(pg_sql "SELECT count(*) FROM got_d")" \
            "0 0,90000" "keep_all through $(grep '^unload ' "$RS_LOG" | awk '{print $4}') staged objects: every row once"
    else
        is "$code $(pg_sql "SELECT count(*), count(DISTINCT (doc->>'id')::int) FROM got_d")" "0 30000|30000" \
            "keep_last through staged objects: one row per key, a key split between two objects included"
    fi
done

# ---- memory: rows from 100 B to 4 MiB through staged objects, within the budget ----
# (8 rows of 4 MiB: each staged alone, as MAXFILESIZE cannot split a row; the front's Python is slow)
wide_table 8
baseline=$( { /usr/bin/time -f '%M' "$FERRY" --version >/dev/null; } 2>&1 | tail -1)
write_unload_config "$WORK/wide.ini" "$WORK/wide" "memory_limit = 64MB
workers = 2"
sed -i '/^max_file_size = /d; s/^\[table public.ut\]$/[table public.wide]/; s/^partition_rows = 45000$/partition_rows = 1500/' "$WORK/wide.ini"
/usr/bin/time -f '%M' -o "$WORK/wide.rss" "$FERRY" run -c "$WORK/wide.ini" > "$WORK/wide.log" 2>&1
code=$?
peak=$(tail -1 "$WORK/wide.rss"); limit=$(( 64 * 1024 + baseline ))
is "$code $(cat "$WORK"/wide/public.wide/* | wc -l)" "0 3000" "wide rows through UNLOAD, 2 workers: the copy completes, 3000 rows"
ok $(( peak <= limit ? 0 : 1 )) "wide rows through UNLOAD: peak RSS $peak KiB within memory_limit + idle baseline ($limit KiB)"

# ---- what is refused, and said so ----
write_rs_config "$WORK/no.ini" "$WORK/no"
sed -i 's/^\[source\]$/&\nread_method = unload/' "$WORK/no.ini"
printf '[table public.ut]\n' >> "$WORK/no.ini"
line=$(grep -n '^read_method' "$WORK/no.ini" | cut -d: -f1)
out=$("$FERRY" run -c "$WORK/no.ini" 2>&1); code=$?
like "$code $out" "^78 .*no.ini:$line: key 'read_method': unload needs an \[unload\] section" "read_method = unload without [unload]: exit 78, naming the line"
write_unload_config "$WORK/big.ini" "$WORK/big" "memory_limit = 32MB"
sed -i 's/^max_file_size = 5MB$/max_file_size = 64MB/' "$WORK/big.ini"
"$FERRY" run -c "$WORK/big.ini" > "$WORK/big.log" 2>&1; code=$?
like "$code $(tr '\n' ' ' < "$WORK/big.log")" "^1 .*max_file_size = 64.0 MiB is more than half a batch" \
    "max_file_size more than half a batch: refused, saying why, rather than wait for memory that cannot come"
write_unload_config "$WORK/role.ini" "$WORK/role"
sed -i "s|^iam_role = .*|iam_role = arn:aws:iam::123456789012:role/other|" "$WORK/role.ini"
"$FERRY" run -c "$WORK/role.ini" > "$WORK/role.log" 2>&1; code=$?
like "$code $(tr '\n' ' ' < "$WORK/role.log")" "^1 .*Access Denied" "a role that may not write the bucket: the table fails with the server's text"
is "$(find "$WORK/role" -type f ! -name .ferry-owner 2>/dev/null | wc -l)" 0 "and nothing was written"

done_testing
