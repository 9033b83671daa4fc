#!/usr/bin/env bash
# The layout holds, read off the object files: the core uses nothing else in the tree; sinks/ and
# state/ use the core and nothing of agent/; state/ uses nothing of sinks/ (README, "Layout").
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
BUILD=${FERRY_BUILD:-$ROOT/build}

objects() { # a folder's object files whose source still exists (a moved file leaves a stale one)
    local o src
    for o in "$BUILD/$1"/*.o; do
        src=${o#"$BUILD"/}; src=${src%.o}.c
        [ -f "$ROOT/$src" ] && echo "$o"
    done
}
defined() { # the global symbols the objects of a folder define
    nm --defined-only $(objects "$1") 2>/dev/null | awk '$2 ~ /^[TDBRCV]$/ {print $3}' | sort -u
}
used() { # the symbols the objects of a folder use and do not define themselves
    comm -23 <(nm -u $(objects "$1") 2>/dev/null | awk '{print $2}' | sort -u) <(defined "$1")
}
# reaches FROM TO...: the symbols FROM uses that TO defines, as "name (TO)" lines.
reaches() {
    local from=$1 to; shift
    for to in "$@"; do comm -12 <(used "$from") <(defined "$to") | sed "s|\$| ($to/)|"; done
}

for folder in core agent sinks state; do
    n=$(objects "$folder" | wc -l)
    m=$(ls "$ROOT/$folder"/*.c | wc -l)
    is "$n" "$m" "build/$folder holds an object file for each of its $m sources"
done
is "$(reaches core agent sinks state | tr '\n' ' ')" "" "core/ uses nothing of agent/, sinks/ or state/"
is "$(reaches sinks agent state | tr '\n' ' ')" "" "sinks/ uses nothing of agent/ or state/"
is "$(reaches state agent sinks | tr '\n' ' ')" "" "state/ uses nothing of agent/ or sinks/"
done_testing
