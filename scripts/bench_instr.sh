#!/usr/bin/env bash
# Instructions and allocations per request, counted by valgrind (callgrind): repeatable on a
# loaded machine where wall-clock numbers are not. For a person at a terminal (never run in CI).
#
#   scripts/bench_instr.sh [SERVER_BIN]      # default: $CARGO_TARGET_DIR/release/printwarden
#
# The release server runs under `valgrind --tool=callgrind --instr-atstart=no` (instrumentation
# is switched on only around each burst of requests), with BENCH_INSTR_PRINTERS (10) simulated
# X1C printers reporting every second (the simulator runs natively). After the first-run setup,
# an API key (printers, users and audit read scopes) and the printers online, each case sends
# BENCH_INSTR_N (200) requests over one keep-alive HTTP/1.1 TLS connection (curl) while the
# simulator is paused (SIGSTOP: the printers stay online with their last report, well inside
# the 30 s MQTT keep-alive, and their reports do not land in the count), then:
#   instr/req   user-space instructions of the server process / N (all threads; the kernel's
#               work in syscalls is not counted, see syscalls/req below)
#   allocs/req  calls to malloc/calloc/realloc/posix_memalign/aligned_alloc / N
#   idle        the same counts for 5 s without requests with the simulator running: the fan-in
#               cost, shown per report (BENCH_INSTR_PRINTERS reports a second)
# BENCH_INSTR_STRACE=1 adds syscalls/req (strace -c -f on an uninstrumented run).
# Cases: healthz, printers-cookie, printers-key, users-cookie, users-key, audit-cookie.
# Each case's callgrind file stays in $TARGET/bench-logs/instr/ for callgrind_annotate; the top
# self-cost functions of each case are printed (BENCH_INSTR_TOP, 12).
#
# Requires the release build with symbols: CARGO_PROFILE_RELEASE_STRIP=none
# cargo build --release -p printwarden (the shipped profile strips symbols; codegen is the same).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
LOG_TAG=bench_instr.sh

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER_BIN=${1:-$TARGET_DIR/release/printwarden}
N=${BENCH_INSTR_N:-200}
PRINTERS=${BENCH_INSTR_PRINTERS:-10}
TOP=${BENCH_INSTR_TOP:-12}
OUT=${BENCH_INSTR_OUT:-$TARGET_DIR/bench-logs/instr}
[[ -x $SERVER_BIN ]] || die "no server binary at $SERVER_BIN"
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install -y valgrind)"
mkdir -p "$OUT"
rm -f "$OUT"/cg.out*

PROC_DIR=$(mktemp -d "${TMPDIR:-/tmp}/printwarden-instr.XXXXXX")
export PROC_DIR
trap 'stop_all_bg || true; rm -rf "$PROC_DIR"' EXIT

sim_dir=$PROC_DIR/sim
mkdir -p "$sim_dir"
start_bg sim "$OUT/sim.log" "$SERVER_BIN" simulate --count "$PRINTERS" --models X1C \
	--job-seconds 100000 --state-dir "$sim_dir"
SIM_PID=$BG_PID
wait_for_file "$sim_dir/printers.json" 120 "$BG_PID" || die "the simulator did not start"

data=$PROC_DIR/data
mkdir -p "$data"
start_bg server "$OUT/server.log" env \
	PRINTWARDEN_DATA_DIR="$data" PRINTWARDEN_BIND=127.0.0.1 PRINTWARDEN_HTTPS_PORT=0 \
	PRINTWARDEN_HTTP_PORT=0 PRINTWARDEN_RATE_LIMITS=off \
	valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/cg.out" \
	"$SERVER_BIN" serve
SRV_PID=$BG_PID
wait_for_file "$data/listening.json" 600 "$SRV_PID" || die "the server did not start (see $OUT/server.log)"
# The valgrind process is the server (valgrind execs the tool in place).
base=https://$(json_get "$data/listening.json" https)
ca=$data/tls/ca.crt
code=$(tr -d '[:space:]' <"$data/setup-code")
log "setting up (argon2 under valgrind takes a while)"
cookie=$(curl -sf --max-time 600 --cacert "$ca" -o /dev/null -D - -H 'content-type: application/json' \
	-d "{\"setup_code\":\"$code\",\"username\":\"bench\",\"password\":\"bench password 1\"}" \
	"$base/api/v1/auth/setup" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n 1)
[[ -n $cookie ]] || die "setup did not return a session cookie"
key=$(curl -sf --max-time 120 --cacert "$ca" -H "cookie: $cookie" -H "origin: $base" -H 'content-type: application/json' \
	-d '{"name":"bench","scopes":["printers:read","users:read","audit:read"]}' "$base/api/v1/api-keys" |
	sed -n 's/.*"key":"\(pwk_[^"]*\)".*/\1/p')
[[ -n $key ]] || die "could not create an API key"
log "adding $PRINTERS printers"
PW_COOKIE=$cookie python3 scripts/bench_add_printers.py "$base" "$ca" "$sim_dir/printers.json"
online=0
for ((i = 0; i < 600; i++)); do
	online=$(curl -sf --max-time 60 --cacert "$ca" -H "cookie: $cookie" "$base/api/v1/printers" |
		python3 -c 'import json, sys; print(sum(p["connection"] == "online" for p in json.load(sys.stdin)["items"]))')
	((online == PRINTERS)) && break
	sleep 1
