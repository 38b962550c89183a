# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# Stage interop: defines stage_interop.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

BAMBULABS_API_PIN=bambulabs-api==2.6.6

# stage_interop: the simulator speaks the printers' protocols well enough for
# clients written by others: the PyPI package bambulabs-api (paho-mqtt, ftplib
# and its camera client) reads status, starts, pauses and resumes a print,
# uploads over implicit FTPS and reads camera frames; Debian's mosquitto_sub
# verifies the simulator's certificate against its CA and receives a report;
# curl (OpenSSL) uploads and downloads over implicit FTPS with session reuse;
# Debian's ffprobe/ffmpeg read and decode a simulated X1C's RTSPS camera.
INTEROP_SIM=""
INTEROP_SIM_X1C=""
INTEROP_DIR=""
interop_stop() {
	if [[ -n $INTEROP_SIM ]]; then stop_bg "$INTEROP_SIM" 5 || true; fi
	if [[ -n $INTEROP_SIM_X1C ]]; then stop_bg "$INTEROP_SIM_X1C" 5 || true; fi
	if [[ -n $INTEROP_DIR ]]; then rm -rf "$INTEROP_DIR"; fi
	INTEROP_SIM="" INTEROP_SIM_X1C="" INTEROP_DIR=""
}

# interop_rtsp DIR: Debian's ffprobe and ffmpeg (an RTSP client and H.264 decoder written
# by others, TLS by GnuTLS) read a simulated X1C's camera at the URL real printers serve
# (rtsps://bblp:CODE@HOST:PORT/streaming/live/1, RTP over the RTSP connection): ffprobe sees
# h264 at 320x240, ffmpeg decodes ten pictures without a single message, and a wrong access
# code is refused with 401.
interop_rtsp() {
	local dir=$1/x1c url wrong probe errors refused
	ensure_apt ffmpeg:ffprobe
	mkdir -p "$dir"
	start_bg interop-sim-x1c "$LOG_DIR/interop-sim-x1c.log" \
		"$SERVER_BIN" simulate --count 1 --models X1C --state-dir "$dir"
	INTEROP_SIM_X1C=$BG_PID
	wait_for_file "$dir/printers.json" 20 "$INTEROP_SIM_X1C" || die "the X1C simulator wrote no printers.json"
	assert_loopback_only "$INTEROP_SIM_X1C"
	read -r url wrong < <(python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))[0]
code = p["access_code"]
bad = code[:-1] + ("1" if code[-1] != "1" else "2")
for c in (code, bad):
    print("rtsps://bblp:%s@%s:%d/streaming/live/1" % (c, p["host"], p["camera_port"]), end=" ")
print()' "$dir/printers.json")
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
	stop_bg "$INTEROP_SIM_X1C" 5 || true
	INTEROP_SIM_X1C=""
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

	log "ffprobe/ffmpeg (Debian) read and decode the X1C's RTSPS camera"
	interop_rtsp "$dir"
	checks=$((checks + 3))
	stage_detail "$checks checks: bambulabs-api (FTPS, MQTT status/start/pause/resume, camera), mosquitto_sub, curl FTPS, printwarden against mosquitto (first use, pinned, changed pin refused before CONNECT), ffprobe/ffmpeg RTSPS (h264 320x240, 10 pictures decoded, 401 on a wrong code)"
}
