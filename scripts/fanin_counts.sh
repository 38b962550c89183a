#!/usr/bin/env bash
# Instructions and allocations per printer report on the fan-in path (issue 21), counted by
# valgrind so the numbers repeat on a loaded machine (wall-clock numbers do not).
#
#   scripts/fanin_counts.sh [PRINTERS=200] [SOCKETS=50]
#
# Runs target/release/examples/fanin_bench (pw-app's bench feature: every report through the
# supervisor's own path, then each of SOCKETS dashboard subscribers' message) under
# callgrind and under dhat with 1 and 3 rounds of reports; the difference divided by
# 2 × PRINTERS reports is the cost of one report (setup and warm-up cancel out). Build first:
#   CARGO_PROFILE_RELEASE_STRIP=none cargo build --release -p pw-app --features bench --example fanin_bench
# (symbols kept, so `callgrind_annotate` on the kept output names the functions).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${FANIN_BENCH_BIN:-$TARGET_DIR/release/examples/fanin_bench}
PRINTERS=${1:-200}
SOCKETS=${2:-50}
OUT=${FANIN_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/fanin-counts.XXXXXX")}
[[ -x $BIN ]] || { echo "fanin_counts.sh: $BIN missing (see the build line above)" >&2; exit 1; }

ir() { # ir ROUNDS: total instructions of one run
	valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$1" "$BIN" "$PRINTERS" "$SOCKETS" "$1" \
		>/dev/null 2>"$OUT/callgrind.$1.log"
	sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$OUT/callgrind.$1.log"
}
allocs() { # allocs ROUNDS: "blocks bytes" allocated over one run
	valgrind --tool=dhat --dhat-out-file="$OUT/dhat.$1" "$BIN" "$PRINTERS" "$SOCKETS" "$1" \
		>/dev/null 2>"$OUT/dhat.$1.log"
	sed -n 's/.*Total: *\([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2 \1/p' "$OUT/dhat.$1.log" | tr -d ,
}
i1=$(ir 1)
i3=$(ir 3)
read -r b1 y1 <<<"$(allocs 1)"
read -r b3 y3 <<<"$(allocs 3)"
n=$((2 * PRINTERS))
awk -v i1="$i1" -v i3="$i3" -v b1="$b1" -v b3="$b3" -v y1="$y1" -v y3="$y3" -v n="$n" \
	-v p="$PRINTERS" -v s="$SOCKETS" 'BEGIN {
	printf "fan-in per report (%d printers, %d sockets): %.0f instructions, %.1f allocations, %.0f bytes allocated\n",
		p, s, (i3 - i1) / n, (b3 - b1) / n, (y3 - y1) / n }'
echo "callgrind and dhat output in $OUT (callgrind_annotate $OUT/callgrind.3)"
