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
# mosquitto_sub, curl).
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
#
# Adding a stage: write `stage_<name-with-underscores>`, add the name to
# ALL_STAGES (and to PEER_STAGES if it needs the test peers). Adding a test
# peer: write `peer_<name>_start` (use start_bg, bind 127.0.0.1, export the
# address for the tests) and add the name to PEERS.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
LOG_TAG=test.sh

ALL_STAGES=(fmt clippy crypto-guard tests-sqlite tests-postgres e2e tls-scan headers schemathesis interop)
PEER_STAGES=(tests-sqlite tests-postgres e2e) # stages that need the test peers running
PEERS=(smtp)                                   # test peers started before PEER_STAGES, see below

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
LOG_DIR=$TARGET_DIR/test-logs
mkdir -p "$LOG_DIR"

PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres

export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
export CARGO_TERM_PROGRESS_WHEN=never

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

# ================================================================ test peers
#
# Peers (LDAP, OIDC provider, SMTP sink, printer simulator, ...) are started
# once, before the first stage in PEER_STAGES, from this shell, so that the
# addresses they export reach every later stage. Each `peer_<name>_start`:
#   - installs what it needs (ensure_apt, pip/npm into target/),
#   - starts its process with `start_bg <name> "$LOG_DIR/peer-<name>.log" cmd...`
#     bound to 127.0.0.1 on a port from free_port,
#   - waits for it (wait_tcp), runs `assert_loopback_only "$BG_PID"`,
#   - exports what the tests need with `peer_export NAME VALUE`, e.g.
#     peer_export PW_TEST_LDAP_URL "ldap://127.0.0.1:$port".
# It runs in a subshell with `set -e` in force; when it fails, the tests that
# need the peer fail.

PEERS_STARTED=0
FAILED_PEERS=()

# peer_export NAME VALUE: makes NAME=VALUE visible to every later stage.
peer_export() {
	printf 'export %s=%q\n' "$1" "$2" >>"$PROC_DIR/peer-env.sh"
}

peers_start() {
	((PEERS_STARTED)) && return 0
	PEERS_STARTED=1
	local p rc t0
	for p in "${PEERS[@]}"; do
		log "starting test peer $p"
		t0=$SECONDS
		set +e
		(
			set -e
			"peer_${p//-/_}_start"
		)
		rc=$?
		set -e
		if ((rc != 0)); then
			warn "test peer $p failed to start (exit $rc; see $LOG_DIR/peer-$p.log)"
			FAILED_PEERS+=("$p")
		else
			log "test peer $p up ($((SECONDS - t0))s)"
		fi
	done
	if [[ -f $PROC_DIR/peer-env.sh ]]; then
		# shellcheck source=/dev/null
		source "$PROC_DIR/peer-env.sh"
	fi
}

peers_stop() {
	stop_all_bg
}

# peer smtp: scripts/peers/smtp_sink.py (aiosmtpd) for the mail client's tests
# (crates/identity/tests/smtp.rs, pw_testkit::smtp). Three listeners on 127.0.0.1:
# STARTTLS (AUTH only after it), implicit TLS, and plain without STARTTLS. It signs
# its own throwaway CA (ca.pem) and writes each accepted message as mail/<n>.json.
# It watches this shell's pid and exits by itself if the run is killed.
SMTP_SINK_PINS=(aiosmtpd==1.4.6 atpublic==9.0.0 attrs==26.1.0 cryptography==50.0.2 cffi==2.1.1 pycparser==3.12)
SMTP_SINK_USER=pw-smtp-test
SMTP_SINK_PASSWORD='sink pass: not a secret'
peer_smtp_start() {
	local venv=$TARGET_DIR/venv-smtp dir starttls tls plain port
	ensure_venv "$venv" "${SMTP_SINK_PINS[@]}"
	dir=$PROC_DIR/peer-smtp # private to this run, removed on exit
	mkdir -p "$dir"
	starttls=$(free_port)
	tls=$(free_port)
	plain=$(free_port)
	while [[ $tls == "$starttls" ]]; do tls=$(free_port); done
	while [[ $plain == "$starttls" || $plain == "$tls" ]]; do plain=$(free_port); done
	start_bg smtp "$LOG_DIR/peer-smtp.log" "$venv/bin/python" "$ROOT/scripts/peers/smtp_sink.py" \
		--state-dir "$dir" --starttls-port "$starttls" --tls-port "$tls" --plain-port "$plain" \
		--user "$SMTP_SINK_USER" --password "$SMTP_SINK_PASSWORD" --parent-pid "$$"
	for port in "$starttls" "$tls" "$plain"; do
		wait_tcp 127.0.0.1 "$port" 20 || {
			tail -n 20 "$LOG_DIR/peer-smtp.log" >&2 || true
			die "the SMTP sink does not accept connections on 127.0.0.1:$port"
		}
	done
	wait_for_file "$dir/ca.pem" 5 "$BG_PID"
	assert_loopback_only "$BG_PID"
	peer_export PW_TEST_SMTP_HOST 127.0.0.1
	peer_export PW_TEST_SMTP_STARTTLS_PORT "$starttls"
	peer_export PW_TEST_SMTP_TLS_PORT "$tls"
	peer_export PW_TEST_SMTP_PLAIN_PORT "$plain"
	peer_export PW_TEST_SMTP_CA "$dir/ca.pem"
	peer_export PW_TEST_SMTP_DIR "$dir/mail"
	peer_export PW_TEST_SMTP_USER "$SMTP_SINK_USER"
	peer_export PW_TEST_SMTP_PASSWORD "$SMTP_SINK_PASSWORD"
}


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

