//! `/api/v1/settings/ldap`: the LDAP sign-in settings and their Test. Extract, call the use
//! case, map the answer; the sign-in itself goes through `/api/v1/auth/login` (and its throttle).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::Method;
use pw_app::{LdapSettingsInput, LdapTestRequest};

use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/settings/ldap", get_settings)
        .mount(Method::PUT, "/api/v1/settings/ldap", put_settings)
        .mount(Method::POST, "/api/v1/settings/ldap/test", test)
}

async fn get_settings(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.get_ldap_settings(&actor).await?).into_response())
}

async fn put_settings(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<LdapSettingsInput>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.update_ldap_settings(&actor, req).await?).into_response())
}

async fn test(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<LdapTestRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.test_ldap(&actor, req).await?).into_response())
}
