#!/usr/bin/env bash
# shellcheck disable=SC2317 # benchmark functions are called indirectly
# printwarden speed checks, for a person at a terminal (never run in CI).
#
#   scripts/bench.sh                  # all: startup, healthz, floor, then a table
#   scripts/bench.sh healthz          # one benchmark
#   scripts/bench.sh startup healthz  # several
#   scripts/bench.sh list             # the benchmark names
#   scripts/bench.sh compare REV [names]  # the same benchmarks for the server built from git
#                                     # revision REV (own worktree and target dir) and for this
#                                     # tree, side by side in one run ("name@base" rows)
#
# Per-request instructions and allocations (repeatable on a busy machine): scripts/bench_instr.sh.
#
# Benchmarks:
#   startup  second start of the release server (certificate already present):
#            time from exec to the first `curl --cacert` 200 on /healthz, and
#            the idle RSS (VmRSS) of the server after start
#   healthz  wrk against https://127.0.0.1:PORT/healthz of the release server
#            (PRINTWARDEN_RATE_LIMITS=off)
#   floor    the same wrk against target/release/floor (crates/bench), a bare
#            hyper+rustls HTTPS "hello" server: the ceiling for this machine.
#            The table shows every wrk row's req/s as a percentage of the floor
#            measured in the same run (floor runs first when selected).
#   authread authenticated JSON reads on the release server after setup:
#            GET /api/v1/auth/me and GET /api/v1/users, once with the session
#            cookie and once with an API key (Authorization: Bearer). With
#            healthz, the table shows each as a percentage of healthz (goal ≥ 50 %).
#   lists    with BENCH_LISTS_PRINTERS (10) live simulated printers: GET /api/v1/printers
#            with the session cookie and with an API key, GET /api/v1/users and the audit
#            log's first page (issue 21: >= 50 % of the floor for the printer list with p99
#            <= 5 ms, >= 30 % for the others).
#   printers N simulated X1C printers (a full report every second each) added to
#            the release server, with BENCH_SOCKETS dashboard sockets on
#            /api/v1/events: server CPU (fraction of one core, over warm-up and
#            measurement) and RSS, and the latency from the server receiving a
#            report to a socket delivering it (p50/p99) over BENCH_PRINTERS_SECONDS
#            after BENCH_PRINTERS_WARMUP seconds (when every socket is sent the
#            whole farm at once; the slowest snapshot is reported as
#            snapshot_ms_max), with the simulator's and the client's CPU.
#            N = BENCH_PRINTERS (default "100 1000": one run each; issue 21's goals are
#            measured with BENCH_PRINTERS="1000 5000"). Per-report instruction and allocation
#            counts, repeatable on a loaded machine: scripts/fanin_counts.sh.
#   archive  the archive list with BENCH_ARCHIVE_ENTRIES (100,000) entries over 10
#            printers, on SQLite and on PostgreSQL (BENCH_ARCHIVE_BACKENDS; PostgreSQL
#            at BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres: a
#            fresh database per run, dropped after). Seeded by SQL through sqlite3/psql
#            (bench only; never a route), then wrk -t1 -c2 over authenticated HTTPS per
#            query: first page, a page half-way down (cursor), one printer, one
#            outcome, text (1 % of rows match), a one-day date range, text that
#            matches nothing, text of 1 character (1 %) and of 2 (nothing: no
#            trigram, so a page searches at most 5,000 entries and says where it
#            stopped), common text (11 %); then as a user with only
#            archives:read_own scoped to 5 of the 10 printers: first page, text,
#            text matching nothing, 2 characters matching nothing (the window
#            counts only the reader's entries). Each query gets 2 s of unrecorded
#            warm-up before its 10 s. Goal p99 <= 20 ms.
#   dispatch the queue's dispatch decision (issue 16: goal p99 <= 10 ms) with
#            BENCH_DISPATCH_PRINTERS (1,000) printers and BENCH_DISPATCH_ITEMS (10,000)
#            queued items, on SQLite and on PostgreSQL (BENCH_DISPATCH_BACKENDS; a fresh
#            database per run at BENCH_PG_URL, dropped after). The schema comes from
#            target/release/examples/dispatch_bench --migrate (pw-app built with its
#            bench-only feature, never the server); the farm is seeded by SQL through
#            sqlite3/psql: 5 models over 20 locations (plus 10 printers of a sixth model
#            in a 21st location that nothing targets), items for one printer (15 %), a
#            model (60 %) or a location (25 %), priorities -1..2, 10 % "not before"
#            tomorrow, 5 % of lanes paused, 5 % of plates to clear (5 % more waived), 80 %
#            of printers on an active item (the paused lanes and plates fall on free
#            printers), 20,000 done items of history. Then the example runs the
#            dispatcher's own pass (every printer's live state and cached plate looked
#            at in the fleet, the free printer's row, plate and open archive entry read,
#            the claim query and its compare-and-set; the audit line is the start
#            task's) BENCH_DISPATCH_DECISIONS (2,000) times per
#            case, taking each claim back after: `typical` (a random free printer),
#            `nothing` (the worst case: a printer no item targets, so the claim looks
#            through the queue and concludes "nothing"), `claim-only` (the claim query
#            and its commit alone). p50/p99/max per case and backend.
#   upload   a BENCH_UPLOAD_MIB (500) MiB .gcode to POST /api/v1/library/files
#            (multipart, streamed by curl): server VmRSS before, sampled every
#            20 ms during, after, and VmHWM (reset before the upload through
#            /proc/PID/clear_refs). Goal: growth <= 32 MiB.
#   camera   one simulated X1C's camera (RTSPS H.264, 5 pictures/s, remuxed to fMP4 by the
#            server) watched by BENCH_CAMERA_VIEWERS (20) WebSocket clients on
#            /api/v1/printers/{id}/camera/ws (target/release/camera_latency, crate pw-bench):
#            server CPU (% of one core, /proc/PID/stat) over BENCH_CAMERA_SECONDS (20)
#            with the printer online and nobody watching, then with the viewers; and
#            per fragment the time from a reference RTSPS client of the bench's own
#            (straight at the simulator) having the picture to a viewer having the
#            fragment carrying it (pictures matched by their bytes; includes the
#            muxer's one-picture hold, 200 ms at 5 pictures/s), p50/p99/max, after
#            3 s of warm-up; and how often a viewer had to restart at a keyframe.
#   signin   sign-in latency per method on the release server (scripts/bench_signin.py):
#            password, password + TOTP, LDAP (OpenLDAP, scripts/peers/slapd.sh),
#            OpenID Connect (oidc-provider, scripts/peers/oidc-server.mjs; the whole
#            round trip and printwarden's two requests alone) and a passkey alone.
#            BENCH_SIGNIN_N (20) sign-ins each, BENCH_SIGNIN_TOTP (3) for TOTP (one code
#            per 30 s period).
#
# Knobs:
#   BENCH_DURATION=10s BENCH_CONNECTIONS=32 BENCH_THREADS=2   wrk settings
#   BENCH_NO_BUILD=1             don't run cargo build (use what is in target/release)
#   BENCH_SERVER_BIN=path        server binary (default target/release/printwarden)
#   BENCH_FLOOR_BIN=path         floor binary (default target/release/floor, crate pw-bench)
#   BENCH_PRINTERS="100 1000" BENCH_SOCKETS=50 BENCH_PRINTERS_SECONDS=20 BENCH_PRINTERS_WARMUP=5   printers
#   BENCH_ARCHIVE_ENTRIES=100000 BENCH_ARCHIVE_BACKENDS="sqlite postgres" BENCH_PG_URL=...
#   BENCH_ARCHIVE_CONNECTIONS=2 BENCH_ARCHIVE_DURATION=10s   archive
#   BENCH_UPLOAD_MIB=500                                     upload
#   BENCH_CAMERA_VIEWERS=20 BENCH_CAMERA_SECONDS=20 BENCH_CAMERA_BIN=path   camera
#   BENCH_DISPATCH_BACKENDS="sqlite postgres" BENCH_DISPATCH_DECISIONS=2000
#   BENCH_DISPATCH_PRINTERS=1000 BENCH_DISPATCH_ITEMS=10000   dispatch
#
# Adding a benchmark: write `bench_<name>` (start what it needs with start_bg,
# bound to 127.0.0.1; record numbers with add_row / add_note) and add <name>
# to BENCHES (and to NEEDS_SERVER_BIN / NEEDS_FLOOR_BIN if it needs them).
#
# Only loopback traffic; everything it starts is stopped by its recorded pid.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
LOG_TAG=bench.sh

