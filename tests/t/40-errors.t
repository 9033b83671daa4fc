#!/usr/bin/env bash
# What a user sees when something is wrong: clear errors, the right exit codes, nothing lost,
# and no secret anywhere.
. "$(dirname "$0")/../lib/common.sh"
pg_start

pg_sql "
CREATE TABLE public.good (id int PRIMARY KEY, v text);
INSERT INTO good SELECT g, 'v' || g FROM generate_series(1, 5000) g;
CREATE TABLE public.nokey (a int, b text);
INSERT INTO nokey SELECT g, 'b' FROM generate_series(1, 100) g;
CREATE TABLE public.dupes (a int NOT NULL, b text);
INSERT INTO dupes VALUES (1, 'x'), (1, 'y'), (2, 'z');
ANALYZE;"

# --- command line ---
"$FERRY" >/dev/null 2>&1; is $? 2 "no command: exit 2"
out=$("$FERRY" frobnicate -c x 2>&1); is $? 2 "an unknown command: exit 2"
like "$out" 'unknown command "frobnicate"' "and it is named"
out=$("$FERRY" run 2>&1); is $? 2 "run without -c: exit 2"
like "$out" "needs a configuration file" "and it says so"
out=$("$FERRY" --help); is $? 0 "--help exits 0"
like "$out" "75  stopped with work left" "--help documents the exit codes"
like "$("$FERRY" --version)" "^ferry [0-9]+\.[0-9]+\.[0-9]+$" "--version"

# --- configuration ---
out=$("$FERRY" run -c "$WORK/missing.ini" 2>&1); is $? 78 "a missing configuration file: exit 78"
like "$out" "missing.ini: cannot open" "and the file is named"
write_config "$WORK/bad.ini" "$WORK/bad" ndjson "memory_fraction = 2"
printf '[table public.good]\n' >> "$WORK/bad.ini"
out=$("$FERRY" run -c "$WORK/bad.ini" 2>&1); is $? 78 "a bad value: exit 78"
like "$out" "bad.ini:3: key 'memory_fraction': bad value \"2\": expected a number from 0.01 to 0.95" \
    "the error names the file, the line and the key"
ok $([ ! -e "$WORK/bad.state" ]; echo $?) "a bad configuration creates no state"

write_config "$WORK/w0.ini" "$WORK/w0" ndjson "workers = 0"
printf '[table public.good]\n' >> "$WORK/w0.ini"
out=$("$FERRY" run -c "$WORK/w0.ini" 2>&1); is $? 78 "workers = 0: exit 78"
like "$out" "w0.ini:3: key 'workers': bad value \"0\": expected auto or a whole number from 1 to 64" \
    "the error says auto is the other choice"

# --- workers = auto (the default): one per CPU, within the source's free connections ---
# A role allowed two connections: while ferry plans on one, there is room for one more.
pg_sql "CREATE ROLE ferry_two LOGIN CONNECTION LIMIT 2; GRANT SELECT ON good TO ferry_two"
write_config "$WORK/two.ini" "$WORK/two" csv
sed -i "s/user=ferry /user=ferry_two /" "$WORK/two.ini"
printf '[table public.good]\npartition_rows = 1000\n' >> "$WORK/two.ini"
out=$("$FERRY" run -c "$WORK/two.ini" 2>&1); is $? 0 "workers = auto under a role's CONNECTION LIMIT 2: the copy completes"
like "$out" " 1 worker\(s\) \(auto: " "one worker: the planning connection takes the other"
if [ "$(nproc)" -ge 2 ]; then
    like "$out" "but the role's CONNECTION LIMIT leaves room for 1 more connection" "and the log says why"
else
    ok 0 "one CPU here: the CPU count and the limit agree # SKIP needs two CPUs"
fi
unlike "$out" "too many connections" "no connection was refused"
is "$(cat "$WORK"/two/public.good/*.csv | wc -l)" 5000 "every row copied"
# A role allowed one connection: the worker goes on with the connection ferry planned on.
pg_sql "ALTER ROLE ferry_two CONNECTION LIMIT 1"
rm -rf "$WORK/two" "$WORK"/two.state*
out=$("$FERRY" run -c "$WORK/two.ini" 2>&1); is $? 0 "CONNECTION LIMIT 1: the copy completes"
unlike "$out" "too many connections" "on the planning connection, handed to the worker: no second connection"
is "$(cat "$WORK"/two/public.good/*.csv | wc -l)" 5000 "every row copied"

