#!/usr/bin/env bash
# Rows from 100 B to 4 MB, including a stretch of 4 MB rows, under memory_limit = 64MB:
# peak RSS (measured by the OS) stays within the limit plus the binary's idle baseline,
# for the dir sink, the MongoDB sink, the S3 and Azure blob sinks (whose part and block
# buffers are paid from the same budget), the postgres sink (COPY into a second cluster) and the
# redshift sink (staged in S3, COPYed through the Redshift front end).
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/mongo.sh"
. "$ROOT/tests/lib/s3.sh"
. "$ROOT/tests/lib/azure.sh"
. "$ROOT/tests/lib/pgtarget.sh"
. "$ROOT/tests/lib/redshift.sh"
# FERRY_TEST_MEMORY_SINKS=source (31-memory-physical.t): the dir and MongoDB sinks alone, for a run that
# varies what the source side does; the other sinks' buffers do not depend on it.
SINKS=${FERRY_TEST_MEMORY_SINKS:-all}
mongo_servers
trap 'rs_stop; target_stop; azure_stop; s3_stop; mongo_stop; cleanup' EXIT
if [ "$SINKS" = all ]; then
    s3_start
    azure_start
    target_start
    rs_start $(rs_s3_args)
fi

# 3000 rows: most about 100 B; every 50th about 1 MB; ids 1000..1039 a stretch of 4 MB rows.
pg_sql "
CREATE TABLE public.wide (id int PRIMARY KEY, body text);
INSERT INTO wide SELECT g, CASE
    WHEN g BETWEEN 1000 AND 1039 THEN repeat(md5(g::text), 131072)       -- 4 MiB
    WHEN g % 50 = 0 THEN repeat(md5(g::text), 32768)                    -- 1 MiB
    ELSE repeat(md5(g::text), 3) END                                     -- ~100 B
FROM generate_series(1, 3000) g;
ALTER TABLE wide ALTER COLUMN body SET STORAGE EXTERNAL;
ANALYZE wide;"
is "$(pg_sql "SELECT max(octet_length(body)) / 1048576 || ' ' || min(octet_length(body)) FROM wide")" "4 96" "rows range from 96 B to 4 MiB"

rss_kib() { # peak RSS in KiB of a command, measured by the kernel (GNU time)
    /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/cmd.log"; local code=$?
    echo "$(cat "$WORK/rss" | tail -1) $code"
}

baseline=$(rss_kib "$FERRY" --version | cut -d' ' -f1)
diag "idle baseline of the ferry binary: ${baseline} KiB"

# Two workers share one budget: both may meet the stretch of 4 MiB rows at once.
for run in "ndjson 1 copy" "csv 1 copy" "ndjson 2 copy" "ndjson 2 cursor"; do
    read -r format workers method <<< "$run"
    name="$format-$workers-$method"
    write_config "$WORK/$name.ini" "$WORK/$name" "$format" "memory_limit = 64MB
workers = $workers"
    sed -i "s/^\[source\]/[source]\nread_method = $method/" "$WORK/$name.ini"
    printf '[table public.wide]\npartition_rows = 1000\n' >> "$WORK/$name.ini"
    read -r peak code < <(rss_kib "$FERRY" run -c "$WORK/$name.ini")
    is "$code" 0 "$name: the copy completes"
    limit=$(( 64 * 1024 + baseline ))
    diag "$name: peak RSS ${peak} KiB; limit 64 MiB + baseline = ${limit} KiB"
    ok $(( peak <= limit ? 0 : 1 )) "$format, workers=$workers, $method: peak RSS ${peak} KiB is within memory_limit + baseline (${limit} KiB)"
done
# The MongoDB sink: documents as wide as the rows, in bulks, with one and two workers.
for workers in 1 2; do
    write_mongo_config "$WORK/mongo-$workers.ini"
    sed -i "s/^\[ferry\]/[ferry]\nmemory_limit = 64MB\nworkers = $workers/" "$WORK/mongo-$workers.ini"
    printf '[table public.wide]\ntarget = wide%s\npartition_rows = 1000\n' "$workers" >> "$WORK/mongo-$workers.ini"
    read -r peak code < <(rss_kib "$FERRY" run -c "$WORK/mongo-$workers.ini")
    is "$code" 0 "mongo, workers=$workers: the copy completes"
    is "$(mongo_tool count "wide$workers")" 3000 "mongo, workers=$workers: 3000 documents"
    limit=$(( 64 * 1024 + baseline ))
    diag "mongo-$workers: peak RSS ${peak} KiB; limit 64 MiB + baseline = ${limit} KiB"
    ok $(( peak <= limit ? 0 : 1 )) "mongo, workers=$workers: peak RSS ${peak} KiB is within memory_limit + baseline (${limit} KiB)"
done

