#!/usr/bin/env bash
# The sink contract, for every sink of the table (build/sink-contract loops over it): replay
# replaces, abort is invisible (an upsert sink's rows: exact, never doubled), prepare_table starts
# afresh, digest agrees, bad rows are named or set aside. A sink added to the table without a
# configuration here fails this test.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/mongo.sh"
. "$ROOT/tests/lib/s3.sh"
. "$ROOT/tests/lib/azure.sh"
. "$ROOT/tests/lib/pgtarget.sh"
. "$ROOT/tests/lib/redshift.sh"
mongo_servers
trap 'rs_stop; target_stop; azure_stop; s3_stop; mongo_stop; cleanup' EXIT
s3_start
azure_start
target_start
rs_start $(rs_s3_args)

mkdir -p "$WORK/contract"
write_config "$WORK/contract/dir.ini" "$WORK/contract/out" ndjson
write_mongo_config "$WORK/contract/mongo.ini" "reject_dir = $WORK/contract/rejects"
write_s3_config "$WORK/contract/s3.ini"
write_azure_config "$WORK/contract/azure.ini"
write_pg_config "$WORK/contract/postgres.ini" "create_table = true
reject_dir = $WORK/contract/rejects"
write_rs_sink_config "$WORK/contract/redshift.ini" "create_table = true
reject_dir = $WORK/contract/rejects"
for ini in "$WORK"/contract/*.ini; do printf '[table public.contract]\n' >> "$ini"; done

# The contract's own TAP lines, numbered on with this file's.
while IFS= read -r line; do
    case "$line" in
        "ok "*) ok 0 "${line#* - }" ;;
        "not ok "*) ok 1 "${line#* - }" ;;
        "exit "*) is "${line#exit }" 0 "sink-contract ran to its end and exited 0" ;;
        "#"*) echo "$line" ;;
    esac
done < <("$ROOT/build/sink-contract" "$WORK/contract"; echo "exit $?")
is "$(find "$WORK/contract/out" -name '.*.tmp' | wc -l)" 0 "dir: an aborted segment leaves no temporary file"

done_testing