# ================================================================ stages

# ensure_rust_tool COMPONENT-OR-CRATE CHECK...: rustfmt/clippy come from rustup,
# cargo-nextest and cargo-deny from crates.io (a one-time build of a few
# minutes each: cargo-deny about 8.5 min on 2 busy cores) when missing.
ensure_rust_tool() {
	local tool=$1
	shift
	"$@" >/dev/null 2>&1 && return 0
	case $tool in
	cargo-nextest | cargo-deny)
		log "$tool missing: cargo install $tool --locked"
		cargo install "$tool" --locked
		;;
	*)
		log "$tool missing: rustup component add $tool"
		rustup component add "$tool"
		;;
	esac
}

stage_fmt() {
	ensure_rust_tool rustfmt cargo fmt --version
	cargo fmt --all -- --check
	stage_detail "formatted"
}

stage_clippy() {
	ensure_rust_tool clippy cargo clippy --version
	cargo clippy --workspace --all-targets -- -D warnings
	stage_detail "no warnings"
}

# stage_crypto_guard: cargo-deny with deny.toml at the repository root. Bans
# (openssl-sys, aws-lc-sys, aws-lc-fips-sys, native-tls: one TLS and crypto
# stack, rustls + ring; duplicate versions only warned), the license allow-list
# and the crate sources, over every target and edge kind. Advisories are not
# checked: their database is fetched from GitHub (see deny.toml).
stage_crypto_guard() {
	local out=$PROC_DIR/deny.out rc=0 banned
	ensure_rust_tool cargo-deny cargo deny --version
	cargo deny --color never check bans licenses sources 2>&1 | tee "$out" || rc=$?
	if ((rc != 0)); then
		banned=$(sed -nE "s/.*error\[banned\]: crate '([^ ']+)[ '].*/\1/p" "$out" | sort -u | tr '\n' ' ')
		stage_detail "cargo deny: $(tail -n 1 "$out")${banned:+; banned: ${banned% }}"
		return "$rc"
	fi
	stage_detail "cargo deny: bans, licenses, sources ok ($(grep -c '^warning\[duplicate\]' "$out" || true) duplicate-version warnings)"
}

