# tests/lib/mongo.sh — a MongoDB server for the tests: minimongo on a free loopback port, or a real one.
#
#   mongo_servers                   what a MongoDB test starts with: PostgreSQL, MongoDB, the EXIT
#                                   trap that stops both, and a line saying which MongoDB
#   mongo_start [--fault SPEC]...   exports MONGO_URI and MONGO_DB (a fresh database)
#   mongo_stop                      the caller's EXIT trap must call it
#   mongo_real                      true when FERRY_TEST_MONGO_URI names a real server
#   mongo_tool ARGS...              build/mongo-tool against MONGO_URI and MONGO_DB
#
# With FERRY_TEST_MONGO_URI set the same tests run against that server, in a
# database of their own that is dropped before and after; faults that only
# minimongo can inject are then skipped, and say so. Source it after common.sh
# (write_mongo_config builds on write_config_head).

MONGO_TOOL=$ROOT/build/mongo-tool
MINIMONGO=$ROOT/build/minimongo
MONGO_PID=

mongo_real() { [ -n "${FERRY_TEST_MONGO_URI:-}" ]; }

mongo_tool() { "$MONGO_TOOL" "$MONGO_URI" "$MONGO_DB" "$@"; }

mongo_start() {
    MONGO_DB=ferrytest_$$_${RANDOM}
    if mongo_real; then
        MONGO_URI=$FERRY_TEST_MONGO_URI
    else
        local dir
        dir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-mongo.XXXXXX")
        "$MINIMONGO" --port-file "$dir/port" "$@" 2>>"$WORK/minimongo.log" &
        MONGO_PID=$!
        for _ in $(seq 1 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
        MONGO_URI="mongodb://127.0.0.1:$(cat "$dir/port")/?serverSelectionTimeoutMS=5000"
        rm -rf "$dir"
    fi
    export MONGO_URI MONGO_DB
    mongo_tool dropdb >/dev/null 2>&1 || true
}

mongo_stop() {
    if mongo_real && [ -n "${MONGO_DB:-}" ]; then mongo_tool dropdb >/dev/null 2>&1 || true; fi
    if [ -n "$MONGO_PID" ]; then kill "$MONGO_PID" 2>/dev/null; wait "$MONGO_PID" 2>/dev/null; fi
    MONGO_PID=
}

# write_mongo_config FILE [extra lines for [sink]] — then append [table] sections.
write_mongo_config() {
    local file=$1 extra=${2:-}
    write_config_head "$file" "retry_base_ms = 50
retry_cap_ms = 500"
    cat >> "$file" <<INI
[sink]
type = mongo
uri = $MONGO_URI
database = $MONGO_DB
$extra

INI
}

# Load a collection into table NAME(doc jsonb): canonical extended JSON, or relaxed with "relaxed".
load_collection() {
    local coll=$1 name=$2 mode=${3:-dump}
    pg_sql "SET client_min_messages = warning; DROP TABLE IF EXISTS $name; CREATE TABLE $name (doc jsonb)"
    mongo_tool "$mode" "$coll" > "$WORK/$name.json"
    psql -X -q -v ON_ERROR_STOP=1 -c "\\copy $name FROM '$WORK/$name.json' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
}

mongo_servers() {
    trap 'mongo_stop; cleanup' EXIT
    pg_start
    mongo_start
    if mongo_real; then diag "against the real MongoDB server of FERRY_TEST_MONGO_URI"; else diag "against minimongo"; fi
}
