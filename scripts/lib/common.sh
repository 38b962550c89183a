# shellcheck shell=bash
# Helpers shared by scripts/test.sh and scripts/bench.sh. Source it; don't run it.
#
# The caller must set PROC_DIR to a private, existing directory before calling
# start_bg: the pids of everything started here are recorded in $PROC_DIR/pids,
# and stop_bg / stop_all_bg only ever signal processes found in that file whose
# start time still matches (so a recycled pid is never hit).

# ---------------------------------------------------------------- messages

log() { printf '[%s] %s\n' "${LOG_TAG:-script}" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "${LOG_TAG:-script}" "$*" >&2; }
die() {
	printf '[%s] ERROR: %s\n' "${LOG_TAG:-script}" "$*" >&2
	exit 1
}

# now_ms: wall clock in milliseconds.
now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	printf '%s\n' "$((t / 1000))"
}

# ---------------------------------------------------------------- apt

# Runs a command as root: directly when we are root, else through `sudo -n`.
as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		die "need root (or passwordless sudo) to run: $*"
	fi
}

# dpkg_installed PKG: true when the Debian package PKG is installed.
dpkg_installed() {
	[[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

# apt_install PKG...: installs packages, running `apt-get update` at most once
# per script run (marker in $PROC_DIR).
apt_install() {
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these yourself: $*"
	local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
	if [[ ! -e ${PROC_DIR:?}/apt-updated ]]; then
		log "apt-get update"
		as_root "${apt[@]}" -qq update
		: >"$PROC_DIR/apt-updated"
	fi
	log "apt-get install $*"
	as_root "${apt[@]}" -qq -y install "$@"
}

# ensure_apt PKG[:COMMAND]...: installs the packages that are missing. A package
# counts as present when COMMAND is on PATH, or when dpkg says it is installed.
ensure_apt() {
	local spec pkg cmd missing=()
	for spec in "$@"; do
		pkg=${spec%%:*}
		cmd=${spec#"$pkg"}
		cmd=${cmd#:}
		if [[ -n $cmd ]] && command -v "$cmd" >/dev/null 2>&1; then
			continue
		fi
		if command -v dpkg-query >/dev/null 2>&1 && dpkg_installed "$pkg"; then
			continue
		fi
		missing+=("$pkg")
	done
	((${#missing[@]} == 0)) && return 0
	apt_install "${missing[@]}"
}

# ---------------------------------------------------------------- processes

# proc_field PID N: field N (1-based, as in proc(5)) of /proc/PID/stat, or nothing.
proc_field() {
	local stat rest
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	rest=${stat##*) } # drop "pid (comm) ", comm may contain spaces
	local -a f
	read -r -a f <<<"$rest"
	printf '%s\n' "${f[$(($2 - 3))]:-}"
}

# pid_running PID: the process exists and is not a zombie.
pid_running() {
	local state
	state=$(proc_field "$1" 3)
	[[ -n $state && $state != Z && $state != X ]]
}

# start_bg NAME LOGFILE CMD...: starts CMD in a new session (so it and its
# children form one process group whose id is its pid), with stdin from
# /dev/null and stdout+stderr to LOGFILE. Records it and sets BG_PID.
start_bg() {
	local name=$1 logfile=$2
	shift 2
	setsid "$@" >"$logfile" 2>&1 </dev/null &
	BG_PID=$!
	printf '%s %s %s\n' "$BG_PID" "$(proc_field "$BG_PID" 22)" "$name" >>"${PROC_DIR:?}/pids"
}

# owned_pid PID: PID is in our registry with the same start time.
owned_pid() {
	local pid start name now
	[[ -f ${PROC_DIR:?}/pids ]] || return 1
	while read -r pid start name; do
		[[ $pid == "$1" ]] || continue
		now=$(proc_field "$pid" 22)
		[[ -n $now && $start == "$now" ]] && return 0
	done <"$PROC_DIR/pids"
	return 1
}

_unregister_pid() {
	[[ -f ${PROC_DIR:?}/pids ]] || return 0
	local tmp=$PROC_DIR/pids.tmp
	awk -v p="$1" '$1 != p' "$PROC_DIR/pids" >"$tmp" || true
	mv -f "$tmp" "$PROC_DIR/pids"
}

# Set by stop_bg: 1 when the process needed SIGKILL.
export STOP_KILLED=0

# stop_bg PID [GRACE_SECONDS]: SIGTERM to the process (and its process group
# when it leads one), then SIGKILL after GRACE seconds (default 5).
# Sets STOP_KILLED=1 when SIGKILL was needed. Only touches registered pids.
stop_bg() {
	local pid=$1 grace=${2:-5} i group=0
	STOP_KILLED=0
	if ! owned_pid "$pid"; then
		_unregister_pid "$pid"
		wait "$pid" 2>/dev/null || true
		return 0
	fi
	[[ $(proc_field "$pid" 5) == "$pid" ]] && group=1
	if ((group)); then
		kill -TERM -- "-$pid" 2>/dev/null || true
	else
		kill -TERM "$pid" 2>/dev/null || true
	fi
	for ((i = 0; i < grace * 20; i++)); do
		pid_running "$pid" || break
		sleep 0.05
	done
	if pid_running "$pid"; then
		STOP_KILLED=1
		warn "pid $pid did not exit ${grace}s after SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# leftover children in its group
	if ((group)) && kill -0 -- "-$pid" 2>/dev/null; then
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true # reap when it is our child
	_unregister_pid "$pid"
}

# stop_all_bg: stops everything still registered, newest first.
stop_all_bg() {
	[[ -f ${PROC_DIR:-}/pids ]] || return 0
	local pid _rest pids=()
	while read -r pid _rest; do pids=("$pid" "${pids[@]}"); done <"$PROC_DIR/pids"
	for pid in "${pids[@]}"; do
		stop_bg "$pid" 3 || true
	done
}

# ---------------------------------------------------------------- waiting

# wait_for_file FILE TIMEOUT_S [PID]: waits until FILE exists and is non-empty;
# fails early when PID (if given) has exited.
wait_for_file() {
	local file=$1 timeout=$2 pid=${3:-} i
	for ((i = 0; i < timeout * 50; i++)); do
		[[ -s $file ]] && return 0
		if [[ -n $pid ]] && ! pid_running "$pid"; then
			log "process $pid exited before $file appeared"
			return 1
		fi
		sleep 0.02
	done
	log "timed out after ${timeout}s waiting for $file"
	return 1
}

# wait_tcp HOST PORT TIMEOUT_S: waits until HOST:PORT accepts TCP connections.
wait_tcp() {
	local host=$1 port=$2 timeout=$3 i
	for ((i = 0; i < timeout * 20; i++)); do
		if (: <"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	return 1
}

# free_port: prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# json_get FILE KEY: prints the top-level string/number KEY of a JSON object file.
json_get() {
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
if v is None:
    sys.exit("missing key %r in %s" % (sys.argv[2], sys.argv[1]))
print(v)' "$1" "$2"
}

# assert_loopback_only PID: fails if PID listens (TCP or UDP) on anything but
# 127.0.0.0/8 or ::1. Prints its listeners.
assert_loopback_only() {
	local pid=$1 lines bad
	command -v ss >/dev/null 2>&1 || {
		warn "ss not found; cannot check that pid $pid listens on loopback only"
		return 0
	}
	lines=$(ss -Hlntup 2>/dev/null | grep -E "pid=${pid}[,)]" || true)
	printf '%s\n' "${lines:-  (no listening sockets found for pid $pid)}" | sed 's/^/  listen: /' >&2
	bad=$(awk '{print $5}' <<<"$lines" | grep -Ev '^(127\.[0-9.]+|\[::1\]|\[::ffff:127\.[0-9.]+\]):[0-9]+$' | grep . || true)
	if [[ -n $bad ]]; then
		log "pid $pid listens on non-loopback addresses: $(tr '\n' ' ' <<<"$bad")"
		return 1
	fi
}
