#!/usr/bin/env bash
# The Azure Blob sink against Azurite (which checks every request's Shared Key signature), read
# back with Microsoft's Python client: the same bytes as the dir sink, blobs of many blocks
# committed by Put Block List, refusals told clearly, SIGKILL at random then one run: every row
# once, no stray blob, and the blocks killed attempts left uncommitted never in the way.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/azure.sh"
. "$ROOT/tests/lib/blob.sh"
azure_servers
cd "$WORK"

pg_sql "$(cat "$ROOT/tests/lib/types.sql")" >/dev/null
pg_sql "CREATE TABLE public.wide (id bigint PRIMARY KEY, body text);
        INSERT INTO wide SELECT g, repeat(md5(g::text), 12) FROM generate_series(1, 60000) g;
        ANALYZE wide" >/dev/null

# fetch PREFIX DIR — every blob under <AZ_PREFIX>/PREFIX into DIR (manifests apart).
fetch() {
    rm -rf "$2"
    mkdir -p "$2"
    azure_blob get "$AZ_CONTAINER" "$AZ_PREFIX/$1" "$2"
    find "$2" -name '*.manifest' -delete
}

# ---- the same bytes as the dir sink, plain, gzip and zstd, NDJSON and CSV ----
blob_like_dir azure "$AZ_PREFIX" "Azure's Python client"

# ---- blobs of many blocks ----
write_azure_config "$WORK/az-wide.ini" "block_size = 1MiB"
sed -i "s|^prefix = .*|prefix = $AZ_PREFIX/wide|; s|^state = .*|&\nmemory_limit = 96MB\nworkers = 2|" "$WORK/az-wide.ini"
printf '[table public.wide]\npartition_rows = 30000\n' >> "$WORK/az-wide.ini"
"$FERRY" run -c "$WORK/az-wide.ini" > "$WORK/az-wide.log" 2>&1
is "$?" 0 "wide: the run exits 0"
fetch "wide/" "$WORK/got-wide"
load_ndjson "$WORK/got-wide" got_wide
is "$(pg_sql "SELECT count(*), count(DISTINCT (doc->>'id')::bigint) FROM got_wide")" "60000|60000" "wide: 60,000 rows, each once"
is "$(pg_sql "SELECT count(*) FROM (SELECT id, body FROM wide EXCEPT SELECT (doc->>'id')::bigint, doc->>'body' FROM got_wide) d")" 0 \
    "wide: every row as the source has it"
largest=$(azure_blob list "$AZ_CONTAINER" "$AZ_PREFIX/wide/" | awk '$2 > m {m = $2} END {print m + 0}')
ok "$([ "$largest" -gt 3145728 ]; echo $?)" "wide: blobs larger than three blocks were committed whole ($largest bytes)"
"$FERRY" verify -c "$WORK/az-wide.ini" > "$WORK/verify-wide.log" 2>&1
is "$?" 0 "wide: ferry verify agrees"
azure_blob list "$AZ_CONTAINER" "$AZ_PREFIX/wide/public.wide/public.wide.manifest" | grep -q manifest
is "$?" 0 "wide: the complete table has a manifest"

