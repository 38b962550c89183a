//! Bambu Cloud as JSON: the caller's own link (sign in, code, status, unlink) and the linked
//! account's printers. The Bambu password and code arrive in a body and go straight to the
//! use case; no answer carries a token.
//!
//! Invariant: signing in to Bambu and sending its code hold an [`Attempt`] on the caller's
//! own account and address (reserve before verify), like every other check of a secret.
//! Threat: without it, an account with `cloud:auth` could use this server to try passwords
//! or codes against Bambu's sign-in in parallel, from the server's address.

use axum::Extension;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::{CloudCodeInput, CloudDevicesQuery, CloudLinkInput};

use crate::api::auth::mfa::own_attempt;
use crate::api::query;
use crate::middleware::attempt::Attempt;
use crate::middleware::shield::Client;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::POST, "/api/v1/cloud/link", link)
        .mount(Method::POST, "/api/v1/cloud/link/verify", verify)
        .mount(Method::GET, "/api/v1/cloud/link", status)
        .mount(Method::DELETE, "/api/v1/cloud/link", unlink)
        .mount(Method::GET, "/api/v1/cloud/devices", devices)
        .mount(Method::GET, "/api/v1/cloud/tasks", tasks)
}

async fn link(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(input): ApiJson<CloudLinkInput>,
) -> Result<Response, ApiError> {
    let attempt: Attempt<'_> = own_attempt(&state, &client, &actor).await?;
    let result = state.app.link_cloud(&actor, input).await;
    attempt.answer(result, |v| Json(v).into_response()).await
}

async fn verify(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(input): ApiJson<CloudCodeInput>,
) -> Result<Response, ApiError> {
    let attempt: Attempt<'_> = own_attempt(&state, &client, &actor).await?;
    let result = state.app.verify_cloud_link(&actor, input).await;
    attempt.answer(result, |v| Json(v).into_response()).await
}

async fn status(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.cloud_link_status(&actor).await?).into_response())
}

async fn unlink(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    state.app.unlink_cloud(&actor).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn devices(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<CloudDevicesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.cloud_devices(&actor, &query(q)?).await?).into_response())
}

async fn tasks(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<CloudDevicesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.cloud_tasks(&actor, &query(q)?).await?).into_response())
}
