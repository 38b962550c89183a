# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# Stage tests-sqlite: defines stage_tests_sqlite.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

# Tests named cross_backend_* compare SQLite with PostgreSQL; they run in the
# PostgreSQL stage, which makes sure a server is up.
stage_tests_sqlite() {
	# crates/simulator/tests/rtsp.rs has Debian's ffprobe/ffmpeg decode the simulated RTSPS
	# camera, and fails under CI=true without them.
	ensure_apt ffmpeg:ffprobe
	nextest_run -E 'not test(/cross_backend_/)'
}
