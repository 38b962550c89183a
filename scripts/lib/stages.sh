# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# shellcheck disable=SC2034 # globals set here are read by the stages
# Helpers shared by the stages in scripts/stages/: Rust tools, nextest, the server
# binary and a probe server, Python virtualenvs.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

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

# nextest_run: one `cargo nextest run` of the whole workspace with the ci
# profile; output also in $LOG_DIR/$STAGE_NAME.log (via run_stage). Sets the
# stage detail from nextest's Summary line, e.g.
#   "     Summary [  12.345s] 42 tests run: 41 passed, 1 failed, 0 skipped".
nextest_run() {
	local out=$PROC_DIR/$STAGE_NAME.nextest rc=0 summary run passed skipped rest
	ensure_rust_tool cargo-nextest cargo nextest --version
	# An independent TOTP implementation for the second-factor tests (pw_testkit::totp).
	command -v oathtool >/dev/null 2>&1 || ensure_apt oathtool
	# systemd's exposure score of packaging/printwarden.service (tests/api/packaging.rs).
	command -v systemd-analyze >/dev/null 2>&1 || ensure_apt systemd
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

# workspace_version: [workspace.package] version from Cargo.toml.
workspace_version() {
	awk '/^\[/{s = ($0 == "[workspace.package]")} s && /^version *=/{gsub(/.*= *"|".*/, ""); print; exit}' Cargo.toml
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
