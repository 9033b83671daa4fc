# tests/lib/azure.sh — an Azure Blob store for the tests: Azurite on a free loopback port, or a real account.
#
#   azure_start        exports AZURE_STORAGE_CONNECTION_STRING, AZ_CONTAINER and AZ_PREFIX (fresh);
#                      AZ_FAULTS is the file tests/tools/faultproxy.py (between ferry and Azurite)
#                      reads faults from, AZ_LOG its log of operations
#   azure_stop         the caller's EXIT trap must call it
#   azure_real         true when FERRY_TEST_AZURE_CONNECTION_STRING names a real account
#   azure_blob ARGS... tests/tools/azure-blob.py (Microsoft's Python client) against the store
#   azure_sink_lines   the [sink] keys that point ferry at the store
#   azure_servers      PostgreSQL, the store, and the EXIT trap that stops both
#
# Azurite checks every request's Shared Key signature with the well-known
# development account's key. With FERRY_TEST_AZURE_CONNECTION_STRING (and
# FERRY_TEST_AZURE_CONTAINER, default ferry-test) the same tests run against
# that account under a fresh prefix.

AZ_PID=
AZ_FAULTS=
AZ_LOG=

azure_real() { [ -n "${FERRY_TEST_AZURE_CONNECTION_STRING:-}" ]; }

azure_blob() { /usr/bin/python3 "$ROOT/tests/tools/azure-blob.py" "$@"; }

azure_start() {
    AZ_PREFIX=ferrytest-$$-$RANDOM
    AZ_CONTAINER=${FERRY_TEST_AZURE_CONTAINER:-ferry-test}
    AZ_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ferry-azure.XXXXXX")
    if azure_real; then
        AZURE_STORAGE_CONNECTION_STRING=$FERRY_TEST_AZURE_CONNECTION_STRING
    else
        local port proxy key tries
        # The development account Azurite and every Azure SDK know (it is public).
        key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
        AZ_FAULTS=$AZ_DIR/faults
        AZ_LOG=$AZ_DIR/proxy.log
        : > "$AZ_LOG"
        # Azurite, and a proxy before it that fails requests as a test asks (AZ_FAULTS); ports taken
        # meanwhile by something else are tried again with others.
        for tries in 1 2 3; do
            port=$(free_port) && proxy=$(free_port) || return 1
            [ "$port" = "$proxy" ] && continue
            "$ROOT/tests/servers/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
                --location "$AZ_DIR/data" --silent --disableTelemetry >>"$AZ_DIR/azurite.log" 2>&1 &
            local azurite=$!
            /usr/bin/python3 "$ROOT/tests/tools/faultproxy.py" --port "$proxy" --backend-port "$port" \
                --faults "$AZ_FAULTS" --log "$AZ_LOG" >>"$AZ_DIR/proxy.out" 2>&1 &
            local front=$!
            AZ_PID="$azurite $front"
            wait_port "$port" "$azurite" && wait_port "$proxy" "$front" && break
            kill $AZ_PID 2>/dev/null; wait $AZ_PID 2>/dev/null
            AZ_PID=
            [ "$tries" = 3 ] && { cat "$AZ_DIR/azurite.log" "$AZ_DIR/proxy.out" >&2; return 1; }
        done
        AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$proxy/devstoreaccount1;"
    fi
    export AZURE_STORAGE_CONNECTION_STRING AZ_CONTAINER AZ_PREFIX AZ_FAULTS AZ_LOG
    printf '%s\n' "$AZURE_STORAGE_CONNECTION_STRING" > "$AZ_DIR/connection"
    chmod 600 "$AZ_DIR/connection" # as a secret file should be
    azure_blob create "$AZ_CONTAINER"
}

azure_stop() {
    if azure_real && [ -n "${AZ_PREFIX:-}" ]; then
        /usr/bin/python3 - "$AZ_CONTAINER" "$AZ_PREFIX" <<'PY' >/dev/null 2>&1 || true
import os, sys
from azure.storage.blob import BlobServiceClient
c = BlobServiceClient.from_connection_string(os.environ['AZURE_STORAGE_CONNECTION_STRING']).get_container_client(sys.argv[1])
for b in c.list_blobs(name_starts_with=sys.argv[2] + '/'):
    c.delete_blob(b.name)
PY
    fi
    local pid
    for pid in $AZ_PID; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    AZ_PID=
    [ -n "${AZ_DIR:-}" ] && rm -rf "$AZ_DIR"
    AZ_DIR=
}

azure_sink_lines() {
    echo "type = azure"
    echo "container = $AZ_CONTAINER"
    echo "prefix = $AZ_PREFIX"
    echo "connection_string_file = $AZ_DIR/connection"
}

azure_servers() {
    trap 'azure_stop; cleanup' EXIT
    pg_start
    azure_start
    if azure_real; then diag "against the real account of FERRY_TEST_AZURE_CONNECTION_STRING"; else diag "against Azurite"; fi
}

# write_azure_config FILE [extra lines for [sink]] — then append [table] sections.
write_azure_config() {
    local file=$1 extra=${2:-}
    write_config_head "$file" "retry_base_ms = 50
retry_cap_ms = 500"
    { echo "[sink]"; azure_sink_lines; printf '%s\n\n' "$extra"; } >> "$file"
}