# --- plan changes nothing ---
write_config "$WORK/a.ini" "$WORK/a" ndjson
printf '[table public.good]\n' >> "$WORK/a.ini"
sed "s/^\[ferry\]/[ferry]\nmemory_limit = 16MB/" "$WORK/a.ini" > "$WORK/small-budget.ini"
like "$("$FERRY" plan -c "$WORK/small-budget.ini" 2>&1)" \
    " 1 worker\(s\) \(auto: [0-9]+ CPU\(s\), but the memory budget of 8.0 MiB has room for 1\)" \
    "workers = auto: no more workers than the memory budget gives a batch of 4 MiB each"
out=$("$FERRY" plan -c "$WORK/a.ini" 2>&1); is $? 0 "plan exits 0"
like "$out" "rows: +about 5000" "plan shows the estimated rows"
like "$out" "key: +id \(primary key\)" "plan shows the key"
like "$out" "^source: postgresql" "plan says which dialect the source speaks"
like "$out" "[0-9]+ worker\(s\) \(auto: [0-9]+ CPU\(s\)" "plan shows how many workers auto chose, and why"
ok $([ ! -e "$WORK/a.state" ] && [ ! -e "$WORK/a" ]; echo $?) "plan writes no state and no output"

# --- tables that cannot be copied: the others still are ---
write_config "$WORK/k.ini" "$WORK/k" csv
printf '[table public.nokey]\n[table public.good]\n[table public.dupes]\nkey = a\n[table public.ghost]\n' >> "$WORK/k.ini"
out=$("$FERRY" run -c "$WORK/k.ini" 2>&1); is $? 1 "tables that cannot be copied: exit 1"
like "$out" "table public.nokey has no primary key: declare a unique, NOT NULL key in its section, e.g. \"key = id\"" \
    "no primary key: the error says how to declare one"
like "$out" "table public.dupes: key \(a\) is not unique" "a declared key with duplicates is refused"
like "$out" "table public.ghost \(line [0-9]+\) does not exist" "a missing table is named with its line"
is "$(cat "$WORK"/k/public.good/*.csv | wc -l)" 5000 "the good table was copied anyway"

# --- a source that refuses for good: no retries, exit 1; a table without privilege fails alone ---
write_config "$WORK/nodb.ini" "$WORK/nodb" csv
sed -i "s/dbname=postgres/dbname=nosuchdb/" "$WORK/nodb.ini"
printf '[table public.good]\n' >> "$WORK/nodb.ini"
out=$("$FERRY" run -c "$WORK/nodb.ini" 2>&1); is $? 1 "a database that does not exist: exit 1, not 75"
like "$out" 'database "nosuchdb" does not exist' "the server's reason is shown"
unlike "$out" "retry" "and it is not retried"
pg_sql "CREATE ROLE lowly LOGIN; GRANT SELECT ON good TO lowly"
write_config "$WORK/priv.ini" "$WORK/priv" csv
sed -i "s/user=ferry/user=lowly/" "$WORK/priv.ini"
printf '[table public.nokey]\nkey = a\n[table public.good]\n' >> "$WORK/priv.ini"
out=$("$FERRY" run -c "$WORK/priv.ini" 2>&1); is $? 1 "a table without SELECT privilege: exit 1"
like "$out" "permission denied for table nokey" "the error names the table and the privilege"
is "$(cat "$WORK"/priv/public.good/*.csv | wc -l)" 5000 "the table with privilege is copied anyway"

# --- one run per state file ---
flock -o "$WORK/a.state.lock" sh -c 'echo held; exec sleep 60' > "$WORK/held" & # flock alone holds it
holder=$!
for _ in $(seq 1 200); do [ -s "$WORK/held" ] && break; sleep 0.05; done # until the lock is held
out=$("$FERRY" run -c "$WORK/a.ini" 2>&1); is $? 76 "a second run on a locked state: exit 76"
like "$out" "another ferry run \(pid [0-9a-z]+\) is using state file" "and it says why"
pkill -P "$holder" sleep; wait "$holder" 2>/dev/null

