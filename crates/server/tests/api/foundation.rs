//! The HTTP skeleton: probes, the error envelope, 404/405, security headers, request ids,
//! route-table enforcement.

use pw_testkit::TestServer;
use reqwest::{Method, StatusCode};

const S7_HEADERS: &[(&str, &str)] = &[
    ("strict-transport-security", "max-age=31536000"),
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'; upgrade-insecure-requests",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("x-frame-options", "DENY"),
];

fn assert_s7_headers(resp: &reqwest::Response) {
    for (name, value) in S7_HEADERS {
        assert_eq!(
            resp.headers().get(*name).and_then(|v| v.to_str().ok()),
            Some(*value),
            "{name} on {}",
            resp.url()
        );
    }
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "request id {id:?}"
    );
}

async fn envelope(resp: reqwest::Response) -> (StatusCode, serde_json::Value, String) {
    let status = resp.status();
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: serde_json::Value = resp.json().await.expect("JSON envelope");
    (status, body, id)
}

#[tokio::test]
async fn healthz_says_ok_and_nothing_else() {
    let server = TestServer::spawn().await;
    let resp = server.get("/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_s7_headers(&resp);
    assert_eq!(
        resp.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert_eq!(resp.text().await.unwrap(), r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn every_response_kind_carries_the_security_headers() {
    let server = TestServer::spawn().await;
    for path in ["/healthz", "/readyz", "/", "/no/such/path", "/metrics"] {
        assert_s7_headers(&server.get(path).await);
    }
    let post = server
        .client
        .post(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_s7_headers(&post);
}

#[tokio::test]
async fn unknown_paths_get_the_404_envelope_with_the_request_id() {
    let server = TestServer::spawn().await;
    let (status, body, id) = envelope(server.get("/api/v1/nothing-here?token=secret").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["message"], "Not found.");
    assert_eq!(body["error"]["request_id"], id.as_str());
}

/// A browser that mistypes an address gets the HTML error page (with a title, the language,
/// the layout and a way back), not the JSON envelope; the API keeps JSON even for a browser.
#[tokio::test]
async fn unknown_pages_are_an_html_page_for_browsers_and_json_for_the_api() {
    let server = TestServer::spawn().await;
    let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let get = |path: &'static str, accept: &'static str| {
        server
            .client
            .get(server.url(path))
            .header("accept", accept)
            .send()
    };
    let resp = get("/no-such-page", html).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_s7_headers(&resp);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "{ct}");
    let body = resp.text().await.unwrap();
    assert!(body.contains("<html lang=\"en\">"), "{body}");
    assert!(
        body.contains("<title>Page not found · printwarden</title>"),
        "{body}"
    );
    assert!(body.contains("href=\"/\""), "a way back: {body}");

    for (path, accept) in [
        ("/api/v1/nothing-here", html),
        ("/no-such-page", "application/json"),
        ("/no-such-page", "*/*"),
    ] {
        let (status, body, _) = envelope(get(path, accept).await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} {accept}");
        assert_eq!(body["error"]["code"], "not_found", "{path} {accept}");
    }
}

#[tokio::test]
async fn unknown_methods_on_known_paths_get_405_with_allow() {
    let server = TestServer::spawn().await;
    for method in [
        Method::POST,
        Method::DELETE,
        Method::TRACE,
        Method::from_bytes(b"QUERY").unwrap(),
    ] {
        let resp = server
            .client
            .request(method.clone(), server.url("/healthz"))
            .send()
            .await
            .unwrap();
        let allow = resp
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (status, body, _) = envelope(resp).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(body["error"]["code"], "method_not_allowed");
        let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
        methods.sort_unstable();
        assert_eq!(methods, ["GET", "HEAD"], "{method}: Allow = {allow}");
    }
    let head = server
        .client
        .head(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
}

#[tokio::test]
async fn readyz_reports_the_database() {
    let server = TestServer::spawn().await;
    let resp = server.get("/readyz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );

    server.running().app.store().close().await;
    let resp = server.get("/readyz").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["status"],
        "unavailable"
    );
    // Liveness does not depend on the database.
    assert_eq!(server.get("/healthz").await.status(), StatusCode::OK);
    // A page that needs the database says so in HTML, with the request id, and leaks nothing.
    let page = server.get("/").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    let id = page.headers()["x-request-id"].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Temporarily unavailable") && html.contains(&id),
        "{html}"
    );
    assert!(
        !html.to_lowercase().contains("pool"),
        "no internals in the page"
    );
}

#[tokio::test]
async fn protected_routes_refuse_anonymous_callers_before_the_handler() {
    let server = TestServer::spawn().await;
    let (status, body, _) = envelope(server.get("/metrics").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
    // A made-up credential identifies nobody.
    let resp = server
        .client
        .get(server.url("/metrics"))
        .bearer_auth("pwk_1_nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = server
        .client
        .get(server.url("/metrics"))
        .header("cookie", "__Host-pw_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn with_auth_disabled_everything_is_allowed_and_metrics_render() {
    let server = TestServer::spawn_env(&[("PRINTWARDEN_AUTH", "disabled")]).await;
    server.get("/healthz").await;
    let resp = server.get("/metrics").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(&format!(
            "printwarden_build_info{{version=\"{}\"}} 1",
            printwarden::VERSION
        )),
        "{text}"
    );
    assert!(text.contains("printwarden_ready 1"));
    let served: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("printwarden_http_requests_total{class=\"2xx\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(served >= 1, "{text}");
    // The banner shows on every page while authentication is off.
    let html = server.get("/").await.text().await.unwrap();
    assert!(html.contains("id=\"auth-disabled-banner\""));
}

#[tokio::test]
async fn query_strings_never_reach_the_error_body() {
    let server = TestServer::spawn().await;
    let text = server
        .get("/nope?token=pwk_1_verysecret")
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains("verysecret"));
}
