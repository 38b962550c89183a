#!/usr/bin/env bash
# Fuzz pw-printfile's parsers (3MF/ZIP, G-code headers, STL) with cargo-fuzz (libFuzzer, ASan).
# Works on the stable toolchain: cargo-fuzz needs nightly flags, which RUSTC_BOOTSTRAP=1 allows.
# Seeds come from the tests' hand-built fixtures (crates/printfile/tests/common), written by the
# fuzz crate's `make_seeds` example; the grown corpus stays in crates/printfile/fuzz/corpus.
#
#   scripts/fuzz.sh                 # 1 000 000 runs per target
#   RUNS=10000 scripts/fuzz.sh      # a quick pass
#   TARGETS=threemf scripts/fuzz.sh # one target
#
# Prints, per target, libFuzzer's "Done N runs in S second(s)" line; exits non-zero on the first
# crash (panic, overflow, ASan report), leaving the input in crates/printfile/fuzz/artifacts/.
set -euo pipefail

RUNS=${RUNS:-1000000}
TARGETS=${TARGETS:-"threemf gcode_stl"}
cd "$(dirname "$0")/../crates/printfile/fuzz"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
	exit 2
fi

cargo run -q --example make_seeds -- seeds
mkdir -p logs
for target in $TARGETS; do
	case $target in
		threemf) max_len=16384 ;;
		*) max_len=8192 ;;
	esac
	mkdir -p "corpus/$target"
	started=$(date +%s)
	cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
		-runs="$RUNS" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		>"logs/$target.log" 2>&1 || { tail -40 "logs/$target.log"; echo "$target: FAILED (see artifacts/)"; exit 1; }
	elapsed=$(( $(date +%s) - started ))
	done_line=$(grep -E '^Done [0-9]+ runs' "logs/$target.log" | tail -1)
	echo "$target: $done_line (wall ${elapsed}s, 0 crashes)"
done
