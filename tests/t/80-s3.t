#!/usr/bin/env bash
# The S3 sink against s3rver behind s3front (every request's SigV4 signature recomputed with
# botocore, every body's checksum checked), read back with Debian's aws CLI: the same bytes as the
# dir sink, multipart uploads completed or aborted, faults of the store survived, refusals told
# clearly, SIGKILL at random then one run: every row once, no stray object, no upload left open.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/s3.sh"
. "$ROOT/tests/lib/blob.sh"
s3_servers
cd "$WORK"

pg_sql "$(cat "$ROOT/tests/lib/types.sql")" >/dev/null
# A table whose segments are larger than a part: 60,000 rows of about 400 bytes.
pg_sql "CREATE TABLE public.wide (id bigint PRIMARY KEY, body text);
        INSERT INTO wide SELECT g, repeat(md5(g::text), 12) FROM generate_series(1, 60000) g;
        ANALYZE wide" >/dev/null

# fetch PREFIX DIR — every segment object under PREFIX of the test bucket into DIR (manifests
# apart), by the aws CLI.
fetch() {
    rm -rf "$2"
    mkdir -p "$2"
    s3_aws s3 cp --recursive --quiet --exclude '*.manifest' "s3://$S3_BUCKET/$S3_PREFIX/$1" "$2" >/dev/null
}
open_uploads() {
    s3_aws s3api list-multipart-uploads --bucket "$S3_BUCKET" --prefix "$S3_PREFIX/" \
        --query 'length(Uploads || `[]`)' --output text
}
front_count() { grep -c "^$1 " "$S3_LOG" || true; }

# ---- the same bytes as the dir sink, plain, gzip and zstd, NDJSON and CSV ----
blob_like_dir s3 "$S3_PREFIX" "aws s3 cp"
if s3_real; then skip "the front's signature log (a real store checks signatures itself)"
else
    is "$(grep -vc ' 2[0-9][0-9]$' "$S3_LOG")" 0 "every request so far passed botocore's signature and checksum checks"
fi

# ---- virtual-host addressing (<bucket>.<host>/<key>, how AWS itself is reached) ----
# s3.test resolves nowhere: the front, as ferry's HTTP proxy, gets each request with its Host and
# takes the bucket from it; the Host of every request is checked, then the objects read back.
if s3_real; then skip "virtual-host addressing through the front (a real store is reached as it is configured)"
else
    write_config "$WORK/dir-virtual.ini" "$WORK/dir-virtual" ndjson
    write_s3_config "$WORK/s3-virtual.ini" "addressing = virtual"
    sed -i "s|^prefix = .*|prefix = $S3_PREFIX/virtual|; s|^endpoint = http://127.0.0.1:|endpoint = http://s3.test:|" \
        "$WORK/s3-virtual.ini"
    for ini in "$WORK/dir-virtual.ini" "$WORK/s3-virtual.ini"; do printf '[table public.types]\n' >> "$ini"; done
    "$FERRY" run -c "$WORK/dir-virtual.ini" > "$WORK/dir-virtual.log" 2>&1
    : > "$S3_LOG"
    : > "$S3_HOSTS"
    http_proxy=$S3_ENDPOINT "$FERRY" run -c "$WORK/s3-virtual.ini" > "$WORK/s3-virtual.log" 2>&1
    is "$?" 0 "virtual-host addressing: the run exits 0"
    is "$(sort -u "$S3_HOSTS")" "$S3_BUCKET.s3.test:${S3_ENDPOINT##*:}" "virtual-host addressing: every request named the bucket in its Host"
    fetch "virtual/" "$WORK/got-virtual"
    diff -r -x .ferry-owner "$WORK/dir-virtual" "$WORK/got-virtual" >/dev/null
    is "$?" 0 "virtual-host addressing: the objects are the dir sink's files byte for byte"
    is "$(grep -vc ' 2[0-9][0-9]$' "$S3_LOG")" 0 "virtual-host addressing: every request's signature (over a Host of $S3_BUCKET.s3.test) passed"
fi

