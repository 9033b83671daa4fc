# tests/lib/redshift.sh — a Redshift for the tests: tests/tools/rsfront.py before the test's PostgreSQL.
#
#   rs_start [FRONT ARGS...]  Redshift's system views in the test database (tests/tools/rscatalog.sql),
#                             a single-node cluster of two slices, and the front on a free loopback
#                             port; exports RS_PORT and RS_LOG (the front's refusals and aborts,
#                             "<what> <text>" a line). Arguments go to the front (--cursor-cap BYTES,
#                             --wlm-abort-after SECONDS, --nodes N; for UNLOAD --unload-role ARN and
#                             the S3 store's --s3-endpoint, --s3-region, --s3-key-id, --s3-secret-file).
#   rs_restart [FRONT ARGS...] the front again, with other arguments, on the same port
#   rs_stop                   the caller's EXIT trap must call it
#   write_rs_config FILE SINK_PATH [extra lines for [ferry]]  a dir sink config reading through the front
#   write_rs_sink_config FILE [extra [sink] lines]  PostgreSQL read directly into the cluster
#                             (type = redshift), staging under $S3_PREFIX/stage of the S3 test store
#                             (s3.sh), as RS_ROLE; then append [table] sections
#   wide_table                public.wide, rows from 100 B to 4 MiB, for the memory tests
#
# With FERRY_TEST_REDSHIFT_URI (a libpq URI of a real cluster) the same tests read that cluster;
# what only the front can do (its log, injected aborts) is skipped.

RS_PID=

rs_real() { [ -n "${FERRY_TEST_REDSHIFT_URI:-}" ]; }

# rs_launch PORT [FRONT ARGS...]: the front on PORT, until it listens (RS_PID).
rs_launch() {
    local port=$1
    shift
    /usr/bin/python3 "$ROOT/tests/tools/rsfront.py" --port "$port" --backend-port "$PGPORT" \
        --log "$RS_LOG" "$@" >>"$WORK/rsfront.out" 2>&1 &
    RS_PID=$!
    wait_port "$port" "$RS_PID"
}

# rs_front [FRONT ARGS...]: the front on a free port, tried on others if it does not come up.
rs_front() {
    local tries
    for tries in 1 2 3; do
        RS_PORT=$(free_port) || return 1
        rs_launch "$RS_PORT" "$@" && break
        kill "$RS_PID" 2>/dev/null; wait "$RS_PID" 2>/dev/null
        RS_PID=
        [ "$tries" = 3 ] && { cat "$WORK/rsfront.out" >&2; return 1; }
    done
    export RS_PORT
}

rs_start() {
    RS_LOG=$WORK/rsfront.log
    : > "$RS_LOG"
    export RS_LOG
    rs_real && return 0
    psql -X -q -v ON_ERROR_STOP=1 -f "$ROOT/tests/tools/rscatalog.sql" >/dev/null || return 1
    pg_sql "TRUNCATE redshift_catalog.stv_slices;
            INSERT INTO redshift_catalog.stv_slices VALUES (0, 0, 0, 'D'), (0, 1, 1, 'D')" >/dev/null
    rs_front "$@"
}

rs_restart() {
    rs_real && return 0
    rs_stop
    rs_launch "$RS_PORT" "$@"
}

rs_stop() {
    [ -n "$RS_PID" ] && { kill "$RS_PID" 2>/dev/null; wait "$RS_PID" 2>/dev/null; }
    RS_PID=
}

# rs_conninfo: what ferry's [source] conninfo is for the cluster.
rs_conninfo() {
    if rs_real; then echo "$FERRY_TEST_REDSHIFT_URI"; else echo "host=127.0.0.1 port=$RS_PORT user=ferry dbname=postgres"; fi
}

write_rs_config() {
    local file=$1 out=$2 extra=${3:-}
    write_config "$file" "$out" ndjson "$extra"
    sed -i "s|^conninfo = .*|conninfo = $(rs_conninfo)|" "$file"
}

RS_ROLE=arn:aws:iam::123456789012:role/ferry-load

# rs_s3_args: the front's arguments for UNLOAD and COPY through the S3 test store, as RS_ROLE.
rs_s3_args() {
    echo --unload-role "$RS_ROLE" --s3-endpoint "$S3_ENDPOINT" --s3-region "$S3_REGION" \
        --s3-key-id "$S3_KEY_ID" --s3-secret-file "$S3_SECRET_FILE"
}

write_rs_sink_config() {
    local file=$1 extra=${2:-}
    write_config_head "$file"
    { echo "[sink]"; echo "type = redshift"; echo "conninfo = $(rs_conninfo)"; echo "iam_role = $RS_ROLE"
      s3_sink_lines | grep -v '^type =' | sed "s|^prefix = .*|prefix = $S3_PREFIX/stage|"
      [ -n "$extra" ] && echo "$extra"; echo; } >> "$file"
}

# wide_table [N]: public.wide, 3000 rows from 100 B to 4 MiB (N of 4 MiB, 40 unless given; every
# 50th 1 MiB), stored out of line: the memory tests' table.
wide_table() {
    pg_sql "CREATE TABLE public.wide (id int PRIMARY KEY, body text);
            INSERT INTO wide SELECT g, CASE
                WHEN g BETWEEN 1000 AND $(( 999 + ${1:-40} )) THEN repeat(md5(g::text), 131072)
                WHEN g % 50 = 0 THEN repeat(md5(g::text), 32768)
                ELSE repeat(md5(g::text), 3) END
            FROM generate_series(1, 3000) g;
            ALTER TABLE wide ALTER COLUMN body SET STORAGE EXTERNAL;
            ANALYZE wide" >/dev/null
}