if [ "$SINKS" = all ]; then
# The object stores: a part (S3) or block (Azure) buffer a worker, zstd's tables when compressing.
for run in "s3 1 none" "s3 2 zstd" "azure 1 none" "azure 2 zstd"; do
    read -r store workers compression <<< "$run"
    name="$store-$workers-$compression"
    if [ "$store" = s3 ]; then write_s3_config "$WORK/$name.ini" "compression = $compression"
    else write_azure_config "$WORK/$name.ini" "compression = $compression"; fi
    sed -i "s/^\[ferry\]/[ferry]\nmemory_limit = 64MB\nworkers = $workers/; s|^prefix = .*|&/$name|" "$WORK/$name.ini"
    printf '[table public.wide]\npartition_rows = 1000\n' >> "$WORK/$name.ini"
    read -r peak code < <(rss_kib "$FERRY" run -c "$WORK/$name.ini")
    is "$code" 0 "$store, workers=$workers, $compression: the copy completes"
    limit=$(( 64 * 1024 + baseline ))
    diag "$name: peak RSS ${peak} KiB; limit 64 MiB + baseline = ${limit} KiB"
    ok $(( peak <= limit ? 0 : 1 )) "$store, workers=$workers, $compression: peak RSS ${peak} KiB is within memory_limit + baseline (${limit} KiB)"
done
# The postgres sink: COPY streamed through one buffer, whatever the width of a row.
for workers in 1 2; do
    write_pg_config "$WORK/pg-$workers.ini" "create_table = true"
    sed -i "s/^\[ferry\]/[ferry]\nmemory_limit = 64MB\nworkers = $workers/" "$WORK/pg-$workers.ini"
    printf '[table public.wide]\ntarget = public.wide%s\npartition_rows = 1000\n' "$workers" >> "$WORK/pg-$workers.ini"
    read -r peak code < <(rss_kib "$FERRY" run -c "$WORK/pg-$workers.ini")
    is "$code" 0 "postgres, workers=$workers: the copy completes"
    is "$(target_sql "SELECT count(*), sum(octet_length(body)) FROM wide$workers")" \
       "$(pg_sql "SELECT count(*), sum(octet_length(body)) FROM wide")" "postgres, workers=$workers: every row, every byte"
    limit=$(( 64 * 1024 + baseline ))
    diag "pg-$workers: peak RSS ${peak} KiB; limit 64 MiB + baseline = ${limit} KiB"
    ok $(( peak <= limit ? 0 : 1 )) "postgres, workers=$workers: peak RSS ${peak} KiB is within memory_limit + baseline (${limit} KiB)"
done

# The redshift sink: rows staged through the compressor and one S3 part buffer. Redshift's VARCHAR
# holds 65535 bytes, so the 1 MiB and 4 MiB rows are refused by the cluster and set aside.
pg_sql "CREATE SCHEMA rs" >/dev/null
for workers in 2; do # two workers: the larger peak of the two
    write_rs_sink_config "$WORK/rs-$workers.ini" "create_table = true
on_reject = skip
reject_dir = $WORK/rs-rejects-$workers"
    sed -i "s/^\[ferry\]/[ferry]\nmemory_limit = 64MB\nworkers = $workers/" "$WORK/rs-$workers.ini"
    printf '[table public.wide]\ntarget = rs.wide%s\npartition_rows = 1000\n' "$workers" >> "$WORK/rs-$workers.ini"
    read -r peak code < <(rss_kib "$FERRY" run -c "$WORK/rs-$workers.ini")
    is "$code" 0 "redshift, workers=$workers: the copy completes"
    is "$(pg_sql "SELECT count(*), sum(octet_length(body)) FROM rs.wide$workers")" \
       "$(pg_sql "SELECT count(*), sum(octet_length(body)) FROM wide WHERE octet_length(body) <= 65535")" \
       "redshift, workers=$workers: every row VARCHAR(65535) holds, every byte"
    is "$(cat "$WORK/rs-rejects-$workers"/* | grep -c 'String length exceeds DDL length')" \
       "$(pg_sql "SELECT count(*) FROM wide WHERE octet_length(body) > 65535")" \
       "redshift, workers=$workers: the wider rows are set aside, each with Redshift's reason"
    limit=$(( 64 * 1024 + baseline ))
    diag "rs-$workers: peak RSS ${peak} KiB; limit 64 MiB + baseline = ${limit} KiB"
    ok $(( peak <= limit ? 0 : 1 )) "redshift, workers=$workers: peak RSS ${peak} KiB is within memory_limit + baseline (${limit} KiB)"
done

rm -rf "$WORK/got" && mkdir -p "$WORK/got"
s3_aws s3 cp --recursive --quiet --exclude '*.manifest' "s3://$S3_BUCKET/$S3_PREFIX/s3-1-none/" "$WORK/got" >/dev/null
is "$(cat "$WORK"/got/*/*.ndjson | wc -l) $(cmp -s <(cat "$WORK"/got/*/*.ndjson | sort) <(cat "$WORK"/ndjson-1-copy/public.wide/*.ndjson | sort); echo $?)" "3000 0" \
    "s3: the wide rows arrive whole, as the dir sink writes them"
fi

load_csv "$WORK/csv-1-copy" wide loaded
is "$(rows_differ wide loaded)" 0 "the wide rows arrive whole and equal"
is "$(cat "$WORK"/ndjson-2-cursor/public.wide/*.ndjson | wc -l)" 3000 "ndjson, 2 workers: 3000 lines"

done_testing
