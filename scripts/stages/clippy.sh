# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# Stage clippy: defines stage_clippy.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

stage_clippy() {
	ensure_rust_tool clippy cargo clippy --version
	cargo clippy --workspace --all-targets -- -D warnings
	# The dispatch benchmark's example needs pw-app's bench-only feature, so the line above
	# never compiles it; without this it rots unseen between bench runs.
	cargo clippy -p pw-app --features bench --examples -- -D warnings
	stage_detail "no warnings"
}
