#!/usr/bin/env bash
# ferry installs like a Debian program: the units pass systemd-analyze verify and are hardened, make
# install puts every file in its place, the .deb holds them with its dependencies and runs, and a job
# under systemd's StateDirectory writes there while its configuration's folder stays read-only.
. "$(dirname "$0")/../lib/common.sh"
pg_start

# --- the units, as systemd reads them (an instance of each template, the binary this tree built) ---
mkdir -p "$WORK/units" "$WORK/man/man1"
"$FERRY" --man > "$WORK/man/man1/ferry.1"
sed "s|/usr/local/bin/ferry|$FERRY|" "$ROOT/systemd/ferry@.service" > "$WORK/units/ferry@orders.service"
cp "$ROOT/systemd/ferry@.timer" "$WORK/units/ferry@orders.timer"
out=$(cd "$WORK/units" && MANPATH="$WORK/man" systemd-analyze verify ./ferry@orders.service ./ferry@orders.timer 2>&1)
is "$?" 0 "systemd-analyze verify passes for ferry@.service and ferry@.timer"
[ -n "$out" ] && diag "$out"
score=$(cd "$WORK/units" && systemd-analyze security --offline=true ./ferry@orders.service 2>/dev/null |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
diag "systemd-analyze security: exposure $score"
ok "$(awk -v s="${score:-10}" 'BEGIN { exit !(s <= 2.0) }'; echo $?)" "the service is hardened: exposure $score of 10, at most 2.0"
like "$(cat "$ROOT/systemd/ferry@.timer")" "Persistent=true" "the timer catches up a run missed while the machine was off"
like "$(cat "$ROOT/systemd/ferry@.timer")" "RandomizedDelaySec=" "and spreads its start"
like "$(cat "$ROOT/systemd/ferry.sysusers")" "^u ferry " "a sysusers.d entry makes the ferry user"

# --- make install, staged ---
make -s -C "$ROOT" install DESTDIR="$WORK/root" PREFIX=/usr/local > "$WORK/install.log" 2>&1
is "$?" 0 "make install DESTDIR=… PREFIX=/usr/local"
for f in usr/local/bin/ferry usr/local/share/man/man1/ferry.1 usr/local/lib/systemd/system/ferry@.service \
         usr/local/lib/systemd/system/ferry@.timer usr/local/lib/sysusers.d/ferry.conf etc/ferry/example.ini; do
    ok "$([ -s "$WORK/root/$f" ]; echo $?)" "installs /$f"
done
like "$(grep ExecStart "$WORK/root/usr/local/lib/systemd/system/ferry@.service")" "^ExecStart=/usr/local/bin/ferry run" \
    "the installed unit runs the installed binary"
like "$("$WORK/root/usr/local/bin/ferry" --version)" "^ferry [0-9]" "the installed binary runs"
like "$(man -l "$WORK/root/usr/local/share/man/man1/ferry.1" 2>/dev/null | col -b)" "memory_fraction" \
    "its manual lists the configuration's keys"
like "$(man -l "$WORK/root/usr/local/share/man/man1/ferry.1" 2>/dev/null | col -b)" "type = redshift" \
    "and every sink's"

# --- make deb ---
make -s -C "$ROOT" deb > "$WORK/deb.log" 2>&1
is "$?" 0 "make deb"
deb=$(ls "$ROOT"/build/ferry_*.deb 2>/dev/null | head -1)
info=$(dpkg-deb -I "$deb" 2>&1)
like "$info" "Depends: libc6, .*libpq5.*libmongoc-1.0-0|Depends: libc6, .*libmongoc-1.0-0.*libpq5" "the package depends on the libraries ferry links"
like "$(dpkg-deb -c "$deb")" "./usr/bin/ferry" "and holds /usr/bin/ferry"
dpkg -x "$deb" "$WORK/deb"
like "$("$WORK/deb/usr/bin/ferry" --version)" "^ferry [0-9]" "the packaged binary runs"
like "$(man -l "$WORK/deb/usr/share/man/man1/ferry.1.gz" 2>/dev/null | col -b)" "^FERRY\(1\)" "the packaged manual reads"
like "$(grep ExecStart "$WORK/deb/lib/systemd/system/ferry@.service")" "^ExecStart=/usr/bin/ferry run" "its unit runs /usr/bin/ferry"

# --- a job under StateDirectory: /etc stays untouched ---
pg_sql "CREATE TABLE public.orders (id int PRIMARY KEY, v text);
        INSERT INTO orders SELECT g, 'o' || g FROM generate_series(1, 1000) g; ANALYZE" >/dev/null
mkdir -p "$WORK/etc" "$WORK/state"
printf '%s' "secret-from-a-credential" > "$WORK/etc/source-password"
chmod 600 "$WORK/etc/source-password"
sed -e "s|^conninfo = .*|conninfo = host=127.0.0.1 port=$PGPORT user=ferry dbname=postgres|" \
    -e "s|^password_file = .*|password_file = $WORK/etc/source-password|" "$ROOT/systemd/example.ini" > "$WORK/etc/example.ini"
chmod 555 "$WORK/etc"
STATE_DIRECTORY="$WORK/state" "$FERRY" run -c "$WORK/etc/example.ini" > "$WORK/example.log" 2>&1; code=$?
chmod 755 "$WORK/etc"
is "$code" 0 "the example job runs with its configuration's folder read-only"
ok "$([ -f "$WORK/state/example.state" ] && [ -f "$WORK/state/example.prom" ]; echo $?)" \
    "its state and metrics are under \$STATE_DIRECTORY"
is "$(cat "$WORK"/state/out/public.orders/*.ndjson.zst | zstd -dc | wc -l)" 1000 "and so is its output: the 1000 rows"
is "$(ls "$WORK/etc" | tr '\n' ' ')" "example.ini source-password " "nothing was written beside the configuration"
unlike "$(cat "$WORK/example.log"; strings "$WORK/state/example.state")" "secret-from-a-credential" \
    "the password from the credential file is in no log and not in the state"

done_testing