# ---- blocks an earlier attempt left uncommitted, under ferry's own ids and under ids of another length ----
write_azure_config "$WORK/az-left.ini" "block_size = 1MiB"
sed -i "s|^prefix = .*|prefix = $AZ_PREFIX/left|" "$WORK/az-left.ini"
printf '[table public.wide]\npartition_rows = 100000\n[table public.types]\npartition_rows = 100000\n' >> "$WORK/az-left.ini"
# The Python client base64-encodes block ids itself: 'ferry-block-000001' is ferry's own first id.
/usr/bin/python3 - "$AZ_CONTAINER" "$AZ_PREFIX/left" <<'PY'
import os, sys
from azure.storage.blob import BlobServiceClient
service = BlobServiceClient.from_connection_string(os.environ['AZURE_STORAGE_CONNECTION_STRING'])
own = service.get_blob_client(sys.argv[1], sys.argv[2] + '/public.wide/public.wide.p000000.s00000000.ndjson')
own.stage_block('ferry-block-000001', b'{"stale": true}\n' * 1000)
foreign = service.get_blob_client(sys.argv[1], sys.argv[2] + '/public.types/public.types.p000000.s00000000.ndjson')
foreign.stage_block('a block id of another length', b'{"stale": true}\n')
PY
"$FERRY" run -c "$WORK/az-left.ini" > "$WORK/az-left.log" 2>&1
is "$?" 0 "left-over blocks: the run exits 0"
fetch "left/" "$WORK/got-left"
load_ndjson "$WORK/got-left" got_left
is "$(pg_sql "SELECT count(*), count(DISTINCT (doc ? 'body', (doc->>'id')::bigint)), count(*) FILTER (WHERE doc ? 'stale') FROM got_left")" "63000|63000|0" \
    "left-over blocks: 60,000 + 3,000 rows, each once, nothing of the stale blocks"
grep -q "uncommitted blocks another writer left" "$WORK/az-left.log"
is "$?" 0 "left-over blocks: blocks under ids of another length were discarded, and the log says so"

# ---- faults of the service: ServerBusy on blocks, a 500 on the block list, a connection cut mid-block ----
if azure_real; then skip "faults only the proxy can inject"
else
    write_azure_config "$WORK/faults.ini" "block_size = 1MiB"
    sed -i "s|^prefix = .*|prefix = $AZ_PREFIX/faults|; s|^state = .*|&\nmemory_limit = 96MB\nworkers = 2|; s|^retry_cap_ms = 500|retry_cap_ms = 5000|" "$WORK/faults.ini"
    printf '[table public.wide]\npartition_rows = 30000\n' >> "$WORK/faults.ini"
    printf 'PutBlock 503:ServerBusy 2\nPutBlockList 500:InternalError 1\nPutBlock cut 1\nPutBlob:.manifest 503:ServerBusy@1 1\n' > "$AZ_FAULTS"
    : > "$AZ_LOG"
    "$FERRY" run -c "$WORK/faults.ini" > "$WORK/faults.log" 2>&1
    is "$?" 0 "faults: the run exits 0"
    met="$(grep -c '^PutBlock 503 ServerBusy' "$AZ_LOG") $(grep -c '^PutBlockList 500 InternalError' "$AZ_LOG") $(grep -c '^PutBlock 0 cut' "$AZ_LOG")"
    is "$met" "2 1 1" "faults: each fault was met as many times as asked (ServerBusy on blocks, 500 on the list, a cut)"
    like "$(grep 'Put Blob .*manifest' "$WORK/faults.log")" "HTTP 503 ServerBusy.*retry 1 in 1\.0 s" \
        "faults: the manifest's write met ServerBusy with Retry-After: 1, waited 1 s, and was retried"
    fetch "faults/" "$WORK/got-faults"
    load_ndjson "$WORK/got-faults" got_faults
    is "$(pg_sql "SELECT count(*), count(DISTINCT (doc->>'id')::bigint) FROM got_faults")" "60000|60000" "faults: 60,000 rows, each once"
    "$FERRY" verify -c "$WORK/faults.ini" > "$WORK/verify-faults.log" 2>&1
    is "$?" 0 "faults: ferry verify agrees"
    rm -f "$AZ_FAULTS"
fi

