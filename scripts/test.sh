#!/usr/bin/env bash
# shellcheck disable=SC2317 # stage and peer functions are called indirectly
# printwarden's one test command (CI runs it through .ci/run).
#
#   scripts/test.sh                              # every stage
#   TEST_STAGES="fmt clippy" scripts/test.sh     # a subset, in the usual order
#   SKIP_E2E=1 SKIP_POSTGRES=1 scripts/test.sh   # quick local run
#
# Stages: fmt, clippy, crypto-guard (cargo-deny, deny.toml), tests-sqlite, tests-postgres, e2e,
# tls-scan (sslscan: TLS 1.2+ and AEAD suites only), headers (S7 headers),
# schemathesis (API fuzzing from /api/openapi.json: no 5xx, no schema violation),
# interop (the printer simulator against independent clients: bambulabs-api,
# mosquitto_sub, curl; bambu-printer-manager, platecli, pybambu and ffprobe/ffmpeg on
# --standard-ports, which needs root or CAP_NET_BIND_SERVICE on the binary).
# Each prints one line `stage NAME: ok (SECONDS s, DETAIL)` or
# `stage NAME: FAILED (...)`. All selected stages run even when one fails;
# the exit status is non-zero when any failed. Full output of each stage is in
# target/test-logs/NAME.log.
#
# It installs what it needs (Debian packages, PostgreSQL, the e2e npm
# packages) and is quick when everything is already there. Everything it
# starts listens on 127.0.0.1 only and is stopped by its recorded pid on exit.
#
# Knobs:
#   TEST_STAGES="a b"   run only these stages ("none": only the checks before stages)
#   SKIP_E2E=1          skip the browser tests
#   SKIP_POSTGRES=1     skip the PostgreSQL test run (and PostgreSQL setup)
#   PW_SERVER_BIN=path  e2e, tls-scan, headers, schemathesis: use this server binary instead of target/debug/printwarden
#   SCHEMATHESIS_SEED=n seed of the API fuzzing run (default 1, so CI runs are reproducible)
#   CARGO_TARGET_DIR    honoured (logs go to $CARGO_TARGET_DIR/test-logs)
#   MIN_FREE_MIB=n      warn when less disk than this is free under the target directory (default 6000)
#
# Layout: this file is the driver (stage selection, the stage runner, the
# summary). Each stage is scripts/stages/<name>.sh, defining stage_<name> (with
# `-` as `_`); what stages share is in scripts/lib/stages.sh, the test peers
# in scripts/lib/peers.sh, process and apt helpers in scripts/lib/common.sh.
#
# Adding a stage: write scripts/stages/<name>.sh with `stage_<name-with-underscores>`,
# source it below, add the name to ALL_STAGES (and to PEER_STAGES if it needs
# the test peers). Adding a test peer: write `peer_<name>_start` in
# scripts/lib/peers.sh (use start_bg, bind 127.0.0.1, export the address for
# the tests) and add the name to PEERS.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
LOG_TAG=test.sh

ALL_STAGES=(fmt clippy crypto-guard tests-sqlite tests-postgres e2e tls-scan headers schemathesis interop)
PEER_STAGES=(tests-sqlite tests-postgres e2e) # stages that need the test peers running
PEERS=(smtp ldap oidc)                         # test peers started before PEER_STAGES (scripts/lib/peers.sh)

MIN_FREE_MIB=${MIN_FREE_MIB:-6000} # target/ peaked at 2.6 GB in a full CI run (2026-12-07); twice that, plus peers
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
LOG_DIR=$TARGET_DIR/test-logs
mkdir -p "$LOG_DIR"

export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
export CARGO_TERM_PROGRESS_WHEN=never
# A one-shot CI build gains nothing from incremental caches, and they double
# the size of target/ (a CI run once died of a full disk halfway through).
if [[ ${CI:-} == true ]]; then export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}; fi

PROC_DIR=$(mktemp -d "${TMPDIR:-/tmp}/printwarden-test.XXXXXX")
export PROC_DIR

on_exit() {
	local rc=$?
	stop_all_bg || true # the peers and anything else still running that we started
	rm -rf "$PROC_DIR"
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ================================================================ stage selection

STAGES_WANTED=${TEST_STAGES:-${ALL_STAGES[*]}}
read -r -a SELECTED <<<"${STAGES_WANTED//,/ }"
for s in "${SELECTED[@]}"; do
	[[ $s == none || " ${ALL_STAGES[*]} " == *" $s "* ]] ||
		die "unknown stage '$s' in TEST_STAGES (known: ${ALL_STAGES[*]})"
done

is_selected() { [[ " ${SELECTED[*]} " == *" $1 "* ]]; }

# skip_reason STAGE: prints why a selected stage is skipped, or nothing.
skip_reason() {
	case $1 in
	e2e) [[ ${SKIP_E2E:-} == 1 ]] && echo "SKIP_E2E=1" ;;
	tests-postgres) [[ ${SKIP_POSTGRES:-} == 1 ]] && echo "SKIP_POSTGRES=1" ;;
	esac
	return 0
}

