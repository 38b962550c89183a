# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# Stage interop: defines stage_interop.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

BAMBULABS_API_PIN=bambulabs-api==2.6.6
# bambu-printer-manager (bpm) and platecli with exactly the modules they import, pinned;
# --no-deps leaves out what they declare but never import here (bpm's mkdocs toolchain,
# platecli's TUI), so nothing unpinned is installed.
INTEROP_CLIENT_PINS=(--no-deps bambu-printer-manager==1.0.3 platecli==0.5.1 paho-mqtt==2.2.0
	webcolors==25.10.0 typing_extensions==4.16.0 rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2
	Pygments==2.21.0 zeroconf==0.154.0 ifaddr==0.2.0)
# pybambu (ha-bambulab's client library as published on PyPI) needs paho-mqtt 1.x: a venv of
# its own, every dependency pinned.
INTEROP_PYBAMBU_PINS=(--no-deps pybambu==1.0.1 paho-mqtt==1.6.1 python-dateutil==2.9.0.post0
	six==1.17.0 requests==2.32.5 certifi==2026.1.4 charset-normalizer==3.4.4 idna==3.11
	urllib3==2.6.3 packaging==26.4)

# stage_interop: the simulator speaks the printers' protocols well enough for
# clients written by others. On mapped ports (127.0.0.1): the PyPI package
# bambulabs-api (paho-mqtt, ftplib and its camera client) reads status, starts,
# pauses and resumes a print, uploads over implicit FTPS and reads camera frames;
# Debian's mosquitto_sub verifies the simulator's certificate against its CA and
# receives a report; curl (OpenSSL) uploads and downloads over implicit FTPS with
# session reuse. With --standard-ports (a P1S on 127.0.1.1 and an X1C on
# 127.0.1.2, ports 8883/990/6000/322), unmodified clients that cannot be told
# another port: the PyPI packages bambu-printer-manager, platecli and pybambu each
# drive status, AMS, upload, start, pause/resume/stop, the light and the camera on
# both (scripts/interop/*_check.py: one line per step, skips say why), and Debian's
# ffprobe/ffmpeg read and decode the X1C's RTSPS camera at the URL its report
# announces. docs/PROTOCOL.md "Interop checks" says which real-printer facts each
# check rests on.
INTEROP_SIM=""
INTEROP_SIM_STD=""
INTEROP_DIR=""
interop_stop() {
	if [[ -n $INTEROP_SIM ]]; then stop_bg "$INTEROP_SIM" 5 || true; fi
	if [[ -n $INTEROP_SIM_STD ]]; then stop_bg "$INTEROP_SIM_STD" 5 || true; fi
	if [[ -n $INTEROP_DIR ]]; then rm -rf "$INTEROP_DIR"; fi
	INTEROP_SIM="" INTEROP_SIM_STD="" INTEROP_DIR=""
}

# INTEROP_COUNTS: "passed skipped" added up from the clients' closing lines.
INTEROP_PASSED=0
INTEROP_SKIPPED=0

# interop_client PYTHON SCRIPT ARGS...: runs one client check and adds its closing line
# (`NAME: N passed, 0 failed, K skipped`) to the counts; the check exits non-zero on a failure.
interop_client() {
	local py=$1 script=$2 out line p k
	shift 2
	out=$(timeout 600 "$py" "scripts/interop/$script" "$@" 2>&1) || {
		printf '%s\n' "$out"
		die "$script failed"
	}
	printf '%s\n' "$out"
	line=$(grep -E '^[a-z]+: [0-9]+ passed, 0 failed, [0-9]+ skipped$' <<<"$out" | tail -n 1)
	[[ -n $line ]] || die "$script printed no closing count"
	read -r _ p _ _ _ k _ <<<"$line"
	INTEROP_PASSED=$((INTEROP_PASSED + p))
	INTEROP_SKIPPED=$((INTEROP_SKIPPED + k))
}

