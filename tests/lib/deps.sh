#!/usr/bin/env bash
# tests/lib/deps.sh — install what ferry's build, tests and demo need, and nothing that is there already.
#
# Debian packages: the -dev libraries ferry links, PostgreSQL 15 (server and
# client) for the tests and the demo, perl's prove for TAP, GNU time for peak
# RSS, Node.js and npm for the test servers pinned in tests/servers, and the
# clients the tests read the stores back with (awscli, Python's botocore and
# Azure Blob client, for Debian's own /usr/bin/python3), Python's Prometheus client to
# parse the metrics file with, and Python's bson to read ferry's documents back in the oracles.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Libraries are checked as packages; tools as commands, so a Node.js installed
# some other way (for instance with npm bundled) counts as present. A benchmark
# adds the tools it compares with as "command:package" words in EXTRA_COMMANDS,
# and packages it needs in EXTRA_PACKAGES.
packages=(build-essential pkg-config libpq-dev libsqlite3-dev libjemalloc-dev zlib1g-dev
          libmongoc-dev libbson-dev libcurl4-openssl-dev libssl-dev postgresql-15
          libzstd-dev libdeflate-dev python3 awscli python3-botocore python3-azure-storage
          python3-prometheus-client python3-bson
          ${EXTRA_PACKAGES:-})
commands=(psql:postgresql-client-15 sqlite3:sqlite3 prove:perl /usr/bin/time:time pkill:procps
          runuser:util-linux flock:util-linux strings:binutils objdump:binutils node:nodejs npm:npm zstd:zstd
          gzip:gzip script:bsdutils systemd-analyze:systemd man:man-db col:bsdextrautils dpkg-deb:dpkg
          ${EXTRA_COMMANDS:-})
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for c in "${commands[@]}"; do
    command -v "${c%%:*}" >/dev/null 2>&1 || missing+=("${c##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${#missing[@]} Debian package(s) with apt-get, a minute or two on a fresh machine: ${missing[*]}"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    echo "deps: apt-get update"
    $sudo apt-get update -qq
    # The server package must not start a cluster of its own: the tests start theirs.
    $sudo mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/ferry.conf >/dev/null
    echo "deps: apt-get install (each package is named as it is set up)"
    $sudo apt-get install -y -qq --no-install-recommends $(printf "%s\n" "${missing[@]}" | sort -u) |
        sed -n 's/^Setting up \([^ ]*\) .*/deps:   set up \1/p'
    echo "deps: done"
fi

# npm test servers (azurite, s3rver), exactly as locked.
if [ -f tests/servers/package-lock.json ] && [ ! -d tests/servers/node_modules ]; then
    echo "deps: installing the npm test servers (tests/servers/package-lock.json)"
    (cd tests/servers && npm ci --no-audit --no-fund --loglevel=error)
fi