# nextest_run: one `cargo nextest run` of the whole workspace with the ci
# profile; output also in $LOG_DIR/$STAGE_NAME.log (via run_stage). Sets the
# stage detail from nextest's Summary line, e.g.
#   "     Summary [  12.345s] 42 tests run: 41 passed, 1 failed, 0 skipped".
nextest_run() {
	local out=$PROC_DIR/$STAGE_NAME.nextest rc=0 summary run passed skipped rest
	ensure_rust_tool cargo-nextest cargo nextest --version
	# An independent TOTP implementation for the second-factor tests (pw_testkit::totp).
	command -v oathtool >/dev/null 2>&1 || ensure_apt oathtool
	cargo nextest run --workspace --profile ci "$@" 2>&1 | tee "$out" || rc=$?
	summary=$(grep -E '^[[:space:]]*Summary \[' "$out" | tail -n 1 || true)
	if [[ -z $summary ]]; then
		stage_detail "no nextest summary: build failed or nextest aborted"
		return "$((rc ? rc : 1))"
	fi
	: >"$PROC_DIR/nextest-built" # the test binaries (and target/debug/printwarden) are built
	run=$(sed -nE 's/.* ([0-9]+) tests? run:.*/\1/p' <<<"$summary")
	passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")
	skipped=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$summary")
	rest=${summary#*run: }
	stage_counts "${passed:-0}" "$((${run:-0} - ${passed:-0}))" "${skipped:-0}"
	if ((rc != 0)); then
		stage_detail "${run:-?} tests run: $rest"
	elif ((${skipped:-0} > 0)); then
		stage_detail "${run:-?} tests, ${skipped} skipped"
	else
		stage_detail "${run:-?} tests"
	fi
	return "$rc"
}

# Tests named cross_backend_* compare SQLite with PostgreSQL; they run in the
# PostgreSQL stage, which makes sure a server is up.
stage_tests_sqlite() {
	nextest_run -E 'not test(/cross_backend_/)'
}

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3 >/dev/null 2>&1; }
pg_psql() { psql -X -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"; }

# ensure_postgres: a PostgreSQL that accepts `postgres` without a password on
# 127.0.0.1:5432. Starts an existing cluster, or installs one.
ensure_postgres() {
	local ver installed=0 i
	ensure_apt postgresql-client:psql
	if ! pg_up; then
		if ! compgen -G '/etc/postgresql/*/main' >/dev/null; then
			log "no PostgreSQL cluster: installing postgresql"
			apt_install postgresql
			installed=1
		fi
		for ver in /etc/postgresql/*/main; do
			ver=${ver#/etc/postgresql/}
			ver=${ver%/main}
			if ((installed)); then pg_trust_loopback "$ver"; fi
			log "starting PostgreSQL cluster $ver/main"
			as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start ||
				as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload || true
		done
		for ((i = 0; i < 100; i++)); do
			pg_up && break
			sleep 0.2
		done
		pg_up || {
			pg_isready -h "$PG_HOST" -p "$PG_PORT" || true
			die "PostgreSQL does not accept connections on $PG_HOST:$PG_PORT"
		}
	fi
	[[ $(pg_psql -Atqc 'select 1') == 1 ]] ||
		die "psql -h $PG_HOST -U $PG_USER -c 'select 1' failed (PostgreSQL needs trust auth for $PG_USER on $PG_HOST)"
	log "PostgreSQL on $PG_HOST:$PG_PORT: $(pg_psql -Atqc 'show server_version')"
}

# pg_trust_loopback VERSION: lets `postgres` in without a password from
# 127.0.0.1/::1. Only done to a cluster this script just installed.
pg_trust_loopback() {
	local hba=/etc/postgresql/$1/main/pg_hba.conf
	[[ -f $hba ]] || return 0
	grep -q '^host all postgres 127.0.0.1/32 trust' "$hba" && return 0
	log "pg_hba.conf: trust for postgres on 127.0.0.1 and ::1 (test machine)"
	as_root sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
}

# drop_test_databases: drops the pw_test_* databases that tests left behind.
# Prints how many.
drop_test_databases() {
	local db n=0
	while read -r db; do
		[[ -n $db ]] || continue
		if pg_psql -qc "DROP DATABASE \"${db//\"/\"\"}\" WITH (FORCE)" >/dev/null; then
			n=$((n + 1))
		else
			warn "could not drop database $db"
		fi
	done < <(pg_psql -Atc "select datname from pg_database where datname like 'pw\_test\_%'")
	echo "$n"
}

stage_tests_postgres() {
	local rc=0 dropped detail
	stage_detail "PostgreSQL setup failed"
	ensure_postgres
	export PRINTWARDEN_TEST_DB=postgres
	export PRINTWARDEN_TEST_PG_URL=${PRINTWARDEN_TEST_PG_URL:-postgres://$PG_USER@$PG_HOST:$PG_PORT/postgres}
	nextest_run || rc=$?
	dropped=$(drop_test_databases) || dropped="?"
	detail=$(cat "$PROC_DIR/$STAGE_NAME.detail" 2>/dev/null || true)
	if [[ $dropped != 0 ]]; then
		log "dropped $dropped leftover pw_test_* database(s)"
		stage_detail "$detail, dropped $dropped leftover db(s)"
	fi
	return "$rc"
}

# ensure_e2e_npm: e2e/node_modules matching e2e/package-lock.json.
ensure_e2e_npm() {
	local marker=e2e/node_modules/.package-lock.json
	command -v npm >/dev/null 2>&1 || die "npm not found (node 20 + npm are needed for the e2e stage)"
	if [[ -f $marker && ! e2e/package-lock.json -nt $marker && ! e2e/package.json -nt $marker ]]; then
		return 0
	fi
	if [[ -f e2e/package-lock.json ]]; then
		log "npm ci (e2e)"
		(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
	else
		log "npm install (e2e; no package-lock.json)"
		(cd e2e && npm install --no-audit --no-fund --loglevel=error)
	fi
}

# workspace_version: [workspace.package] version from Cargo.toml.
workspace_version() {
	awk '/^\[/{s = ($0 == "[workspace.package]")} s && /^version *=/{gsub(/.*= *"|".*/, ""); print; exit}' Cargo.toml
}

