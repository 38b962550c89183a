//! The server-rendered UI: askama pages over the same use cases as the JSON API, and the
//! embedded static assets (one stylesheet, ES modules, an icon sprite) served under
//! content-hashed URLs. Pages are rows of the one route table in `pw-http`.
//!
//! Invariant: no inline script, no inline style, no `on*=` handler in any template (the CSP
//! forbids them; a test scans the templates).

mod assets;
mod pages;

use pw_http::Mounter;

pub use assets::{ASSET_CACHE_CONTROL, asset_href};

/// Mounts the page and asset handlers for their rows of the route table.
#[must_use]
pub fn mount(mounter: Mounter) -> Mounter {
    pages::mount(assets::mount(mounter))
}