# ---- refusals: told at once, naming the container, never the key ----
if azure_real; then skip "refusals with the development account"
else
    sed "s|AccountKey=[^;]*|AccountKey=$(head -c 64 /dev/urandom | base64 -w0)|" "$AZ_DIR/connection" > "$WORK/wrong-connection" && chmod 600 "$WORK/wrong-connection"
    write_azure_config "$WORK/badkey.ini"
    sed -i "s|^connection_string_file = .*|connection_string_file = $WORK/wrong-connection|" "$WORK/badkey.ini"
    printf '[table public.types]\n' >> "$WORK/badkey.ini"
    "$FERRY" run -c "$WORK/badkey.ini" > "$WORK/badkey.log" 2>&1
    is "$?" 1 "a wrong account key: exit 1"
    grep -q "AuthorizationFailure\|AuthenticationFailed" "$WORK/badkey.log" && grep -q "$AZ_CONTAINER" "$WORK/badkey.log"
    is "$?" 0 "a wrong account key: the message says the service refused the signature and names the container"
    is "$(grep -c '; retry [0-9]' "$WORK/badkey.log")" 0 "a wrong account key is not retried"

    write_azure_config "$WORK/nocontainer.ini"
    sed -i "s|^container = .*|container = no-such-container|" "$WORK/nocontainer.ini"
    printf '[table public.types]\n' >> "$WORK/nocontainer.ini"
    "$FERRY" run -c "$WORK/nocontainer.ini" > "$WORK/nocontainer.log" 2>&1
    is "$?" 1 "a missing container: exit 1"
    grep -q "ContainerNotFound" "$WORK/nocontainer.log" && grep -q "no-such-container" "$WORK/nocontainer.log"
    is "$?" 0 "a missing container: the message says ContainerNotFound and names it"
    key=$(sed 's/.*AccountKey=\([^;]*\).*/\1/' "$AZ_DIR/connection")
    is "$(cat "$WORK"/*.log | grep -cF "$key")" 0 "the account key is in no message or log"
    is "$(strings "$WORK"/*.state* 2>/dev/null | grep -cF "$key")" 0 "the account key is in no state file"
fi

# ---- SIGKILL at random during copies, then one run ----
pg_sql "CREATE TABLE public.big (id bigint PRIMARY KEY, body text);
        INSERT INTO big SELECT g, repeat(md5(g::text), 12) FROM generate_series(1, 200000) g;
        ANALYZE big" >/dev/null
write_azure_config "$WORK/chaos.ini" "block_size = 2MiB"
sed -i "s|^prefix = .*|prefix = $AZ_PREFIX/chaos|; s|^state = .*|&\nmemory_limit = 96MB\nworkers = 2|; s|^\[source\]|[source]\nread_method = cursor|" "$WORK/chaos.ini"
printf '[table public.big]\npartition_rows = 10000\n' >> "$WORK/chaos.ini"
hits=$(kill_after_checkpoints "$WORK/chaos.ini" "$WORK/chaos.state" "$WORK/chaos.log" 10 150)
ok "$([ "$hits" -ge 5 ]; echo $?)" "chaos: at least 5 of 10 SIGKILLs, each within 150 ms of a checkpoint, hit a running ferry ($hits)"
"$FERRY" run -c "$WORK/chaos.ini" >> "$WORK/chaos.log" 2>&1
is "$?" 0 "chaos: the run after the kills exits 0"
fetch "chaos/" "$WORK/got-chaos"
load_ndjson "$WORK/got-chaos" got_chaos
is "$(pg_sql "SELECT count(*), count(DISTINCT (doc->>'id')::bigint) FROM got_chaos")" "200000|200000" "chaos: 200,000 rows, each once"
is "$(pg_sql "SELECT count(*) FROM (SELECT id, body FROM big EXCEPT SELECT (doc->>'id')::bigint, doc->>'body' FROM got_chaos) d")" 0 \
    "chaos: every row as the source has it"
expected=$(blob_segments "$WORK/chaos.state" public.big)
got=$(azure_blob list "$AZ_CONTAINER" "$AZ_PREFIX/chaos/public.big/" | awk '{sub(".*/", "", $1); print $1}' | LC_ALL=C sort)
is "$got" "$expected" "chaos: the blobs are exactly the segments the state has written and the manifest, no stray or half-written one"
"$FERRY" verify -c "$WORK/chaos.ini" > "$WORK/chaos-verify.log" 2>&1
is "$?" 0 "chaos: ferry verify agrees"

done_testing
