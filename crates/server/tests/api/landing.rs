//! The landing page and static assets.

use pw_testkit::TestServer;
use reqwest::StatusCode;

fn hrefs(html: &str, attr: &str) -> Vec<String> {
    html.match_indices(&format!("{attr}=\""))
        .filter_map(|(i, m)| html[i + m.len()..].split('"').next().map(str::to_owned))
        .filter(|h| h.starts_with("/assets/"))
        .collect()
}

#[tokio::test]
async fn landing_page_shows_name_version_and_setup_state() {
    let server = TestServer::spawn().await;
    let resp = server.get("/").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("printwarden"));
    assert!(html.contains(printwarden::VERSION));
    assert!(
        html.contains(r#"data-setup-required="true""#),
        "a fresh instance needs setup"
    );
    assert!(!html.contains("auth-disabled-banner"));
}

#[tokio::test]
async fn pages_have_no_inline_script_style_or_handlers() {
    let server = TestServer::spawn().await;
    let html = server.get("/").await.text().await.unwrap().to_lowercase();
    assert!(!html.contains(" style="), "inline style attribute");
    assert!(!html.contains("<style"), "inline style element");
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap_or(0)];
        assert!(tag.contains(" src="), "inline script: {tag}");
    }
    for handler in [
        " onclick=",
        " onload=",
        " onerror=",
        " onsubmit=",
        " onchange=",
        " oninput=",
    ] {
        assert!(!html.contains(handler), "{handler}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external URLs"
    );
}

#[tokio::test]
async fn assets_are_content_hashed_and_immutable() {
    let server = TestServer::spawn().await;
    let html = server.get("/").await.text().await.unwrap();
    let mut urls = hrefs(&html, "href");
    urls.extend(hrefs(&html, "src"));
    assert!(
        urls.iter().any(|u| u.ends_with(".css")) && urls.iter().any(|u| u.ends_with(".js")),
        "{urls:?}"
    );
    for url in &urls {
        let url = url.split('#').next().unwrap_or_default();
        let resp = server.get(url).await;
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        assert_eq!(
            resp.headers()["cache-control"],
            "public, max-age=31536000, immutable",
            "{url}"
        );
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        let want = if url.ends_with(".css") {
            "text/css"
        } else if url.ends_with(".js") {
            "javascript"
        } else {
            "image/svg+xml"
        };
        assert!(ct.contains(want), "{url}: {ct}");
    }
    // The unhashed name and a wrong hash are not served.
    assert_eq!(
        server.get("/assets/css/app.css").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/assets/css/app.0000000000.css").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/assets/../Cargo.toml").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn static_assets_are_gzipped_for_clients_that_ask() {
    let server = TestServer::spawn().await;
    let html = server.get("/").await.text().await.unwrap();
    let css = hrefs(&html, "href")
        .into_iter()
        .find(|u| u.ends_with(".css"))
        .unwrap();
    let resp = server
        .client
        .get(server.url(&css))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
    // Private responses are never compressed (BREACH: secrets next to reflected input).
    let resp = server
        .client
        .get(server.url("/healthz"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("content-encoding").is_none());
}
