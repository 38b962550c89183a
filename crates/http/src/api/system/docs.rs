//! `/api/openapi.json` and the Swagger UI at `/api/docs/` (assets vendored into the binary, so
//! docs work offline). Both are public: the API's shape is not a secret, and every operation
//! still demands its own credentials.

use std::sync::{Arc, OnceLock};

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use http::{Method, header};

use crate::middleware::edge::StyleHash;
use crate::openapi::{DOCUMENT_PATH, document};

/// The hash of the one inline style the vendored Swagger UI bundle injects.
const SWAGGER_STYLE_HASH: &str = "sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w=";
use crate::{ApiError, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, DOCUMENT_PATH, openapi_json)
        .mount(Method::GET, "/api/docs", to_docs)
        .mount(Method::GET, "/api/docs/", docs_index)
        .mount(Method::GET, "/api/docs/{*file}", docs_file)
}

/// The document is built once per process: it only depends on the route table.
fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| serde_json::to_string(&document()).unwrap_or_default())
}

async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
        .into_response()
}

/// Swagger UI loads its files relative to the page, so the page lives at `/api/docs/`.
async fn to_docs() -> Redirect {
    Redirect::permanent("/api/docs/")
}

async fn docs_index() -> Result<Response, ApiError> {
    swagger_file("index.html")
}

async fn docs_file(Path(file): Path<String>) -> Result<Response, ApiError> {
    swagger_file(&file)
}

fn swagger_file(path: &str) -> Result<Response, ApiError> {
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| Arc::new(utoipa_swagger_ui::Config::from(DOCUMENT_PATH)));
    let file = utoipa_swagger_ui::serve(path, Arc::clone(config))
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(ApiError::not_found)?;
    let mut response = (
        [
            (header::CONTENT_TYPE, file.content_type),
            // The bundle changes only with the binary; revalidate rather than pin for a year.
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        file.bytes.into_owned(),
    )
        .into_response();
    if path == "index.html" {
        // swagger-ui-bundle.js injects one fixed <style> element; allow that one by its hash
        // (the e2e test fails on any CSP violation, so a new bundle with another style shows).
        response
            .extensions_mut()
            .insert(StyleHash(SWAGGER_STYLE_HASH));
    }
    if file.gzpipped {
        response.headers_mut().insert(
            header::CONTENT_ENCODING,
            http::HeaderValue::from_static("gzip"),
        );
    }
    Ok(response)
}