# ---- multipart: segments larger than a 5 MiB part (a batch is half a worker's share: 192MB gives ~12 MiB) ----
write_config "$WORK/dir-wide.ini" "$WORK/dir-wide" ndjson "memory_limit = 192MB
workers = 2"
write_s3_config "$WORK/s3-wide.ini" "part_size = 5MiB
prefix = $S3_PREFIX/wide"
sed -i "s|^prefix = $S3_PREFIX\$||; s|^state = .*|&\nmemory_limit = 192MB\nworkers = 2|" "$WORK/s3-wide.ini"
for ini in "$WORK/dir-wide.ini" "$WORK/s3-wide.ini"; do printf '[table public.wide]\npartition_rows = 30000\n' >> "$ini"; done
"$FERRY" run -c "$WORK/dir-wide.ini" > "$WORK/dir-wide.log" 2>&1
: > "$S3_LOG"
"$FERRY" run -c "$WORK/s3-wide.ini" > "$WORK/s3-wide.log" 2>&1
is "$?" 0 "wide: the run exits 0"
if s3_real; then skip "counting the store's operations"
else
    ok "$([ "$(front_count CompleteMultipartUpload)" -ge 1 ] && [ "$(front_count UploadPart)" -gt "$(front_count CompleteMultipartUpload)" ]; echo $?)" \
        "wide: segments went out as multipart uploads of several parts ($(front_count UploadPart) parts, $(front_count CompleteMultipartUpload) uploads, $(front_count PutObject) single PUTs)"
fi
fetch "wide/" "$WORK/got-wide"
load_ndjson "$WORK/got-wide" got_wide
is "$(pg_sql "SELECT count(*), count(DISTINCT (doc->>'id')::bigint) FROM got_wide")" "60000|60000" "wide: 60,000 rows, each once"
is "$(pg_sql "SELECT count(*) FROM (SELECT id, body FROM wide EXCEPT SELECT (doc->>'id')::bigint, doc->>'body' FROM got_wide) d")" 0 \
    "wide: every row as the source has it"
is "$(open_uploads)" 0 "wide: no multipart upload is left open"
# The manifest of the complete table, in Redshift's format: every object once, mandatory, with its length.
s3_aws s3 cp --quiet "s3://$S3_BUCKET/$S3_PREFIX/wide/public.wide/public.wide.manifest" "$WORK/wide.manifest"
is "$?" 0 "wide: the complete table has a manifest"
s3_aws s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$S3_PREFIX/wide/public.wide/public.wide.p" \
    --query 'Contents[].[Key,Size]' --output text | awk -v b="$S3_BUCKET" '{print "s3://" b "/" $1, $2, "True"}' | sort > "$WORK/wide.listed"
/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
for e in m["entries"]:
    print(e["url"], e["meta"]["content_length"], e["mandatory"])' "$WORK/wide.manifest" | sort > "$WORK/wide.manifested"
ok "$([ -s "$WORK/wide.listed" ] && cmp -s "$WORK/wide.listed" "$WORK/wide.manifested"; echo $?)" \
    "wide: the manifest lists every segment object, mandatory, with its content_length ($(wc -l < "$WORK/wide.listed") objects)"

# ---- faults of the store: 503 SlowDown on parts, a 200 with an error body, a connection cut mid-part ----
if s3_real; then skip "faults only the front can inject"
else
    sed -i "s|^prefix = .*|prefix = $S3_PREFIX/faults|" "$WORK/s3-wide.ini"
    sed -i "s|^state = .*|state = faults.state|" "$WORK/s3-wide.ini"
    printf 'UploadPart 503:SlowDown 2\nCompleteMultipartUpload 200error 1\nPutObject 500:InternalError 1\nUploadPart cut 1\n' > "$S3_FAULTS"
    : > "$S3_LOG"
    "$FERRY" run -c "$WORK/s3-wide.ini" > "$WORK/faults.log" 2>&1
    is "$?" 0 "faults: the run exits 0"
    met="$(grep -c '^UploadPart 503 SlowDown' "$S3_LOG") $(grep -c '^CompleteMultipartUpload 200 200error' "$S3_LOG") $(grep -c '^PutObject 500 InternalError' "$S3_LOG") $(grep -c '^UploadPart 0 cut' "$S3_LOG")"
    is "$met" "2 1 1 1" "faults: each fault was met as many times as asked (503 SlowDown, 200 with an error, 500, a cut)"
    grep -q "answered 200" "$WORK/faults.log"
    is "$?" 0 "faults: the 200 with an error body was taken for the failure it is"
    fetch "faults/" "$WORK/got-faults"
    load_ndjson "$WORK/got-faults" got_faults
    is "$(pg_sql "SELECT count(*), count(DISTINCT (doc->>'id')::bigint) FROM got_faults")" "60000|60000" "faults: 60,000 rows, each once"
    is "$(open_uploads)" 0 "faults: no multipart upload is left open"
    rm -f "$S3_FAULTS"

    # A store that says how long to wait (Retry-After: 2) is given that long, not the policy's pause.
    write_s3_config "$WORK/after.ini" "prefix = $S3_PREFIX/after"
    sed -i "0,/^prefix = $S3_PREFIX\$/{//d}; s|^retry_cap_ms = 500|retry_cap_ms = 5000|" "$WORK/after.ini"
    printf '[table public.types]\n' >> "$WORK/after.ini"
    printf 'PutObject 503:SlowDown@2 1\n' > "$S3_FAULTS"
    "$FERRY" run -c "$WORK/after.ini" > "$WORK/after.log" 2>&1
    code=$?
    like "$code $(grep 'SlowDown' "$WORK/after.log")" "^0 .*HTTP 503 SlowDown.*retry 1 in 2\.0 s" \
        "Retry-After: the run waits the 2 s the store asked for, then completes"
    rm -f "$S3_FAULTS"

    # An answer past what ferry keeps (FERRY_HTTP_BODY_MAX, 8 MiB) is refused whole, never read in part:
    # a listing cut short would leave objects out of what verify compares.
    printf 'ListObjects huge 1\n' > "$S3_FAULTS"
    out=$("$FERRY" verify -c "$WORK/after.ini" 2>&1); code=$?
    like "$code ${out//$'\n'/ }" "^1 .*cannot compare: .*a listing of s3://[^ ]+ was longer than ferry reads" \
        "a listing answer of more than 8 MiB: verify says it cannot compare, and exits 1"
    is "$(grep -c '^ListObjects 200 huge' "$S3_LOG")" 1 "the store was asked for that listing, and gave it"
    rm -f "$S3_FAULTS"
    out=$("$FERRY" verify -c "$WORK/after.ini" 2>&1); code=$?
    like "$code ${out//$'\n'/ }" "^0 .*0 mismatch" "and the same verify, answered in full, agrees"