# --- a resume may not change what the output means ---
"$FERRY" run -c "$WORK/a.ini" >/dev/null 2>&1; is $? 0 "first run completes"
sed -i 's/^format = ndjson/format = csv/' "$WORK/a.ini"
out=$("$FERRY" run -c "$WORK/a.ini" 2>&1); is $? 78 "changing the sink format against the state: exit 78"
like "$out" "option 'sink.format' is \"csv\" but this state was started with \"ndjson\"" "the differing option is named"
like "$out" 'run `ferry reset -c FILE` to copy every table \(the option is all of theirs\) again' "and how to start over: a [sink] option is every table's"
sed -i 's/^format = csv/format = ndjson/' "$WORK/a.ini"
# The advice works as given, on a job of its own.
sed "s|^state = .*|state = advice.state|; s|^path = .*|path = $WORK/advice|" "$WORK/a.ini" > "$WORK/advice.ini"
"$FERRY" run -c "$WORK/advice.ini" >/dev/null 2>&1
sed -i 's/^format = ndjson/format = csv/' "$WORK/advice.ini"
"$FERRY" reset -c "$WORK/advice.ini" >/dev/null 2>&1; is $? 0 "ferry reset -c FILE, as the advice says"
"$FERRY" run -c "$WORK/advice.ini" > "$WORK/advice.log" 2>&1; is $? 0 "and the run with the new format completes"
is "$(cat "$WORK"/advice/public.good/*.csv | wc -l) $(ls "$WORK"/advice/public.good | grep -c ndjson)" "5000 0" \
    "the table is there once, as CSV, with no NDJSON file left"

# --- reset one table: re-planned with other bounds, old files replaced, no duplicates ---
sed -i 's/^\[table public.good\]/[table public.good]\npartition_rows = 1000/' "$WORK/a.ini"
"$FERRY" reset -c "$WORK/a.ini" public.good >/dev/null; is $? 0 "reset of one table"
out=$("$FERRY" run -c "$WORK/a.ini" 2>&1); is $? 0 "the run after reset completes"
like "$out" "planned [2-9] partitions" "the table is planned again, with the new partition size"
is "$(cat "$WORK"/a/public.good/*.ndjson | wc -l)" 5000 "the old plan's files are gone: 5000 lines, not more"

# --- a state file from a newer ferry ---
cp "$WORK/a.state" "$WORK/new.state"
sqlite3 "$WORK/new.state" "PRAGMA user_version = 99"
sed "s/^state = .*/state = new.state/" "$WORK/a.ini" > "$WORK/new.ini"
out=$("$FERRY" run -c "$WORK/new.ini" 2>&1); is $? 74 "a state file from a newer ferry: exit 74"
like "$out" "written by a newer ferry \(schema 99" "and it is refused, not altered"
is "$(sqlite3 "$WORK/new.state" "PRAGMA user_version")" 99 "the newer file is left as it was"

# --- files that hold secrets: refused while others may read them, as libpq refuses such a .pgpass ---
write_config "$WORK/s.ini" "$WORK/s" ndjson
sed -i "s/^conninfo = .*/conninfo = host=127.0.0.1 port=$PGPORT user=ferry password=Sup3rS3cretPw dbname=postgres/" "$WORK/s.ini"
printf '[table public.good]\n[table public.big]\n' >> "$WORK/s.ini"
chmod 644 "$WORK/s.ini"
out=$("$FERRY" run -c "$WORK/s.ini" 2>&1); code=$?
is "$code" 78 "a configuration with a password in it, readable by others (0644): refused, exit 78"
like "$out" "s.ini:[0-9]+: key 'conninfo' holds a secret, and $WORK/s.ini may be read by other users \(mode 644\), so it is refused: chmod 600 $WORK/s.ini \(or set \[ferry\] secret_files = warn\)" \
    "the error names the file, the line and key that hold the secret, and the chmod that fixes it"
unlike "$out" "Sup3rS3cret" "and does not show the secret"
ok $([ ! -e "$WORK/s.state" ]; echo $?) "nothing was started: no state file"
cp "$WORK/s.ini" "$WORK/warn.ini"
sed -i "s/^\[ferry\]/[ferry]\nsecret_files = warn/; s/^state = .*/state = warn.state/; /^\[table public.big\]/d" "$WORK/warn.ini"
out=$("$FERRY" plan -c "$WORK/warn.ini" 2>&1); code=$?
is "$code" 0 "secret_files = warn: the same file is taken"
like "$out" "WARN .*warn.ini:[0-9]+: key 'conninfo' holds a secret, and $WORK/warn.ini may be read by other users \(mode 644\): chmod 600" \
    "with a warning that names the fix"
write_config "$WORK/pwfile.ini" "$WORK/pwfile" ndjson
printf 'password_file = %s\n[table public.good]\n' "$WORK/pw" > "$WORK/pwfile.tail"
sed -i "/^conninfo = /r $WORK/pwfile.tail" "$WORK/pwfile.ini"
printf 'Sup3rS3cretPw\n' > "$WORK/pw"; chmod 640 "$WORK/pw"
out=$("$FERRY" run -c "$WORK/pwfile.ini" 2>&1); code=$?
is "$code" 78 "a password file the group may read (0640): refused, exit 78"
like "$out" "pwfile.ini:[0-9]+: key 'password_file': $WORK/pw holds a secret and may be read by other users \(mode 640\), so it is refused: chmod 600 $WORK/pw" \
    "the error names the configuration's line, the secret's file and the chmod"
