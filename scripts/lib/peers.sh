# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# Test peers (SMTP sink, ...) started once before the first stage that needs them.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

# Peers (LDAP, OIDC provider, SMTP sink, printer simulator, ...) are started
# once, before the first stage in PEER_STAGES, from this shell, so that the
# addresses they export reach every later stage. Each `peer_<name>_start`:
#   - installs what it needs (ensure_apt, pip/npm into target/),
#   - starts its process with `start_bg <name> "$LOG_DIR/peer-<name>.log" cmd...`
#     bound to 127.0.0.1 on a port from free_port,
#   - waits for it (wait_tcp), runs `assert_loopback_only "$BG_PID"`,
#   - exports what the tests need with `peer_export NAME VALUE`, e.g.
#     peer_export PW_TEST_LDAP_URL "ldap://127.0.0.1:$port".
# It runs in a subshell with `set -e` in force; when it fails, the tests that
# need the peer fail.

PEERS_STARTED=0
FAILED_PEERS=()

# peer_export NAME VALUE: makes NAME=VALUE visible to every later stage.
peer_export() {
	printf 'export %s=%q\n' "$1" "$2" >>"$PROC_DIR/peer-env.sh"
}

peers_start() {
	((PEERS_STARTED)) && return 0
	PEERS_STARTED=1
	local p rc t0
	for p in "${PEERS[@]}"; do
		log "starting test peer $p"
		t0=$SECONDS
		set +e
		(
			set -e
			"peer_${p//-/_}_start"
		)
		rc=$?
		set -e
		if ((rc != 0)); then
			warn "test peer $p failed to start (exit $rc; see $LOG_DIR/peer-$p.log)"
			FAILED_PEERS+=("$p")
		else
			log "test peer $p up ($((SECONDS - t0))s)"
		fi
	done
	if [[ -f $PROC_DIR/peer-env.sh ]]; then
		# shellcheck source=/dev/null
		source "$PROC_DIR/peer-env.sh"
	fi
}

peers_stop() {
	stop_all_bg
}

# peer smtp: scripts/peers/smtp_sink.py (aiosmtpd) for the mail client's tests
# (crates/identity/tests/smtp.rs, pw_testkit::smtp). Three listeners on 127.0.0.1:
# STARTTLS (AUTH only after it), implicit TLS, and plain without STARTTLS. It signs
# its own throwaway CA (ca.pem) and writes each accepted message as mail/<n>.json.
# It watches this shell's pid and exits by itself if the run is killed.
SMTP_SINK_PINS=(aiosmtpd==1.4.6 atpublic==9.0.0 attrs==26.1.0 cryptography==50.0.2 cffi==2.1.1 pycparser==3.12)
SMTP_SINK_USER=pw-smtp-test
SMTP_SINK_PASSWORD='sink pass: not a secret'
peer_smtp_start() {
	local venv=$TARGET_DIR/venv-smtp dir starttls tls plain port
	ensure_venv "$venv" "${SMTP_SINK_PINS[@]}"
	dir=$PROC_DIR/peer-smtp # private to this run, removed on exit
	mkdir -p "$dir"
	starttls=$(free_port)
	tls=$(free_port)
	plain=$(free_port)
	while [[ $tls == "$starttls" ]]; do tls=$(free_port); done
	while [[ $plain == "$starttls" || $plain == "$tls" ]]; do plain=$(free_port); done
	start_bg smtp "$LOG_DIR/peer-smtp.log" "$venv/bin/python" "$ROOT/scripts/peers/smtp_sink.py" \
		--state-dir "$dir" --starttls-port "$starttls" --tls-port "$tls" --plain-port "$plain" \
		--user "$SMTP_SINK_USER" --password "$SMTP_SINK_PASSWORD" --parent-pid "$$"
	for port in "$starttls" "$tls" "$plain"; do
		wait_tcp 127.0.0.1 "$port" 20 || {
			tail -n 20 "$LOG_DIR/peer-smtp.log" >&2 || true
			die "the SMTP sink does not accept connections on 127.0.0.1:$port"
		}
	done
	wait_for_file "$dir/ca.pem" 5 "$BG_PID"
	assert_loopback_only "$BG_PID"
	peer_export PW_TEST_SMTP_HOST 127.0.0.1
	peer_export PW_TEST_SMTP_STARTTLS_PORT "$starttls"
	peer_export PW_TEST_SMTP_TLS_PORT "$tls"
	peer_export PW_TEST_SMTP_PLAIN_PORT "$plain"
	peer_export PW_TEST_SMTP_CA "$dir/ca.pem"
	peer_export PW_TEST_SMTP_DIR "$dir/mail"
	peer_export PW_TEST_SMTP_USER "$SMTP_SINK_USER"
	peer_export PW_TEST_SMTP_PASSWORD "$SMTP_SINK_PASSWORD"
}

