//! LDAP sign-in (S6) through the real server against the real OpenLDAP test peer (slapd, started
//! by `scripts/test.sh`): provisioning, email sync, both group styles mapped, group changes
//! revoking sessions, local wins, the directory down, filter injections, the empty-password
//! bypass, StartTLS required, a wrong CA, the throttle, who may touch the settings, and the
//! bind password sealed and never returned.
//!
//! The directory is shared by every test (and by both backend runs); only
//! `ldap_email_sync_and_group_changes_revoke_sessions` changes it, and only user `dave`.

use pw_testkit::ldap::LdapPeer;
use pw_testkit::{Answer, Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

use crate::support::api_key;

struct LdapFarm {
    server: TestServer,
    peer: LdapPeer,
    admin: Auth,
    /// Mapped from `cn=farm-admins` (groupOfNames, memberOf).
    leads: i64,
    /// Mapped from `cn=farm-operators` (posixGroup, memberUid).
    operators: i64,
    /// Mapped from `cn=farm-spare` (posixGroup; the sync test adds dave).
    spare: i64,
}

impl LdapFarm {
    /// A server with generous sign-in limits (these tests sign in many times from one address).
    async fn new() -> Self {
        Self::with_env(&[
            ("PRINTWARDEN_RATE_LIMIT_LOGIN", "0"),
            ("PRINTWARDEN_RATE_LIMIT_LOGIN_ACCOUNT", "0"),
        ])
        .await
    }

    async fn with_env(env: &[(&str, &str)]) -> Self {
        let peer = LdapPeer::from_env().expect("the OpenLDAP test peer");
        let server = TestServer::spawn_env(env).await;
        let admin = server.setup_admin().await;
        // The directory on 127.0.0.1 is a LAN server the operator admits, as an operator would.
        let allow = server
            .call(
                &admin,
                "PUT",
                "/api/v1/settings/outbound",
                Some(json!({"allowed_hosts": [peer.host()]})),
            )
            .await;
        assert_eq!(allow.status, 200, "{:?}", allow.json);
        let leads = server
            .create_group(&admin, "Print leads", &["printers:read", "queue:reorder"])
            .await;
        let operators = server
            .create_group(&admin, "Directory operators", &["printers:read"])
            .await;
        let spare = server
            .create_group(&admin, "Spare shift", &["printers:read"])
            .await;
        Self {
            server,
            peer,
            admin,
            leads,
            operators,
            spare,
        }
    }

    /// Working LDAPS settings with the three mappings, enabled.
    fn settings(&self) -> Value {
        json!({
            "url": self.peer.ldaps_url(),
            "ca_cert_pem": self.peer.ca_pem(),
            "bind_dn": self.peer.bind_dn(),
            "bind_password": self.peer.bind_password(),
            "user_base": format!("ou=people,{}", self.peer.base()),
            "user_filter": "(&(objectClass=inetOrgPerson)(uid={username}))",
            "email_attr": "mail",
            "name_attr": "displayName",
            "group_base": format!("ou=groups,{}", self.peer.base()),
            "group_mappings": [
                // Upper case on purpose: DNs compare case-insensitively.
                {"directory_group": self.peer.group_dn("farm-admins").to_uppercase(), "group_id": self.leads},
                {"directory_group": self.peer.group_dn("farm-operators"), "group_id": self.operators},
                {"directory_group": self.peer.group_dn("farm-spare"), "group_id": self.spare},
            ],
            "enabled": true,
        })
    }

    async fn put(&self, body: Value) -> Answer {
        self.server
            .call(&self.admin, "PUT", "/api/v1/settings/ldap", Some(body))
            .await
    }

    async fn configure(&self) {
        let a = self.put(self.settings()).await;
        assert_eq!(a.status, 200, "{:?}", a.json);
    }

    async fn login(&self, username: &str, password: &str) -> Answer {
        self.server
            .call(
                &Auth::None,
                "POST",
                "/api/v1/auth/login",
                Some(json!({"username": username, "password": password})),
            )
            .await
    }

    async fn me(&self, auth: &Auth) -> Answer {
        self.server.call(auth, "GET", "/api/v1/auth/me", None).await
    }

    async fn audit(&self, event: &str) -> Vec<Value> {
        let a = self
            .server
            .call(
                &self.admin,
                "GET",
                &format!("/api/v1/audit?event={event}&limit=200"),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        a.json["items"].as_array().unwrap().clone()
    }

    async fn user_count(&self) -> usize {
        let a = self
            .server
            .call(&self.admin, "GET", "/api/v1/users?limit=200", None)
            .await;
        a.json["items"].as_array().unwrap().len()
    }
}

fn group_ids(me: &Answer) -> Vec<i64> {
    let mut ids: Vec<i64> = me.json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

fn cookie(a: &Answer) -> Auth {
    Auth::Cookie(a.session_cookie().expect("a session cookie"))
}

#[tokio::test]
async fn ldap_sign_in_provisions_and_maps_both_group_styles() {
    let farm = LdapFarm::new().await;
    let status = farm
        .server
        .call(&Auth::None, "GET", "/api/v1/auth/status", None)
        .await;
    assert_eq!(status.json["ldap"], false);
    farm.configure().await;
    let status = farm
        .server
        .call(&Auth::None, "GET", "/api/v1/auth/status", None)
        .await;
    assert_eq!(status.json["ldap"], true);

    let before = farm.user_count().await;
    let a = farm.login("alice", "alicepw").await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let me = farm.me(&cookie(&a)).await;
    assert_eq!(me.json["username"], "alice");
    assert_eq!(me.json["auth_source"], "ldap");
    assert_eq!(me.json["email"], "alice@farm.test");
    // groupOfNames (farm-admins, also memberOf) and posixGroup (farm-operators).
    assert_eq!(group_ids(&me), vec![farm.leads, farm.operators]);
    assert!(
        me.json["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("queue:reorder")),
        "{:?}",
        me.json
    );
    assert_eq!(farm.user_count().await, before + 1);

    // bob: posixGroup only. A second sign-in finds the same account.
    let b = farm.login("bob", "bobpw").await;
    assert_eq!(b.status, 200, "{:?}", b.json);
    assert_eq!(group_ids(&farm.me(&cookie(&b)).await), vec![farm.operators]);
    let again = farm.login("ALICE", "alicepw").await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(farm.user_count().await, before + 2);

    // Wrong directory password: the usual answer.
    let wrong = farm.login("alice", "bobpw").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.json["error"]["message"],
        "Wrong username or password."
    );

    let lines = farm.audit("auth.ldap_login").await;
    assert!(
        lines
            .iter()
            .any(|l| l["success"] == true && l["details"]["provisioned"] == true),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l["success"] == false
            && l["details"]["reason"] == "the directory refused the password"),
        "{lines:?}"
    );
    let logins = farm.audit("auth.login").await;
    assert!(
        logins.iter().any(|l| l["details"]["source"] == "ldap"),
        "{logins:?}"
    );

    // The directory owns the password: no change here.
    let change = farm
        .server
        .call(
            &cookie(&a),
            "POST",
            "/api/v1/auth/password",
            Some(json!({"current_password": "alicepw", "new_password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(change.status, 400, "{:?}", change.json);
    assert!(
        change.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("directory"),
        "{:?}",
        change.json
    );
    // Nor can an administrator set one or mail a reset link.
    let alice_id = farm.me(&cookie(&a)).await.json["id"].as_i64().unwrap();
    let set = farm
        .server
        .call(
            &farm.admin,
            "PATCH",
            &format!("/api/v1/users/{alice_id}"),
            Some(json!({"password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(set.status, 400, "{:?}", set.json);
    let link = farm
        .server
        .call(
            &farm.admin,
            "POST",
            &format!("/api/v1/users/{alice_id}/password-reset"),
            None,
        )
        .await;
    assert_eq!(link.status, 409, "{:?}", link.json);
    // Latency of a directory sign-in (connect, two binds, two searches) through the server.
    let started = std::time::Instant::now();
    assert_eq!(farm.login("bob", "bobpw").await.status, 200);
    eprintln!("LDAP sign-in took {:?}", started.elapsed());
    let started = std::time::Instant::now();
    assert_eq!(farm.login("admin", TEST_PASSWORD).await.status, 200);
    eprintln!("local sign-in took {:?}", started.elapsed());
}

#[tokio::test]
async fn ldap_email_sync_and_group_changes_revoke_sessions() {
    let farm = LdapFarm::new().await;
    farm.configure().await;
    let peer = &farm.peer;
    let spare = peer.group_dn("farm-spare");
    // Start state (another run may have left dave changed).
    peer.set_attribute("dave", "mail", "dave@farm.test")
        .unwrap();
    peer.modify(&format!(
        "dn: {spare}\nchangetype: modify\nadd: memberUid\nmemberUid: dave\n"
    ))
    .unwrap();

    let first = farm.login("dave", "davepw").await;
    assert_eq!(first.status, 200, "{:?}", first.json);
    let first = cookie(&first);
    let me = farm.me(&first).await;
    assert_eq!(me.json["email"], "dave@farm.test");
    assert_eq!(group_ids(&me), vec![farm.spare]);

    // A group an administrator gave by hand is not the directory's to take away.
    let dave_id = me.json["id"].as_i64().unwrap();
    let manual = farm
        .server
        .create_group(&farm.admin, "Night shift", &["printers:read"])
        .await;
    let patch = farm
        .server
        .call(
            &farm.admin,
            "PATCH",
            &format!("/api/v1/users/{dave_id}"),
            Some(json!({"group_ids": [farm.spare, manual]})),
        )
        .await;
    assert_eq!(patch.status, 200, "{:?}", patch.json);

    // Email changed in the directory: synced at the next sign-in; same groups: sessions stay.
    peer.set_attribute("dave", "mail", "dave.changes@farm.test")
        .unwrap();
    let second = farm.login("dave", "davepw").await;
    assert_eq!(second.status, 200, "{:?}", second.json);
    let second = cookie(&second);
    let me = farm.me(&second).await;
    assert_eq!(me.json["email"], "dave.changes@farm.test");
    assert_eq!(farm.me(&second).await.status, 200);

    // Out of the mapped group in the directory: the mapping is re-evaluated at the next
    // sign-in, the group goes, the manual one stays, and every earlier session ends.
    peer.modify(&format!(
        "dn: {spare}\nchangetype: modify\ndelete: memberUid\nmemberUid: dave\n"
    ))
    .unwrap();
    let third = farm.login("dave", "davepw").await;
    assert_eq!(third.status, 200, "{:?}", third.json);
    let me = farm.me(&cookie(&third)).await;
    assert_eq!(group_ids(&me), vec![manual]);
    assert_eq!(farm.me(&second).await.status, 401, "the rights changed");
    let lines = farm.audit("auth.ldap_login").await;
    assert!(
        lines
            .iter()
            .any(|l| l["details"]["groups_removed"] == json!([farm.spare])),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l["details"]["email_synced"] == true),
        "{lines:?}"
    );
    peer.set_attribute("dave", "mail", "dave@farm.test")
        .unwrap();
}

#[tokio::test]
async fn ldap_local_accounts_win_a_name_clash() {
    let farm = LdapFarm::new().await;
    farm.configure().await;
    // The directory has uid=admin (password directorypw): the local administrator wins.
    assert_eq!(farm.login("admin", "directorypw").await.status, 401);
    assert_eq!(farm.login("admin", TEST_PASSWORD).await.status, 200);
    // A local carol exists: the directory's carol cannot sign in to it.
    farm.server.create_user(&farm.admin, "carol", &[]).await;
    assert_eq!(farm.login("carol", "carolpw").await.status, 401);
    assert_eq!(farm.login("carol", TEST_PASSWORD).await.status, 200);
    let lines = farm.audit("auth.login").await;
    assert!(
        lines.iter().all(|l| l["details"]["source"] != "ldap"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn ldap_directory_down_leaves_local_accounts_working() {
    let farm = LdapFarm::new().await;
    farm.configure().await;
    // alice was provisioned while the directory worked.
    assert_eq!(farm.login("alice", "alicepw").await.status, 200);
    // Now the directory is a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut down = farm.settings();
    down["url"] = json!(format!("ldaps://127.0.0.1:{port}"));
    let a = farm.put(down).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let started = std::time::Instant::now();
    let refused = farm.login("alice", "alicepw").await;
    assert_eq!(refused.status, 503, "{:?}", refused.json);
    let message = refused.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("Local accounts still can"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(farm.login("admin", TEST_PASSWORD).await.status, 200);
    let lines = farm.audit("auth.ldap_login").await;
    assert!(
        lines.iter().any(|l| l["success"] == false
            && l["details"]["reason"]
                .as_str()
                .unwrap_or("")
                .contains("could not be reached")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn ldap_filter_injections_sign_nobody_in() {
    let farm = LdapFarm::new().await;
    farm.configure().await;
    let before = farm.user_count().await;
    for name in [
        "*",
        "al*",
        "alice)(uid=*",
        "*)(|(uid=*",
        "alice\\",
        "alice\u{0}",
        "(uid=alice)",
    ] {
        let a = farm.login(name, "alicepw").await;
        assert_eq!(a.status, 401, "{name:?}: {:?}", a.json);
    }
    assert_eq!(farm.user_count().await, before, "nobody was provisioned");
}

#[tokio::test]
async fn ldap_empty_password_is_refused_without_reaching_the_directory() {
    let farm = LdapFarm::new().await;
    // The directory is a closed port: any attempt to reach it answers 503.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut settings = farm.settings();
    settings["url"] = json!(format!("ldaps://127.0.0.1:{port}"));
    assert_eq!(farm.put(settings).await.status, 200);
    // The control: a non-empty password does go to the directory.
    assert_eq!(farm.login("alice", "x").await.status, 503);
    // The empty one never does (an unauthenticated bind would "succeed").
    let a = farm.login("alice", "").await;
    assert_eq!(a.status, 401, "{:?}", a.json);
    let lines = farm.audit("auth.ldap_login").await;
    assert!(
        lines
            .iter()
            .any(|l| l["details"]["reason"] == "an empty password is never sent to the directory"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn ldap_settings_refuse_plain_ldap_and_accept_starttls() {
    let farm = LdapFarm::new().await;
    let mut s = farm.settings();
    s["url"] = json!(farm.peer.starttls_url());
    let plain = farm.put(s.clone()).await;
    assert_eq!(plain.status, 400, "{:?}", plain.json);
    s["starttls"] = json!(true);
    let ok = farm.put(s).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    assert_eq!(farm.login("carol", "carolpw").await.status, 200);
    // Other bad settings.
    for (field, value) in [
        ("user_filter", json!("(uid=alice)")),
        ("user_filter", json!("(uid={username}")),
        ("url", json!("https://127.0.0.1")),
        ("ca_cert_pem", json!("not a certificate")),
    ] {
        let mut s = farm.settings();
        s[field] = value;
        assert_eq!(farm.put(s).await.status, 400, "{field}");
    }
    let mut no_password = farm.settings();
    no_password["bind_password"] = json!("");
    assert_eq!(
        farm.put(no_password).await.status,
        400,
        "enabled without a bind password"
    );
}

#[tokio::test]
async fn ldap_wrong_ca_is_refused() {
    let farm = LdapFarm::new().await;
    let mut s = farm.settings();
    s["ca_cert_pem"] = json!(farm.peer.wrong_ca_pem());
    assert_eq!(farm.put(s).await.status, 200);
    let test = farm
        .server
        .call(
            &farm.admin,
            "POST",
            "/api/v1/settings/ldap/test",
            Some(json!({})),
        )
        .await;
    assert_eq!(test.status, 200, "{:?}", test.json);
    assert_eq!(test.json["ok"], false);
    assert_eq!(test.json["steps"][0]["step"], "connect");
    assert!(
        test.json["steps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not signed by a trusted CA"),
        "{:?}",
        test.json
    );
    assert_eq!(farm.login("alice", "alicepw").await.status, 503);
}

#[tokio::test]
async fn ldap_test_button_reports_each_step_in_words() {
    let farm = LdapFarm::new().await;
    farm.configure().await;
    let test = farm
        .server
        .call(
            &farm.admin,
            "POST",
            "/api/v1/settings/ldap/test",
            Some(json!({"username": "alice"})),
        )
        .await;
    assert_eq!(test.status, 200, "{:?}", test.json);
    assert_eq!(test.json["ok"], true, "{:?}", test.json);
    let steps: Vec<&str> = test.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["connect", "bind", "find_user", "groups", "mapping"]);
    let mapping = test.json["steps"][4]["message"].as_str().unwrap();
    assert!(
        mapping.contains("Print leads") && mapping.contains("Directory operators"),
        "{mapping}"
    );
    // The test never signs anyone in or creates an account.
    assert_eq!(farm.user_count().await, 1);
    assert_eq!(farm.audit("settings.ldap_test").await.len(), 1);
}

#[tokio::test]
async fn ldap_settings_need_settings_security() {
    let farm = LdapFarm::new().await;
    farm.configure().await;
    let viewers = farm
        .server
        .create_group(&farm.admin, "Mail admins", &["settings:email"])
        .await;
    farm.server
        .create_user(&farm.admin, "mailer", &[viewers])
        .await;
    let mailer = farm.server.login("mailer", TEST_PASSWORD).await;
    let other_scope = api_key(&farm.server, &farm.admin, "mail only", &["settings:email"]).await;
    let right_scope = api_key(
        &farm.server,
        &farm.admin,
        "security",
        &["settings:security"],
    )
    .await;
    for (method, path, body) in [
        ("GET", "/api/v1/settings/ldap", None),
        ("PUT", "/api/v1/settings/ldap", Some(farm.settings())),
        ("POST", "/api/v1/settings/ldap/test", Some(json!({}))),
    ] {
        for who in [&mailer, &other_scope] {
            let a = farm.server.call(who, method, path, body.clone()).await;
            assert_eq!(a.status, 403, "{method} {path}: {:?}", a.json);
        }
        assert_eq!(
            farm.server
                .call(&Auth::None, method, path, body.clone())
                .await
                .status,
            401
        );
    }
    // The control: a key with the scope may read them.
    let a = farm
        .server
        .call(&right_scope, "GET", "/api/v1/settings/ldap", None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
}

#[tokio::test]
async fn ldap_bind_password_is_sealed_and_never_returned() {
    let farm = LdapFarm::new().await;
    // A password unlike anything else stored, so the search cannot hit by accident.
    farm.configure().await;
    let get = farm
        .server
        .call(&farm.admin, "GET", "/api/v1/settings/ldap", None)
        .await;
    assert_eq!(get.status, 200);
    assert_eq!(get.json["bind_password_set"], true);
    assert!(get.json.get("bind_password").is_none(), "{:?}", get.json);
    let text = get.json.to_string();
    assert!(!text.contains(farm.peer.bind_password()), "{text}");
    // Control: the search finds what is stored in the clear (the bind DN)...
    assert!(
        farm.server
            .stored_contains(farm.peer.bind_dn().as_bytes())
            .await
    );
    // ...and not the password.
    assert!(
        !farm
            .server
            .stored_contains(format!("\"{}\"", farm.peer.bind_password()).as_bytes())
            .await
    );
    assert!(!farm.server.stored_contains(b"readerpw").await);
    // The stored password never follows a change of server.
    let mut moved = farm.settings();
    moved.as_object_mut().unwrap().remove("bind_password");
    moved["url"] = json!(farm.peer.starttls_url());
    moved["starttls"] = json!(true);
    let a = farm.put(moved.clone()).await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    // Unchanged server: the stored one is kept.
    let mut same = farm.settings();
    same.as_object_mut().unwrap().remove("bind_password");
    let a = farm.put(same).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_eq!(farm.login("bob", "bobpw").await.status, 200);
    let changes = farm.audit("settings.ldap").await;
    assert!(
        changes.iter().all(|l| !l.to_string().contains("readerpw")),
        "{changes:?}"
    );
}

#[tokio::test]
async fn ldap_sign_ins_share_the_local_throttle() {
    // Default limits: five failures per address, then 429 even for the right password.
    let farm = LdapFarm::with_env(&[]).await;
    farm.configure().await;
    for _ in 0..5 {
        assert_eq!(farm.login("alice", "wrong").await.status, 401);
    }
    let a = farm.login("alice", "alicepw").await;
    assert_eq!(a.status, 429, "{:?}", a.json);
}

#[tokio::test]
async fn ldap_settings_page_shows_the_form_without_the_password() {
    let farm = LdapFarm::new().await;
    farm.configure().await;
    let Auth::Cookie(cookie) = &farm.admin else {
        unreachable!("setup signs in with a cookie")
    };
    let r = farm
        .server
        .client
        .get(farm.server.url("/settings"))
        .header("cookie", cookie.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    for id in [
        "ldap-form",
        "ldap-test-form",
        "ldap-steps",
        "ldap-bind-password",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(html.contains("Stored (leave empty to keep it)"));
    // The mapping reads with group names.
    assert!(html.contains("=&#62; Print leads"), "mapping by name");
    assert!(!html.contains(farm.peer.bind_password()));
}

#[tokio::test]
async fn ldap_display_name_is_synced_and_not_editable_here() {
    let farm = LdapFarm::new().await;
    farm.configure().await;
    let a = farm.login("carol", "carolpw").await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let carol = cookie(&a);
    let me = farm.me(&carol).await;
    assert_eq!(me.json["display_name"], "Carol Planner", "{:?}", me.json);
    let users = farm
        .server
        .call(&farm.admin, "GET", "/api/v1/users?limit=200", None)
        .await;
    assert!(
        users.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "carol" && u["display_name"] == "Carol Planner"),
        "{:?}",
        users.json
    );
    // The directory owns it: a directory account cannot set its own here.
    let patch = farm
        .server
        .call(
            &carol,
            "PATCH",
            "/api/v1/auth/me",
            Some(json!({"display_name": "Someone else"})),
        )
        .await;
    assert_eq!(patch.status, 409, "{:?}", patch.json);
    let logins = farm.audit("auth.ldap_login").await;
    assert!(
        logins
            .iter()
            .any(|e| e["details"]["display_name_synced"] == true),
        "{logins:?}"
    );
}