BENCHES=(floor startup healthz authread lists printers archive upload dispatch signin camera)
NEEDS_SERVER_BIN=(startup healthz authread lists printers archive upload signin camera)
NEEDS_CAMERA_BIN=(camera)
NEEDS_FLOOR_BIN=(floor)
NEEDS_WS_BIN=(printers)
NEEDS_DISPATCH_BIN=(dispatch)

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
SERVER_BIN=${BENCH_SERVER_BIN:-$TARGET_DIR/release/printwarden}
FLOOR_BIN=${BENCH_FLOOR_BIN:-$TARGET_DIR/release/floor}
WS_BIN=$TARGET_DIR/release/ws_latency
DISPATCH_BIN=$TARGET_DIR/release/examples/dispatch_bench
CAMERA_BIN=${BENCH_CAMERA_BIN:-$TARGET_DIR/release/camera_latency}
LOG_DIR=$TARGET_DIR/bench-logs
mkdir -p "$LOG_DIR"

PROC_DIR=$(mktemp -d "${TMPDIR:-/tmp}/printwarden-bench.XXXXXX")
export PROC_DIR

on_exit() {
	local rc=$?
	stop_all_bg || true
	((${#PG_DROP[@]} == 0)) || drop_bench_databases || true
	rm -rf "$PROC_DIR"
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- results

declare -A RPS=() P50=() P99=() ROW_NOTE=()
ROWS=()
NOTES=()
ARCHIVE_ROWS=()
DISPATCH_ROWS=()
# PostgreSQL for the archive benchmark: an account that may create databases; each run creates
# its own and drops it after.
PG_ADMIN_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DROP=()
# Extra environment for the next start_server (e.g. PRINTWARDEN_DATABASE_URL).
SRV_EXTRA_ENV=()

# Appended to every row name while the base revision of `compare` runs.
ROW_SUFFIX=""
add_row() { # add_row TARGET RPS P50 P99 [NOTE]
	local t=$1$ROW_SUFFIX
	ROWS+=("$t")
	RPS[$t]=$2 P50[$t]=$3 P99[$t]=$4 ROW_NOTE[$t]=${5:-}
}
add_note() { NOTES+=("$*"); }

# ---------------------------------------------------------------- helpers

# new_data_dir: a fresh, private server data dir.
new_data_dir() { mktemp -d "$PROC_DIR/data.XXXXXX"; }

# start_server DATA_DIR HTTPS_PORT LOGNAME: starts the release server; sets SRV_PID.
start_server() {
	start_bg "server-$3" "$LOG_DIR/server-$3.log" env \
		PRINTWARDEN_DATA_DIR="$1" \
		PRINTWARDEN_BIND=127.0.0.1 \
		PRINTWARDEN_HTTPS_PORT="$2" \
		PRINTWARDEN_HTTP_PORT=0 \
		PRINTWARDEN_RATE_LIMITS=off \
		"${SRV_EXTRA_ENV[@]}" \
		"$SERVER_BIN" serve
	SRV_PID=$BG_PID
}

# start_server_ready DATA_DIR LOGNAME: starts it on a free port and waits for
# listening.json; sets SRV_PID and SRV_HTTPS (127.0.0.1:PORT).
start_server_ready() {
	rm -f "$1/listening.json"
	start_server "$1" 0 "$2"
	if ! wait_for_file "$1/listening.json" 20 "$SRV_PID"; then
		tail -n 30 "$LOG_DIR/server-$2.log" >&2 || true
		die "the server did not write $1/listening.json"
	fi
	sleep 0.05
	SRV_HTTPS=$(json_get "$1/listening.json" https)
	assert_loopback_only "$SRV_PID" || die "the server listens on a non-loopback address"
}

rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f MiB", k / 1024}'; }

# run_wrk TARGET URL [HEADER...]: runs wrk (each HEADER as -H), keeps its output in
# $LOG_DIR/wrk-TARGET.txt and adds a row.
run_wrk() {
	local target=$1 url=$2 out=$LOG_DIR/wrk-$1.txt rps p50 p99 non2xx errors note="" h
	local headers=()
	shift 2
	for h in "$@"; do headers+=(-H "$h"); done
	log "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency $url (${#headers[@]} header args, values not logged)"
	timeout 300 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${headers[@]}" "$url" >"$out" 2>&1 || {
		cat "$out" >&2
		die "wrk failed for $target"
	}
	sed 's/^/  /' "$out" >&2
	rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
	p50=$(awk '$1 == "50%" {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$out")
	errors=$(sed -n 's/^ *Socket errors: *//p' "$out")
	[[ -n $non2xx ]] && note+="non-2xx: $non2xx "
	[[ -n $errors ]] && note+="socket errors: $errors"
	add_row "$target" "${rps:-?}" "${p50:-?}" "${p99:-?}" "$note"
}

# ---------------------------------------------------------------- benchmarks

bench_startup() {
	local data t0 t1 port url i ok=0 ready_ms="" rss tcp_ms
	data=$(new_data_dir)

	# First start creates the CA, the server certificate and the database.
	t0=$(now_ms)
	start_server_ready "$data" startup-first
	t1=$(now_ms)
	add_note "first start (creates certificate + database): listening.json after $((t1 - t0)) ms"
	stop_bg "$SRV_PID" 5

	# Second start, everything present: exec -> first 200 on /healthz.
	port=$(free_port)
	url=https://127.0.0.1:$port/healthz
	rm -f "$data/listening.json"
	t0=$(now_ms)
	start_server "$data" "$port" startup-second
	# Cheap poll (no fork) until the port accepts, then curl until a 200.
	while ! true 2>/dev/null <"/dev/tcp/127.0.0.1/$port"; do
		pid_running "$SRV_PID" || break
		(($(now_ms) - t0 < 20000)) || break
	done
	tcp_ms=$(($(now_ms) - t0))
	for ((i = 0; i < 20000; i++)); do
		if curl -sf -o /dev/null --max-time 1 --cacert "$data/tls/ca.crt" "$url" 2>/dev/null; then
			ok=1
			break
		fi
		[[ -z $ready_ms && -s $data/listening.json ]] && ready_ms=$(($(now_ms) - t0))
		pid_running "$SRV_PID" || break
		(($(now_ms) - t0 < 20000)) || break
	done
	t1=$(now_ms)
	if ((!ok)); then
		tail -n 30 "$LOG_DIR/server-startup-second.log" >&2 || true
		die "no 200 from $url (with --cacert $data/tls/ca.crt) within 20 s of exec"
	fi
	add_note "cold start (2nd start, certificate present): first 200 /healthz after $((t1 - t0)) ms (exec to curl ok; port accepted TCP at $tcp_ms ms; $i failed curls${ready_ms:+; listening.json at $ready_ms ms})"

	sleep 2
	rss=$(rss_kib "$SRV_PID")
	add_note "idle RSS 2 s after start: $(mib "$rss") (VmRSS of pid $SRV_PID)"
	stop_bg "$SRV_PID" 5
}

bench_healthz() {
	local data rss
	data=$(new_data_dir)
	start_server_ready "$data" healthz
	# one request first, so the numbers don't include the first handshake/DB open
	curl -sf -o /dev/null --cacert "$data/tls/ca.crt" "https://$SRV_HTTPS/healthz" ||
		die "GET https://$SRV_HTTPS/healthz failed"
	run_wrk healthz "https://$SRV_HTTPS/healthz"
	rss=$(rss_kib "$SRV_PID")
	add_note "server RSS right after the healthz load: $(mib "$rss")"
	stop_bg "$SRV_PID" 5
}

bench_authread() {
	local data base ca code cookie key
	data=$(new_data_dir)
	start_server_ready "$data" authread
	base=https://$SRV_HTTPS
	ca=$data/tls/ca.crt
	code=$(tr -d '[:space:]' <"$data/setup-code")
	cookie=$(curl -sf --cacert "$ca" -o /dev/null -D - -H 'content-type: application/json' \
		-d "{\"setup_code\":\"$code\",\"username\":\"bench\",\"password\":\"bench password 1\"}" \
		"$base/api/v1/auth/setup" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n 1)
	[[ -n $cookie ]] || die "setup did not return a session cookie"
	# A cookie request that changes state needs our Origin (CSRF check), as from our own page.
	key=$(curl -sf --cacert "$ca" -H "cookie: $cookie" -H "origin: $base" -H 'content-type: application/json' \
		-d '{"name":"bench","scopes":["users:read"]}' "$base/api/v1/api-keys" |
		sed -n 's/.*"key":"\(pwk_[^"]*\)".*/\1/p')
	[[ -n $key ]] || die "could not create an API key"
	for path in /api/v1/auth/me /api/v1/users; do
		curl -sf -o /dev/null --cacert "$ca" -H "cookie: $cookie" "$base$path" || die "GET $path with the cookie failed"
		curl -sf -o /dev/null --cacert "$ca" -H "authorization: Bearer $key" "$base$path" || die "GET $path with the key failed"
	done
	run_wrk me-cookie "$base/api/v1/auth/me" "cookie: $cookie"
	run_wrk users-cookie "$base/api/v1/users" "cookie: $cookie"
	run_wrk me-key "$base/api/v1/auth/me" "authorization: Bearer $key"
	run_wrk users-key "$base/api/v1/users" "authorization: Bearer $key"
	stop_bg "$SRV_PID" 5
}

# The list reads of issue 21 with BENCH_LISTS_PRINTERS (10) live simulated printers: the printer
# list with the session cookie and with an API key, the user list and the audit log's first page.
bench_lists() {
	local n=${BENCH_LISTS_PRINTERS:-10} sim_dir sim data base ca code cookie key online i path
	sim_dir=$(mktemp -d "$PROC_DIR/sim.XXXXXX")
	start_bg "sim-lists" "$LOG_DIR/sim-lists.log" "$SERVER_BIN" simulate --count "$n" --models X1C \
		--job-seconds 100000 --state-dir "$sim_dir"
	sim=$BG_PID
	wait_for_file "$sim_dir/printers.json" 120 "$sim" || die "the simulator did not start $n printers"
	data=$(new_data_dir)
	start_server_ready "$data" lists
	base=https://$SRV_HTTPS
	ca=$data/tls/ca.crt
	code=$(tr -d '[:space:]' <"$data/setup-code")
	cookie=$(curl -sf --cacert "$ca" -o /dev/null -D - -H 'content-type: application/json' \
		-d "{\"setup_code\":\"$code\",\"username\":\"bench\",\"password\":\"bench password 1\"}" \
		"$base/api/v1/auth/setup" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n 1)
	[[ -n $cookie ]] || die "setup did not return a session cookie"
	key=$(curl -sf --cacert "$ca" -H "cookie: $cookie" -H "origin: $base" -H 'content-type: application/json' \
		-d '{"name":"bench","scopes":["printers:read","users:read","audit:read"]}' "$base/api/v1/api-keys" |
		sed -n 's/.*"key":"\(pwk_[^"]*\)".*/\1/p')
	[[ -n $key ]] || die "could not create an API key"
	PW_COOKIE=$cookie python3 scripts/bench_add_printers.py "$base" "$ca" "$sim_dir/printers.json"
	online=0
	for ((i = 0; i < 240; i++)); do
		online=$(curl -sf --cacert "$ca" -H "cookie: $cookie" "$base/api/v1/printers" |
			python3 -c 'import json, sys; print(sum(p["connection"] == "online" for p in json.load(sys.stdin)["items"]))')
		((online == n)) && break
		sleep 0.5
	done
	((online == n)) || die "only $online of $n printers came online"
	for path in /api/v1/printers /api/v1/users /api/v1/audit; do
		curl -sf -o /dev/null --cacert "$ca" -H "cookie: $cookie" "$base$path" || die "GET $path with the cookie failed"
	done
	run_wrk printers-cookie "$base/api/v1/printers" "cookie: $cookie"
	run_wrk printers-key "$base/api/v1/printers" "authorization: Bearer $key"
	run_wrk users-list "$base/api/v1/users" "cookie: $cookie"
	run_wrk audit-first-page "$base/api/v1/audit" "cookie: $cookie"
	stop_bg "$SRV_PID" 5
	stop_bg "$sim" 5
}

# The sign-in peers and the venv for the authenticator come from the test suite's helpers.
bench_signin() {
	local data port base code venv=$TARGET_DIR/venv-bench-signin line server=$SERVER_BIN
	# shellcheck source=scripts/lib/stages.sh
	source "$ROOT/scripts/lib/stages.sh"
	SERVER_BIN=$server # stages.sh starts it empty (it finds the test build's)
	# shellcheck source=scripts/lib/peers.sh
	source "$ROOT/scripts/lib/peers.sh"
	ensure_venv "$venv" cryptography==50.0.2 cffi==2.1.1 pycparser==3.12
	: >"$PROC_DIR/peer-env.sh"
	peer_ldap_start
	peer_oidc_start
	# shellcheck source=/dev/null
	source "$PROC_DIR/peer-env.sh"
	# The public URL is the passkeys' origin and the OIDC callback: a fixed port, localhost.
	data=$(new_data_dir)
	port=$(free_port)
	base=https://localhost:$port
	SRV_EXTRA_ENV=(PRINTWARDEN_PUBLIC_URL="$base")
	start_server "$data" "$port" signin
	SRV_EXTRA_ENV=()
	wait_for_file "$data/listening.json" 20 "$SRV_PID" || die "the server did not start (see $LOG_DIR/server-signin.log)"
	code=$(tr -d '[:space:]' <"$data/setup-code")
	"$venv/bin/python" "$ROOT/scripts/bench_signin.py" --base "$base" --ca "$data/tls/ca.crt" \
		--setup-code "$code" -n "${BENCH_SIGNIN_N:-20}" --totp-samples "${BENCH_SIGNIN_TOTP:-3}" >"$PROC_DIR/signin.txt" ||
		die "the sign-in benchmark failed (server log: $LOG_DIR/server-signin.log)"
	while read -r line; do
		log "$line"
		add_note "$line ms"
	done <"$PROC_DIR/signin.txt"
	stop_bg "$SRV_PID" 5
}

bench_floor() {
	local log=$LOG_DIR/floor.log addr="" i
	start_bg floor "$log" "$FLOOR_BIN"
	local pid=$BG_PID
	for ((i = 0; i < 400; i++)); do
		addr=$(sed -n 's/^LISTENING \(127\.0\.0\.1:[0-9][0-9]*\)$/\1/p' "$log" | head -n 1)
		[[ -n $addr ]] && break
		pid_running "$pid" || break
		sleep 0.05
	done
	if [[ -z $addr ]]; then
		cat "$log" >&2 || true
		die "$FLOOR_BIN did not print 'LISTENING 127.0.0.1:PORT' within 20 s"
	fi
	assert_loopback_only "$pid" || die "floor listens on a non-loopback address"
	run_wrk floor "https://$addr/"
	stop_bg "$pid" 5
}

# cpu_ticks PID: user + system clock ticks the process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

bench_printers() {
	local n
	for n in ${BENCH_PRINTERS:-100 1000}; do
		printers_run "$n"
	done
}

# printers_run N: one run of the printers benchmark.
printers_run() {
	local n=$1 sockets=${BENCH_SOCKETS:-50} seconds=${BENCH_PRINTERS_SECONDS:-20} warmup=${BENCH_PRINTERS_WARMUP:-5}
	local sim_dir sim data base ca code cookie online t0 t1 c0 c1 s0 s1 hz cpu client rss result i
	# 5,000 printers: the simulator holds several listeners and a connection per printer, the
	# server a connection each; the soft descriptor limit (often 1,024) would end the run.
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	sim_dir=$(mktemp -d "$PROC_DIR/sim.XXXXXX")
	start_bg "sim-$n" "$LOG_DIR/sim-$n.log" "$SERVER_BIN" simulate --count "$n" --models X1C \
		--job-seconds 100000 --state-dir "$sim_dir"
	sim=$BG_PID
	wait_for_file "$sim_dir/printers.json" 120 "$sim" || die "the simulator did not start $n printers"
	data=$(new_data_dir)
	start_server_ready "$data" "printers-$n"
	base=https://$SRV_HTTPS
	ca=$data/tls/ca.crt
	code=$(tr -d '[:space:]' <"$data/setup-code")
	cookie=$(curl -sf --cacert "$ca" -o /dev/null -D - -H 'content-type: application/json' \
		-d "{\"setup_code\":\"$code\",\"username\":\"bench\",\"password\":\"bench password 1\"}" \
		"$base/api/v1/auth/setup" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n 1)
	[[ -n $cookie ]] || die "setup did not return a session cookie"
	log "adding $n printers"
	PW_COOKIE=$cookie python3 scripts/bench_add_printers.py "$base" "$ca" "$sim_dir/printers.json"
	for ((i = 0; i < 600; i++)); do
		online=$(curl -sf --cacert "$ca" -H "cookie: $cookie" "$base/api/v1/printers" |
			python3 -c 'import json, sys; print(sum(p["connection"] == "online" for p in json.load(sys.stdin)["items"]))')
		((online == n)) && break
		sleep 0.5
	done
	((online == n)) || die "only $online of $n printers came online"
	sleep 3
	hz=$(getconf CLK_TCK)
	c0=$(cpu_ticks "$SRV_PID")
	s0=$(cpu_ticks "$sim")
	t0=$(now_ms)
	# The client's own CPU (user + system seconds) tells whether the machine, shared by
	# server, simulator and client, was saturated: then latency tails belong to the rig.
	result=$(PW_COOKIE=$cookie /usr/bin/time -f '%U %S' -o "$PROC_DIR/client-time" \
		"$WS_BIN" "$base" "$ca" "$sockets" "$seconds" "$warmup")
	t1=$(now_ms)
	c1=$(cpu_ticks "$SRV_PID")
	s1=$(cpu_ticks "$sim")
	rss=$(rss_kib "$SRV_PID")
	percent() { awk -v c="$1" -v hz="$hz" -v ms="$((t1 - t0))" 'BEGIN { printf "%.1f %%", 100 * c / hz / (ms / 1000) }'; }
	cpu=$(percent "$((c1 - c0))")
	client=$(awk -v ms="$((t1 - t0))" '{ printf "%.1f %%", 100 * ($1 + $2) / (ms / 1000) }' "$PROC_DIR/client-time")
	add_note "printers N=$n, $sockets sockets, ${seconds}s after ${warmup}s of warm-up: server CPU $cpu of one core, RSS $(mib "$rss"), socket deliveries and report->socket latency $result (simulator $(percent "$((s1 - s0))"), client $client, on $(nproc) cores)"
	stop_bg "$SRV_PID" 5
	stop_bg "$sim" 5
}

bench_camera() {
	local viewers=${BENCH_CAMERA_VIEWERS:-20} seconds=${BENCH_CAMERA_SECONDS:-20}
	local sim_dir sim data base ca code cookie id online i hz t0 t1 c0 c1 idle busy result client
	sim_dir=$(mktemp -d "$PROC_DIR/sim.XXXXXX")
	start_bg sim-camera "$LOG_DIR/sim-camera.log" "$SERVER_BIN" simulate --count 1 --models X1C \
		--job-seconds 100000 --state-dir "$sim_dir"
	sim=$BG_PID
	wait_for_file "$sim_dir/printers.json" 60 "$sim" || die "the simulator did not start"
	data=$(new_data_dir)
	start_server_ready "$data" camera
	base=https://$SRV_HTTPS
	ca=$data/tls/ca.crt
	code=$(tr -d '[:space:]' <"$data/setup-code")
	cookie=$(curl -sf --cacert "$ca" -o /dev/null -D - -H 'content-type: application/json' \
		-d "{\"setup_code\":\"$code\",\"username\":\"bench\",\"password\":\"bench password 1\"}" \
		"$base/api/v1/auth/setup" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n 1)
	[[ -n $cookie ]] || die "setup did not return a session cookie"
	PW_COOKIE=$cookie python3 scripts/bench_add_printers.py "$base" "$ca" "$sim_dir/printers.json"
	for ((i = 0; i < 120; i++)); do
		online=$(curl -sf --cacert "$ca" -H "cookie: $cookie" "$base/api/v1/printers" |
			python3 -c 'import json, sys; ps = json.load(sys.stdin)["items"]; print(ps[0]["id"] if ps and ps[0]["connection"] == "online" else "")')
		[[ -n $online ]] && break
		sleep 0.5
	done
	[[ -n $online ]] || die "the X1C did not come online"
	id=$online
	hz=$(getconf CLK_TCK)
	percent() { awk -v c="$1" -v hz="$hz" -v ms="$2" 'BEGIN { printf "%.1f %%", 100 * c / hz / (ms / 1000) }'; }
	# The baseline: the printer online (a full report every second), nobody watching.
	sleep 2
	c0=$(cpu_ticks "$SRV_PID")
	t0=$(now_ms)
	sleep "$seconds"
	idle=$(percent "$(($(cpu_ticks "$SRV_PID") - c0))" "$(($(now_ms) - t0))")
	log "camera: $viewers viewers for ${seconds}s (+3 s warm-up)"
	c0=$(cpu_ticks "$SRV_PID")
	t0=$(now_ms)
	result=$(PW_COOKIE=$cookie /usr/bin/time -f '%U %S' -o "$PROC_DIR/camera-client-time" \
		"$CAMERA_BIN" "$base" "$ca" "$id" "$viewers" "$seconds" "$sim_dir/printers.json" 3)
	t1=$(now_ms)
	c1=$(cpu_ticks "$SRV_PID")
	busy=$(percent "$((c1 - c0))" "$((t1 - t0))")
	client=$(awk -v ms="$((t1 - t0))" '{ printf "%.1f %%", 100 * ($1 + $2) / (ms / 1000) }' "$PROC_DIR/camera-client-time")
	add_note "camera: one X1C (5 pictures/s) to $viewers viewers: server CPU $busy of one core (printer online, nobody watching: $idle), RSS $(mib "$(rss_kib "$SRV_PID")"); picture at a direct RTSPS client -> fragment at a viewer $result (client $client, on $(nproc) cores)"
	stop_bg "$SRV_PID" 5
	stop_bg "$sim" 5
}

# ---------------------------------------------------------------- farm content

# setup_session DATA BASE: runs first-time setup through the API; sets COOKIE.
setup_session() {
	local code
	code=$(tr -d '[:space:]' <"$1/setup-code")
	COOKIE=$(curl -sf --cacert "$1/tls/ca.crt" -o /dev/null -D - -H 'content-type: application/json' \
		-d "{\"setup_code\":\"$code\",\"username\":\"bench\",\"password\":\"bench password 1\"}" \
		"$2/api/v1/auth/setup" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n 1)
	[[ -n $COOKIE ]] || die "setup did not return a session cookie"
}

# latency_ms "3.21ms" -> 3.21 (wrk prints us, ms or s).
latency_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
		printf "%.2f", n }'
}

# The archive seed: ARCHIVE_ENTRIES entries over ARCHIVE_PRINTERS printers, one every minute back
# from NOW_MS; 10 % failed, 10 % cancelled; 1 % named benchy-* (the text filter's hits: half of
# them the reader's, half nobody's); a quarter started by the bench user, a quarter by the
# reader, half elsewhere. Plain SQL run by the database's own client while the server is
# idle: a bench-only bulk path, never a route. $1 is the row-number expression.
archive_seed_select() {
	local i=$1
	cat <<SQL
SELECT (SELECT MIN(id) FROM printers) + ($i % $ARCHIVE_PRINTERS),
       'Bench X1C ' || ($i % $ARCHIVE_PRINTERS),
       CASE WHEN $i % 200 IN (2, 7) THEN 'benchy-' || $i || '.gcode.3mf' ELSE 'part-' || ($i % 997) || '.gcode.3mf' END,
       1, 'bench:' || $i,
       CASE WHEN $i % 2 = 0 THEN 'printwarden' ELSE 'elsewhere' END,
       CASE $i % 4 WHEN 0 THEN (SELECT MIN(id) FROM users) WHEN 2 THEN (SELECT MAX(id) FROM users) ELSE NULL END,
       CASE $i % 4 WHEN 0 THEN 'bench' WHEN 2 THEN 'reader' ELSE NULL END,
       $NOW_MS - $i * 60000, $NOW_MS - $i * 60000 + 3000000, 3000,
       CASE $i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'cancelled' ELSE 'finished' END,
       CASE WHEN $i % 10 = 0 THEN 'The nozzle is clogged.' ELSE NULL END,
       '[{"slot":"AMS 1 tray 1","type":"PLA","color":"FF8000FF","grams":12.5}]',
       CASE WHEN $i % 50 = 3 THEN 'reprinted with more infill' ELSE '' END,
       '[]', $NOW_MS - $i * 60000
SQL
}
ARCHIVE_COLUMNS="printer_id, printer_name, file_name, plate, job_key, source, started_by, started_by_name, \
started_at, ended_at, duration_s, outcome, error, filaments, notes, tags, created_at"

# archive_sql BACKEND SQL: runs SQL against the run's database, prints the rows (|-separated).
archive_sql() {
	case $1 in
	sqlite) sqlite3 -batch -cmd '.timeout 30000' "$ARCHIVE_DATA/printwarden.db" "$2" ;;
	postgres) psql -X -q -A -t -v ON_ERROR_STOP=1 "$ARCHIVE_PG_DB_URL" -c "$2" ;;
	esac
}