done
((online == PRINTERS)) || die "only $online of $PRINTERS printers came online"
sleep 3

ctl() { callgrind_control "$@" "$SRV_PID" >/dev/null; }

# counts FILE: prints "INSTRUCTIONS ALLOCATIONS" of one callgrind dump.
counts() {
	python3 - "$1" <<'PY'
import re, sys
names, total, allocs, cfn = {}, 0, 0, None
alloc = {"malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign"}
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("summary:") or line.startswith("totals:"):
        total = int(line.split()[1])
    elif line.startswith("cfn="):
        m = re.match(r"cfn=\((\d+)\)(?: (.*))?", line.strip())
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2)
            cfn = names.get(m.group(1), "")
        else:
            cfn = line.strip()[4:]
    elif line.startswith("fn="):
        m = re.match(r"fn=\((\d+)\)(?: (.*))?", line.strip())
        if m and m.group(2):
            names[m.group(1)] = m.group(2)
    elif line.startswith("calls=") and cfn is not None:
        if cfn.split("'")[0] in alloc:
            allocs += int(line.split()[0][6:])
        cfn = None
print(total, allocs)
PY
}

declare -a ROWS=()
# burst NAME PATH HEADER: N requests, counted.
burst() {
	local name=$1 path=$2 header=$3 cfg=$PROC_DIR/curl.cfg i ok t0 t1 file c
	: >"$cfg"
	for ((i = 0; i < N; i++)); do
		printf 'url = "%s%s"\noutput = "/dev/null"\n' "$base" "$path" >>"$cfg"
	done
	# one warm request (caches filled, connection pools warm)
	curl -sf --http1.1 --cacert "$ca" -o /dev/null -H "$header" "$base$path" || die "GET $path failed"
	kill -STOP "$SIM_PID"
	sleep 0.5
	ctl -z
	ctl -i on
	t0=$(now_ms)
	ok=$(curl -s --http1.1 --cacert "$ca" -H "$header" -w '%{http_code}\n' -K "$cfg" | grep -c '^200$' || true)
	t1=$(now_ms)
	ctl -i off
	ctl -d "$name"
	kill -CONT "$SIM_PID"
	sleep 2
	sleep 0.5
	file=$(ls -t "$OUT"/cg.out* | head -n 1)
	mv "$file" "$OUT/$name.callgrind"
	((ok == N)) || die "$name: only $ok of $N requests answered 200"
	read -r instr allocs < <(counts "$OUT/$name.callgrind")
	c=$(awk -v i="$instr" -v a="$allocs" -v n="$N" 'BEGIN { printf "%12.0f %10.1f", i / n, a / n }')
	ROWS+=("$(printf '%-16s %s   (%d ms under valgrind)' "$name" "$c" "$((t1 - t0))")")
	log "$name: $c"
}

idle() {
	local file
	ctl -z
	ctl -i on
	sleep 5
	ctl -i off
	ctl -d idle
	sleep 0.5
	file=$(ls -t "$OUT"/cg.out* | head -n 1)
	mv "$file" "$OUT/idle.callgrind"
	read -r instr allocs < <(counts "$OUT/idle.callgrind")
	ROWS+=("$(awk -v i="$instr" -v a="$allocs" -v n="$((PRINTERS * 5))" \
		'BEGIN { printf "%-16s %12.0f %10.1f   per report (5 s without requests, %d reports)", "idle", i / n, a / n, n }')")
}

idle
burst healthz /healthz "x-bench: 1"
burst printers-cookie /api/v1/printers "cookie: $cookie"
burst printers-key /api/v1/printers "authorization: Bearer $key"
burst users-cookie /api/v1/users "cookie: $cookie"
burst users-key /api/v1/users "authorization: Bearer $key"
burst audit-cookie /api/v1/audit "cookie: $cookie"
stop_bg "$SRV_PID" 30

{
	printf '%-16s %12s %10s\n' case instr/req allocs/req
	printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/summary.txt"
# Where the instructions went (inclusive, per request): the connection task (TLS, hyper, the
# middleware, the handler, serialisation), SQLite (the sqlx worker threads), the log writer
# thread, and the queue dispatcher's timer (background, not the request's).
echo "== per request, inclusive: connection task / sqlite3_step / log writer / dispatcher (background)"
for f in healthz printers-cookie printers-key users-cookie users-key audit-cookie; do
	callgrind_annotate --inclusive=yes "$OUT/$f.callgrind" 2>/dev/null | awk -v n="$N" -v f="$f" '
		function num(s) { gsub(/,/, "", s); return s + 0 }
		/axum_server::server::Server<A,Acc>::serve::\{\{closure\}\}::\{\{closure\}\}::\{\{closure\}\} / && !c { c = num($1) }
		/:sqlite3_step / && !q { q = num($1) }
		/log_writer::run/ && !w { w = num($1) }
		/queue_claims::\{\{closure\}\} / && !d { d = num($1) }
		END { printf "%-16s %10.0f %10.0f %10.0f %10.0f\n", f, c / n, q / n, w / n, d / n }'
done | tee -a "$OUT/summary.txt"
for f in healthz printers-cookie users-cookie audit-cookie; do
	echo "== $f: top $TOP by self cost (instructions)"
	callgrind_annotate --inclusive=no "$OUT/$f.callgrind" 2>/dev/null |
		sed -n '/^Ir/,$p' | sed -n "3,$((TOP + 2))p" | cut -c1-200
done | tee "$OUT/top.txt"