# peer ldap: OpenLDAP slapd (Debian), set up by scripts/peers/slapd.sh, for LDAP sign-in
# (crates/identity/src/ldap.rs, crates/server/tests/api/ldap.rs, pw_testkit::ldap). Two
# listeners on 127.0.0.1: ldap:// (StartTLS; the seed itself goes in with -ZZ) and ldaps://,
# both with a throwaway CA made at start (and an unrelated second CA for "wrong CA" tests).
# Users in both group styles: groupOfNames/member (with the memberof overlay, so memberOf on
# the user) and posixGroup/memberUid. Config, database and CA live under the run's temp dir;
# slapd drops to nobody:nogroup when started as root and is stopped with the run.
peer_ldap_start() {
	local dir ldap ldaps port
	# The preseed keeps slapd's postinst from building (and starting) a default directory.
	if ! command -v slapd >/dev/null 2>&1 && ! dpkg_installed slapd; then
		echo "slapd slapd/no_configuration boolean true" | as_root debconf-set-selections
	fi
	ensure_apt slapd:slapd ldap-utils:ldapadd openssl:openssl
	dir=$PROC_DIR/peer-ldap # private to this run, removed on exit
	mkdir -p "$dir"
	# slapd (nobody) must reach its directory: traverse only, the run dir stays unlisted.
	((EUID == 0)) && chmod o+x "$PROC_DIR"
	ldap=$(free_port)
	ldaps=$(free_port)
	while [[ $ldaps == "$ldap" ]]; do ldaps=$(free_port); done
	"$ROOT/scripts/peers/slapd.sh" prepare "$dir" "$ldap" "$ldaps"
	start_bg ldap "$LOG_DIR/peer-ldap.log" "$ROOT/scripts/peers/slapd.sh" run "$dir" "$ldap" "$ldaps"
	for port in "$ldap" "$ldaps"; do
		wait_tcp 127.0.0.1 "$port" 20 || {
			tail -n 20 "$LOG_DIR/peer-ldap.log" >&2 || true
			die "slapd does not accept connections on 127.0.0.1:$port"
		}
	done
	assert_loopback_only "$BG_PID"
	"$ROOT/scripts/peers/slapd.sh" seed "$dir" "$ldap"
	"$ROOT/scripts/peers/slapd.sh" env "$dir" "$ldap" "$ldaps" >>"$PROC_DIR/peer-env.sh"
}

# peer oidc: npm `oidc-provider` 9 (panva, a certified OpenID provider) run by
# scripts/peers/oidc-server.mjs, for OpenID Connect sign-in (crates/server/tests/api/oidc.rs,
# pw_testkit::oidc, the e2e OIDC test). The packages (scripts/peers/oidc/package-lock.json)
# are installed into target/npm-oidc. HTTPS on 127.0.0.1 with a throwaway CA made at start;
# the issuer is https://localhost:PORT, which printwarden's outbound guard refuses (loopback)
# until the administrator allows `localhost` by name, as for any internal IdP. Two clients
# (farm / farm-secret, and the public farm-public), users incl. bob with an unverified email,
# and test controls under /_test/ (key rotation, one-shot broken ID tokens). It watches this
# shell's pid and exits by itself when the run goes away.
peer_oidc_start() {
	local npmdir=$TARGET_DIR/npm-oidc dir port
	command -v node >/dev/null 2>&1 || die "node not found (node 20+ and npm are needed for the OpenID provider peer)"
	ensure_apt openssl:openssl
	mkdir -p "$npmdir"
	if [[ ! -d $npmdir/node_modules/oidc-provider ]] ||
		! cmp -s "$ROOT/scripts/peers/oidc/package-lock.json" "$npmdir/package-lock.json"; then
		cp "$ROOT/scripts/peers/oidc/package.json" "$ROOT/scripts/peers/oidc/package-lock.json" "$npmdir/"
		(cd "$npmdir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
	# Node resolves packages next to the script: run a copy inside the install.
	cp "$ROOT/scripts/peers/oidc-server.mjs" "$npmdir/oidc-server.mjs"
	dir=$PROC_DIR/peer-oidc # private to this run, removed on exit
	mkdir -p "$dir"
	port=$(free_port)
	start_bg oidc "$LOG_DIR/peer-oidc.log" node "$npmdir/oidc-server.mjs" \
		--state-dir "$dir" --port "$port" --parent-pid "$$"
	wait_tcp 127.0.0.1 "$port" 20 || {
		tail -n 20 "$LOG_DIR/peer-oidc.log" >&2 || true
		die "the OpenID provider does not accept connections on 127.0.0.1:$port"
	}
	wait_for_file "$dir/ca.pem" 5 "$BG_PID"
	assert_loopback_only "$BG_PID"
	peer_export PW_TEST_OIDC_ISSUER "https://localhost:$port"
	peer_export PW_TEST_OIDC_CA "$dir/ca.pem"
}
