//! The JSON API and probe handlers, one folder per feature group (`auth`, `accounts`, `farm`,
//! `notify`, `system`) with the same feature names as `pw-app`. Each handler parses the
//! request once, calls one use case and maps the answer; who may call it is decided by its
//! row in the route table before it runs.

pub(crate) mod accounts;
pub(crate) mod auth;
pub(crate) mod cloud;
pub(crate) mod farm;
pub(crate) mod notify;
pub(crate) mod system;

use axum::Json;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, Mounter};

/// Mounts every API and probe handler for its rows of the route table.
pub(crate) fn mount(mounter: Mounter) -> Mounter {
    let mounter = auth::sessions::mount(system::instance::mount(mounter));
    let mounter = accounts::groups::mount(accounts::users::mount(mounter));
    let mounter = farm::camera_tokens::mount(auth::api_keys::mount(mounter));
    let mounter = notify::email::mount(auth::mfa::mount(system::audit::mount(mounter)));
    let mounter = notify::events::mount(farm::printers::mount(notify::webhooks::mount(mounter)));
    let mounter = farm::locations::mount(farm::cameras::mount(mounter));
    let mounter = farm::printer_groups::mount(auth::oidc::mount(auth::ldap::mount(mounter)));
    let mounter = cloud::mount(auth::passkeys::mount(mounter));
    let mounter = farm::archive::mount(mounter);
    let mounter = farm::library::mount(mounter);
    let mounter = farm::queue::mount(mounter);
    let mounter = farm::projects::mount(mounter);
    let mounter =
        notify::templates::mount(notify::print_mail::mount(auth::recovery::mount(mounter)));
    let mounter = system::outbound::mount(system::settings::mount(mounter));
    let mounter = system::backup::mount(mounter);
    system::docs::mount(system::keys::mount(system::tls::mount(mounter)))
}

/// Parses a path id once, at the edge.
pub(crate) fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// Wraps a list in the `{items, next}` page shape.
pub(crate) fn page<T: serde::Serialize>(items: Vec<T>) -> Response {
    Json(serde_json::json!({ "items": items, "next": null })).into_response()
}

/// Query strings are parsed strictly: an unknown or malformed parameter is a 400 that names it.
pub(crate) fn query<T: serde::de::DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}
