# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# Stage tls-scan: defines stage_tls_scan.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

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