fi

# ---- refusals: told at once, naming the bucket, never the secret ----
if s3_real; then skip "refusals with the test credentials"
else
    secret=$(cat "$S3_SECRET_FILE")
    write_s3_config "$WORK/badsecret.ini"
    echo "wrong-$RANDOM" > "$WORK/wrong-secret"; chmod 600 "$WORK/wrong-secret"
    sed -i "s|^secret_access_key_file = .*|secret_access_key_file = $WORK/wrong-secret|" "$WORK/badsecret.ini"
    printf '[table public.types]\n' >> "$WORK/badsecret.ini"
    "$FERRY" run -c "$WORK/badsecret.ini" > "$WORK/badsecret.log" 2>&1
    is "$?" 1 "a wrong secret: exit 1"
    grep -q "SignatureDoesNotMatch" "$WORK/badsecret.log" && grep -q "s3://$S3_BUCKET/" "$WORK/badsecret.log"
    is "$?" 0 "a wrong secret: the message says SignatureDoesNotMatch and names the bucket"
    is "$(grep -c '; retry [0-9]' "$WORK/badsecret.log")" 0 "a wrong secret is not retried"

    write_s3_config "$WORK/badkey.ini"
    sed -i "s|^access_key_id = .*|access_key_id = AKIANOSUCHKEY0000000|" "$WORK/badkey.ini"
    printf '[table public.types]\n' >> "$WORK/badkey.ini"
    "$FERRY" run -c "$WORK/badkey.ini" > "$WORK/badkey.log" 2>&1
    is "$?" 1 "an unknown access key: exit 1"
    grep -q "InvalidAccessKeyId" "$WORK/badkey.log"
    is "$?" 0 "an unknown access key: the message says InvalidAccessKeyId"

    write_s3_config "$WORK/nobucket.ini"
    sed -i "s|^bucket = .*|bucket = no-such-bucket|" "$WORK/nobucket.ini"
    printf '[table public.types]\n' >> "$WORK/nobucket.ini"
    "$FERRY" run -c "$WORK/nobucket.ini" > "$WORK/nobucket.log" 2>&1
    is "$?" 1 "a missing bucket: exit 1"
    grep -q "NoSuchBucket" "$WORK/nobucket.log" && grep -q "s3://no-such-bucket/" "$WORK/nobucket.log"
    is "$?" 0 "a missing bucket: the message says NoSuchBucket and names it"

    # A budget too small for the part buffers is refused before anything is touched, not run a row an object.
    write_s3_config "$WORK/small.ini" "prefix = $S3_PREFIX/small"
    sed -i "0,/^prefix = $S3_PREFIX\$/{//d}; s/^state = .*/&\nmemory_limit = 8MB\nworkers = 1/" "$WORK/small.ini"
    printf '[table public.types]\n' >> "$WORK/small.ini"
    : > "$S3_LOG"
    "$FERRY" run -c "$WORK/small.ini" > "$WORK/small.log" 2>&1
    code=$?
    like "$code $(cat "$WORK/small.log")" "^78 .*small.ini: the sink's buffers \(6\.0 MiB for 1 worker\(s\).*leave less than 1\.0 MiB a worker for batches in the memory budget of 4\.0 MiB.*part_size" \
        "memory_limit = 8MB with S3's least part (5 MiB, what auto gives): exit 78, the budget and the parts named"
    is "$(grep -c 'PutObject\|ListObjects' "$S3_LOG")" 0 "and nothing was written to the store, or even listed"
    out=$("$FERRY" plan -c "$WORK/small.ini" 2>&1)
    like "$? $out" "^78 .*leave less than 1\.0 MiB a worker" "ferry plan refuses the same budget, with the same words"
    is "$(cat "$WORK"/*.log | grep -cF "$secret")" 0 "the secret is in no message or log"
    is "$(strings "$WORK"/*.state* 2>/dev/null | grep -cF "$secret")" 0 "the secret is in no state file"
