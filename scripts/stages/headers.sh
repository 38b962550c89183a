# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# Stage headers: defines stage_headers.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

# stage_headers: the SPEC S7 security headers on a page, an API response and
# an error response, as curl sees them over HTTPS.
HEADER_CSP="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'; upgrade-insecure-requests"
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
