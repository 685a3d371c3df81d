#!/usr/bin/env bash
# Before/after load comparison: runs benches/load/run.sh alternately with two gateway builds,
# PAIRS times each, the order swapped every pair (the second run of a pair measured up to 2% lower
# here, whichever build it was), and prints every run's 402 and free-route figures plus the
# medians. Ratios are against the nginx measured in the same run.
# Usage: benches/load/compare.sh BEFORE_TARGET_DIR AFTER_TARGET_DIR [PAIRS]
#   each *_TARGET_DIR holds release/x402-gateway (e.g. a copy of target/ from the other commit).
# Knobs: everything run.sh reads (DURATION, CONNECTIONS, ...); RUNS is forced to 1 per call.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BEFORE=${1:?before target dir}
AFTER=${2:?after target dir}
PAIRS=${3:-5}
OUT=$(mktemp -d /tmp/x402-compare.XXXXXX)

# gw FILE SCENARIO -> "gw_rps gw/nginx"
gw() { grep "| $2 | gateway |" "$1" | awk -F'|' '{ gsub(/[ *]/, "", $5); gsub(/[ *]/, "", $11); print $5, $11 }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

for i in $(seq 1 "$PAIRS"); do
    order="before after"
    [ $((i % 2)) = 0 ] && order="after before"
    for side in $order; do
        dir=$BEFORE
        [ "$side" = after ] && dir=$AFTER
        echo "[compare] pair $i: $side" >&2
        RUNS=1 SKIP_BUILD=1 CARGO_TARGET_DIR=$dir "$HERE/run.sh" >"$OUT/$side-$i.md" 2>"$OUT/$side-$i.log"
    done
done

echo "| pair | build | 402 gw req/s | 402 gw/nginx | free gw req/s | free gw/nginx |"
echo "|---:|---|---:|---:|---:|---:|"
for i in $(seq 1 "$PAIRS"); do
    for side in before after; do
        c=$(gw "$OUT/$side-$i.md" "402 challenge")
        f=$(gw "$OUT/$side-$i.md" "free route → origin")
        echo "| $i | $side | ${c% *} | ${c#* } | ${f% *} | ${f#* } |"
        echo "$side ${c% *} ${c#* } ${f% *} ${f#* }" >>"$OUT/all.txt"
    done
done
echo
for side in before after; do
    for col in 2 3 4 5; do
        m[$col]=$(awk -v s="$side" -v c="$col" '$1 == s { print $c }' "$OUT/all.txt" | median)
    done
    echo "median $side: 402 ${m[2]} req/s (${m[3]}× nginx), free ${m[4]} req/s (${m[5]}× nginx)"
done
echo "(raw outputs in $OUT)"