fi

# ---- SIGKILL at random during copies, then one run ----
# 200,000 rows of about 400 bytes; segments of about 6 MiB, each a multipart upload of two parts
# (192MB: a batch is half a worker's share); every kill comes soon after a checkpoint, with work
# left, often with an upload open. (Segments under a part go out as single PUTs, and s3rver lets a
# killed run's PUT still in flight land after its replay; S3 keeps the later request.)
pg_sql "CREATE TABLE public.big (id bigint PRIMARY KEY, body text);
        INSERT INTO big SELECT g, repeat(md5(g::text), 12) FROM generate_series(1, 200000) g;
        ANALYZE big" >/dev/null
write_s3_config "$WORK/chaos.ini" "part_size = 5MiB
prefix = $S3_PREFIX/chaos"
sed -i "s|^prefix = $S3_PREFIX\$||; s|^state = .*|&\nmemory_limit = 192MB\nworkers = 2|" "$WORK/chaos.ini"
printf '[table public.big]\npartition_rows = 30000\n' >> "$WORK/chaos.ini"
sed -i "s|^\[source\]|[source]\nread_method = cursor|" "$WORK/chaos.ini"
: > "$S3_LOG"
hits=$(kill_after_checkpoints "$WORK/chaos.ini" "$WORK/chaos.state" "$WORK/chaos.log" 10 150)
ok "$([ "$(front_count UploadPart)" -ge "$(front_count PutObject)" ]; echo $?)" \
    "chaos: the killed runs' segments went out mostly as multipart uploads ($(front_count UploadPart) parts; $(front_count PutObject) single PUTs, partitions' last segments)"
ok "$([ "$hits" -ge 5 ]; echo $?)" "chaos: at least 5 of 10 SIGKILLs, each within 150 ms of a checkpoint, hit a running ferry ($hits)"
"$FERRY" run -c "$WORK/chaos.ini" >> "$WORK/chaos.log" 2>&1
is "$?" 0 "chaos: the run after the kills exits 0"
diag "chaos: $(grep -c 'unfinished writes' "$WORK/chaos.log") partitions found uploads a killed run had left open, and aborted them"
fetch "chaos/" "$WORK/got-chaos"
load_ndjson "$WORK/got-chaos" got_chaos
is "$(pg_sql "SELECT count(*), count(DISTINCT (doc->>'id')::bigint) FROM got_chaos")" "200000|200000" "chaos: 200,000 rows, each once"
is "$(pg_sql "SELECT count(*) FROM (SELECT id, body FROM big EXCEPT SELECT (doc->>'id')::bigint, doc->>'body' FROM got_chaos) d")" 0 \
    "chaos: every row as the source has it"
expected=$(blob_segments "$WORK/chaos.state" public.big)
got=$(s3_aws s3 ls "s3://$S3_BUCKET/$S3_PREFIX/chaos/public.big/" | awk '{print $4}' | LC_ALL=C sort)
is "$got" "$expected" "chaos: the objects are exactly the segments the state has written and the manifest, no stray or half-written one"
is "$(open_uploads)" 0 "chaos: no multipart upload is left open"
"$FERRY" verify -c "$WORK/chaos.ini" > "$WORK/chaos-verify.log" 2>&1
is "$?" 0 "chaos: ferry verify agrees"

done_testing
