#!/usr/bin/env bash
# OpenLDAP test peer for printwarden's LDAP sign-in (crates/identity/src/ldap.rs,
# crates/server/tests/api/ldap.rs, pw_testkit::ldap). Used by scripts/lib/peers.sh
# (peer_ldap_start); it can also be run by hand:
#
#   scripts/peers/slapd.sh prepare DIR LDAP_PORT LDAPS_PORT   # test CA, cn=config
#   scripts/peers/slapd.sh run DIR LDAP_PORT LDAPS_PORT       # slapd in the foreground
#   scripts/peers/slapd.sh seed DIR LDAP_PORT                 # users and groups (StartTLS)
#   scripts/peers/slapd.sh env DIR LDAP_PORT LDAPS_PORT       # the PW_TEST_LDAP_* lines
#
# Everything lives in DIR (the run's temp dir): a throwaway CA made at prepare time (and a
# second, unrelated CA for the "wrong CA" tests), the server certificate for 127.0.0.1 and
# localhost, slapd's cn=config and its database. slapd listens on 127.0.0.1 only, TLS 1.2 at
# least; userPassword is readable by nobody (bind only); anonymous users see nothing.
# When started as root, slapd drops to nobody:nogroup after opening its ports.
#
# Directory (base dc=farm,dc=test, every password below is a test value, not a secret):
#   ou=services: cn=reader (the bind DN printwarden uses; read-only), password readerpw
#   ou=people:   alice/alicepw, bob/bobpw, carol/carolpw, dave/davepw, admin/directorypw
#   ou=groups:   farm-admins    groupOfNames  member: alice          (memberOf overlay on)
#                farm-viewers   groupOfNames  member: carol
#                farm-mutable   groupOfNames  member: dave           (tests change this one)
#                farm-operators posixGroup    memberUid: alice, bob
#                farm-spare     posixGroup    memberUid: (none; tests add dave)
set -euo pipefail

BASE=dc=farm,dc=test
ADMIN_DN=cn=admin,$BASE
ADMIN_PW='directory admin: not a secret'
READER_DN=cn=reader,ou=services,$BASE
READER_PW=readerpw

cmd=${1:?usage: slapd.sh prepare|run|seed|env DIR LDAP_PORT [LDAPS_PORT]}
dir=${2:?state dir}
ldap_port=${3:?ldap port}
ldaps_port=${4:-}

