#!/usr/bin/env bash
# read_order = physical: partitions are block ranges of the heap, a run's reads share one snapshot, and a
# copy read under more than one snapshot (kills, resumes) is followed by a catch-up of what changed meanwhile.
# SIGKILLs while another session updates, inserts and deletes rows, into files and into MongoDB; a
# rewritten table refused; what `plan` says. (Terminated backends and statement timeouts during physical
# reads: the fault matrix run with read_order = physical, 51-faults-physical.t.)
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/mongo.sh"
mongo_servers

N=400000
pg_sql "
CREATE TABLE public.scrambled (id bigint PRIMARY KEY, ver int NOT NULL DEFAULT 0, v text, at timestamptz);
INSERT INTO scrambled SELECT g, 0, repeat(md5(g::text), 2), '2024-01-01'::timestamptz + g * interval '1 minute'
FROM generate_series(1, $N) g ORDER BY random();
CREATE SEQUENCE new_ids START 10000001;
CREATE TABLE public.ordered AS SELECT * FROM scrambled ORDER BY id;
ALTER TABLE ordered ADD PRIMARY KEY (id);
CREATE VIEW public.scrambled_view AS SELECT * FROM scrambled;
ANALYZE scrambled; ANALYZE ordered;"

# --- what plan says, and a table that cannot be read so ---
write_config "$WORK/plan.ini" "$WORK/plan-out" ndjson
printf '[table public.scrambled]\n[table public.ordered]\n' >> "$WORK/plan.ini"
out=$("$FERRY" plan -c "$WORK/plan.ini" 2>&1)
like "$out" "read order: physical order: its rows lie on disk out of key order \(correlation -?0\.[0-9]+\)" \
    "plan: auto reads the scrambled table in physical order, and says why"
like "$out" "partitions: [0-9]+ \(about [0-9]+ rows each, ranges of the heap's blocks\)" \
    "plan: its partitions are block ranges"
like "$out" "read order: key order: its rows lie on disk in key order \(correlation 1\.00\)" \
    "plan: the table stored in key order is read in key order"
write_config "$WORK/view.ini" "$WORK/view-out" ndjson
printf '[table public.scrambled_view]\nkey = id\nread_order = physical\n' >> "$WORK/view.ini"
out=$("$FERRY" run -c "$WORK/view.ini" 2>&1); code=$?
is "$code" 1 "read_order = physical on a view: the table fails (exit 1)"
like "$out" "view.ini:[0-9]+: key 'read_order': table public.scrambled_view cannot be read in physical order: it is not a plain table \(relkind 'v'\); set read_order = key or auto" \
    "and it names the file, line and key, and why"

# mutate — until $WORK/stop exists: updates (each bumps ver), inserts and, unless NO_DELETES, deletes.
mutate() {
    local deletes="DELETE FROM scrambled WHERE id IN (SELECT 1 + (random() * $N)::bigint FROM generate_series(1, 3));"
    [ -n "${NO_DELETES:-}" ] && deletes=""
    while [ ! -e "$WORK/stop" ]; do
        psql -X -q -c "UPDATE scrambled SET ver = ver + 1, v = md5(random()::text), at = now()
                         WHERE id IN (SELECT 1 + (random() * $N)::bigint FROM generate_series(1, 40));
                       $deletes
                       INSERT INTO scrambled SELECT nextval('new_ids'), 0, 'new', now() FROM generate_series(1, 20);" \
            2>>"$WORK/mutate.err" || true
    done
}

# kill_while_writing NAME — ten SIGKILLs of `ferry run -c NAME.ini` at random points after checkpoints
# while mutate runs, then the writes stop and one run finishes the copy. What the sink must equal is the
# table as the copy ends, so the copy must not have ended before the writes did.
kill_while_writing() {
    local name=$1 hits left code
    rm -f "$WORK/stop"
    mutate & local mutator=$!
    hits=$(kill_after_checkpoints "$WORK/$name.ini" "$WORK/$name.state" "$WORK/$name.log" 10 60)
    touch "$WORK/stop"; wait "$mutator"
    left=$(sqlite3 "$WORK/$name.state" "SELECT count(*) FROM partitions WHERE status <> 'done'")
    ok $(( left > 0 ? 0 : 1 )) "$name: the copy was not complete when the other session stopped ($left partition(s) left)"
    diag "$name: $hits of 10 SIGKILLs hit a running ferry while the table changed"
    ok $(( hits >= 8 ? 0 : 1 )) "$name: at least 8 of the 10 SIGKILLs hit a running ferry"
    "$FERRY" run -c "$WORK/$name.ini" >>"$WORK/$name.log" 2>&1; code=$?
    is "$code" 0 "$name: the run after the kills completes"
}

# --- files: ten SIGKILLs while the table changes, then one run ---
write_config "$WORK/files.ini" "$WORK/files" ndjson "workers = 1
memory_limit = 8MB"
printf '[table public.scrambled]\npartition_rows = 20000\nread_order = physical\n' >> "$WORK/files.ini"
kill_while_writing files
like "$(cat "$WORK/files.log")" "catches up the [0-9]+ row version\(s\) written meanwhile" \
    "files: a copy read under more than one snapshot was caught up"
