# tests/lib/tap.sh — TAP output for the shell tests (read by prove).
#
# A failure's name and what it got go to standard error as well, which prove shows without -v
# (at most 3,000 characters of it: a whole log stays in the work folder, FERRY_KEEP_WORK=1).

TAP_N=0
TAP_FAILED=0

ok() { # ok CONDITION_EXIT_STATUS "name"
    local status=$1; shift
    TAP_N=$((TAP_N + 1))
    if [ "$status" -eq 0 ]; then echo "ok $TAP_N - $*"; else
        echo "not ok $TAP_N - $*"; local at=1; case "${FUNCNAME[1]:-}" in is|like|unlike) at=2 ;; esac
        echo "# Failed test $TAP_N - $* (${BASH_SOURCE[$at]}:${BASH_LINENO[$((at - 1))]})" >&2
        TAP_FAILED=$((TAP_FAILED + 1))
    fi
}

tap_fail_diag() { # the lines of a failure's diagnostics, on both outputs
    local text; text=$(printf '%s\n' "$@")
    printf '%s\n' "$text"
    printf '%s\n' "${text:0:3000}" >&2
}

is() { # is GOT EXPECTED "name"
    local got=$1 expected=$2; shift 2
    if [ "$got" = "$expected" ]; then ok 0 "$*"; else ok 1 "$*"; tap_fail_diag "#   got:      '$got'" "#   expected: '$expected'"; fi
}

like() { # like TEXT PATTERN "name" (grep -E)
    local text=$1 pattern=$2; shift 2
    if printf '%s' "$text" | grep -Eq -- "$pattern"; then ok 0 "$*"; else ok 1 "$*"; tap_fail_diag "#   '$text'" "#   does not match /$pattern/"; fi
}

unlike() {
    local text=$1 pattern=$2; shift 2
    if printf '%s' "$text" | grep -Eq -- "$pattern"; then ok 1 "$*"; tap_fail_diag "#   matches /$pattern/"; else ok 0 "$*"; fi
}

diag() { echo "# $*"; }

skip() { # skip "why": a test that cannot run here, counted as passed and said so
    TAP_N=$((TAP_N + 1))
    echo "ok $TAP_N # skip $*"
}

plan_skip_all() { echo "1..0 # SKIP $*"; exit 0; }

done_testing() { echo "1..$TAP_N"; [ "$TAP_FAILED" -eq 0 ]; }