chmod 600 "$WORK/pw"
out=$("$FERRY" run -c "$WORK/pwfile.ini" 2>&1); code=$?
is "$code" 0 "after chmod 600 the run goes on (a configuration without a secret inline may be 0644)"
is "$(stat -c %a "$WORK/pwfile.state")" 600 "the state file ferry creates is ferry's user's alone (0600)"
chmod 600 "$WORK/s.ini"

# --- secrets never leak ---
pg_sql "CREATE TABLE public.big (id int PRIMARY KEY, v text);
        INSERT INTO big SELECT g, repeat('v', 200) FROM generate_series(1, 400000) g; ANALYZE big;"
# A password in the environment too (the cluster trusts loopback: libpq sends it unasked for nothing).
PGPASSWORD=EnvS3cret-91 "$FERRY" run -c "$WORK/s.ini" >"$WORK/s.log" 2>&1 &
pid=$!
wait_for_checkpoint "$WORK/s.state" # running, whatever its speed: 400,000 rows are left
args=$(ps -ww -o args= -p "$pid")
cmdline=$(tr '\0' ' ' < "/proc/$pid/cmdline")
core=$(grep '^Max core file size' "/proc/$pid/limits")
wait $pid; is $? 0 "a run with a password in the conninfo completes"
like "$args" "ferry(-asan)? run -c" "the process list was read while ferry ran"
unlike "$args $cmdline" "Sup3rS3cret|EnvS3cret" "no password is in the process list or /proc/PID/cmdline"
like "$core" "^Max core file size +0 +0 " "ferry writes no core file (it would hold the secrets)"
sed -i "s/port=$PGPORT/port=1/; s/^\[ferry\]/[ferry]\nretry_attempts = 2\nretry_base_ms = 50/" "$WORK/s.ini"
"$FERRY" reset -c "$WORK/s.ini" >/dev/null
out=$(PGPASSWORD=EnvS3cret-91 "$FERRY" run -c "$WORK/s.ini" 2>&1); code=$?
is "$code" 75 "an unreachable source: exit 75 (a rerun can succeed)"
like "$out" "cannot connect to the source" "the error says the source is unreachable"
like "$out" "retry 2 in" "and that it retried, as configured, before giving up"
all=$(cat "$WORK/s.log"; echo "$out"; "$FERRY" status -c "$WORK/s.ini" 2>&1; "$FERRY" status --json -c "$WORK/s.ini" 2>&1; strings "$WORK"/s.state*)
unlike "$all" "Sup3rS3cret|EnvS3cret" "neither password is in a log, an error, status output or the state file"

# --- the memory floor: named when a limit is below it, kept at it (rows enough to fill every batch) ---
pg_sql "CREATE TABLE public.floor (id int PRIMARY KEY, v text);
        INSERT INTO floor SELECT g, repeat('f', 200) FROM generate_series(1, 200000) g; ANALYZE floor" >/dev/null
write_config "$WORK/floor.ini" "$WORK/floor" ndjson "memory_limit = 6MB
workers = 1"
printf '[table public.floor]\npartition_rows = 20000\n' >> "$WORK/floor.ini"
out=$("$FERRY" run -c "$WORK/floor.ini" 2>&1); code=$?
like "$code $out" "^78 .*the smallest memory_limit is 8MB" "memory_limit = 6MB: exit 78, naming the smallest limit (8MB)"
sed -i 's/^memory_limit = 6MB/memory_limit = 8MB/; s/^workers = 1/workers = 4/' "$WORK/floor.ini"
out=$("$FERRY" run -c "$WORK/floor.ini" 2>&1); code=$?
like "$code $out" "^78 .*4 worker\(s\).*the smallest memory_limit for this job is [0-9]+MB" \
    "8MB for four workers: exit 78, with what the workers need and the smallest limit"
