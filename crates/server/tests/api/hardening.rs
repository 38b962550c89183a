//! HTTP hardening (SPEC S7): rate limits without a loopback exemption, the per-account
//! slowdown that cannot lock the owner out, CSRF, the Host allow-list, WebSocket Origin checks
//! and trusted proxies. Each test is one attack that must fail.

use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use reqwest::StatusCode;
use serde_json::json;

/// A client that speaks HTTP/1.1 only, so the `Host` header it sends is the one the test set
/// (HTTP/2 carries the host in `:authority`).
fn http1_client(server: &TestServer) -> reqwest::Client {
    let pem = std::fs::read(server.data_dir.join("tls/ca.crt")).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn login_request(
    server: &TestServer,
    forwarded_for: Option<&str>,
    username: &str,
    password: &str,
) -> reqwest::RequestBuilder {
    let req = server
        .client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}));
    match forwarded_for {
        Some(ip) => req.header("x-forwarded-for", ip),
        None => req,
    }
}

async fn login_from(
    server: &TestServer,
    forwarded_for: Option<&str>,
    username: &str,
    password: &str,
) -> reqwest::Response {
    login_request(server, forwarded_for, username, password)
        .send()
        .await
        .unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_sixth_failed_login_from_one_ip_gets_429_even_from_loopback() {
    let server = TestServer::spawn().await;
    server.setup_admin().await;
    for remaining in (0..5).rev() {
        let resp = login_from(&server, None, "admin", "wrong password").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header(&resp, "x-ratelimit-limit"), "5");
        assert_eq!(
            header(&resp, "x-ratelimit-remaining"),
            remaining.to_string()
        );
    }
    // Refused before the password is looked at: the right one does not help now.
    let resp = login_from(&server, None, "admin", TEST_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = header(&resp, "retry-after").parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&resp, "x-ratelimit-remaining"), "0");
    assert_eq!(header(&resp, "x-ratelimit-reset"), retry_after.to_string());
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["request_id"].is_string());
    // Wrong setup codes count too (the code is the only thing guarding a fresh instance).
    let fresh = TestServer::spawn().await;
    for _ in 0..5 {
        let a = fresh
            .call(
                &Auth::None,
                "POST",
                "/api/v1/auth/setup",
                Some(json!({"setup_code": "AAAA-BBBB-CCCC", "username": "x", "password": TEST_PASSWORD})),
            )
            .await;
        assert_eq!(a.status, 403);
    }
    let a = fresh
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/setup",
            Some(json!({"setup_code": fresh.setup_code(), "username": "x", "password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 429);
}

#[tokio::test]
async fn the_real_user_still_signs_in_while_an_attacker_hammers_their_name() {
    // The proxy in front (127.0.0.1 here) tells us who the clients are.
    let server = TestServer::spawn_env(&[
        ("PRINTWARDEN_TRUSTED_PROXIES", "127.0.0.1"),
        ("PRINTWARDEN_RATE_LIMIT_LOGIN_ACCOUNT", "8/15m"),
    ])
    .await;
    server.setup_admin().await;
    // Two attacker addresses, five guesses each, all at once: ten failures on one account.
    let guesses: Vec<_> = ["203.0.113.1", "203.0.113.2"]
        .into_iter()
        .flat_map(|ip| std::iter::repeat_n(ip, 5))
        .map(|ip| tokio::spawn(login_request(&server, Some(ip), "ADMIN", "guess").send()))
        .collect();
    for guess in guesses {
        assert_eq!(
            guess.await.unwrap().unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Each attacker address is spent …
    for ip in ["203.0.113.1", "203.0.113.2"] {
        let resp = login_from(&server, Some(ip), "admin", "guess").await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{ip}");
    }
    // … the account is past its slowdown threshold, yet its owner is not locked out.
    let resp = login_from(&server, Some("198.51.100.20"), "admin", TEST_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // A failure on the account from a fresh address is slowed, never refused.
    let resp = login_from(&server, Some("198.51.100.21"), "admin", "typo").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    // Every guess claims a new address; none is believed, so the peer's budget runs out.
    for n in 0..5 {
        let resp = login_from(&server, Some(&format!("192.0.2.{n}")), "admin", "nope").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = login_from(&server, Some("192.0.2.99"), "admin", "nope").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // The audit log names the real peer, not the claimed address.
    let log = server
        .call(&admin, "GET", "/api/v1/audit?event=auth.login", None)
        .await;
    let ips: Vec<&str> = log.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["success"] == false)
        .map(|e| e["ip"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ips.len(), 5, "{:?}", log.json);
    assert!(ips.iter().all(|ip| *ip == "127.0.0.1"), "{ips:?}");
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_for_sessions_and_audit() {
    let server =
        TestServer::spawn_env(&[("PRINTWARDEN_TRUSTED_PROXIES", "127.0.0.0/8, ::1")]).await;
    server.setup_admin().await;
    // A client-written entry on the left, the real client appended by our proxy.
    let resp = login_from(
        &server,
        Some("6.6.6.6, 198.51.100.7"),
        "admin",
        TEST_PASSWORD,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = header(&resp, "set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let sessions = server
        .call(&Auth::Cookie(cookie), "GET", "/api/v1/auth/sessions", None)
        .await;
    let ips: Vec<&str> = sessions
        .json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["ip"].as_str())
        .collect();
    assert!(ips.contains(&"198.51.100.7"), "{:?}", sessions.json);
    assert!(!ips.contains(&"6.6.6.6"));
}

#[tokio::test]
async fn api_requests_are_limited_per_client_with_headers() {
    let server = TestServer::spawn_env(&[("PRINTWARDEN_RATE_LIMIT_API", "3/1m")]).await;
    for remaining in ["2", "1", "0"] {
        let resp = server.get("/api/v1/auth/status").await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "x-ratelimit-limit"), "3");
        assert_eq!(header(&resp, "x-ratelimit-remaining"), remaining);
        assert!(header(&resp, "x-ratelimit-reset").parse::<u64>().unwrap() <= 60);
    }
    let resp = server.get("/api/v1/auth/status").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!header(&resp, "retry-after").is_empty());
    // Probes and pages are not API calls.
    assert_eq!(server.get("/healthz").await.status(), StatusCode::OK);
    assert!(
        server
            .get("/healthz")
            .await
            .headers()
            .get("x-ratelimit-limit")
            .is_none()
    );

    let off = TestServer::spawn_env(&[("PRINTWARDEN_RATE_LIMITS", "off")]).await;
    for _ in 0..5 {
        let resp = off.get("/api/v1/auth/status").await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers().get("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn a_cross_origin_post_riding_a_cookie_is_refused() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let Auth::Cookie(cookie) = &admin else {
        unreachable!()
    };
    let create = |origin: Option<&str>, referer: Option<&str>, bearer: Option<&str>, name: &str| {
        let mut req = server
            .client
            .post(server.url("/api/v1/users"))
            .header("cookie", cookie.as_str())
            .json(&json!({"username": name, "password": TEST_PASSWORD}));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(r) = referer {
            req = req.header("referer", r);
        }
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        req.send()
    };
    let refused = [
        (Some("https://evil.example"), None, None),
        (Some("https://evil.example"), None, Some("junk")),
        (Some("https://evil.example"), None, Some("pwk_1_forged")),
        (None, None, None),
        (None, None, Some("junk")),
        (Some("null"), None, None),
        (None, Some("https://evil.example/page"), None),
        (
            Some(&*format!(
                "http://{}",
                server.origin().trim_start_matches("https://")
            )),
            None,
            None,
        ),
    ];
    for (n, (origin, referer, bearer)) in refused.into_iter().enumerate() {
        let resp = create(origin, referer, bearer, &format!("victim{n}"))
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{origin:?} {referer:?} {bearer:?}"
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Cross-site")
        );
    }
    let users = server.call(&admin, "GET", "/api/v1/users", None).await;
    assert_eq!(
        users.json["items"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );

    // Our own pages: Origin, or Referer when a browser leaves Origin out.
    let own = server.origin();
    let resp = create(Some(&own), None, None, "fromorigin").await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = create(None, Some(&format!("{own}/users")), None, "fromreferer")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // An API key alone is not ambient authority: exempt.
    let key = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "ci", "scopes": ["users:create", "users:read"]})),
        )
        .await;
    assert_eq!(key.status, 201, "{:?}", key.json);
    let token = key.json["key"].as_str().unwrap();
    let resp = server
        .client
        .post(server.url("/api/v1/users"))
        .bearer_auth(token)
        .header("origin", "https://evil.example")
        .json(&json!({"username": "viakey", "password": TEST_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    // Reads are not state-changing and need no Origin.
    let resp = server
        .client
        .get(server.url("/api/v1/users"))
        .header("cookie", cookie.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn foreign_host_names_are_refused_before_routing() {
    let server = TestServer::spawn_env(&[("PRINTWARDEN_ALLOWED_HOSTS", "farm.example.com")]).await;
    let client = http1_client(&server);
    let port = server.running().https.unwrap().port();
    let get =
        |host: String, path: &'static str| client.get(server.url(path)).header("host", host).send();
    for host in ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io"] {
        for path in ["/healthz", "/api/v1/auth/status", "/login", "/nope"] {
            let resp = get(format!("{host}:{port}"), path).await.unwrap();
            assert_eq!(
                resp.status(),
                StatusCode::MISDIRECTED_REQUEST,
                "{host}{path}"
            );
            assert!(resp.headers().contains_key("x-request-id"));
            assert!(resp.headers().contains_key("content-security-policy"));
            let body: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["code"], "misdirected_request");
        }
    }
    for host in [
        "localhost",
        "LOCALHOST",
        "farm.example.com",
        "127.0.0.1",
        "[::1]",
    ] {
        let resp = get(format!("{host}:{port}"), "/healthz").await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn websocket_upgrades_need_our_origin() {
    // Threat: cross-site WebSocket hijacking — a page elsewhere opens our socket riding the
    // victim's cookie. The refusal must be the shield's exact 403, and the very same request
    // with our Origin must upgrade (101), or the test could pass on any error (a 500 did).
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let Auth::Cookie(cookie) = &admin else {
        unreachable!()
    };
    let client = http1_client(&server);
    let upgrade = |path: &'static str, cookie: Option<String>, origin: Option<String>| {
        let mut req = client
            .get(server.url(path))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    // The events socket with a session, and the camera socket before its first-message
    // credential (the printer is not looked at until then).
    for (path, cookie) in [
        ("/api/v1/events", Some(cookie.clone())),
        ("/api/v1/printers/1/camera/ws", None),
    ] {
        for origin in [
            Some("https://evil.example".to_owned()),
            Some(server.origin().replace("127.0.0.1", "localhost")),
            Some("null".to_owned()),
            None,
        ] {
            let resp = upgrade(path, cookie.clone(), origin.clone()).await.unwrap();
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path} {origin:?}");
        }
        let resp = upgrade(path, cookie.clone(), Some(server.origin()))
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::SWITCHING_PROTOCOLS,
            "{path}: our own origin upgrades"
        );
        assert_eq!(resp.headers()["upgrade"], "websocket");
    }
}

/// Issue 13, finding 4: the throttle used to peek, verify and only then count, so guesses sent
/// at once were all verified. Now a slot is reserved before the password is looked at.
#[tokio::test]
async fn forty_parallel_guesses_from_one_address_get_at_most_five_checks() {
    let server = TestServer::spawn_env(&[("PRINTWARDEN_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let admin = server.setup_admin().await;
    let attacker = "203.0.113.40";
    let guesses: Vec<_> = (0..40)
        .map(|n| {
            let req = login_request(&server, Some(attacker), "admin", &format!("guess {n}"));
            tokio::spawn(req.send())
        })
        .collect();
    let (mut checked, mut refused) = (0, 0);
    for guess in guesses {
        match guess.await.unwrap().unwrap().status() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(checked <= 5, "{checked} guesses were verified (limit 5)");
    assert_eq!(checked + refused, 40);
    // The audit log agrees: no more than five failed sign-ins were looked at.
    let log = server
        .call(&admin, "GET", "/api/v1/audit?event=auth.login", None)
        .await;
    let failures = log.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["success"] == false)
        .count();
    assert_eq!(failures, checked, "{:?}", log.json);
    // The address is spent, even for the right password; another address is not.
    let resp = login_from(&server, Some(attacker), "admin", TEST_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let resp = login_from(&server, Some("198.51.100.40"), "admin", TEST_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_successful_sign_in_gives_its_slot_back() {
    let server = TestServer::spawn_env(&[("PRINTWARDEN_TRUSTED_PROXIES", "127.0.0.1")]).await;
    server.setup_admin().await;
    let ip = Some("198.51.100.41");
    for _ in 0..4 {
        let resp = login_from(&server, ip, "admin", "typo").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // The right password is checked with the fifth slot and refunds it …
    let resp = login_from(&server, ip, "admin", TEST_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "x-ratelimit-remaining"), "1");
    // … so one more failure is still checked, and only then is the address spent.
    let resp = login_from(&server, ip, "admin", "typo").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = login_from(&server, ip, "admin", TEST_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_per_user() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    for _ in 0..5 {
        let a = server
            .call(
                &admin,
                "POST",
                "/api/v1/auth/password",
                Some(json!({"current_password": "not it", "new_password": "a brand new secret"})),
            )
            .await;
        assert_eq!(a.status, 400, "{:?}", a.json);
    }
    let a = server
        .call(
            &admin,
            "POST",
            "/api/v1/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": "a brand new secret"})),
        )
        .await;
    assert_eq!(a.status, 429, "{:?}", a.json);
}