# The stages (one file each) and what they share; see the notes at the top.
# shellcheck source=scripts/lib/peers.sh
source "$ROOT/scripts/lib/peers.sh"
# shellcheck source=scripts/lib/stages.sh
source "$ROOT/scripts/lib/stages.sh"
# shellcheck source=scripts/stages/fmt.sh
source "$ROOT/scripts/stages/fmt.sh"
# shellcheck source=scripts/stages/clippy.sh
source "$ROOT/scripts/stages/clippy.sh"
# shellcheck source=scripts/stages/crypto-guard.sh
source "$ROOT/scripts/stages/crypto-guard.sh"
# shellcheck source=scripts/stages/tests-sqlite.sh
source "$ROOT/scripts/stages/tests-sqlite.sh"
# shellcheck source=scripts/stages/tests-postgres.sh
source "$ROOT/scripts/stages/tests-postgres.sh"
# shellcheck source=scripts/stages/e2e.sh
source "$ROOT/scripts/stages/e2e.sh"
# shellcheck source=scripts/stages/tls-scan.sh
source "$ROOT/scripts/stages/tls-scan.sh"
# shellcheck source=scripts/stages/headers.sh
source "$ROOT/scripts/stages/headers.sh"
# shellcheck source=scripts/stages/schemathesis.sh
source "$ROOT/scripts/stages/schemathesis.sh"
# shellcheck source=scripts/stages/interop.sh
source "$ROOT/scripts/stages/interop.sh"

# ================================================================ stage runner

STAGE_LINES=()
ANY_FAILED=0
STAGE_NAME=""

# stage_detail TEXT: the detail shown in this stage's summary line.
stage_detail() { printf '%s' "$*" >"$PROC_DIR/$STAGE_NAME.detail"; }

# stage_counts PASSED FAILED SKIPPED: test counts for the grand total.
stage_counts() { echo "$1 $2 $3" >"$PROC_DIR/$STAGE_NAME.counts"; }

# run_stage NAME: runs stage_NAME in a subshell with `set -e` in force, output
# shown and written to $LOG_DIR/NAME.log, and records its summary line.
run_stage() {
	local name=$1 fn=stage_${1//-/_} reason line detail="" rc t0 secs
	is_selected "$name" || return 0
	reason=$(skip_reason "$name")
	if [[ -n $reason ]]; then
		line="stage $name: skipped ($reason)"
		echo "$line"
		STAGE_LINES+=("$line")
		return 0
	fi
	if [[ " ${PEER_STAGES[*]} " == *" $name "* ]]; then peers_start; fi

	printf '\n==================== stage %s ====================\n' "$name"
	t0=$SECONDS
	STAGE_NAME=$name
	set +e
	(
		set -e
		"$fn"
	) 2>&1 | tee "$LOG_DIR/$name.log"
	rc=${PIPESTATUS[0]}
	set -e
	secs=$((SECONDS - t0))
	[[ -s $PROC_DIR/$name.detail ]] && detail=$(<"$PROC_DIR/$name.detail")
	if ((rc == 0)); then
		line="stage $name: ok (${secs}s${detail:+, $detail})"
	else
		ANY_FAILED=1
		line="stage $name: FAILED (${secs}s, exit $rc${detail:+, $detail}; log: ${LOG_DIR#"$ROOT"/}/$name.log)"
	fi
	echo "$line"
	STAGE_LINES+=("$line")
}

# stage_none: TEST_STAGES=none runs nothing but the option checks.

# ================================================================ main

log "stages: ${SELECTED[*]} (logs in ${LOG_DIR})"
# A full disk shows up as a dozen unrelated compile errors; say it plainly first.
free_mib=$(df -Pm "$TARGET_DIR" 2>/dev/null | awk 'NR == 2 { print $4 }')
if [[ -n $free_mib ]] && ((free_mib < MIN_FREE_MIB)); then
	warn "only ${free_mib} MiB free under ${TARGET_DIR}; a full run needs about ${MIN_FREE_MIB} MiB (stages will fail with 'No space left on device')"
fi
if [[ ${CI:-} == true && -n ${SKIP_E2E:-}${SKIP_POSTGRES:-} ]]; then
	warn "CI=true with SKIP_E2E/SKIP_POSTGRES set: stages will be skipped"
fi
T_START=$SECONDS

for stage in "${ALL_STAGES[@]}"; do
	run_stage "$stage"
done
peers_stop

TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0 COUNTED=0
for stage in "${ALL_STAGES[@]}"; do
	[[ -f $PROC_DIR/$stage.counts ]] || continue
	read -r p f s <"$PROC_DIR/$stage.counts"
	TOTAL_PASSED=$((TOTAL_PASSED + p)) TOTAL_FAILED=$((TOTAL_FAILED + f)) TOTAL_SKIPPED=$((TOTAL_SKIPPED + s))
	COUNTED=1
done

printf '\n==================== summary (%ss) ====================\n' "$((SECONDS - T_START))"
((${#STAGE_LINES[@]})) && printf '%s\n' "${STAGE_LINES[@]}"
if ((${#FAILED_PEERS[@]})); then
	echo "test peers that failed to start: ${FAILED_PEERS[*]}"
	ANY_FAILED=1
fi
if ((ANY_FAILED)); then
	echo "result: FAILED"
else
	echo "result: ok"
fi
if ((COUNTED)); then
	echo "tests: ${TOTAL_PASSED} passed, ${TOTAL_FAILED} failed, ${TOTAL_SKIPPED} skipped"
fi
exit "$ANY_FAILED"