floor=$(printf '%s' "$out" | sed -n 's/.*the smallest memory_limit for this job is \([0-9]*\)MB.*/\1/p')
sed -i "s/^memory_limit = 8MB/memory_limit = ${floor}MB/" "$WORK/floor.ini"
out=$("$FERRY" run -c "$WORK/floor.ini" 2>&1); code=$?
is "$code" 0 "at the limit it named (${floor}MB), four workers copy the table"
to_bytes() { awk -v v="$1" -v u="$2" 'BEGIN { m = u == "GiB" ? 1073741824 : u == "MiB" ? 1048576 : u == "KiB" ? 1024 : 1; printf "%d", v * m }'; }
read -r peak peak_unit budget budget_unit < <(printf '%s' "$out" | sed -n 's/.*jemalloc peak allocated \([0-9.]*\) \([KMG]*i*B\), budget \([0-9.]*\) \([KMG]*i*B\).*/\1 \2 \3 \4/p')
ok "$([ "$(to_bytes "$peak" "$peak_unit")" -le "$(to_bytes "$budget" "$budget_unit")" ]; echo $?)" \
    "and jemalloc's peak ($peak $peak_unit) stays within the budget ($budget $budget_unit)"

# --- two jobs, one output folder: the second refuses, the first's files stay ---
mkdir -p "$WORK/a" "$WORK/b"
write_config "$WORK/a/job.ini" "$WORK/shared" ndjson
printf '[table public.good]\npartition_rows = 2000\n' >> "$WORK/a/job.ini"
sed "s|^state = .*|state = job.state|" "$WORK/a/job.ini" > "$WORK/b/job.ini"
"$FERRY" run -c "$WORK/a/job.ini" > "$WORK/a/run.log" 2>&1; is $? 0 "job a copies public.good into a folder"
before=$(cd "$WORK/shared" && find . -type f -name '*.ndjson' -exec md5sum {} + | sort)
like "$(cat "$WORK/shared/public.good/.ferry-owner")" "job: .*:$WORK/a/job.state" \
    "the folder's marker names job a's state file"
out=$("$FERRY" run -c "$WORK/b/job.ini" 2>&1); code=$?
is "$code" 1 "job b (another state file) on the same folder: the table fails (exit 1), as a table refused at plan does"
like "$out" "belongs to another job \(table public.good of job .*:$WORK/a/job.state" "the error names the job that owns it"
like "$out" "this is table public.good of job .*:$WORK/b/job.state" "and this job"
like "$out" "--take-over public.good" "and how to take it over"
unlike "$out" "removed" "it removed nothing"
is "$(cd "$WORK/shared" && find . -type f -name '*.ndjson' -exec md5sum {} + | sort)" "$before" "job a's files are intact"
# a marker past FERRY_OWNER_MARKER_MAX (8 KiB) is none ferry wrote, even one that begins as job a's own
marker=$WORK/shared/public.good/.ferry-owner
cp "$marker" "$WORK/marker.keep"
{ cat "$WORK/marker.keep"; head -c 9000 /dev/zero | tr '\0' '#'; } > "$marker"
rm "$WORK/a/job.state"
out=$("$FERRY" run -c "$WORK/a/job.ini" 2>&1); code=$?
is "$code" 1 "a marker of 9 KiB that begins with job a's own lines: refused (exit 1)"
like "$out" "belongs to another job \(table \(unreadable\) of job \(unreadable\)" "it is read as no marker ferry wrote"
is "$(cd "$WORK/shared" && find . -type f -name '*.ndjson' -exec md5sum {} + | sort)" "$before" "and nothing was changed"
mv "$WORK/marker.keep" "$marker"
out=$("$FERRY" plan -c "$WORK/b/job.ini" 2>&1); is $? 0 "plan, which writes nothing, still runs for job b"
rm "$WORK/a/job.state"
"$FERRY" run -c "$WORK/a/job.ini" > "$WORK/a/run2.log" 2>&1
is $? 0 "job a with its state file made again (the same place) is the same job"
out=$("$FERRY" run -c "$WORK/b/job.ini" --take-over public.good 2>&1); code=$?
is "$code" 0 "job b with --take-over public.good copies the table"
like "$out" "taken over by table public.good of job .*:$WORK/b/job.state" "and says whose it was"
is "$(cat "$WORK"/shared/public.good/*.ndjson | wc -l)" 5000 "the folder holds the table once"
out=$("$FERRY" run -c "$WORK/a/job.ini" 2>&1); is $? 1 "now job a is refused"
out=$("$FERRY" run -c "$WORK/a/job.ini" --take-over public.good 2>&1); code=$?
like "$code $(echo "$out" | tr "\n" " ")" "^0 .*its output was another job's; planned again" \
    "job a takes it back: its finished plan is not job b's files, so it plans the table again"
is "$(cat "$WORK"/shared/public.good/*.ndjson | wc -l)" 5000 "and the folder holds the table once, job a's copy"
out=$("$FERRY" run -c "$WORK/b/job.ini" --take-over nosuch.table 2>&1); is $? 2 "--take-over of a table not configured: exit 2"

done_testing
