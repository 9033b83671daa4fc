# tests/lib/s3.sh — an S3 store for the tests: s3rver behind tests/tools/s3front.py on free loopback ports, or a real one.
#
#   s3_start        exports S3_ENDPOINT, S3_BUCKET, S3_PREFIX (fresh), S3_REGION and the
#                   test credentials (S3_KEY_ID, S3_SECRET_FILE); S3_LOG is the front's log
#                   ("<operation> <status>" a line), S3_FAULTS the file it reads faults from,
#                   S3_ISSUED the temporary credentials it takes (tests/tools/awsmeta.py writes them),
#                   S3_HOSTS the Host header of each request, a line each
#   s3_stop         the caller's EXIT trap must call it
#   s3_real         true when FERRY_TEST_S3_URI names a real bucket
#   s3_aws ARGS...  Debian's aws CLI against the store, with the test credentials
#   s3_sink_lines   the [sink] keys that point ferry at the store
#
# With FERRY_TEST_S3_URI=s3://bucket/prefix (and FERRY_TEST_S3_ENDPOINT for a
# store other than AWS) the same tests run against that bucket with the
# environment's AWS credentials, under a fresh prefix removed afterwards;
# faults only the front can inject are then skipped, and say so.

S3_PIDS=

s3_real() { [ -n "${FERRY_TEST_S3_URI:-}" ]; }

s3_start() {
    S3_PREFIX=ferrytest-$$-$RANDOM
    if s3_real; then
        local rest=${FERRY_TEST_S3_URI#s3://}
        S3_BUCKET=${rest%%/*}
        [ "$rest" != "$S3_BUCKET" ] && S3_PREFIX=${rest#*/}/$S3_PREFIX
        S3_ENDPOINT=${FERRY_TEST_S3_ENDPOINT:-}
        S3_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
        export S3_BUCKET S3_PREFIX S3_ENDPOINT S3_REGION
        return 0
    fi
    local dir backend front
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-s3.XXXXXX")
    S3_DIR=$dir
    S3_BUCKET=ferry-test
    S3_REGION=us-east-1
    S3_KEY_ID=AKIAFERRYTEST000001
    S3_SECRET_FILE=$dir/secret
    printf '%s\n' "ferry/test+secret/$RANDOM$RANDOM" > "$S3_SECRET_FILE"
    chmod 600 "$S3_SECRET_FILE" # as a secret file should be (ferry warns of one others may read)
    S3_LOG=$dir/front.log
    S3_ISSUED=$dir/issued
    S3_FAULTS=$dir/faults
    S3_HOSTS=$dir/hosts
    : > "$S3_LOG"
    # s3rver, and the front before it; ports taken meanwhile by something else are tried again.
    local tries backend_pid front_pid
    for tries in 1 2 3; do
        backend=$(free_port) && front=$(free_port) || return 1
        [ "$backend" = "$front" ] && continue
        "$ROOT/tests/servers/node_modules/.bin/s3rver" -d "$dir/data" -a 127.0.0.1 -p "$backend" --silent \
            --no-vhost-buckets --configure-bucket "$S3_BUCKET" >>"$dir/s3rver.log" 2>&1 &
        backend_pid=$!
        /usr/bin/python3 "$ROOT/tests/tools/s3front.py" --port "$front" --backend-port "$backend" \
            --key-id "$S3_KEY_ID" --secret-file "$S3_SECRET_FILE" --region "$S3_REGION" \
            --faults "$S3_FAULTS" --issued "$dir/issued" --log "$S3_LOG" --hosts "$S3_HOSTS" >>"$dir/front.out" 2>&1 &
        front_pid=$!
        S3_PIDS="$backend_pid $front_pid"
        wait_port "$backend" "$backend_pid" && wait_port "$front" "$front_pid" && break
        kill $S3_PIDS 2>/dev/null; wait $S3_PIDS 2>/dev/null
        S3_PIDS=
        [ "$tries" = 3 ] && { cat "$dir/s3rver.log" "$dir/front.out" >&2; return 1; }
    done
    S3_ENDPOINT=http://127.0.0.1:$front
    export S3_BUCKET S3_PREFIX S3_ENDPOINT S3_REGION S3_KEY_ID S3_SECRET_FILE S3_LOG S3_FAULTS S3_ISSUED S3_HOSTS
}

s3_stop() {
    if s3_real && [ -n "${S3_BUCKET:-}" ]; then
        s3_aws s3 rm --recursive --quiet "s3://$S3_BUCKET/$S3_PREFIX/" >/dev/null 2>&1 || true
    fi
    local pid
    for pid in $S3_PIDS; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    S3_PIDS=
    [ -n "${S3_DIR:-}" ] && rm -rf "$S3_DIR"
    S3_DIR=
}

s3_aws() {
    if s3_real; then
        /usr/bin/aws ${S3_ENDPOINT:+--endpoint-url "$S3_ENDPOINT"} "$@"
    else
        AWS_ACCESS_KEY_ID=$S3_KEY_ID AWS_SECRET_ACCESS_KEY=$(cat "$S3_SECRET_FILE") AWS_SESSION_TOKEN= \
            AWS_DEFAULT_REGION=$S3_REGION AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
            AWS_PAGER= /usr/bin/aws --endpoint-url "$S3_ENDPOINT" "$@"
    fi
}

s3_sink_lines() {
    echo "type = s3"
    echo "bucket = $S3_BUCKET"
    echo "prefix = $S3_PREFIX"
    echo "region = $S3_REGION"
    [ -n "${S3_ENDPOINT:-}" ] && echo "endpoint = $S3_ENDPOINT"
    if ! s3_real; then
        echo "access_key_id = $S3_KEY_ID"
        echo "secret_access_key_file = $S3_SECRET_FILE"
    fi
}

# s3_servers: what an S3 test starts with: PostgreSQL, the store, the EXIT trap that stops both.
s3_servers() {
    trap 's3_stop; cleanup' EXIT
    pg_start
    s3_start
    if s3_real; then diag "against the real bucket of FERRY_TEST_S3_URI"; else diag "against s3rver behind s3front"; fi
}

# write_s3_config FILE [extra lines for [sink]] — then append [table] sections.
write_s3_config() {
    local file=$1 extra=${2:-}
    write_config_head "$file" "retry_base_ms = 50
retry_cap_ms = 500"
    { echo "[sink]"; s3_sink_lines; printf '%s\n\n' "$extra"; } >> "$file"
}