# Reading the files as a reader does: the generations in order, the later version of a key winning.
psql -X -q -A -t -F, -c "SELECT id, ver, v FROM scrambled" > "$WORK/source.csv"
check=$(python3 - "$WORK/files/public.scrambled" "$WORK/source.csv" <<'PY'
import collections, glob, json, re, sys
folder, source = sys.argv[1], sys.argv[2]
versions, latest = collections.Counter(), {}
for f in sorted(glob.glob(folder + "/*.ndjson")):
    m = re.search(r"\.g(\d+)\.", f)
    g = int(m.group(1)) if m else 0
    for line in open(f):
        r = json.loads(line)
        versions[(r["id"], r["ver"])] += 1
        if r["id"] not in latest or latest[r["id"]][0] <= g:
            latest[r["id"]] = (g, r["ver"], r["v"])
twice = sum(1 for n in versions.values() if n > 1)
missing = stale = rows = 0
for line in open(source):
    i, ver, v = line.rstrip("\n").split(",", 2)
    rows += 1
    got = latest.get(int(i))
    if got is None:
        missing += 1
    elif (got[1], got[2]) != (int(ver), v):
        stale += 1
print(f"rows {rows} twice {twice} missing {missing} stale {stale}")
PY
)
diag "files: $check"
like "$check" "^rows [0-9]+ twice 0 missing 0 stale 0$" \
    "files: every version of a row is in the files once, and every key's last version is the source's"
like "$("$FERRY" status -c "$WORK/files.ini")" "catch-up generation\(s\)" "files: status says a catch-up ran"

# --- MongoDB: the same, upserted by key; verify agrees ---
# A full copy does not remove rows deleted after it read them (deletes = reconcile does, incrementally):
# here the other session only updates and inserts, so that the collection can equal the table.
write_mongo_config "$WORK/mongo.ini"
sed -i 's/^\[ferry\]$/[ferry]\nworkers = 1\nmemory_limit = 24MB/' "$WORK/mongo.ini"
printf '[table public.scrambled]\ntarget = scrambled\npartition_rows = 20000\nread_order = physical\n' >> "$WORK/mongo.ini"
NO_DELETES=1 kill_while_writing mongo
load_collection scrambled loaded relaxed
is "$(pg_sql "SELECT count(*) FROM scrambled s FULL JOIN
                (SELECT (doc->>'id')::bigint AS id, (doc->>'ver')::int AS ver, doc->>'v' AS v FROM loaded) d USING (id)
              WHERE s.ver IS DISTINCT FROM d.ver OR s.v IS DISTINCT FROM d.v")" 0 \
    "mongo: the collection holds every row of the table in its last version, and no other"
is "$(pg_sql "SELECT count(*) - count(DISTINCT doc->>'id') FROM loaded")" 0 "mongo: no key twice"
verify=$("$FERRY" verify -c "$WORK/mongo.ini" 2>&1); code=$?
is "$code" 0 "mongo: ferry verify agrees"
like "$verify" "verify: [0-9]+ partition\(s\) compared, 0 mismatch" "mongo: verify compared it and found no mismatch"

# --- a table rewritten under a physical copy is refused, not read at the wrong places ---
pg_sql "CREATE TABLE public.rewritten AS SELECT * FROM ordered ORDER BY random(); ALTER TABLE rewritten ADD PRIMARY KEY (id);"
write_config "$WORK/rw.ini" "$WORK/rw" ndjson "workers = 1
memory_limit = 8MB"
printf '[table public.rewritten]\npartition_rows = 20000\nread_order = physical\n' >> "$WORK/rw.ini"
"$FERRY" run -c "$WORK/rw.ini" >"$WORK/rw.log" 2>&1 &
pid=$!
wait_for_checkpoint "$WORK/rw.state"
kill -TERM "$pid"; wait "$pid"; code=$?
is "$code" 75 "rewritten: the first run stopped part way"
pg_sql "VACUUM FULL rewritten"
out=$("$FERRY" run -c "$WORK/rw.ini" 2>&1); code=$?
is "$code" 1 "rewritten: after VACUUM FULL the copy does not go on (exit 1)"
like "$out" "table \"public\".\"rewritten\" was rewritten since its physical-order copy was planned .*; \`ferry reset\` the table to copy it again" \
    "rewritten: the error says what happened and what to do"
"$FERRY" reset -c "$WORK/rw.ini" >/dev/null
"$FERRY" run -c "$WORK/rw.ini" >>"$WORK/rw.log" 2>&1; code=$?
is "$code" 0 "rewritten: after a reset the copy completes"
load_ndjson "$WORK/rw" rw_loaded
is "$(pg_sql "SELECT count(*) FROM rewritten r FULL JOIN rw_loaded l ON (l.doc->>'id')::bigint = r.id
              WHERE l.doc IS NULL OR r.id IS NULL OR (l.doc->>'ver')::int <> r.ver OR l.doc->>'v' <> r.v")" 0 \
    "rewritten: and holds the table's rows"

done_testing