bench_archive() {
	local b
	for b in ${BENCH_ARCHIVE_BACKENDS:-sqlite postgres}; do
		archive_run "$b"
	done
}

# archive_run BACKEND: 100,000 entries (BENCH_ARCHIVE_ENTRIES) in a fresh database, then wrk
# per query over authenticated HTTPS on the release server.
archive_run() {
	local backend=$1 base ca i t0 ids printer row cursor since until path name q rest
	ARCHIVE_ENTRIES=${BENCH_ARCHIVE_ENTRIES:-100000}
	ARCHIVE_PRINTERS=10
	ARCHIVE_DATA=$(new_data_dir)
	SRV_EXTRA_ENV=()
	if [[ $backend == postgres ]]; then
		ARCHIVE_PG_DB=pw_bench_$$_$RANDOM
		psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "CREATE DATABASE $ARCHIVE_PG_DB" ||
			die "could not create database $ARCHIVE_PG_DB at $PG_ADMIN_URL"
		PG_DROP+=("$ARCHIVE_PG_DB")
		ARCHIVE_PG_DB_URL=${PG_ADMIN_URL%/*}/$ARCHIVE_PG_DB
		SRV_EXTRA_ENV=(PRINTWARDEN_DATABASE_URL="$ARCHIVE_PG_DB_URL")
	fi
	start_server_ready "$ARCHIVE_DATA" "archive-$backend"
	SRV_EXTRA_ENV=()
	base=https://$SRV_HTTPS
	ca=$ARCHIVE_DATA/tls/ca.crt
	setup_session "$ARCHIVE_DATA" "$base"
	# Printers on closed loopback ports: they stay offline (the list only joins their rows).
	for ((i = 1; i <= ARCHIVE_PRINTERS; i++)); do
		curl -sf -o /dev/null --cacert "$ca" -H "cookie: $COOKIE" -H "origin: $base" -H 'content-type: application/json' \
			-d "{\"name\":\"Bench X1C $i\",\"serial\":\"BENCH$(printf '%04d' "$i")\",\"host\":\"127.0.0.1\",\"mqtt_port\":9,\"ftps_port\":9,\"camera_port\":9,\"access_code\":\"12345678\",\"model\":\"X1C\"}" \
			"$base/api/v1/printers" || die "adding printer $i failed"
	done
	# The reader: archives:read_own on the first 5 printers only (the visibility filter at work;
	# the bench user is an administrator, who sees everything).
	local scope gid
	scope=$(archive_sql "$backend" "SELECT id FROM printers ORDER BY id LIMIT 5" | paste -sd, -)
	gid=$(curl -sf --cacert "$ca" -H "cookie: $COOKIE" -H "origin: $base" -H 'content-type: application/json' \
		-d "{\"name\":\"Bench readers\",\"permissions\":[\"archives:read_own\"],\"scope\":{\"locations\":[],\"printers\":[$scope]}}" \
		"$base/api/v1/groups" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') ||
		die "adding the readers' group failed"
	curl -sf -o /dev/null --cacert "$ca" -H "cookie: $COOKIE" -H "origin: $base" -H 'content-type: application/json' \
		-d "{\"username\":\"reader\",\"password\":\"reader password 1\",\"group_ids\":[$gid]}" \
		"$base/api/v1/users" || die "adding the reader failed"
	READER_COOKIE=$(curl -sf --cacert "$ca" -o /dev/null -D - -H "origin: $base" -H 'content-type: application/json' \
		-d '{"username":"reader","password":"reader password 1"}' \
		"$base/api/v1/auth/login" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n 1)
	[[ -n $READER_COOKIE ]] || die "the reader's login did not return a session cookie"
	NOW_MS=$(now_ms)
	t0=$(now_ms)
	case $backend in
	sqlite)
		archive_sql sqlite "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ARCHIVE_ENTRIES)
			INSERT INTO archives ($ARCHIVE_COLUMNS) $(archive_seed_select i) FROM n; COMMIT;" >/dev/null
		;;
	postgres)
		archive_sql postgres "INSERT INTO archives ($ARCHIVE_COLUMNS) $(archive_seed_select i) FROM generate_series(1::bigint, $ARCHIVE_ENTRIES) AS n(i);" >/dev/null
		# What autovacuum does within a minute of a bulk insert (its insert threshold), done
		# before measuring rather than during it: statistics, and the visibility map that lets
		# the key-index walks stay in the index (they read every row's page without it). In
		# service, entries arrive a few at a time and autovacuum keeps both current.
		archive_sql postgres "VACUUM (ANALYZE) archives;" >/dev/null
		;;
	esac
	add_note "archive $backend: seeded $(archive_sql "$backend" 'SELECT COUNT(*) FROM archives') entries in $(($(now_ms) - t0)) ms (SQL through the database's own client; the server idle)"

	# The queries: first page, a page half-way down (cursor of row ENTRIES/2), one printer,
	# one outcome, text (1 % of rows match), a one-day range half-way back, and text that
	# matches nothing (the most a search reads: every row for 3+ characters without an index,
	# the 5,000-entry window for 1–2 characters).
	row=$(archive_sql "$backend" "SELECT id, started_at FROM archives ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET $((ARCHIVE_ENTRIES / 2))")
	cursor=$(printf 'r1:%s:%s' "${row%%|*}" "${row##*|}" | base64 -w0 | tr '+/' '-_' | tr -d '=')
	printer=$(archive_sql "$backend" "SELECT MIN(id) + 3 FROM printers")
	# One day (1,440 entries) starting half-way back.
	since=$(date -u -d "@$((NOW_MS / 1000 - ARCHIVE_ENTRIES * 60 / 2))" +%Y-%m-%dT%H:%M:%SZ)
	until=$(date -u -d "@$((NOW_MS / 1000 - ARCHIVE_ENTRIES * 60 / 2 + 86400))" +%Y-%m-%dT%H:%M:%SZ)
	local cookie
	for q in "first|" "deep|cursor=$cursor" "printer|printer_id=$printer" "outcome|outcome=failed" \
		"text|q=benchy" "range|since=$since&until=$until" "text-none|q=nothing-matches-this" \
		"text-1char|q=y" "text-2char-none|q=zq" "text-common|q=part-9" \
		"reader-first|" "reader-text|q=benchy" "reader-text-none|q=nothing-matches-this" \
		"reader-text-2char-none|q=zq"; do
		name=${q%%|*}
		rest=${q#*|}
		path=/api/v1/archives${rest:+?$rest}
		cookie=$COOKIE
		[[ $name != reader-* ]] || cookie=$READER_COOKIE
		curl -sf -o "$PROC_DIR/archive-page.json" --cacert "$ca" -H "cookie: $cookie" "$base$path" ||
			die "GET $path failed"
		ids=$(python3 -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))' <"$PROC_DIR/archive-page.json")
		log "archive $backend $name: $path answers $ids entries"
		ARCHIVE_ROWS+=("archive-$backend-$name")
		# Two unrecorded seconds first, the same for every case: the server's pool opens its
		# database connections on demand, and a connection's first statements fill its caches
		# (PostgreSQL: catalog and plan caches per backend), which only the first case paid.
		timeout 60 wrk -t1 -c"${BENCH_ARCHIVE_CONNECTIONS:-2}" -d2s -H "cookie: $cookie" "$base$path" >/dev/null 2>&1 ||
			die "the warm-up of $name failed"
		THREADS=1 CONNECTIONS=${BENCH_ARCHIVE_CONNECTIONS:-2} DURATION=${BENCH_ARCHIVE_DURATION:-10s} \
			run_wrk "archive-$backend-$name" "$base$path" "cookie: $cookie"
	done
	stop_bg "$SRV_PID" 5
	if [[ $backend == postgres ]]; then
		drop_bench_databases
	fi
}

# drop_bench_databases: drops the databases this run created (also on exit).
drop_bench_databases() {
	local db
	for db in "${PG_DROP[@]}"; do
		psql -X -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
			warn "could not drop database $db"
	done
	PG_DROP=()
}

# ---------------------------------------------------------------- dispatch

# The printer models of the dispatch seed, by a row number's last digit (3 X1C, 3 P1S, 2 A1,
# 1 X1E, 1 P1P in 10): for printers and for the items that target a model alike.
dispatch_model() {
	echo "CASE ($1) % 10 WHEN 0 THEN 'X1C' WHEN 1 THEN 'X1C' WHEN 2 THEN 'X1C' WHEN 3 THEN 'P1S' \
WHEN 4 THEN 'P1S' WHEN 5 THEN 'P1S' WHEN 6 THEN 'A1' WHEN 7 THEN 'A1' WHEN 8 THEN 'X1E' ELSE 'P1P' END"
}

# dispatch_sql BACKEND SQL: runs SQL against the run's database, prints the rows.
dispatch_sql() {
	case $1 in
	sqlite) sqlite3 -batch -cmd '.timeout 30000' "$DISPATCH_DATA/printwarden.db" "$2" ;;
	postgres) psql -X -q -A -t -v ON_ERROR_STOP=1 "$DISPATCH_PG_DB_URL" -c "$2" ;;
	esac
}

# dispatch_rows BACKEND COUNT COLUMNS SELECT: inserts COUNT rows of SELECT (in which i is the
# row number, 1-based) into the table and columns COLUMNS ("table (a, b)").
dispatch_rows() {
	case $1 in
	sqlite) dispatch_sql sqlite "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
			INSERT INTO $3 $4 FROM n; COMMIT;" >/dev/null ;;
	postgres) dispatch_sql postgres "INSERT INTO $3 $4 FROM generate_series(1::bigint, $2) AS n(i)" >/dev/null ;;
	esac
}

# dispatch_seed BACKEND: the farm (see the header). Plain SQL run by the database's own client
# before the bench opens it: a bench-only bulk path, never a route.
dispatch_seed() {
	local b=$1 p=$DISPATCH_PRINTERS normal=$((DISPATCH_PRINTERS - 10)) now=$NOW_MS
	local sha=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	local minp='(SELECT MIN(id) FROM printers)' minl='(SELECT MIN(id) FROM locations)'
	local options='{"bed_levelling":true,"flow_calibration":false,"timelapse":false,"use_ams":true}'
	local cols="queue_items (file_sha256, file_name, plate, target_kind, target_printer_id, \
target_model, target_location_id, copies, copies_done, priority, position, not_before, options, \
state, created_by_name, printer_id, attempts, claimed_at, created_at, updated_at, ended_at)"
	# An item's target by its row number: 15 % one printer, 60 % a model, 25 % a location.
	local kind="(i * 37) % 100"
	local target="CASE WHEN $kind < 15 THEN 'printer' WHEN $kind < 75 THEN 'model' ELSE 'location' END,
		CASE WHEN $kind < 15 THEN $minp + (i * 7919) % $normal ELSE NULL END,
		CASE WHEN $kind >= 15 AND $kind < 75 THEN $(dispatch_model 'i * 13') ELSE NULL END,
		CASE WHEN $kind >= 75 THEN $minl + (i * 11) % 20 ELSE NULL END"
	dispatch_rows "$b" 21 "locations (name, name_key, description, created_at, updated_at)" \
		"SELECT 'Hall ' || i, 'hall ' || i, '', $now, $now"
	dispatch_rows "$b" "$p" "printers (name, serial, host, mqtt_port, ftps_port, camera_port, model, \
location_id, access_code, created_at, updated_at)" \
		"SELECT 'Bench ' || i, 'BENCH' || i, '127.0.0.1', 9, 9, 9,
			CASE WHEN i > $normal THEN 'H2D' ELSE $(dispatch_model i) END,
			CASE WHEN i > $normal THEN (SELECT MAX(id) FROM locations) WHEN i % 50 = 0 THEN NULL
			     ELSE $minl + (i * 7) % 20 END,
			'bench: not a sealed code', $now, $now"
	# History: done items, each run by some printer.
	dispatch_rows "$b" 20000 "$cols" \
		"SELECT '$sha', 'part-' || (i % 997) || '.gcode.3mf', 1, $target, 1, 1, 0, i, NULL, '$options',
			'done', 'bench', $minp + i % $normal, 1, NULL, $now - i * 60000, $now - i * 60000 + 3000000,
			$now - i * 60000 + 3000000"
	# The queue: DISPATCH_ITEMS queued items.
	dispatch_rows "$b" "$DISPATCH_ITEMS" "$cols" \
		"SELECT '$sha', 'part-' || (i % 997) || '.gcode.3mf', 1, $target, 1 + i % 3, 0,
			CASE i % 20 WHEN 0 THEN 2 WHEN 9 THEN 1 WHEN 13 THEN -1 ELSE 0 END, 20000 + i,
			CASE i % 10 WHEN 3 THEN $now + 86400000 WHEN 4 THEN $now - 3600000 ELSE NULL END, '$options',
			'queued', 'bench', NULL, 0, NULL, $now - 600000 + i, $now - 600000 + i, NULL"
	# 80 % of the printers (not the ones nothing targets) on an active item of their own.
	dispatch_rows "$b" "$normal" "$cols" \
		"SELECT '$sha', 'part-' || (i % 997) || '.gcode.3mf', 1, 'printer', $minp + i - 1, NULL, NULL, 1, 0, 0,
			40000 + i, NULL, '$options', 'printing', 'bench', $minp + i - 1, 1, $now - 600000,
			$now - 600000, $now - 600000, NULL"
	# The free printers are those with (id - min) % 5 = 0; the paused lanes (% 20 = 5), the plates
	# to clear (% 20 = 10) and the plates to clear under a waiver (% 20 = 15) are among them, so
	# `typical` meets each of those paths (other residues would only ever hit busy printers).
	dispatch_sql "$b" "DELETE FROM queue_items WHERE state = 'printing' AND (printer_id - $minp) % 5 = 0" >/dev/null
	dispatch_sql "$b" "INSERT INTO queue_pauses (scope_key, printer_id, paused_by_name, paused_at)
		SELECT 'printer:' || id, id, 'bench', $now FROM printers WHERE (id - $minp) % 20 = 5 AND model <> 'H2D'" >/dev/null
	dispatch_sql "$b" "INSERT INTO printer_plates (printer_id, needs_clearing, waived, updated_at)
		SELECT id, 1, CASE WHEN (id - $minp) % 20 = 15 THEN 1 ELSE 0 END, $now
		FROM printers WHERE (id - $minp) % 20 IN (10, 15) AND model <> 'H2D'" >/dev/null
	[[ $b != postgres ]] || dispatch_sql postgres "ANALYZE" >/dev/null
}

bench_dispatch() {
	local b
	for b in ${BENCH_DISPATCH_BACKENDS:-sqlite postgres}; do
		dispatch_run "$b"
	done
}

# dispatch_run BACKEND: a fresh database, seeded, then the example's measurements.
dispatch_run() {
	local backend=$1 url t0 out line name n claimed p50 p99 max
	DISPATCH_PRINTERS=${BENCH_DISPATCH_PRINTERS:-1000}
	DISPATCH_ITEMS=${BENCH_DISPATCH_ITEMS:-10000}
	DISPATCH_DATA=$(new_data_dir)
	if [[ $backend == postgres ]]; then
		DISPATCH_PG_DB=pw_bench_$$_$RANDOM
		psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "CREATE DATABASE $DISPATCH_PG_DB" ||
			die "could not create database $DISPATCH_PG_DB at $PG_ADMIN_URL"
		PG_DROP+=("$DISPATCH_PG_DB")
		DISPATCH_PG_DB_URL=${PG_ADMIN_URL%/*}/$DISPATCH_PG_DB
		url=$DISPATCH_PG_DB_URL
	else
		url="sqlite://$DISPATCH_DATA/printwarden.db?mode=rwc"
	fi
	"$DISPATCH_BIN" --migrate "$url" || die "dispatch_bench --migrate failed on $backend"
	NOW_MS=$(now_ms)
	t0=$(now_ms)
	dispatch_seed "$backend"
	add_note "dispatch $backend: seeded $(dispatch_sql "$backend" 'SELECT COUNT(*) FROM printers') printers and $(dispatch_sql "$backend" "SELECT COUNT(*) FROM queue_items WHERE state = 'queued'") queued items in $(($(now_ms) - t0)) ms (SQL through the database's own client)"
	out=$LOG_DIR/dispatch-$backend.txt
	"$DISPATCH_BIN" "$url" "${BENCH_DISPATCH_DECISIONS:-2000}" >"$out" 2>&1 || {
		cat "$out" >&2
		die "dispatch_bench failed on $backend"
	}
	sed 's/^/  /' "$out" >&2
	while read -r line; do
		[[ $line == RESULT* ]] || continue
		read -r _ name n claimed p50 p99 max <<<"$line"
		name=dispatch-$backend-$name
		DISPATCH_ROWS+=("$name")
		add_row "$name" - "${p50#p50_ms=}ms" "${p99#p99_ms=}ms" "${n#n=} decisions, ${claimed#claimed=} claimed, max ${max#max_ms=} ms"
	done <"$out"
	if [[ $backend == postgres ]]; then
		drop_bench_databases
	fi
}

# status_kib PID FIELD: a field of /proc/PID/status in KiB (VmRSS, VmHWM).
status_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

bench_upload() {
	local data base ca mib_size=${BENCH_UPLOAD_MIB:-500} file before hwm_before peak=0 rss after hwm t0 t1 status sampler
	data=$(new_data_dir)
	start_server_ready "$data" upload
	base=https://$SRV_HTTPS
	ca=$data/tls/ca.crt
	setup_session "$data" "$base"
	# A valid G-code file of the size asked: a header, then moves (never all in memory here).
	file=$PROC_DIR/upload.gcode
	{
		printf '; generated by PrusaSlicer 2.7.1\n; estimated printing time (normal mode) = 1h 2m 3s\nG28\n'
		(yes 'G1 X10.123 Y20.456 E0.01234' || true) | head -c "$((mib_size * 1024 * 1024 - 100))"
	} >"$file"
	upload_once() { # upload_once FILE NAME: prints the HTTP status
		curl -s -o "$PROC_DIR/upload-answer.json" -w '%{http_code}' --cacert "$ca" -H "cookie: $COOKIE" \
			-H "origin: $base" -F "file=@$1;filename=$2" "$base/api/v1/library/files"
	}
	# Warm-up: a 1 MiB upload, so buffers and pools that live for the process are counted before.
	head -c 1048576 "$file" >"$PROC_DIR/warm.gcode"
	[[ $(upload_once "$PROC_DIR/warm.gcode" warm.gcode) == 201 ]] || die "the warm-up upload failed: $(cat "$PROC_DIR/upload-answer.json")"
	sleep 1
	before=$(status_kib "$SRV_PID" VmRSS)
	hwm_before=$(status_kib "$SRV_PID" VmHWM)
	# Reset the peak (VmHWM) so it shows the upload's own peak (proc(5): clear_refs 5).
	echo 5 >"/proc/$SRV_PID/clear_refs" 2>/dev/null || warn "could not reset VmHWM; it includes the start"
	(
		while true; do
			status_kib "$SRV_PID" VmRSS
			sleep 0.02
		done
	) >"$PROC_DIR/rss-samples" &
	sampler=$!
	t0=$(now_ms)
	status=$(upload_once "$file" big.gcode)
	t1=$(now_ms)
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	[[ $status == 201 ]] || die "the ${mib_size} MiB upload answered $status: $(cat "$PROC_DIR/upload-answer.json")"
	peak=$(sort -n "$PROC_DIR/rss-samples" | tail -n 1)
	after=$(status_kib "$SRV_PID" VmRSS)
	hwm=$(status_kib "$SRV_PID" VmHWM)
	rm -f "$file"
	UPLOAD_GROWTH_KIB=$((hwm > peak ? hwm - before : peak - before))
	add_note "upload ${mib_size} MiB .gcode (multipart, streamed) in $((t1 - t0)) ms ($(awk -v m="$mib_size" -v ms="$((t1 - t0))" 'BEGIN{printf "%.0f", m / (ms / 1000)}') MiB/s): server VmRSS before $(mib "$before"), peak sampled every 20 ms $(mib "$peak"), after $(mib "$after"); VmHWM during the upload $(mib "$hwm") (before: $(mib "$hwm_before")); growth $(mib "$UPLOAD_GROWTH_KIB") (goal <= 32 MiB: $( ((UPLOAD_GROWTH_KIB <= 32768)) && echo ok || echo MISSED))"
	stop_bg "$SRV_PID" 5
}

# ---------------------------------------------------------------- main

in_list() { # in_list WORD LIST...
	local w=$1
	shift
	[[ " $* " == *" $w "* ]]
}

usage() {
	sed -n '3,/^$/{s/^# \{0,1\}//;p}' "$0"
}

SELECTED=()
COMPARE_REV=""
if [[ ${1:-} == compare ]]; then
	[[ -n ${2:-} ]] || die "usage: scripts/bench.sh compare BASE_REV [benchmarks]"
	COMPARE_REV=$2
	shift 2
fi
for arg in "$@"; do
	case $arg in
	all) SELECTED=("${BENCHES[@]}") ;;
	list)
		printf '%s\n' "${BENCHES[@]}"
		exit 0
		;;
	-h | --help | help)
		usage
		exit 0
		;;
	*)
		in_list "$arg" "${BENCHES[@]}" || die "unknown benchmark '$arg' (known: ${BENCHES[*]}; or all, list)"
		SELECTED+=("$arg")
		;;
	esac
done
((${#SELECTED[@]})) || SELECTED=("${BENCHES[@]}")

ensure_apt wrk:wrk curl:curl time:/usr/bin/time
if in_list archive "${SELECTED[@]}" || in_list dispatch "${SELECTED[@]}"; then
	ensure_apt sqlite3:sqlite3 postgresql-client:psql
fi

# The server is built exactly as shipped (`cargo build --release` builds only it). The floor and
# the socket client live in their own crate (pw-bench) and are built by a second cargo run:
# building them as the server's examples pulled its dev-dependencies into the feature
# resolution and rebuilt the whole workspace into a server binary that differed from the
# shipped one.
need_server=0 bench_bins=()
for b in "${SELECTED[@]}"; do
	if in_list "$b" "${NEEDS_SERVER_BIN[@]}" && [[ -z ${BENCH_SERVER_BIN:-} ]]; then need_server=1; fi
	if in_list "$b" "${NEEDS_FLOOR_BIN[@]}" && [[ -z ${BENCH_FLOOR_BIN:-} ]] && ! in_list floor "${bench_bins[@]}"; then
		bench_bins+=(--bin floor)
	fi
	if in_list "$b" "${NEEDS_WS_BIN[@]}" && ! in_list ws_latency "${bench_bins[@]}"; then
		bench_bins+=(--bin ws_latency)
	fi
	if in_list "$b" "${NEEDS_CAMERA_BIN[@]}" && [[ -z ${BENCH_CAMERA_BIN:-} ]] && ! in_list camera_latency "${bench_bins[@]}"; then
		bench_bins+=(--bin camera_latency)
	fi
done
if [[ ${BENCH_NO_BUILD:-} != 1 ]]; then
	if ((need_server)); then
		log "cargo build --release -p printwarden --bin printwarden"
		cargo build --release -p printwarden --bin printwarden
	fi
	if ((${#bench_bins[@]})); then
		log "cargo build --release -p pw-bench ${bench_bins[*]}"
		cargo build --release -p pw-bench "${bench_bins[@]}"
	fi
fi
# compare: the base revision's server, built in its own worktree and target dir (so neither
# build disturbs the other's artifacts).
BASE_SERVER_BIN=""
if [[ -n $COMPARE_REV ]]; then
	base_rev=$(git rev-parse --verify "$COMPARE_REV^{commit}") || die "unknown revision $COMPARE_REV"
	base_tree=${BENCH_COMPARE_DIR:-$TARGET_DIR/compare-$base_rev}
	if [[ ! -d $base_tree/src ]]; then
		rm -rf "$base_tree"
		git worktree add --detach "$base_tree/src" "$base_rev" >&2
	fi
	log "building the base revision ${base_rev:0:12} in $base_tree"
	(cd "$base_tree/src" && CARGO_TARGET_DIR=$base_tree/target cargo build --release -p printwarden --bin printwarden)
	BASE_SERVER_BIN=$base_tree/target/release/printwarden
	[[ -x $BASE_SERVER_BIN ]] || die "no base server binary at $BASE_SERVER_BIN"
fi
# The dispatch bench needs pw-app's bench-only feature: a build of its own, so the feature never
# reaches the server binary.
for b in "${SELECTED[@]}"; do
	if in_list "$b" "${NEEDS_DISPATCH_BIN[@]}" && [[ ${BENCH_NO_BUILD:-} != 1 ]]; then
		log "cargo build --release -p pw-app --features bench --example dispatch_bench"
		cargo build --release -p pw-app --features bench --example dispatch_bench
		break
	fi
done

for b in "${SELECTED[@]}"; do
	if in_list "$b" "${NEEDS_SERVER_BIN[@]}"; then [[ -x $SERVER_BIN ]] || die "no server binary at $SERVER_BIN"; fi
	if in_list "$b" "${NEEDS_FLOOR_BIN[@]}"; then [[ -x $FLOOR_BIN ]] || die "no floor binary at $FLOOR_BIN"; fi
	if in_list "$b" "${NEEDS_DISPATCH_BIN[@]}"; then [[ -x $DISPATCH_BIN ]] || die "no dispatch_bench binary at $DISPATCH_BIN"; fi
	if in_list "$b" "${NEEDS_CAMERA_BIN[@]}"; then [[ -x $CAMERA_BIN ]] || die "no camera_latency binary at $CAMERA_BIN"; fi
done

log "benchmarks: ${SELECTED[*]} (wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $(nproc) cores; logs in $LOG_DIR)"
for b in "${SELECTED[@]}"; do
	if [[ -n $BASE_SERVER_BIN ]] && in_list "$b" "${NEEDS_SERVER_BIN[@]}"; then
		log "---- $b (base ${COMPARE_REV})"
		this_server=$SERVER_BIN
		SERVER_BIN=$BASE_SERVER_BIN ROW_SUFFIX=@base
		"bench_$b"
		SERVER_BIN=$this_server ROW_SUFFIX=""
	fi
	log "---- $b"
	"bench_$b"
done

echo
echo "printwarden benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION)"
if ((${#ROWS[@]})); then
	# "of floor": the row's req/s as a percentage of the floor measured in this run.
	printf '%-26s %12s %9s %10s %10s  %s\n' target req/s "of floor" p50 p99 notes
	for r in "${ROWS[@]}"; do
		of_floor=$(awk -v a="${RPS[$r]}" -v f="${RPS[floor]:-}" \
			'BEGIN { if (f + 0 > 0 && a + 0 > 0) printf "%.1f %%", 100 * a / f; else print "-" }')
		printf '%-26s %12s %9s %10s %10s  %s\n' "$r" "${RPS[$r]}" "$of_floor" "${P50[$r]}" "${P99[$r]}" "${ROW_NOTE[$r]}"
	done
	if [[ -n ${RPS[healthz]:-} && -n ${RPS[floor]:-} ]]; then
		awk -v h="${RPS[healthz]}" -v f="${RPS[floor]}" \
			'BEGIN { if (f + 0 > 0) printf "healthz/floor: %.1f %%\n", 100 * h / f; else print "healthz/floor: n/a" }'
	fi
	if [[ -n ${RPS[healthz]:-} ]]; then
		for r in me-cookie users-cookie me-key users-key; do
			[[ -n ${RPS[$r]:-} ]] || continue
			awk -v a="${RPS[$r]}" -v h="${RPS[healthz]}" -v n="$r" \
				'BEGIN { if (h + 0 > 0) printf "%s/healthz: %.1f %% (goal >= 50 %%)\n", n, 100 * a / h }'
		done
	fi
fi
if ((${#ARCHIVE_ROWS[@]})); then
	printf 'archive list p99 per query (wrk -t1 -c%s -d%s, %s entries; goal <= 20 ms):\n' \
		"${BENCH_ARCHIVE_CONNECTIONS:-2}" "${BENCH_ARCHIVE_DURATION:-10s}" "${BENCH_ARCHIVE_ENTRIES:-100000}"
	for r in "${ARCHIVE_ROWS[@]}"; do
		ms=$(latency_ms "${P99[$r]}")
		awk -v r="$r" -v ms="$ms" 'BEGIN { printf "  %-26s p99 %8.2f ms  %s\n", r, ms, (ms <= 20 ? "ok" : "MISSED") }'
	done
fi
if ((${#DISPATCH_ROWS[@]})); then
	printf 'dispatch decision p99 (%s printers, %s queued items; goal <= 10 ms):\n' \
		"${BENCH_DISPATCH_PRINTERS:-1000}" "${BENCH_DISPATCH_ITEMS:-10000}"
	for r in "${DISPATCH_ROWS[@]}"; do
		ms=$(latency_ms "${P99[$r]}")
		awk -v r="$r" -v ms="$ms" -v p50="$(latency_ms "${P50[$r]}")" -v note="${ROW_NOTE[$r]}" \
			'BEGIN { printf "  %-30s p50 %6.2f ms  p99 %6.2f ms  %s  (%s)\n", r, p50, ms, (ms <= 10 ? "ok" : "MISSED"), note }'
	done
fi
((${#NOTES[@]} == 0)) || printf '%s\n' "${NOTES[@]}"
