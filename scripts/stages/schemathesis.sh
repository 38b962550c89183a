# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# Stage schemathesis: defines stage_schemathesis.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

SCHEMATHESIS_PIN=schemathesis==4.32.5

# stage_schemathesis: fuzzes the running API from the document it serves at
# /api/openapi.json. An administrator is set up through the API; one run uses
# a full-scope API key on every operation, a second one the browser session
# (cookie + Origin) on the session-only operations. Checks: no server error,
# every response matches its documented schema and content type; the server
# log must show no 5xx and no panic either. Excluded, because they would end
# the fuzzer's own access: revoking API keys and sessions, sign-out, switching
# authentication off.
stage_schemathesis() {
	local venv=$TARGET_DIR/venv-schemathesis base jar cookie key scopes code
	local report=$LOG_DIR/schemathesis rc=0 fivexx
	ensure_venv "$venv" "$SCHEMATHESIS_PIN"
	probe_server_start schemathesis PRINTWARDEN_RATE_LIMITS=off
	base=https://$PROBE_HTTPS
	jar=$PROC_DIR/schemathesis-cookies
	code=$(tr -d '[:space:]' <"$PROBE_DATA/setup-code")
	curl -fsS --cacert "$PROBE_CA" -c "$jar" -H 'content-type: application/json' \
		-d "{\"setup_code\":\"$code\",\"username\":\"fuzz-admin\",\"password\":\"schemathesis admin passphrase\"}" \
		"$base/api/v1/auth/setup" >/dev/null
	cookie=$(awk '$6 ~ /pw_session$/ {print $6 "=" $7}' "$jar")
	[[ -n $cookie ]] || die "setup set no session cookie"
	scopes=$(curl -fsS --cacert "$PROBE_CA" -H "cookie: $cookie" "$base/api/v1/auth/me" |
		python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["permissions"]))')
	key=$(curl -fsS --cacert "$PROBE_CA" -H "cookie: $cookie" -H "origin: $base" \
		-H 'content-type: application/json' -d "{\"name\":\"schemathesis\",\"scopes\":$scopes}" \
		"$base/api/v1/api-keys" | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
	rm -rf "$report"
	# One worker: hypothesis parses lambda sources with `ast`, which CPython 3.11 does not
	# allow from two threads at once ("AST constructor recursion depth mismatch").
	# The cases are a function of the seed alone: no example database. With one
	# (Hypothesis's default, .hypothesis/ in the working directory; its `ci`
	# profile turns it off only when CI is set), a run replays the examples an
	# earlier run saved (any failure or error), so the case count changed from
	# run to run and local runs differed from CI.
	# shellcheck disable=SC2054 # --checks takes a comma-separated list
	local common=(
		"$base/api/openapi.json" --url "$base" --tls-verify "$PROBE_CA"
		--generation-with-security-parameters false
		--checks not_a_server_error,response_schema_conformance,content_type_conformance
		--max-examples 30 --workers 1 --request-timeout 15 --seed "${SCHEMATHESIS_SEED:-1}"
		--generation-database none
		--exclude-path '/api/v1/api-keys/{id}'
	)
	log "schemathesis run 1: API key, every operation"
	timeout 600 "$venv/bin/schemathesis" run "${common[@]}" \
		-H "Authorization: Bearer $key" \
		--report json,junit --report-dir "$report/key" || rc=$?
	log "schemathesis run 2: browser session, the session-only operations"
	timeout 600 "$venv/bin/schemathesis" run "${common[@]}" \
		-H "cookie: $cookie" -H "origin: $base" \
		--include-path /api/v1/api-keys --include-path /api/v1/auth/sessions \
		--include-path /api/v1/auth/password --include-path /api/v1/auth/enable \
		--include-path /api/v1/settings/security --include-path /api/v1/settings/outbound \
		--report json,junit --report-dir "$report/session" || rc=$?
	fivexx=$(grep -c '"status":5[0-9][0-9]' "$LOG_DIR/schemathesis-server.log" || true)
	if grep -q 'panicked at' "$LOG_DIR/schemathesis-server.log"; then
		stage_detail "the server panicked (see $LOG_DIR/schemathesis-server.log)"
		return 1
	fi
	local summary
	summary=$(python3 - "$report" <<'PY'
import glob, json, sys
ops = cases = failures = errors = 0
for f in sorted(glob.glob(sys.argv[1] + "/*/json-*.json")):
    r = json.load(open(f))
    ops += r["operations"]["tested"]
    cases += r["test_cases"]["generated"]
    failures += r["test_cases"]["unique_failures"]
    errors += len(r["errors"]) + r["operations"]["errored"]
print(ops, cases, failures, errors)
PY
)
	local ops cases failures errors
	read -r ops cases failures errors <<<"$summary"
	if ((rc != 0 || failures != 0 || errors != 0 || fivexx != 0 || ops == 0)); then
		stage_detail "$ops operations, $cases cases: $failures failures, $errors errors, $fivexx 5xx in the server log (exit $rc)"
		return 1
	fi
	stage_detail "$ops operations, $cases cases, 0 server errors, 0 schema violations"
}