# interop_standard DIR: a P1S and an X1C with --standard-ports, driven by bambu-printer-manager,
# platecli and pybambu (they hard-wire FTPS 990, MQTT 8883 and the camera's 6000), then the X1C
# camera read by ffprobe/ffmpeg at the URL the printer announces.
interop_standard() {
	local dir=$1/standard venv=$TARGET_DIR/venv-interop-clients venv2=$TARGET_DIR/venv-interop-pybambu
	if [[ $(id -u) != 0 ]] && ! getcap "$SERVER_BIN" 2>/dev/null | grep -q cap_net_bind_service; then
		die "--standard-ports binds 990 and 322: run the stage as root (CI does) or give the binary the right: setcap cap_net_bind_service=+ep $SERVER_BIN"
	fi
	ensure_apt ffmpeg:ffprobe
	ensure_venv "$venv" "${INTEROP_CLIENT_PINS[@]}"
	ensure_venv "$venv2" "${INTEROP_PYBAMBU_PINS[@]}"
	mkdir -p "$dir"
	start_bg interop-sim-std "$LOG_DIR/interop-sim-std.log" \
		"$SERVER_BIN" simulate --count 2 --models P1S,X1C --job-seconds 60 --standard-ports --state-dir "$dir"
	INTEROP_SIM_STD=$BG_PID
	if ! wait_for_file "$dir/printers.json" 20 "$INTEROP_SIM_STD"; then
		tail -n 5 "$LOG_DIR/interop-sim-std.log" >&2
		die "the --standard-ports simulator wrote no printers.json"
	fi
	assert_loopback_only "$INTEROP_SIM_STD"
	python3 -c 'import json, sys
got = [(p["model"], p["host"], p["mqtt_port"], p["ftps_port"], p["camera_port"]) for p in json.load(open(sys.argv[1]))]
want = [("P1S", "127.0.1.1", 8883, 990, 6000), ("X1C", "127.0.1.2", 8883, 990, 322)]
assert got == want, got' "$dir/printers.json" || die "printers.json does not give each printer its own address and the real ports"

	log "bambu-printer-manager (PyPI) against a P1S and an X1C on the real ports"
	interop_client "$venv/bin/python" bpm_check.py "$dir/printers.json" "$dir" P1S X1C
	log "platecli (PyPI) against a P1S and an X1C on the real ports"
	interop_client "$venv/bin/python" platecli_check.py "$dir/printers.json" "$dir" P1S X1C
	log "pybambu (PyPI, ha-bambulab's client) against a P1S and an X1C on the real ports"
	# It pauses a job that the control socket starts for the file bpm_check uploaded.
	interop_client "$venv2/bin/python" pybambu_check.py "$dir/printers.json" "$dir" P1S X1C
	log "ffprobe/ffmpeg (Debian) read and decode the X1C's RTSPS camera at the announced URL"
	interop_rtsp "$dir"
	stop_bg "$INTEROP_SIM_STD" 5 || true
	INTEROP_SIM_STD=""
}

# interop_rtsp DIR: Debian's ffprobe and ffmpeg (an RTSP client and H.264 decoder written
# by others, TLS by GnuTLS) read the standard-ports X1C's camera at the URL its report
# announces in ipcam.rtsp_url (rtsps://127.0.1.2/streaming/live/1: no port, so RTSPS's 322),
# with bblp and the access code added as real clients do (RTP over the RTSP connection):
# ffprobe sees h264 at 320x240, ffmpeg decodes ten pictures without a single message, and a
# wrong access code is refused with 401.
interop_rtsp() {
	local dir=$1 serial code ca announced url wrong probe errors refused
	ensure_apt ffmpeg:ffprobe
	read -r serial code ca < <(python3 -c 'import json, sys
p = [p for p in json.load(open(sys.argv[1])) if p["model"] == "X1C"][0]
print(p["serial"], p["access_code"], p["ca_cert"])' "$dir/printers.json")
	# The certificate names the serial (as a printer's does), not 127.0.1.2: --insecure drops
	# only the host name check; the chain is still verified against the simulator CA.
	announced=$(timeout 20 mosquitto_sub -h 127.0.1.2 -p 8883 --cafile "$ca" --insecure --tls-version tlsv1.2 \
		-u bblp -P "$code" -i printwarden-interop-rtsp -t "device/$serial/report" -C 1 -W 15 |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["print"]["ipcam"]["rtsp_url"])')
	[[ $announced == "rtsps://127.0.1.2/streaming/live/1" ]] || die "the X1C announced '$announced', not its portless RTSPS URL"
	url=${announced/rtsps:\/\//rtsps://bblp:$code@}
	wrong=${announced/rtsps:\/\//rtsps://bblp:${code%?}$(( (${code: -1} + 1) % 10 ))@}
	probe=$(timeout 60 ffprobe -v error -rtsp_transport tcp -select_streams v:0 \
		-show_entries stream=codec_name,width,height -of csv=p=0 "$url")
	[[ $probe == "h264,320,240" ]] || die "ffprobe read '$probe' from the X1C camera, not h264,320,240"
	errors=$(timeout 60 ffmpeg -nostdin -v error -rtsp_transport tcp -i "$url" -frames:v 10 -f null - 2>&1) ||
		die "ffmpeg could not decode the X1C camera: $errors"
	[[ -z $errors ]] || die "ffmpeg decoded the X1C camera with errors: $errors"
	if refused=$(timeout 60 ffprobe -v error -rtsp_transport tcp "$wrong" 2>&1); then
		die "ffprobe read the X1C camera with a wrong access code"
	fi
	grep -q 401 <<<"$refused" || die "a wrong access code was not refused with 401: $refused"
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

	stop_bg "$INTEROP_SIM" 5 || true
	INTEROP_SIM=""

	interop_standard "$dir"
	checks=$((checks + INTEROP_PASSED + 3))
	stage_counts "$checks" 0 "$INTEROP_SKIPPED"
	stage_detail "$checks checks, $INTEROP_SKIPPED skipped: bambulabs-api (FTPS, MQTT status/start/pause/resume, camera), mosquitto_sub, curl FTPS, printwarden against mosquitto (first use, pinned, changed pin refused before CONNECT); with --standard-ports on a P1S and an X1C, bambu-printer-manager, platecli and pybambu ($INTEROP_PASSED steps: status, AMS, upload, start with file:///sdcard/, ftp:/// and file:///sdcard/model/ URLs, pause/resume/stop, light, P1S JPEG camera, the X1C's rtsp_url as pybambu reads it; see their skip lines) and ffprobe/ffmpeg RTSPS at the announced portless URL (h264 320x240, 10 pictures decoded, 401 on a wrong code)"
}