make_ca() { # name: $dir/name.crt + .key
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=printwarden LDAP test CA ($1)" \
		-keyout "$dir/$1.key" -out "$dir/$1.crt" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

prepare() {
	rm -rf "$dir/slapd.d" "$dir/db" "$dir/run"
	mkdir -p "$dir/slapd.d" "$dir/db" "$dir/run"
	make_ca ca
	make_ca wrong-ca
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/server.key" \
		-out "$dir/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
		>"$dir/server.ext"
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
		-days 30 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
	rm -f "$dir/ca.key" "$dir/wrong-ca.key" "$dir/server.csr"
	local hash
	hash=$(slappasswd -s "$ADMIN_PW")
	cat >"$dir/config.ldif" <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $dir/run/slapd.pid
olcTLSCACertificateFile: $dir/ca.crt
olcTLSCertificateFile: $dir/server.crt
olcTLSCertificateKeyFile: $dir/server.key
olcTLSProtocolMin: 3.3
olcLogLevel: none

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: refint

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcAccess: {0}to dn.base="" by * read
olcAccess: {1}to dn.base="cn=subschema" by * read

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $BASE
olcDbDirectory: $dir/db
olcDbMaxSize: 104857600
olcRootDN: $ADMIN_DN
olcRootPW: $hash
olcDbIndex: objectClass eq
olcDbIndex: uid,memberUid,member eq
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by users read by * none

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={1}refint,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {1}refint
olcRefintAttribute: member
olcRefintAttribute: memberOf
LDIF
	slapadd -n0 -F "$dir/slapd.d" -l "$dir/config.ldif" >/dev/null
	if ((EUID == 0)); then
		# slapd runs as nobody: it must read its config, key and database, and reach them.
		chown -R nobody:nogroup "$dir/slapd.d" "$dir/db" "$dir/run" "$dir/server.key"
		chmod 711 "$dir"
	fi
}

run() {
	local user=()
	((EUID == 0)) && user=(-u nobody -g nogroup)
	# -d 0 keeps slapd in the foreground, so the caller's pid is slapd's.
	exec slapd -h "ldap://127.0.0.1:$ldap_port/ ldaps://127.0.0.1:$ldaps_port/" -F "$dir/slapd.d" \
		"${user[@]}" -d 0
}

person() { # uid "Full Name" mail number password
	cat <<LDIF
dn: uid=$1,ou=people,$BASE
objectClass: inetOrgPerson
objectClass: posixAccount
uid: $1
cn: $2
sn: ${2##* }
displayName: $2
mail: $3
uidNumber: $4
gidNumber: $4
homeDirectory: /home/$1
userPassword: $(slappasswd -s "$5")

LDIF
}

seed() {
	{
		cat <<LDIF
dn: $BASE
objectClass: dcObject
objectClass: organization
dc: farm
o: Print Farm Test

dn: ou=people,$BASE
objectClass: organizationalUnit
ou: people

dn: ou=groups,$BASE
objectClass: organizationalUnit
ou: groups

dn: ou=services,$BASE
objectClass: organizationalUnit
ou: services

dn: $READER_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: $(slappasswd -s "$READER_PW")

LDIF
		person alice "Alice Operator" alice@farm.test 10001 alicepw
		person bob "Bob Viewer" bob@farm.test 10002 bobpw
		person carol "Carol Planner" carol@farm.test 10003 carolpw
		person dave "Dave Changes" dave@farm.test 10004 davepw
		person admin "Directory Admin" directory-admin@farm.test 10005 directorypw
		# Groups after the people and after the overlay exists: memberOf is computed on write.
		cat <<LDIF
dn: cn=farm-admins,ou=groups,$BASE
objectClass: groupOfNames
cn: farm-admins
member: uid=alice,ou=people,$BASE

dn: cn=farm-viewers,ou=groups,$BASE
objectClass: groupOfNames
cn: farm-viewers
member: uid=carol,ou=people,$BASE

dn: cn=farm-mutable,ou=groups,$BASE
objectClass: groupOfNames
cn: farm-mutable
member: uid=dave,ou=people,$BASE

dn: cn=farm-operators,ou=groups,$BASE
objectClass: posixGroup
cn: farm-operators
gidNumber: 20001
memberUid: alice
memberUid: bob

dn: cn=farm-spare,ou=groups,$BASE
objectClass: posixGroup
cn: farm-spare
gidNumber: 20002

LDIF
	} >"$dir/data.ldif"
	LDAPTLS_CACERT=$dir/ca.crt ldapadd -x -ZZ -H "ldap://127.0.0.1:$ldap_port" -D "$ADMIN_DN" \
		-w "$ADMIN_PW" -f "$dir/data.ldif" >/dev/null
	# Proof that TLS and the overlay work: alice reads her own memberOf over LDAPS.
	LDAPTLS_CACERT=$dir/ca.crt ldapsearch -x -ZZ -H "ldap://127.0.0.1:$ldap_port" \
		-D "uid=alice,ou=people,$BASE" -w alicepw -b "uid=alice,ou=people,$BASE" -s base memberOf |
		grep -q "^memberOf: cn=farm-admins,ou=groups,$BASE" ||
		{
			echo "slapd.sh: the memberof overlay did not give alice memberOf" >&2
			exit 1
		}
}

env_lines() {
	local name value
	while read -r name value; do
		printf 'export %s=%q\n' "$name" "$value"
	done <<EOF
PW_TEST_LDAP_HOST 127.0.0.1
PW_TEST_LDAP_PORT $ldap_port
PW_TEST_LDAPS_PORT $ldaps_port
PW_TEST_LDAP_CA $dir/ca.crt
PW_TEST_LDAP_WRONG_CA $dir/wrong-ca.crt
PW_TEST_LDAP_BASE $BASE
PW_TEST_LDAP_BIND_DN $READER_DN
PW_TEST_LDAP_BIND_PASSWORD $READER_PW
PW_TEST_LDAP_ADMIN_DN $ADMIN_DN
PW_TEST_LDAP_ADMIN_PASSWORD $ADMIN_PW
EOF
}

case $cmd in
prepare) prepare ;;
run) run ;;
seed) seed ;;
env) env_lines ;;
*)
	echo "slapd.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
