//! `pw_identity::ldap` against a real directory: the OpenLDAP slapd that `scripts/test.sh`
//! starts (StartTLS and LDAPS, its own CA, users in groupOfNames/memberOf and posixGroup
//! style). Checks sign-in over both kinds of TLS, both group styles, that a wrong CA stops the
//! connection, that filter injections find nobody, and that an empty password is refused
//! before any connection. Read-only: nothing here changes the directory.
#![expect(
    clippy::panic,
    reason = "a missing peer fails the test with how to start it"
)]

use std::time::Duration;

use pw_credentials::SecretString;
use pw_identity::ldap::{LdapConfig, LdapError, LdapUrl, authenticate, test_connection};
use pw_testkit::ldap::LdapPeer;

fn peer() -> LdapPeer {
    LdapPeer::from_env().unwrap_or_else(|e| panic!("{e}"))
}

fn config(peer: &LdapPeer, url: &str, starttls: bool) -> LdapConfig {
    LdapConfig {
        url: LdapUrl::parse(url, starttls).unwrap_or_else(|e| panic!("{e}")),
        connect_to: vec![peer.host().parse().unwrap_or_else(|e| panic!("{e}"))],
        ca_cert_pem: Some(peer.ca_pem().to_owned()),
        bind_dn: peer.bind_dn().to_owned(),
        bind_password: secret(peer.bind_password()),
        user_base: format!("ou=people,{}", peer.base()),
        user_filter: "(&(objectClass=inetOrgPerson)(uid={username}))".to_owned(),
        email_attr: "mail".to_owned(),
        name_attr: "displayName".to_owned(),
        group_base: format!("ou=groups,{}", peer.base()),
        timeout: Duration::from_secs(5),
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::new(s.to_owned())
}

#[tokio::test]
async fn ldap_starttls_and_ldaps_sign_in_with_both_group_styles() {
    let peer = peer();
    for (url, starttls) in [(peer.starttls_url(), true), (peer.ldaps_url(), false)] {
        let cfg = config(&peer, &url, starttls);
        let alice = authenticate(&cfg, "alice", &secret("alicepw"))
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(alice.dn, peer.user_dn("alice"));
        assert_eq!(alice.email.as_deref(), Some("alice@farm.test"));
        assert_eq!(alice.display_name.as_deref(), Some("Alice Operator"));
        // groupOfNames (also memberOf on her entry) and posixGroup/memberUid.
        assert!(
            alice.groups.contains(&peer.group_dn("farm-admins")),
            "{alice:?}"
        );
        assert!(
            alice.groups.contains(&peer.group_dn("farm-operators")),
            "{alice:?}"
        );
        let bob = authenticate(&cfg, "bob", &secret("bobpw"))
            .await
            .expect("bob");
        assert_eq!(
            bob.groups.iter().cloned().collect::<Vec<_>>(),
            vec![peer.group_dn("farm-operators")]
        );
        assert_eq!(
            authenticate(&cfg, "alice", &secret("bobpw")).await,
            Err(LdapError::WrongPassword)
        );
    }
}

#[tokio::test]
async fn ldap_filter_injections_find_nobody() {
    let peer = peer();
    let cfg = config(&peer, &peer.ldaps_url(), false);
    for name in [
        "*",
        "al*",
        "alice)(uid=*",
        "*)(|(uid=*",
        "alice\\",
        "alice\0",
        "\0",
        "(uid=alice)",
    ] {
        let got = authenticate(&cfg, name, &secret("alicepw")).await;
        assert_eq!(got, Err(LdapError::NotFound), "{name:?}");
    }
}

#[tokio::test]
async fn ldap_empty_password_is_refused_before_connecting() {
    let peer = peer();
    let mut cfg = config(&peer, &peer.ldaps_url(), false);
    // Nothing listens here: a connection attempt would read Unreachable.
    cfg.connect_to = vec!["127.0.0.1".parse().expect("ip")];
    cfg.url.port = 1;
    assert_eq!(
        authenticate(&cfg, "alice", &secret("")).await,
        Err(LdapError::EmptyPassword)
    );
    // The control: with a password, the same settings do try, and fail to connect.
    assert!(matches!(
        authenticate(&cfg, "alice", &secret("alicepw")).await,
        Err(LdapError::Unreachable(_))
    ));
}

#[tokio::test]
async fn ldap_wrong_ca_is_refused() {
    let peer = peer();
    for (url, starttls) in [(peer.starttls_url(), true), (peer.ldaps_url(), false)] {
        let mut cfg = config(&peer, &url, starttls);
        cfg.ca_cert_pem = Some(peer.wrong_ca_pem().to_owned());
        let got = authenticate(&cfg, "alice", &secret("alicepw")).await;
        assert!(
            matches!(&got, Err(LdapError::Tls(why)) if why.contains("not signed by a trusted CA")),
            "{url}: {got:?}"
        );
        // The platform roots do not know the test CA either.
        cfg.ca_cert_pem = None;
        let got = authenticate(&cfg, "alice", &secret("alicepw")).await;
        assert!(matches!(&got, Err(LdapError::Tls(_))), "{url}: {got:?}");
    }
}

#[tokio::test]
async fn ldap_test_connection_reports_each_step() {
    let peer = peer();
    let cfg = config(&peer, &peer.starttls_url(), true);
    let steps = test_connection(&cfg, Some("alice")).await;
    let names: Vec<_> = steps.iter().map(|s| (s.step, s.ok)).collect();
    assert_eq!(
        names,
        vec![
            ("connect", true),
            ("bind", true),
            ("find_user", true),
            ("groups", true)
        ],
        "{steps:?}"
    );
    assert!(steps[3].message.contains("cn=farm-admins"), "{steps:?}");
    let mut wrong = cfg.clone();
    wrong.bind_password = secret("not the reader's password");
    let steps = test_connection(&wrong, None).await;
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(
        !steps[1].ok && steps[1].message.contains("result code 49"),
        "{steps:?}"
    );
}
