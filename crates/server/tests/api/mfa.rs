//! Second factors (S4): TOTP enrolment, the pre-auth challenge, replay protection, backup
//! codes, rate limits and the admin reset, against the real server with a clock the test moves.

use std::sync::Arc;

use pw_app::{Clock, ManualClock};
use pw_testkit::totp::{next_totp, oathtool_totp, totp_at, unix_now};
use pw_testkit::{Answer, Auth, Options, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

struct Farm {
    server: TestServer,
    clock: Arc<ManualClock>,
    admin: Auth,
}

impl Farm {
    async fn new() -> Self {
        let clock = Arc::new(ManualClock::new(unix_now() * 1000));
        let server = TestServer::spawn_with(Options {
            clock: Some(clock.clone()),
            ..Options::default()
        })
        .await;
        let admin = server.setup_admin().await;
        Self {
            server,
            clock,
            admin,
        }
    }

    /// Unix seconds on the server's clock.
    fn now(&self) -> i64 {
        self.clock.now_ms() / 1000
    }

    async fn viewer(&self, name: &str) -> (i64, Auth) {
        let viewers = self.server.group_id(&self.admin, "Viewers").await;
        let id = self.server.create_user(&self.admin, name, &[viewers]).await;
        (id, self.server.login(name, TEST_PASSWORD).await)
    }

    async fn post(&self, auth: &Auth, path: &str, body: Value) -> Answer {
        self.server.call(auth, "POST", path, Some(body)).await
    }

    /// Sets up and confirms TOTP; returns the secret and the backup codes.
    async fn enrol(&self, auth: &Auth) -> (String, Vec<String>) {
        let setup = self
            .post(auth, "/api/v1/auth/mfa/totp/setup", json!({}))
            .await;
        assert_eq!(setup.status, 200, "{:?}", setup.json);
        let secret = setup.json["secret"].as_str().unwrap().to_owned();
        let enable = self
            .post(
                auth,
                "/api/v1/auth/mfa/totp/enable",
                json!({"code": totp_at(&secret, self.now())}),
            )
            .await;
        assert_eq!(enable.status, 200, "{:?}", enable.json);
        let codes = enable.json["backup_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        (secret, codes)
    }

    /// The password step: asserts a challenge and returns its cookie.
    async fn challenge(&self, name: &str) -> Auth {
        let login = self
            .post(
                &Auth::None,
                "/api/v1/auth/login",
                json!({"username": name, "password": TEST_PASSWORD}),
            )
            .await;
        assert_eq!(login.status, 200, "{:?}", login.json);
        assert_eq!(login.json["mfa_required"], true, "{:?}", login.json);
        assert!(
            login.session_cookie().is_none(),
            "no session before the second factor"
        );
        Auth::Cookie(login.challenge_cookie().expect("challenge cookie"))
    }

    async fn verify(&self, challenge: &Auth, method: &str, code: &str) -> Answer {
        self.post(
            challenge,
            "/api/v1/auth/mfa/verify",
            json!({"method": method, "code": code}),
        )
        .await
    }
}

#[tokio::test]
async fn totp_enrolment_sign_in_replay_backup_codes_and_regeneration() {
    let farm = Farm::new().await;
    let (_, ana) = farm.viewer("ana").await;
    let me = farm.server.call(&ana, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me.json["mfa"]["totp"], false);

    let early = farm
        .post(
            &ana,
            "/api/v1/auth/mfa/totp/enable",
            json!({"code": "123456"}),
        )
        .await;
    assert_eq!(early.status, 409, "enable before setup: {:?}", early.json);

    let setup = farm
        .post(&ana, "/api/v1/auth/mfa/totp/setup", json!({}))
        .await;
    assert_eq!(setup.status, 200, "{:?}", setup.json);
    let secret = setup.json["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "20 bytes in base32");
    assert_eq!(
        setup.json["otpauth_uri"].as_str().unwrap(),
        format!(
            "otpauth://totp/printwarden:ana?secret={secret}&issuer=printwarden&algorithm=SHA1&digits=6&period=30"
        )
    );
    let svg = setup.json["qr_svg"].as_str().unwrap();
    assert!(svg.starts_with("<svg") && !svg.contains("style"), "{svg}");

    let stale = totp_at(&secret, farm.now() - 120);
    let wrong = farm
        .post(&ana, "/api/v1/auth/mfa/totp/enable", json!({"code": stale}))
        .await;
    assert_eq!(wrong.status, 400, "a code four steps old: {:?}", wrong.json);

    // The confirming code comes from an independent implementation.
    let code = oathtool_totp(&secret, farm.now());
    assert_eq!(code, totp_at(&secret, farm.now()), "oathtool and we agree");
    let enable = farm
        .post(&ana, "/api/v1/auth/mfa/totp/enable", json!({"code": code}))
        .await;
    assert_eq!(enable.status, 200, "{:?}", enable.json);
    let backup: Vec<String> = enable.json["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(backup.len(), 10);
    let distinct: std::collections::BTreeSet<_> = backup.iter().collect();
    assert_eq!(distinct.len(), 10);
    // At rest: the secret sealed, the backup codes only as digests.
    let secret_hex: String = pw_testkit::totp::base32_decode(&secret)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // The search must work on this backend before its "not found" means anything.
    assert!(
        farm.server.stored_contains(b"ana").await,
        "the search itself works: the username is stored in the clear"
    );
    for stored in [secret.as_bytes().to_vec(), secret_hex.into_bytes()]
        .into_iter()
        .chain(backup.iter().map(|c| c.replace('-', "").into_bytes()))
        .chain(backup.iter().map(|c| c.as_bytes().to_vec()))
    {
        assert!(
            !farm.server.stored_contains(&stored).await,
            "{} is stored in the clear",
            String::from_utf8_lossy(&stored)
        );
    }
    let me = farm.server.call(&ana, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me.json["mfa"]["totp"], true);

    // Password → challenge (an HttpOnly, SameSite=Strict, five-minute cookie), no session.
    let login = farm
        .post(
            &Auth::None,
            "/api/v1/auth/login",
            json!({"username": "ANA", "password": TEST_PASSWORD}),
        )
        .await;
    assert_eq!(login.json["methods"], json!(["totp", "backup"]));
    let line = login.set_cookie_line("pw_mfa").unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Max-Age=300",
        "Path=/",
    ] {
        assert!(line.contains(attribute), "{line}");
    }
    let challenge = Auth::Cookie(login.challenge_cookie().unwrap());

    let next = next_totp(&secret, farm.now());
    let no_cookie = farm.verify(&Auth::None, "totp", &next).await;
    assert_eq!(no_cookie.status, 401, "another browser has no challenge");
    let replay = farm.verify(&challenge, "totp", &code).await;
    assert_eq!(
        replay.status, 401,
        "the enabling code again: {:?}",
        replay.json
    );
    assert!(
        replay.message().contains("already used"),
        "{}",
        replay.message()
    );

    let ok = farm.verify(&challenge, "totp", &next).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    assert_eq!(ok.json["user"]["username"], "ana");
    let session = Auth::Cookie(ok.session_cookie().unwrap());
    let cleared = ok.set_cookie_line("pw_mfa").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let me = farm
        .server
        .call(&session, "GET", "/api/v1/auth/me", None)
        .await;
    assert_eq!(me.status, 200);

    farm.clock.advance(30_000);
    let again = farm
        .verify(&challenge, "totp", &totp_at(&secret, farm.now() + 30))
        .await;
    assert_eq!(
        again.status, 401,
        "a used challenge is gone: {:?}",
        again.json
    );
    assert!(
        again.message().contains("Sign in again"),
        "{}",
        again.message()
    );

    // A backup code works once, typed any way.
    let c = farm.challenge("ana").await;
    assert_eq!(farm.verify(&c, "backup", &backup[0]).await.status, 200);
    let c = farm.challenge("ana").await;
    assert_eq!(farm.verify(&c, "backup", &backup[0]).await.status, 401);
    let typed = backup[1].to_uppercase().replace('-', " ");
    assert_eq!(farm.verify(&c, "backup", &typed).await.status, 200);

    // Regenerating needs a current code and kills the old set.
    // (Five failures so far would be the limit: the refusal of a backup code here is in
    // `replacing_an_active_totp_needs_a_current_code`.)
    farm.clock.advance(60_000);
    let fresh = farm
        .post(
            &ana,
            "/api/v1/auth/mfa/backup-codes/regenerate",
            json!({"code": totp_at(&secret, farm.now())}),
        )
        .await;
    assert_eq!(fresh.status, 200, "{:?}", fresh.json);
    let fresh: Vec<String> = fresh.json["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let c = farm.challenge("ana").await;
    assert_eq!(
        farm.verify(&c, "backup", &backup[2]).await.status,
        401,
        "the old set is dead"
    );
    assert_eq!(farm.verify(&c, "backup", &fresh[0]).await.status, 200);

    // Turning TOTP off takes a backup code too; then the password alone signs in.
    let off = farm
        .post(
            &ana,
            "/api/v1/auth/mfa/totp/disable",
            json!({"code": fresh[1]}),
        )
        .await;
    assert_eq!(off.status, 204, "{:?}", off.json);
    farm.server.login("ana", TEST_PASSWORD).await;
}

#[tokio::test]
async fn a_challenge_expires_after_five_minutes() {
    let farm = Farm::new().await;
    let (_, bo) = farm.viewer("bo").await;
    let (secret, _) = farm.enrol(&bo).await;
    let challenge = farm.challenge("bo").await;
    farm.clock.advance(5 * 60_000 + 1_000);
    let late = farm
        .verify(&challenge, "totp", &totp_at(&secret, farm.now()))
        .await;
    assert_eq!(late.status, 401, "{:?}", late.json);
    assert!(late.message().contains("expired"), "{}", late.message());
}

#[tokio::test]
async fn the_sixth_wrong_code_from_one_address_is_refused_with_429() {
    let farm = Farm::new().await;
    let (_, cy) = farm.viewer("cy").await;
    let (secret, _) = farm.enrol(&cy).await;
    let challenge = farm.challenge("cy").await;
    let wrong = totp_at(&secret, farm.now() - 300);
    for attempt in 1..=5 {
        let a = farm.verify(&challenge, "totp", &wrong).await;
        assert_eq!(a.status, 401, "attempt {attempt}: {:?}", a.json);
        let remaining = a.headers["x-ratelimit-remaining"].to_str().unwrap();
        assert_eq!(remaining, (5 - attempt).to_string());
    }
    let sixth = farm
        .verify(&challenge, "totp", &next_totp(&secret, farm.now()))
        .await;
    assert_eq!(
        sixth.status, 429,
        "even the right code waits: {:?}",
        sixth.json
    );
    assert!(sixth.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn replacing_an_active_totp_needs_a_current_code() {
    let farm = Farm::new().await;
    let (_, di) = farm.viewer("di").await;
    let (old, backup) = farm.enrol(&di).await;
    let refused = farm
        .post(
            &di,
            "/api/v1/auth/mfa/backup-codes/regenerate",
            json!({"code": backup[0]}),
        )
        .await;
    assert_eq!(refused.status, 400, "a backup code does not buy new ones");
    let bare = farm
        .post(&di, "/api/v1/auth/mfa/totp/setup", json!({}))
        .await;
    assert_eq!(bare.status, 400, "{:?}", bare.json);
    let replaced = farm
        .post(
            &di,
            "/api/v1/auth/mfa/totp/setup",
            json!({"code": next_totp(&old, farm.now())}),
        )
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.json);
    let new = replaced.json["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    // Until the new secret is confirmed, the old one still guards the account.
    farm.clock.advance(60_000);
    let c = farm.challenge("di").await;
    assert_eq!(
        farm.verify(&c, "totp", &totp_at(&old, farm.now()))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_admin_reset_removes_second_factors_and_ends_sessions() {
    let farm = Farm::new().await;
    let (id, ed) = farm.viewer("ed").await;
    farm.enrol(&ed).await;
    let not_allowed = farm
        .post(&ed, &format!("/api/v1/users/{id}/mfa/reset"), json!({}))
        .await;
    assert_eq!(not_allowed.status, 403, "a viewer cannot reset");

    let guarded = |users: &Value| {
        users["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .map(|u| u["two_factor"].clone())
    };
    let before = farm
        .server
        .call(&farm.admin, "GET", "/api/v1/users", None)
        .await;
    assert_eq!(
        guarded(&before.json),
        Some(json!(true)),
        "the list shows who has 2FA"
    );
    let reset = farm
        .post(
            &farm.admin,
            &format!("/api/v1/users/{id}/mfa/reset"),
            json!({}),
        )
        .await;
    assert_eq!(reset.status, 204, "{:?}", reset.json);
    let gone = farm.server.call(&ed, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(gone.status, 401, "the user's sessions ended");
    let back = farm.server.login("ed", TEST_PASSWORD).await;
    let me = farm
        .server
        .call(&back, "GET", "/api/v1/auth/me", None)
        .await;
    assert_eq!(me.json["mfa"]["totp"], false);
    let after = farm
        .server
        .call(&farm.admin, "GET", "/api/v1/users", None)
        .await;
    assert_eq!(guarded(&after.json), Some(json!(false)));

    let audit = farm
        .server
        .call(
            &farm.admin,
            "GET",
            "/api/v1/audit?event=user.mfa_reset",
            None,
        )
        .await;
    let items = audit.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{:?}", audit.json);
    assert_eq!(items[0]["actor"], "admin");
    assert_eq!(items[0]["target_id"], id.to_string());
}

#[tokio::test]
async fn a_user_manager_cannot_reset_the_second_factor_of_someone_with_more_rights() {
    let farm = Farm::new().await;
    farm.enrol(&farm.admin).await;
    let helpdesk = farm
        .server
        .create_group(&farm.admin, "Helpdesk", &["users:read", "users:update"])
        .await;
    farm.server
        .create_user(&farm.admin, "hal", &[helpdesk])
        .await;
    let hal = farm.server.login("hal", TEST_PASSWORD).await;
    // Someone in no group holds nothing hal lacks.
    let plain = farm.server.create_user(&farm.admin, "nog", &[]).await;
    let nog = farm.server.login("nog", TEST_PASSWORD).await;
    farm.enrol(&nog).await;
    let users = farm.server.call(&hal, "GET", "/api/v1/users", None).await;
    let admin_id = users.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "admin")
        .and_then(|u| u["id"].as_i64())
        .unwrap();

    let refused = farm
        .post(
            &hal,
            &format!("/api/v1/users/{admin_id}/mfa/reset"),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.json);
    let link = farm
        .post(
            &hal,
            &format!("/api/v1/users/{admin_id}/password-reset"),
            json!({}),
        )
        .await;
    assert_eq!(
        link.status, 403,
        "no reset link for a more powerful account either"
    );
    // The administrator's second factor is untouched: a password alone is still not enough.
    farm.challenge("admin").await;
    let allowed = farm
        .post(&hal, &format!("/api/v1/users/{plain}/mfa/reset"), json!({}))
        .await;
    assert_eq!(allowed.status, 204, "{:?}", allowed.json);
}

/// Issue 13, finding 4: codes sent at once on one challenge were all checked (the throttle
/// counted after the check). Now each check reserves its slot first.
#[tokio::test]
async fn parallel_codes_on_one_challenge_get_at_most_five_checks() {
    let farm = Farm::new().await;
    let (_, fay) = farm.viewer("fay").await;
    let (secret, _) = farm.enrol(&fay).await;
    let challenge = farm.challenge("fay").await;
    let Auth::Cookie(cookie) = &challenge else {
        unreachable!()
    };
    let wrong: Vec<String> = (1..=12)
        .map(|n| totp_at(&secret, farm.now() - 300 * n))
        .collect();
    let tries: Vec<_> = wrong
        .iter()
        .map(|code| {
            let req = farm
                .server
                .client
                .post(farm.server.url("/api/v1/auth/mfa/verify"))
                .header("cookie", cookie)
                .header("origin", farm.server.origin())
                .json(&json!({"method": "totp", "code": code}));
            tokio::spawn(req.send())
        })
        .collect();
    let (mut checked, mut refused) = (0, 0);
    for t in tries {
        match t.await.unwrap().unwrap().status().as_u16() {
            401 => checked += 1,
            429 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(checked <= 5, "{checked} codes were checked (limit 5)");
    assert_eq!(checked + refused, 12);
    let right = farm
        .verify(&challenge, "totp", &next_totp(&secret, farm.now()))
        .await;
    assert_eq!(right.status, 429, "{:?}", right.json);
}

/// The per-user second-factor limit: a user's codes checked from several addresses stop after
/// five failures for that user, while another user from the same address goes on.
#[tokio::test]
async fn a_users_codes_from_many_addresses_stop_after_five_failures() {
    let clock = Arc::new(ManualClock::new(unix_now() * 1000));
    let server = TestServer::spawn_with(Options {
        clock: Some(clock.clone()),
        env: vec![(
            "PRINTWARDEN_TRUSTED_PROXIES".to_owned(),
            "127.0.0.1".to_owned(),
        )],
        ..Options::default()
    })
    .await;
    let admin = server.setup_admin().await;
    let farm = Farm {
        server,
        clock,
        admin,
    };
    let (_, gus) = farm.viewer("gus").await;
    let (_, hep) = farm.viewer("hep").await;
    let (gus_secret, _) = farm.enrol(&gus).await;
    let (hep_secret, _) = farm.enrol(&hep).await;
    // Signs in as `name` from `ip` and answers the second step with `code`.
    let attempt = |name: &'static str, ip: String, code: String| {
        let server = &farm.server;
        async move {
            let login = server
                .client
                .post(server.url("/api/v1/auth/login"))
                .header("x-forwarded-for", &ip)
                .json(&json!({"username": name, "password": TEST_PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(login.status(), 200);
            let cookie = login
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|l| l.contains("pw_mfa"))
                .and_then(|l| l.split(';').next())
                .unwrap()
                .to_owned();
            server
                .client
                .post(server.url("/api/v1/auth/mfa/verify"))
                .header("x-forwarded-for", &ip)
                .header("cookie", cookie)
                .header("origin", server.origin())
                .json(&json!({"method": "totp", "code": code}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let wrong = totp_at(&gus_secret, farm.now() - 600);
    for n in 1..=5 {
        let status = attempt("gus", format!("203.0.113.{n}"), wrong.clone()).await;
        assert_eq!(status, 401, "failure {n}");
    }
    // A sixth address, a right code: gus is spent whatever address he comes from.
    let right = next_totp(&gus_secret, farm.now());
    let status = attempt("gus", "203.0.113.6".to_owned(), right).await;
    assert_eq!(status, 429, "the per-user limit holds across addresses");
    // The same fresh address still works for someone else: the limit was gus's, not its.
    let status = attempt(
        "hep",
        "203.0.113.6".to_owned(),
        next_totp(&hep_secret, farm.now()),
    )
    .await;
    assert_eq!(status, 200);
}

/// `/login?step=mfa` (where a provider's callback sends a user with a second factor): the page
/// names the live challenge's methods only to the browser holding its cookie, "unknown" without
/// one (login.js reloads once, same-site) and "gone" for a dead or made-up one. Threat: the page
/// telling anyone which factors an account has.
#[tokio::test]
async fn the_sign_in_page_opens_on_the_code_step_for_a_live_challenge() {
    let farm = Farm::new().await;
    let (_, ana) = farm.viewer("ana").await;
    farm.enrol(&ana).await;
    let challenge = farm.challenge("ana").await;
    let step = |html: &str| {
        let at = html
            .find("data-mfa-step=\"")
            .map(|i| i + "data-mfa-step=\"".len());
        at.and_then(|i| html[i..].split('"').next().map(str::to_owned))
    };

    let (status, page) =
        crate::archive_page::html(&farm.server, &challenge, "/login?step=mfa").await;
    assert_eq!(status, 200);
    assert_eq!(step(&page).as_deref(), Some("totp backup"), "{page}");
    let (_, page) = crate::archive_page::html(&farm.server, &Auth::None, "/login?step=mfa").await;
    assert_eq!(step(&page).as_deref(), Some("unknown"));
    let Auth::Cookie(pair) = &challenge else {
        panic!("a challenge is a cookie")
    };
    let (name, _) = pair.split_once('=').unwrap();
    let forged = Auth::Cookie(format!("{name}={}", "ab".repeat(32)));
    let (_, page) = crate::archive_page::html(&farm.server, &forged, "/login?step=mfa").await;
    assert_eq!(step(&page).as_deref(), Some("gone"));
    // Without the step the page is the plain password form.
    let (_, page) = crate::archive_page::html(&farm.server, &challenge, "/login").await;
    assert_eq!(step(&page), None);
    // After five minutes the challenge is gone.
    farm.clock.advance(301_000);
    let (_, page) = crate::archive_page::html(&farm.server, &challenge, "/login?step=mfa").await;
    assert_eq!(step(&page).as_deref(), Some("gone"));
}
