# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# shellcheck disable=SC2034 # PROBE_SUBCOMMAND is read by probe_server_start
# Stage e2e: defines stage_e2e.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

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
	# Every file's browser and API calls come from one address (127.0.0.1), and the farm-sized
	# files add and remove 50 printers: a budget for the whole suite's client rather than for
	# one person (the limit itself is tested in the API suite).
	probe_server_start e2e PRINTWARDEN_RATE_LIMIT_API=3000/1m
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
		PW_SERVER_BIN="$SERVER_BIN" \
		timeout --kill-after=10 900 \
		node --test --test-concurrency=1 --test-timeout=120000 \
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