stage_e2e() {
	local built_note="" notes="" rc=0 tap
	local pass fail cancelled skipped total
	stage_detail "setup failed"

	ensure_apt chromium:chromium chromium-driver:chromedriver
	[[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium is missing after installing Debian's chromium"
	ensure_e2e_npm

	server_bin
	built_note=$SERVER_BIN_NOTE
	stage_detail "server start failed"
	[[ -n $built_note ]] && log "$built_note"
	# The demo: the server plus three simulated printers, already added.
	PROBE_SUBCOMMAND=(demo --job-seconds 120)
	probe_server_start e2e
	log "server pid $PROBE_PID: https=$PROBE_HTTPS http=$PROBE_HTTP"
	[[ -s $PROBE_CA ]] || die "no CA certificate at $PROBE_CA"

	tap=$LOG_DIR/e2e.tap
	rm -f "$tap"
	mkdir -p "$TARGET_DIR/e2e-screens"
	PW_BASE_URL="https://$PROBE_HTTPS" \
		PW_HTTP_URL="http://$PROBE_HTTP" \
		PW_CA_CERT="$PROBE_CA" \
		PW_DATA_DIR="$PROBE_DATA" \
		PW_EXPECTED_VERSION="$(workspace_version)" \
		PW_SCREEN_DIR="$TARGET_DIR/e2e-screens" \
		timeout --kill-after=10 900 \
		node --test --test-timeout=120000 \
		--test-reporter=spec --test-reporter-destination=stdout \
		--test-reporter=tap --test-reporter-destination="$tap" \
		e2e/tests/ 2>&1 || rc=$?

	if grep -q 'panicked at' "$LOG_DIR/e2e-server.log"; then
		log "the server panicked (see $LOG_DIR/e2e-server.log):"
		grep -A5 'panicked at' "$LOG_DIR/e2e-server.log" | head -n 30 >&2
		notes+="; the server panicked"
		((rc)) || rc=1
	fi
	if ! pid_running "$PROBE_PID"; then
		log "the server exited during the tests:"
		tail -n 40 "$LOG_DIR/e2e-server.log" >&2 || true
		notes+="; the server exited early"
		((rc)) || rc=1
	fi
	stop_bg "$PROBE_PID" 5
	PROBE_PID=""
	if ((STOP_KILLED)); then
		log "note: the server ignored SIGTERM for 5s and was killed"
		notes+="; server needed SIGKILL"
	fi
	[[ -n $built_note ]] && notes+="; $built_note"
	notes=${notes#; }

	[[ -f $tap ]] || : >"$tap"
	total=$(sed -nE 's/^# tests ([0-9]+)$/\1/p' "$tap" | tail -n 1)
	pass=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | tail -n 1)
	fail=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$tap" | tail -n 1)
	cancelled=$(sed -nE 's/^# cancelled ([0-9]+)$/\1/p' "$tap" | tail -n 1)
	skipped=$(sed -nE 's/^# skipped ([0-9]+)$/\1/p' "$tap" | tail -n 1)
	stage_counts "${pass:-0}" "$((${fail:-0} + ${cancelled:-0}))" "${skipped:-0}"
	if [[ -z $total ]]; then
		stage_detail "no node test summary${notes:+; $notes}"
		return "$((rc ? rc : 1))"
	fi
	if ((total == 0)); then
		stage_detail "no e2e tests found in e2e/tests/"
		return 1
	fi
	if ((rc == 0 && ${fail:-0} == 0 && ${cancelled:-0} == 0)); then
		stage_detail "${total} tests${notes:+; $notes}"
	else
		stage_detail "${total} tests: ${pass:-0} passed, ${fail:-0} failed, ${cancelled:-0} cancelled${notes:+; $notes}"
		return "$((rc ? rc : 1))"
	fi
}

# server_bin: sets SERVER_BIN to the server binary: the debug build that the
# nextest stages made (cargo builds a package's binaries for its integration
# tests), or PW_SERVER_BIN. No `cargo build`: that could rebuild dependencies
# with other features. SERVER_BIN_NOTE says what happened.
SERVER_BIN=""
SERVER_BIN_NOTE=""
server_bin() {
	local mtime_before mtime_after
	[[ -n $SERVER_BIN ]] && return 0
	if [[ -n ${PW_SERVER_BIN:-} ]]; then
		SERVER_BIN=$PW_SERVER_BIN
		SERVER_BIN_NOTE="server from PW_SERVER_BIN"
	else
		SERVER_BIN=$TARGET_DIR/debug/printwarden
		if [[ ! -e $PROC_DIR/nextest-built || ! -x $SERVER_BIN ]]; then
			mtime_before=$(stat -c %Y "$SERVER_BIN" 2>/dev/null || echo none)
			log "building the test binaries: cargo nextest run --workspace --no-run"
			stage_detail "cargo nextest run --workspace --no-run failed"
			cargo nextest run --workspace --no-run
			: >"$PROC_DIR/nextest-built"
			mtime_after=$(stat -c %Y "$SERVER_BIN" 2>/dev/null || echo none)
			[[ $mtime_before != "$mtime_after" ]] && SERVER_BIN_NOTE="built $SERVER_BIN with nextest --no-run"
		fi
	fi
	if [[ ! -x $SERVER_BIN ]]; then
		stage_detail "no server binary at ${SERVER_BIN#"$ROOT"/}"
		die "$SERVER_BIN not found: the server crate needs an integration test (tests/*.rs) so that cargo builds its binary"
	fi
}

# probe_server_start NAME [VAR=VALUE...]: starts the server binary on
# 127.0.0.1 (ports picked by the server) with a fresh data dir and the given
# extra environment; sets PROBE_PID, PROBE_DATA, PROBE_HTTPS and PROBE_HTTP
# (host:port), PROBE_CA. Stop it with probe_server_stop (the stage's EXIT trap).
PROBE_PID=""
PROBE_DATA=""
PROBE_SUBCOMMAND=(serve)
probe_server_start() {
	local name=$1
	shift
	server_bin
	PROBE_DATA=$(mktemp -d "${TMPDIR:-/tmp}/printwarden-$name.XXXXXX")
	trap probe_server_stop EXIT
	start_bg "$name-server" "$LOG_DIR/$name-server.log" env \
		PRINTWARDEN_DATA_DIR="$PROBE_DATA" \
		PRINTWARDEN_BIND=127.0.0.1 \
		PRINTWARDEN_HTTPS_PORT=0 \
		PRINTWARDEN_HTTP_PORT=0 \
		"$@" \
		"$SERVER_BIN" "${PROBE_SUBCOMMAND[@]}"
	PROBE_PID=$BG_PID
	if ! wait_for_file "$PROBE_DATA/listening.json" 20 "$PROBE_PID"; then
		tail -n 40 "$LOG_DIR/$name-server.log" >&2 || true
		stage_detail "server did not write listening.json"
		return 1
	fi
	sleep 0.05 # let a non-atomic writer finish
	PROBE_HTTPS=$(json_get "$PROBE_DATA/listening.json" https)
	PROBE_HTTP=$(json_get "$PROBE_DATA/listening.json" http)
	PROBE_CA=$PROBE_DATA/tls/ca.crt
	assert_loopback_only "$PROBE_PID"
}

probe_server_stop() {
	if [[ -n $PROBE_PID ]]; then stop_bg "$PROBE_PID" 5 || true; fi
	if [[ -n $PROBE_DATA ]]; then rm -rf "$PROBE_DATA"; fi
	PROBE_PID="" PROBE_DATA=""
}

# stage_tls_scan: sslscan against the HTTPS port. Passes only when SSLv2,
# SSLv3, TLS 1.0 and TLS 1.1 are refused, TLS 1.2 and 1.3 are offered, and
# every accepted cipher suite is an AEAD suite of at least 128 bits (no NULL,
# export, anonymous, RC4, DES/3DES, MD5 or CBC suites).
stage_tls_scan() {
	local out weak proto state
	ensure_apt sslscan:sslscan
	probe_server_start tls-scan
	out=$LOG_DIR/tls-scan.txt
	sslscan --no-colour --no-heartbleed --no-compression --no-renegotiation --no-fallback \
		"$PROBE_HTTPS" >"$out" 2>&1 || true
	cat "$out"
	grep -q 'Accepted' "$out" || {
		stage_detail "sslscan accepted no cipher at all (did the scan run?)"
		return 1
	}
	for proto in SSLv2 SSLv3 TLSv1.0 TLSv1.1 TLSv1.2 TLSv1.3; do
		state=$(awk -v p="$proto" '$1 == p {print $2; exit}' "$out")
		case $proto:$state in
		SSLv2:disabled | SSLv3:disabled | TLSv1.0:disabled | TLSv1.1:disabled) ;;
		TLSv1.2:enabled | TLSv1.3:enabled) ;;
		*)
			stage_detail "$proto is ${state:-not reported}"
			return 1
			;;
		esac
	done
	weak=$(grep -E '^(Preferred|Accepted)' "$out" |
		awk '{ bits = $3 + 0; if (bits < 128 || $5 ~ /NULL|EXP|RC4|DES|MD5|anon|ADH|AECDH|CBC|SHA$/ && $5 !~ /GCM|CHACHA20|CCM/) print }' || true)
	if [[ -n $weak ]]; then
		echo "weak cipher suites accepted:"
		printf '%s\n' "$weak"
		stage_detail "weak cipher suites accepted"
		return 1
	fi
	stage_detail "TLS 1.2/1.3 only, $(grep -cE '^(Preferred|Accepted)' "$out") AEAD suites"
}

