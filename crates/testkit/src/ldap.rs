//! The OpenLDAP test peer (`scripts/peers/slapd.sh`, started by `scripts/test.sh`) as a test
//! sees it: where it listens, its CA (and an unrelated one for "wrong CA" tests), the
//! read-only bind account printwarden uses, and a way to change the directory as its
//! administrator (`ldapmodify` over StartTLS). Invariant: it only talks to the peer the
//! `PW_TEST_LDAP_*` variables name, over verified TLS.
//!
//! The directory is shared by every test of a run (both backends): tests that change it
//! (`dave`, `farm-mutable`, `farm-spare`) first put back the state they start from.

use std::io::Write as _;
use std::process::{Command, Stdio};

const NOT_RUNNING: &str = "start the OpenLDAP test peer: run the tests through scripts/test.sh \
     (TEST_STAGES=tests-sqlite), or by hand: scripts/peers/slapd.sh prepare|run|seed|env DIR PORT PORT \
     and source the lines `env` prints";

/// The running slapd, from the variables `scripts/test.sh` exports.
#[derive(Debug, Clone)]
pub struct LdapPeer {
    host: String,
    port: u16,
    ldaps_port: u16,
    ca_path: String,
    ca_pem: String,
    wrong_ca_pem: String,
    base: String,
    bind_dn: String,
    bind_password: String,
    admin_dn: String,
    admin_password: String,
}

fn var(name: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("{name} is not set: {NOT_RUNNING}")),
    }
}

fn port(name: &str) -> Result<u16, String> {
    let raw = var(name)?;
    raw.parse()
        .map_err(|_| format!("{name}={raw:?} is not a port: {NOT_RUNNING}"))
}

fn read(name: &str) -> Result<(String, String), String> {
    let path = var(name)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {name}={path}: {e}: {NOT_RUNNING}"))?;
    Ok((path, text))
}

impl LdapPeer {
    /// Reads `PW_TEST_LDAP_HOST`, `_PORT`, `PW_TEST_LDAPS_PORT`, `PW_TEST_LDAP_CA`,
    /// `_WRONG_CA`, `_BASE`, `_BIND_DN`, `_BIND_PASSWORD`, `_ADMIN_DN` and `_ADMIN_PASSWORD`.
    /// The error tells how to get the peer running; tests should fail with it, not skip.
    pub fn from_env() -> Result<LdapPeer, String> {
        let (ca_path, ca_pem) = read("PW_TEST_LDAP_CA")?;
        let (_, wrong_ca_pem) = read("PW_TEST_LDAP_WRONG_CA")?;
        Ok(LdapPeer {
            host: var("PW_TEST_LDAP_HOST")?,
            port: port("PW_TEST_LDAP_PORT")?,
            ldaps_port: port("PW_TEST_LDAPS_PORT")?,
            ca_path,
            ca_pem,
            wrong_ca_pem,
            base: var("PW_TEST_LDAP_BASE")?,
            bind_dn: var("PW_TEST_LDAP_BIND_DN")?,
            bind_password: var("PW_TEST_LDAP_BIND_PASSWORD")?,
            admin_dn: var("PW_TEST_LDAP_ADMIN_DN")?,
            admin_password: var("PW_TEST_LDAP_ADMIN_PASSWORD")?,
        })
    }

    /// Host slapd listens on (an address on loopback).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `ldap://host:port` (StartTLS required there for anything but the rootDSE).
    #[must_use]
    pub fn starttls_url(&self) -> String {
        format!("ldap://{}:{}", self.host, self.port)
    }

    /// `ldaps://host:port`.
    #[must_use]
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://{}:{}", self.host, self.ldaps_port)
    }

    /// The StartTLS port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The LDAPS port.
    #[must_use]
    pub fn ldaps_port(&self) -> u16 {
        self.ldaps_port
    }

    /// PEM of the CA that signed slapd's certificate.
    #[must_use]
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// PEM of a CA that has nothing to do with slapd.
    #[must_use]
    pub fn wrong_ca_pem(&self) -> &str {
        &self.wrong_ca_pem
    }

    /// The directory's base DN (`dc=farm,dc=test`).
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The read-only account printwarden binds as.
    #[must_use]
    pub fn bind_dn(&self) -> &str {
        &self.bind_dn
    }

    /// Its password.
    #[must_use]
    pub fn bind_password(&self) -> &str {
        &self.bind_password
    }

    /// `cn=NAME,ou=groups,<base>`.
    #[must_use]
    pub fn group_dn(&self, name: &str) -> String {
        format!("cn={name},ou=groups,{}", self.base)
    }

    /// `uid=NAME,ou=people,<base>`.
    #[must_use]
    pub fn user_dn(&self, name: &str) -> String {
        format!("uid={name},ou=people,{}", self.base)
    }

    /// Applies `ldif` (changetype records) as the directory's administrator with
    /// `ldapmodify -ZZ`; `-c` goes on past records that change nothing.
    pub fn modify(&self, ldif: &str) -> Result<(), String> {
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-ZZ", "-c", "-H", &self.starttls_url(), "-D"])
            .arg(&self.admin_dn)
            .arg("-w")
            .arg(&self.admin_password)
            .env("LDAPTLS_CACERT", &self.ca_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("ldapmodify: {e}: install ldap-utils ({NOT_RUNNING})"))?;
        child
            .stdin
            .take()
            .ok_or("ldapmodify: no stdin")?
            .write_all(ldif.as_bytes())
            .map_err(|e| format!("ldapmodify stdin: {e}"))?;
        let out = child
            .wait_with_output()
            .map_err(|e| format!("ldapmodify: {e}"))?;
        // 20 = attribute or value exists, 16 = no such attribute: already in that state.
        match out.status.code() {
            Some(0 | 16 | 20) => Ok(()),
            _ => Err(format!(
                "ldapmodify failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }

    /// Sets one attribute of `uid=NAME` to `value`.
    pub fn set_attribute(&self, name: &str, attribute: &str, value: &str) -> Result<(), String> {
        self.modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: {attribute}\n{attribute}: {value}\n",
            self.user_dn(name)
        ))
    }
}
