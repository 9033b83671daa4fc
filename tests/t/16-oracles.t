#!/usr/bin/env bash
# ferry's own parsers against readers nobody here wrote, on inputs made from a seed (printed, so a
# failure can be made again with tests/lib/oracles.py): JSON into BSON against Python's json with
# exact numbers (read back with Python's bson), numeric into Decimal128 against Python's decimal,
# dates and timestamps against PostgreSQL's own reading of the text it prints, COPY text lines
# against PostgreSQL's COPY FROM of the same bytes, and the UTF-8 check of a SQL_ASCII database's
# text against Python's strict decoder. Every input either side refuses must be refused by
# both, or by ferry for a reason the README gives. `make fuzz` runs the parsers far longer.
. "$(dirname "$0")/../lib/common.sh"
pg_start
ORACLE=$ROOT/build/oracle
SEED=${FERRY_ORACLE_SEED:-$(date +%s)}
diag "seed $SEED (FERRY_ORACLE_SEED=$SEED makes these inputs again)"

# oracle KIND COUNT MIN_ACCEPTED MIN_REFUSED: run one case; both sides of it must be met
oracle() {
    local kind=$1 count=$2 min_ok=$3 min_refused=$4 out summary
    out=$(/usr/bin/python3 "$ROOT/tests/lib/oracles.py" "$ORACLE" "$kind" "$SEED" "$count" 2>&1)
    summary=$(head -1 <<< "$out")
    like "$summary" "^inputs $count .* mismatches 0$" "$kind: ferry and the other reader agree on $count inputs ($summary)"
    [[ $summary =~ mismatches\ [1-9] ]] && tap_fail_diag "$(tail -n +2 <<< "$out")"
    local accepted refused
    accepted=$(sed -n 's/.* accepted \([0-9]*\) .*/\1/p' <<< "$summary")
    refused=$(sed -n 's/.* refused \([0-9]*\) .*/\1/p' <<< "$summary")
    ok $(( ${accepted:-0} >= min_ok && ${refused:-0} >= min_refused ? 0 : 1 )) \
        "$kind: the inputs reach both sides: $accepted accepted (at least $min_ok), $refused refused (at least $min_refused)"
}

oracle json 3000 1500 500
oracle numeric 3000 1500 300
# infinity and -infinity are the times refused (kept as their text); COPY's lines are all ones COPY FROM reads
oracle timestamptz 2000 1998 2
oracle timestamp 2000 1998 2
oracle date 2000 1998 2
oracle copy 2000 2000 0
oracle utf8 20000 5000 5000

done_testing
