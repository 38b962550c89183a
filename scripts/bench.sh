#!/usr/bin/env bash
# shellcheck disable=SC2317 # benchmark functions are called indirectly
# printwarden speed checks, for a person at a terminal (never run in CI).
#
#   scripts/bench.sh                  # all: startup, healthz, floor, then a table
#   scripts/bench.sh healthz          # one benchmark
#   scripts/bench.sh startup healthz  # several
#   scripts/bench.sh list             # the benchmark names
#
# Benchmarks:
#   startup  second start of the release server (certificate already present):
#            time from exec to the first `curl --cacert` 200 on /healthz, and
#            the idle RSS (VmRSS) of the server after start
#   healthz  wrk against https://127.0.0.1:PORT/healthz of the release server
#            (PRINTWARDEN_RATE_LIMITS=off)
#   floor    the same wrk against target/release/examples/floor, a bare
#            hyper+rustls HTTPS "hello" server: the ceiling for this machine.
#            With healthz, the table shows healthz/floor in percent.
#   authread authenticated JSON reads on the release server after setup:
#            GET /api/v1/auth/me and GET /api/v1/users, once with the session
#            cookie and once with an API key (Authorization: Bearer). With
#            healthz, the table shows each as a percentage of healthz (goal ≥ 50 %).
#   printers N simulated X1C printers (a full report every second each) added to
#            the release server, with BENCH_SOCKETS dashboard sockets on
#            /api/v1/events: server CPU (fraction of one core, over warm-up and
#            measurement) and RSS, and the latency from the server receiving a
#            report to a socket delivering it (p50/p99) over BENCH_PRINTERS_SECONDS
#            after BENCH_PRINTERS_WARMUP seconds (when every socket is sent the
#            whole farm at once; the slowest snapshot is reported as
#            snapshot_ms_max), with the simulator's and the client's CPU.
#            N = BENCH_PRINTERS (default "100 1000": one run each).
#
# Knobs:
#   BENCH_DURATION=10s BENCH_CONNECTIONS=32 BENCH_THREADS=2   wrk settings
#   BENCH_NO_BUILD=1             don't run cargo build (use what is in target/release)
#   BENCH_SERVER_BIN=path        server binary (default target/release/printwarden)
#   BENCH_FLOOR_BIN=path         floor binary (default target/release/examples/floor)
#   BENCH_PRINTERS="100 1000" BENCH_SOCKETS=50 BENCH_PRINTERS_SECONDS=20 BENCH_PRINTERS_WARMUP=5   printers
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

BENCHES=(startup healthz floor authread printers)
NEEDS_SERVER_BIN=(startup healthz authread printers)
NEEDS_FLOOR_BIN=(floor)
NEEDS_WS_BIN=(printers)

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
SERVER_BIN=${BENCH_SERVER_BIN:-$TARGET_DIR/release/printwarden}
FLOOR_BIN=${BENCH_FLOOR_BIN:-$TARGET_DIR/release/examples/floor}
WS_BIN=$TARGET_DIR/release/examples/ws_latency
LOG_DIR=$TARGET_DIR/bench-logs
mkdir -p "$LOG_DIR"

PROC_DIR=$(mktemp -d "${TMPDIR:-/tmp}/printwarden-bench.XXXXXX")
export PROC_DIR

on_exit() {
	local rc=$?
	stop_all_bg || true
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

add_row() { # add_row TARGET RPS P50 P99 [NOTE]
	ROWS+=("$1")
	RPS[$1]=$2 P50[$1]=$3 P99[$1]=$4 ROW_NOTE[$1]=${5:-}
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

build=(cargo build --release -p printwarden)
need_build=0
for b in "${SELECTED[@]}"; do
	if in_list "$b" "${NEEDS_SERVER_BIN[@]}" && [[ -z ${BENCH_SERVER_BIN:-} ]] && ! in_list --bin "${build[@]}"; then
		build+=(--bin printwarden)
		need_build=1
	fi
	if in_list "$b" "${NEEDS_FLOOR_BIN[@]}" && [[ -z ${BENCH_FLOOR_BIN:-} ]] && ! in_list floor "${build[@]}"; then
		build+=(--example floor)
		need_build=1
	fi
	if in_list "$b" "${NEEDS_WS_BIN[@]}" && ! in_list ws_latency "${build[@]}"; then
		build+=(--example ws_latency)
		need_build=1
	fi
done
if ((need_build)) && [[ ${BENCH_NO_BUILD:-} != 1 ]]; then
	log "${build[*]}"
	"${build[@]}"
fi

for b in "${SELECTED[@]}"; do
	if in_list "$b" "${NEEDS_SERVER_BIN[@]}"; then [[ -x $SERVER_BIN ]] || die "no server binary at $SERVER_BIN"; fi
	if in_list "$b" "${NEEDS_FLOOR_BIN[@]}"; then [[ -x $FLOOR_BIN ]] || die "no floor binary at $FLOOR_BIN"; fi
done

log "benchmarks: ${SELECTED[*]} (wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $(nproc) cores; logs in $LOG_DIR)"
for b in "${SELECTED[@]}"; do
	log "---- $b"
	"bench_$b"
done

echo
echo "printwarden benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION)"
if ((${#ROWS[@]})); then
	printf '%-13s %12s %10s %10s  %s\n' target req/s p50 p99 notes
	for r in "${ROWS[@]}"; do
		printf '%-13s %12s %10s %10s  %s\n' "$r" "${RPS[$r]}" "${P50[$r]}" "${P99[$r]}" "${ROW_NOTE[$r]}"
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
((${#NOTES[@]} == 0)) || printf '%s\n' "${NOTES[@]}"
