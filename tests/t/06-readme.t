#!/usr/bin/env bash
# Every configuration block of README.md loads as written: each one, completed with what it leaves
# out ([source], [sink] or a table) and with its source pointed at the test cluster, passes `ferry
# plan`, and no comment of the README ends up in a value (a file named after one, a URI holding one).
. "$(dirname "$0")/../lib/common.sh"
pg_start

# The tables the README's examples name.
pg_sql "CREATE SCHEMA sales;
        CREATE TABLE public.orders (id bigint PRIMARY KEY, note text);
        CREATE TABLE sales.lines (order_id int, line_no int, amount numeric, PRIMARY KEY (order_id, line_no));
        CREATE TABLE public.events (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
        CREATE TABLE public.\"Odd Table\" (\"a,b\" int, id int, PRIMARY KEY (\"a,b\", id));
        INSERT INTO orders SELECT g, 'n' FROM generate_series(1, 100) g;
        ANALYZE" >/dev/null

# The README's ```ini blocks, dedented (some stand inside a list), one file each.
mkdir -p "$WORK/blocks"
awk -v dir="$WORK/blocks" '
    /^ *```ini *$/ { n++; match($0, /^ */); indent = RLENGTH; file = sprintf("%s/%02d.ini", dir, n); next }
    /^ *```/       { file = ""; next }
    file != ""     { print substr($0, indent + 1) > file }
' "$ROOT/README.md"
blocks=$(ls "$WORK/blocks" | wc -l)
ok $(( blocks >= 7 ? 0 : 1 )) "README.md holds $blocks configuration blocks"

conninfo="host=127.0.0.1 port=$PGPORT user=ferry dbname=postgres"
printf 'unused\n' > "$WORK/password"; chmod 600 "$WORK/password"
for block in "$WORK"/blocks/*.ini; do
    n=$(basename "$block" .ini)
    dir="$WORK/job-$n"
    mkdir -p "$dir"
    ini="$dir/ferry.ini"
    # The source is the test cluster (a sink's own conninfo keeps the README's text: plan does not
    # connect to the sink); whatever the block leaves out is added after it.
    # The source's password file is one of the test's (the cluster trusts loopback: its text is unused).
    awk -v ci="$conninfo" -v pw="$WORK/password" '/^\[/ { section = $0 }
        section ~ /^\[source\]/ && /^conninfo *=/ { print "conninfo = " ci; next }
        section ~ /^\[source\]/ && /^password_file *=/ { print "password_file = " pw; next } { print }' "$block" > "$ini"
    chmod 600 "$ini" # some blocks hold a secret inline (a uri with its password): only ferry's user may read them
    grep -q '^\[source\]' "$block" || printf '\n[source]\nconninfo = %s\n' "$conninfo" >> "$ini"
    grep -q '^\[sink\]' "$block" || printf '\n[sink]\ntype = dir\npath = %s/out\n' "$dir" >> "$ini"
    grep -q '^\[table ' "$block" || printf '\n[table public.orders]\n' >> "$ini"
    (cd "$dir" && "$FERRY" plan -c ferry.ini > plan.log 2>&1); code=$?
    sections=$(grep -o '^\[[a-z]*' "$block" | tr -d '[' | sort -u | tr '\n' ' ')
    is "$code" 0 "README block $n ($sections): ferry plan exits 0"
    [ "$code" = 0 ] || diag "$(cat "$dir/plan.log")"
    unlike "$(cat "$dir/plan.log")" "WARN" "README block $n: no warning"
done

# Nothing a run of the first example (the five minutes') makes carries a comment: its state file is orders.state.
main="$WORK/job-01"
sed -i "s|^path = .*|path = $main/out|" "$main/ferry.ini"
sed -i '/^\[table sales.lines\]/,$d' "$main/ferry.ini"
(cd "$main" && "$FERRY" run -c ferry.ini > run.log 2>&1); code=$?
is "$code" 0 "the main example (its first table, into a folder) runs"
[ "$code" = 0 ] || diag "$(cat "$main/run.log")"
ok $([ -f "$main/orders.state" ] && echo 0 || echo 1) "its state file is orders.state, beside the configuration"
is "$(find "$WORK" -name '*#*' | wc -l)" 0 "no file anywhere has a '#' in its name"
is "$(cat "$main"/out/public.orders/*.ndjson 2>/dev/null | wc -l)" 100 "the table's 100 rows are in the folder"

done_testing
