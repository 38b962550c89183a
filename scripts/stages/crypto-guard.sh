# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# Stage crypto-guard: defines stage_crypto_guard.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

# stage_crypto_guard: cargo-deny with deny.toml at the repository root. Bans
# (openssl-sys, aws-lc-sys, aws-lc-fips-sys, native-tls: one TLS and crypto
# stack, rustls + ring; duplicate versions only warned), the license allow-list
# and the crate sources, over every target and edge kind. Advisories are not
# checked: their database is fetched from GitHub (see deny.toml).
stage_crypto_guard() {
	local out=$PROC_DIR/deny.out rc=0 banned
	ensure_rust_tool cargo-deny cargo deny --version
	cargo deny --color never check bans licenses sources 2>&1 | tee "$out" || rc=$?
	if ((rc != 0)); then
		banned=$(sed -nE "s/.*error\[banned\]: crate '([^ ']+)[ '].*/\1/p" "$out" | sort -u | tr '\n' ' ')
		stage_detail "cargo deny: $(tail -n 1 "$out")${banned:+; banned: ${banned% }}"
		return "$rc"
	fi
	stage_detail "cargo deny: bans, licenses, sources ok ($(grep -c '^warning\[duplicate\]' "$out" || true) duplicate-version warnings)"
}
