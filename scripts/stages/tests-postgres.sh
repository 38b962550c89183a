# shellcheck shell=bash
# shellcheck disable=SC2317 # functions here are called indirectly
# Stage tests-postgres: defines stage_tests_postgres.
# Sourced by scripts/test.sh (which sets ROOT, TARGET_DIR, LOG_DIR, PROC_DIR and
# the stage runner's stage_detail/stage_counts); don't run it.

PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3 >/dev/null 2>&1; }
pg_psql() { psql -X -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"; }

# ensure_postgres: a PostgreSQL that accepts `postgres` without a password on
# 127.0.0.1:5432. Starts an existing cluster, or installs one.
ensure_postgres() {
	local ver installed=0 i
	ensure_apt postgresql-client:psql
	if ! pg_up; then
		if ! compgen -G '/etc/postgresql/*/main' >/dev/null; then
			log "no PostgreSQL cluster: installing postgresql"
			apt_install postgresql
			installed=1
		fi
		for ver in /etc/postgresql/*/main; do
			ver=${ver#/etc/postgresql/}
			ver=${ver%/main}
			if ((installed)); then pg_trust_loopback "$ver"; fi
			log "starting PostgreSQL cluster $ver/main"
			as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start ||
				as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload || true
		done
		for ((i = 0; i < 100; i++)); do
			pg_up && break
			sleep 0.2
		done
		pg_up || {
			pg_isready -h "$PG_HOST" -p "$PG_PORT" || true
			die "PostgreSQL does not accept connections on $PG_HOST:$PG_PORT"
		}
	fi
	[[ $(pg_psql -Atqc 'select 1') == 1 ]] ||
		die "psql -h $PG_HOST -U $PG_USER -c 'select 1' failed (PostgreSQL needs trust auth for $PG_USER on $PG_HOST)"
	log "PostgreSQL on $PG_HOST:$PG_PORT: $(pg_psql -Atqc 'show server_version')"
}

# pg_trust_loopback VERSION: lets `postgres` in without a password from
# 127.0.0.1/::1. Only done to a cluster this script just installed.
pg_trust_loopback() {
	local hba=/etc/postgresql/$1/main/pg_hba.conf
	[[ -f $hba ]] || return 0
	grep -q '^host all postgres 127.0.0.1/32 trust' "$hba" && return 0
	log "pg_hba.conf: trust for postgres on 127.0.0.1 and ::1 (test machine)"
	as_root sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
}

# drop_test_databases: drops the pw_test_* databases that tests left behind.
# Prints how many.
drop_test_databases() {
	local db n=0
	while read -r db; do
		[[ -n $db ]] || continue
		if pg_psql -qc "DROP DATABASE \"${db//\"/\"\"}\" WITH (FORCE)" >/dev/null; then
			n=$((n + 1))
		else
			warn "could not drop database $db"
		fi
	done < <(pg_psql -Atc "select datname from pg_database where datname like 'pw\_test\_%'")
	echo "$n"
}

stage_tests_postgres() {
	local rc=0 dropped detail
	stage_detail "PostgreSQL setup failed"
	ensure_postgres
	# The whole suite runs here too: crates/simulator/tests/rtsp.rs needs Debian's ffmpeg.
	ensure_apt ffmpeg:ffprobe
	export PRINTWARDEN_TEST_DB=postgres
	export PRINTWARDEN_TEST_PG_URL=${PRINTWARDEN_TEST_PG_URL:-postgres://$PG_USER@$PG_HOST:$PG_PORT/postgres}
	nextest_run || rc=$?
	dropped=$(drop_test_databases) || dropped="?"
	detail=$(cat "$PROC_DIR/$STAGE_NAME.detail" 2>/dev/null || true)
	if [[ $dropped != 0 ]]; then
		log "dropped $dropped leftover pw_test_* database(s)"
		stage_detail "$detail, dropped $dropped leftover db(s)"
	fi
	return "$rc"
}
