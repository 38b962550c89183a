//! Embedded static assets under content-hashed URLs (`/assets/css/app.<hash>.css`), served
//! with a one-year immutable cache: a changed file gets a new URL, so clients never run stale
//! code and never revalidate unchanged files.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, header};
use pw_http::{ApiError, Mounter};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

/// Cache policy for content-hashed assets.
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

#[derive(RustEmbed)]
#[folder = "static/"]
struct Static;

#[derive(Debug)]
struct Asset {
    bytes: Cow<'static, [u8]>,
    mime: HeaderValue,
}

#[derive(Debug)]
struct Manifest {
    /// logical path (`css/app.css`) → hashed URL (`/assets/css/app.0123456789.css`).
    hrefs: HashMap<String, String>,
    /// hashed path below `/assets/` → the file.
    files: HashMap<String, Asset>,
}

static MANIFEST: LazyLock<Manifest> = LazyLock::new(|| {
    let mut hrefs = HashMap::new();
    let mut files = HashMap::new();
    for name in Static::iter() {
        let Some(file) = Static::get(&name) else {
            continue;
        };
        let digest = hex::encode(Sha256::digest(&file.data));
        let hash = digest.get(..10).unwrap_or(&digest);
        let hashed = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && !stem.ends_with('/') => {
                format!("{stem}.{hash}.{ext}")
            }
            _ => format!("{name}.{hash}"),
        };
        let mime = HeaderValue::from_str(file.metadata.mimetype())
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        hrefs.insert(name.to_string(), format!("/assets/{hashed}"));
        files.insert(
            hashed,
            Asset {
                bytes: file.data,
                mime,
            },
        );
    }
    Manifest { hrefs, files }
});

/// The hashed URL of a static file, by its path below `static/` (e.g. `css/app.css`).
/// An unknown name yields a URL that answers 404, never a panic.
#[must_use]
pub fn asset_href(logical: &str) -> String {
    MANIFEST
        .hrefs
        .get(logical)
        .cloned()
        .unwrap_or_else(|| format!("/assets/missing/{logical}"))
}

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/assets/{*file}", serve)
}

async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = MANIFEST.files.get(&file) else {
        return ApiError::not_found().into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.mime.clone()),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(ASSET_CACHE_CONTROL),
            ),
        ],
        asset.bytes.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_has_a_hashed_url_that_resolves() {
        assert!(MANIFEST.hrefs.len() >= 3, "static files are embedded");
        for (logical, href) in &MANIFEST.hrefs {
            let hashed = href.trim_start_matches("/assets/");
            assert!(MANIFEST.files.contains_key(hashed), "{logical} -> {href}");
            assert_ne!(hashed, logical, "{logical} is not content-hashed");
        }
        assert!(asset_href("css/app.css").ends_with(".css"));
        assert!(asset_href("nope.js").starts_with("/assets/missing/"));
    }
}