# stage_headers: the SPEC S7 security headers on a page, an API response and
# an error response, as curl sees them over HTTPS.
HEADER_CSP="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'; upgrade-insecure-requests"
stage_headers() {
	local path kind want got file bad=0 checked=0
	probe_server_start headers
	for spec in "page:/" "api:/api/v1/auth/status" "error:/api/v1/no-such-route"; do
		kind=${spec%%:*}
		path=${spec#*:}
		file=$PROC_DIR/headers-$kind.txt
		curl -sS -o /dev/null -D "$file" --cacert "$PROBE_CA" "https://$PROBE_HTTPS$path"
		echo "--- $kind $path: $(head -n 1 "$file" | tr -d '\r')"
		while IFS='|' read -r name want; do
			[[ -n $name ]] || continue
			[[ $name == cache-control && $kind == page ]] && continue
			got=$(grep -i "^$name:" "$file" | head -n 1 | cut -d: -f2- | sed 's/^ *//' | tr -d '\r')
			checked=$((checked + 1))
			if [[ $got != "$want" ]]; then
				echo "  $name: got '${got}', want '${want}'"
				bad=$((bad + 1))
			else
				echo "  $name: ok"
			fi
		done <<EOT
strict-transport-security|max-age=31536000
content-security-policy|$HEADER_CSP
x-content-type-options|nosniff
referrer-policy|strict-origin-when-cross-origin
x-frame-options|DENY
cache-control|no-store
EOT
		grep -qi '^x-request-id: [0-9a-f]\{24\}' "$file" || {
			echo "  x-request-id: missing"
			bad=$((bad + 1))
		}
	done
	if ((bad)); then
		stage_detail "$bad of $checked header checks failed"
		return 1
	fi
	stage_detail "$checked header checks on a page, an API and an error response"
}

# ensure_venv DIR PACKAGE==VERSION...: a Python virtualenv at DIR holding exactly
# these pinned packages (reinstalled when the pins change).
ensure_venv() {
	local dir=$1 want
	shift
	want="$*"
	if [[ -x $dir/bin/python && $(cat "$dir/.pins" 2>/dev/null) == "$want" ]]; then
		return 0
	fi
	rm -rf "$dir"
	if ! python3 -m venv "$dir" >/dev/null 2>&1; then
		ensure_apt python3-venv
		python3 -m venv "$dir"
	fi
	log "pip install $want"
	"$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
	printf '%s' "$want" >"$dir/.pins"
}

SCHEMATHESIS_PIN=schemathesis==4.32.5

# stage_schemathesis: fuzzes the running API from the document it serves at
# /api/openapi.json. An administrator is set up through the API; one run uses
# a full-scope API key on every operation, a second one the browser session
# (cookie + Origin) on the session-only operations. Checks: no server error,
# every response matches its documented schema and content type; the server
# log must show no 5xx and no panic either. Excluded, because they would end
# the fuzzer's own access: revoking API keys and sessions, sign-out, switching
# authentication off.
stage_schemathesis() {
	local venv=$TARGET_DIR/venv-schemathesis base jar cookie key scopes code
	local report=$LOG_DIR/schemathesis rc=0 fivexx
	ensure_venv "$venv" "$SCHEMATHESIS_PIN"
	probe_server_start schemathesis PRINTWARDEN_RATE_LIMITS=off
	base=https://$PROBE_HTTPS
	jar=$PROC_DIR/schemathesis-cookies
	code=$(tr -d '[:space:]' <"$PROBE_DATA/setup-code")
	curl -fsS --cacert "$PROBE_CA" -c "$jar" -H 'content-type: application/json' \
		-d "{\"setup_code\":\"$code\",\"username\":\"fuzz-admin\",\"password\":\"schemathesis admin passphrase\"}" \
		"$base/api/v1/auth/setup" >/dev/null
	cookie=$(awk '$6 ~ /pw_session$/ {print $6 "=" $7}' "$jar")
	[[ -n $cookie ]] || die "setup set no session cookie"
	scopes=$(curl -fsS --cacert "$PROBE_CA" -H "cookie: $cookie" "$base/api/v1/auth/me" |
		python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["permissions"]))')
	key=$(curl -fsS --cacert "$PROBE_CA" -H "cookie: $cookie" -H "origin: $base" \
		-H 'content-type: application/json' -d "{\"name\":\"schemathesis\",\"scopes\":$scopes}" \
		"$base/api/v1/api-keys" | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
	rm -rf "$report"
	# One worker: hypothesis parses lambda sources with `ast`, which CPython 3.11 does not
	# allow from two threads at once ("AST constructor recursion depth mismatch").
	local common=(
		"$base/api/openapi.json" --url "$base" --tls-verify "$PROBE_CA"
		--generation-with-security-parameters false
		--checks not_a_server_error,response_schema_conformance,content_type_conformance
		--max-examples 30 --workers 1 --request-timeout 15 --seed "${SCHEMATHESIS_SEED:-1}"
		--exclude-path '/api/v1/api-keys/{id}'
	)
	log "schemathesis run 1: API key, every operation"
	timeout 600 "$venv/bin/schemathesis" run "${common[@]}" \
		-H "Authorization: Bearer $key" \
		--report json,junit --report-dir "$report/key" || rc=$?
	log "schemathesis run 2: browser session, the session-only operations"
	timeout 600 "$venv/bin/schemathesis" run "${common[@]}" \
		-H "cookie: $cookie" -H "origin: $base" \
		--include-path /api/v1/api-keys --include-path /api/v1/auth/sessions \
		--include-path /api/v1/auth/password --include-path /api/v1/auth/enable \
		--include-path /api/v1/settings/security --include-path /api/v1/settings/outbound \
		--report json,junit --report-dir "$report/session" || rc=$?
	fivexx=$(grep -c '"status":5[0-9][0-9]' "$LOG_DIR/schemathesis-server.log" || true)
	if grep -q 'panicked at' "$LOG_DIR/schemathesis-server.log"; then
		stage_detail "the server panicked (see $LOG_DIR/schemathesis-server.log)"
		return 1
	fi
	local summary
	summary=$(python3 - "$report" <<'PY'
import glob, json, sys
ops = cases = failures = errors = 0
for f in sorted(glob.glob(sys.argv[1] + "/*/json-*.json")):
    r = json.load(open(f))
    ops += r["operations"]["tested"]
    cases += r["test_cases"]["generated"]
    failures += r["test_cases"]["unique_failures"]
    errors += len(r["errors"]) + r["operations"]["errored"]
print(ops, cases, failures, errors)
PY
)
	local ops cases failures errors
	read -r ops cases failures errors <<<"$summary"
	if ((rc != 0 || failures != 0 || errors != 0 || fivexx != 0 || ops == 0)); then
		stage_detail "$ops operations, $cases cases: $failures failures, $errors errors, $fivexx 5xx in the server log (exit $rc)"
		return 1
	fi
	stage_detail "$ops operations, $cases cases, 0 server errors, 0 schema violations"
}

BAMBULABS_API_PIN=bambulabs-api==2.6.6

# stage_interop: the simulator speaks the printers' protocols well enough for
# clients written by others: the PyPI package bambulabs-api (paho-mqtt, ftplib
# and its camera client) reads status, starts, pauses and resumes a print,
# uploads over implicit FTPS and reads camera frames; Debian's mosquitto_sub
# verifies the simulator's certificate against its CA and receives a report;
# curl (OpenSSL) uploads and downloads over implicit FTPS with session reuse.
INTEROP_SIM=""
INTEROP_DIR=""
interop_stop() {
	if [[ -n $INTEROP_SIM ]]; then stop_bg "$INTEROP_SIM" 5 || true; fi
	if [[ -n $INTEROP_DIR ]]; then rm -rf "$INTEROP_DIR"; fi
	INTEROP_SIM="" INTEROP_DIR=""
}

# interop_mosquitto DIR SERIAL CODE: a TLS mosquitto broker presenting the
# simulated printer's certificate; `printwarden printer-check` must log in on
# first use, again with the pin, and be refused without sending CONNECT when
# the pin does not match.
interop_mosquitto() {
	local dir=$1 serial=$2 code=$3 port broker fp connects zero
	ensure_apt mosquitto:mosquitto
	port=$(free_port)
	mosquitto_passwd -b -c "$dir/passwd" bblp "$code" >/dev/null 2>&1
	# mosquitto drops root privileges before reading these.
	chmod 0755 "$dir" "$dir/certs"
	chmod 0644 "$dir/passwd" "$dir/certs/$serial.crt" "$dir/certs/$serial.key"
	printf '%s\n' \
		"listener $port 127.0.0.1" \
		"certfile $dir/certs/$serial.crt" \
		"keyfile $dir/certs/$serial.key" \
		"tls_version tlsv1.2" \
		"allow_anonymous false" \
		"password_file $dir/passwd" \
		"persistence false" \
		"log_dest stderr" \
		"log_type all" >"$dir/mosquitto.conf"
	start_bg interop-mosquitto "$LOG_DIR/interop-mosquitto.log" mosquitto -c "$dir/mosquitto.conf"
	broker=$BG_PID
	for _ in $(seq 50); do
		grep -q "listen socket on port $port" "$LOG_DIR/interop-mosquitto.log" 2>/dev/null && break
		sleep 0.1
	done
	mosquitto_pub -h 127.0.0.1 -p "$port" --cafile "$dir/certs/ca.crt" --insecure -u bblp -P "$code" \
		-t "device/$serial/report" -r -m '{"print":{"command":"push_status","gcode_state":"IDLE"}}'
	fp=$(printf '%s\n' "$code" | "$SERVER_BIN" printer-check --host 127.0.0.1 --port "$port" --serial "$serial" |
		awk '/^presented sha256/ {print $3}')
	if [[ ${#fp} != 64 ]]; then
		stop_bg "$broker" 5 || true
		die "printer-check did not report a fingerprint"
	fi
	printf '%s\n' "$code" | "$SERVER_BIN" printer-check --host 127.0.0.1 --port "$port" --serial "$serial" --pin "$fp"
	connects=$(grep -c "New client connected" "$LOG_DIR/interop-mosquitto.log" || true)
	zero=$(printf '0%.0s' $(seq 64))
	if printf '%s\n' "$code" | "$SERVER_BIN" printer-check --host 127.0.0.1 --port "$port" --serial "$serial" --pin "$zero"; then
		stop_bg "$broker" 5 || true
		die "printer-check accepted a certificate that does not match the pin"
	fi
	sleep 0.3
	if (($(grep -c "New client connected" "$LOG_DIR/interop-mosquitto.log" || true) != connects)); then
		stop_bg "$broker" 5 || true
		die "a CONNECT (with the access code) reached the broker despite the pin mismatch"
	fi
	stop_bg "$broker" 5 || true
}

stage_interop() {
	local venv=$TARGET_DIR/venv-interop dir p host mqtt ftps code serial ca report
	local checks=0
	ensure_apt mosquitto-clients:mosquitto_sub curl:curl
	ensure_venv "$venv" "$BAMBULABS_API_PIN"
	server_bin
	dir=$(mktemp -d "${TMPDIR:-/tmp}/printwarden-interop.XXXXXX")
	INTEROP_DIR=$dir
	trap interop_stop EXIT
	start_bg interop-sim "$LOG_DIR/interop-sim.log" \
		"$SERVER_BIN" simulate --count 1 --models P1S --job-seconds 60 --state-dir "$dir"
	INTEROP_SIM=$BG_PID
	if ! wait_for_file "$dir/printers.json" 20 "$INTEROP_SIM"; then
		stage_detail "the simulator wrote no printers.json"
		return 1
	fi
	assert_loopback_only "$INTEROP_SIM"
	p=$dir/printers.json
	read -r host mqtt ftps code serial ca < <(python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))[0]
print(p["host"], p["mqtt_port"], p["ftps_port"], p["access_code"], p["serial"], p["ca_cert"])' "$p")

	log "bambulabs-api against the simulator"
	timeout 120 "$venv/bin/python" scripts/interop/bambulabs_check.py "$p"
	checks=$((checks + 4))

	log "mosquitto_sub (TLS, simulator CA, hostname checked) receives a report"
	report=$(timeout 20 mosquitto_sub -h "$host" -p "$mqtt" --cafile "$ca" --tls-version tlsv1.2 \
		-u bblp -P "$code" -i printwarden-interop -t "device/$serial/report" -C 1 -W 15)
	python3 -c 'import json, sys; d = json.loads(sys.stdin.read()); assert "print" in d, d' <<<"$report"
	checks=$((checks + 1))

	log "curl: implicit FTPS upload and download"
	head -c 150000 /dev/urandom >"$dir/upload.bin"
	curl -sS --fail --ssl-reqd --cacert "$ca" -u "bblp:$code" -T "$dir/upload.bin" \
		"ftps://$host:$ftps/curl.gcode.3mf"
	curl -sS --fail --ssl-reqd --cacert "$ca" -u "bblp:$code" -o "$dir/download.bin" \
		"ftps://$host:$ftps/curl.gcode.3mf"
	cmp "$dir/upload.bin" "$dir/download.bin"
	checks=$((checks + 1))

	log "our client against Debian mosquitto as a stand-in printer broker (TLS, CN = serial)"
	interop_mosquitto "$dir" "$serial" "$code"
	checks=$((checks + 3))
	stage_detail "$checks checks: bambulabs-api (FTPS, MQTT status/start/pause/resume, camera), mosquitto_sub, curl FTPS, printwarden against mosquitto (first use, pinned, changed pin refused before CONNECT)"
}

# stage_none: TEST_STAGES=none runs nothing but the option checks.

# ================================================================ main

log "stages: ${SELECTED[*]} (logs in ${LOG_DIR})"
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
