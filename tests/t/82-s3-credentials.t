#!/usr/bin/env bash
# Where the S3 sink finds its credentials, in the order AWS users expect: the section's keys, the
# environment, the shared credentials and config files under a profile, web identity through
# STS, the instance's role through IMDSv2 — and temporary ones renewed before they expire, in the
# middle of a run. s3front takes the test key, or what tests/tools/awsmeta.py issued until it
# expires, and checks every signature with botocore.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/s3.sh"
if s3_real; then
    plan_skip_all "the credential chain is tested against the test store's own credentials only"
fi
s3_servers
cd "$WORK"
pg_sql "CREATE TABLE public.t (id bigint PRIMARY KEY, v text);
        INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g; ANALYZE t" >/dev/null
secret=$(cat "$S3_SECRET_FILE")

META_PORT=$(free_port)
echo "web-identity-token-$RANDOM$RANDOM" > "$WORK/web-token"
chmod 600 "$WORK/web-token" # a token file only its user reads
/usr/bin/python3 "$ROOT/tests/tools/awsmeta.py" --port "$META_PORT" --issued "$S3_ISSUED" --lifetime 4 \
    --web-token "$WORK/web-token" --log "$WORK/meta.log" >>"$WORK/meta.out" 2>&1 &
META_PID=$!
trap 'kill $META_PID 2>/dev/null; s3_stop; cleanup' EXIT
wait_port "$META_PORT"

# config NAME [extra sink lines]: a config with no credentials in it but what `extra` says.
config() {
    write_config_head "$WORK/$1.ini"
    { echo "[sink]"; s3_sink_lines | grep -v '^access_key_id\|^secret_access_key_file\|^prefix'
      echo "prefix = $S3_PREFIX/$1"; echo "${2:-}"; printf '\n[table public.t]\npartition_rows = 5000\n'; } >> "$WORK/$1.ini"
}
# run_clean NAME [VAR=value...]: ferry with no AWS variable of the test's but those given.
run_clean() {
    local name=$1
    shift
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
        AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_CONFIG_FILE=/nonexistent AWS_EC2_METADATA_DISABLED=true \
        "$@" "$FERRY" run -c "$WORK/$name.ini" > "$WORK/$name.log" 2>&1
}
copied() { # rows in the objects under a config's prefix
    rm -rf "$WORK/got"; mkdir -p "$WORK/got"
    s3_aws s3 cp --recursive --quiet --exclude '*.manifest' "s3://$S3_BUCKET/$S3_PREFIX/$1/" "$WORK/got" >/dev/null
    cat "$WORK"/got/*/* | wc -l
}

config section "access_key_id = $S3_KEY_ID
secret_access_key_file = $S3_SECRET_FILE"
run_clean section AWS_ACCESS_KEY_ID=AKIAWRONG AWS_SECRET_ACCESS_KEY=wrong
is "$?" 0 "the section's keys come first (the environment's wrong ones are not used)"

config environment
run_clean environment AWS_ACCESS_KEY_ID="$S3_KEY_ID" AWS_SECRET_ACCESS_KEY="$secret"
is "$?" 0 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"

printf '[default]\naws_access_key_id = AKIAWRONG\naws_secret_access_key = wrong\n\n[loader]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    "$S3_KEY_ID" "$secret" > "$WORK/credentials"
config profile
run_clean profile AWS_SHARED_CREDENTIALS_FILE="$WORK/credentials" AWS_PROFILE=loader
is "$?" 0 "the shared credentials file, under AWS_PROFILE"
config profile-key "profile = loader"
run_clean profile-key AWS_SHARED_CREDENTIALS_FILE="$WORK/credentials"
is "$?" 0 "the shared credentials file, under the section's profile"
printf '[profile cfg]\nregion = %s\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$S3_REGION" "$S3_KEY_ID" "$secret" > "$WORK/config"
config config-file
run_clean config-file AWS_CONFIG_FILE="$WORK/config" AWS_PROFILE=cfg
is "$?" 0 "the shared config file's [profile NAME] section"

config web
run_clean web AWS_WEB_IDENTITY_TOKEN_FILE="$WORK/web-token" AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ferry \
    AWS_ENDPOINT_URL_STS="http://127.0.0.1:$META_PORT/"
is "$?" 0 "web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN through STS"
ok "$([ "$(grep -c '^sts ' "$WORK/meta.log")" -ge 1 ]; echo $?)" "web identity: STS issued the credentials used"
echo "another-token" > "$WORK/wrong-token"
chmod 600 "$WORK/wrong-token"
config web-refused
run_clean web-refused AWS_WEB_IDENTITY_TOKEN_FILE="$WORK/wrong-token" AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ferry \
    AWS_ENDPOINT_URL_STS="http://127.0.0.1:$META_PORT/"
code=$?
like "$code $(cat "$WORK/web-refused.log")" "^78 .*STS refused AssumeRoleWithWebIdentity for arn:aws:iam::123456789012:role/ferry: HTTP 403 AccessDenied" \
    "web identity refused: exit 78, the role and STS's answer named"

# The instance's role, with credentials that live 4 s, through a run that takes longer: one row
# in 2,000 passes a check that sleeps 0.6 s (pg_sleep sleeps at least that long on any machine),
# so the copy lasts 6 s or more, in several segments, and must renew on the way.
pg_sql "CREATE TABLE public.slow_rows (id bigint PRIMARY KEY, v text);
        INSERT INTO slow_rows SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 20000) g; ANALYZE slow_rows;
        CREATE FUNCTION slow(i bigint) RETURNS boolean LANGUAGE plpgsql AS \$\$
        BEGIN IF i % 2000 = 0 THEN PERFORM pg_sleep(0.6); END IF; RETURN true; END \$\$" >/dev/null
config imds "part_size = 5MiB"
sed -i 's/^\[table public.t\]$/[table public.slow_rows]/; s/^partition_rows = 5000$/partition_rows = 100000\nwhere = slow(id)/' "$WORK/imds.ini"
sed -i 's/^state = .*/&\nworkers = 1\nmemory_limit = 48MB/' "$WORK/imds.ini"
: > "$WORK/meta.log"
start=$(date +%s)
run_clean imds AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$META_PORT/"
is "$?" 0 "the instance's role through IMDSv2: the run completes"
took=$(( $(date +%s) - start ))
issued=$(grep -c '^imds ' "$WORK/meta.log")
ok "$([ "$took" -ge 5 ] && [ "$issued" -ge 2 ]; echo $?)" \
    "IMDS credentials living 4 s were renewed during a $took s run ($issued issued)"
is "$(grep -c 'ExpiredToken' "$S3_LOG")" 0 "no request went out with expired credentials"
is "$(copied imds)" 20000 "the run wrote every row (20,000), in $(s3_aws s3 ls --recursive "s3://$S3_BUCKET/$S3_PREFIX/imds/" | grep -c ndjson) segments"

config none
run_clean none
code=$?
like "$code $(cat "$WORK/none.log")" "^78 .*s3 sink: no credentials: set access_key_id and secret_access_key_file" \
    "no credentials anywhere: exit 78, and the message says where they can be given"
is "$(cat "$WORK"/*.log | grep -cF "$secret")" 0 "the secret is in no log"

done_testing
