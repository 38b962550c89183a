# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# Stage fmt: defines stage_fmt.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

stage_fmt() {
	ensure_rust_tool rustfmt cargo fmt --version
	cargo fmt --all -- --check
	stage_detail "formatted"
}
