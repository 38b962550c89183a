//! The stand-in's HTTP surface: the emulated Bambu paths (`docs/BAMBU-CLOUD.md` §9.2) with
//! their documented bodies, and the test controls under `/_sim/`.
//!
//! Invariant: a request's headers and body are never logged; a fault queued by a test answers
//! before any handler runs, and every request counts toward its route's hits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Path, Query, Request, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::{SecondFactor, State, TokenKind, lock, random_token};

type St = Shared<Arc<State>>;

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// 401 as Bambu sends it for an expired or unknown token (§2.5).
fn please_login() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"code": 4, "error": "Please login.", "message": ""})),
    )
        .into_response()
}

fn too_many(retry_after: Option<u64>) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"code": 429, "error": "Too Many Requests", "message": "rate limited"})),
    )
        .into_response();
    if let Some(s) = retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn envelope(extra: Value) -> Value {
    let mut v = json!({"message": "success", "code": null, "error": null});
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

fn forbidden_device() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"message": "permission denied", "code": 8, "error": "Resource forbidden"})),
    )
        .into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"message": "Method Not Allowed", "code": 405, "error": "Method Not Allowed"})),
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"message": "Route Not Found", "code": null, "error": "Not Found"})),
    )
        .into_response()
}

/// The account behind the request's Bearer access token, after its rate limit.
#[expect(
    clippy::result_large_err,
    reason = "an early answer of a test stand-in, not a hot path"
)]
fn caller(state: &State, headers: &HeaderMap) -> Result<String, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(please_login)?;
    let email = {
        let tokens = lock(&state.tokens);
        match tokens.get(token) {
            Some(t) if t.kind == TokenKind::Access && t.expires > Instant::now() => t.email.clone(),
            _ => return Err(please_login()),
        }
    };
    // The window is keyed by a digest-free prefix-free form: the token itself never leaves
    // this map, which is never printed.
    state
        .spend(format!("token:{token}"), state.calls_per_minute)
        .map_err(|s| too_many(Some(s)))?;
    Ok(email)
}

#[expect(
    clippy::result_large_err,
    reason = "an early answer of a test stand-in, not a hot path"
)]
fn login_limit(state: &State, peer: std::net::SocketAddr) -> Result<(), Response> {
    state
        .spend(format!("ip:{}", peer.ip()), state.logins_per_minute)
        .map_err(|s| too_many(Some(s)))
}

fn tokens_body(state: &State, access: &str, refresh: &str) -> Value {
    let ttl = state.token_ttl.as_secs();
    json!({"accessToken": access, "refreshToken": refresh, "expiresIn": ttl,
        "refreshExpiresIn": ttl, "tfaKey": "", "accessMethod": "", "loginType": ""})
}

fn bad(code: u8, error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"code": code, "error": error})),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Login {
    account: Option<String>,
    password: Option<String>,
    code: Option<String>,
}

async fn login(
    Shared(state): St,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    body: Option<Json<Login>>,
) -> Response {
    if let Err(r) = login_limit(&state, peer) {
        return r;
    }
    let Some(Json(body)) = body else {
        return bad(2, "Incorrect password");
    };
    let Some(account) = body
        .account
        .as_deref()
        .and_then(|a| state.account(a))
        .cloned()
    else {
        return bad(2, "Incorrect password");
    };
    if let Some(code) = body.code.as_deref() {
        let mut wrong = lock(&state.wrong_codes);
        let tries = wrong.entry(account.email.clone()).or_insert(0);
        if *tries >= 5 || account.second_factor != SecondFactor::Email {
            return bad(1, "Code expired");
        }
        if !ct_eq(code.trim(), &account.code) {
            *tries += 1;
            return bad(2, "Incorrect code");
        }
        *tries = 0;
        drop(wrong);
        let (a, r) = state.issue(&account.email);
        return Json(tokens_body(&state, &a, &r)).into_response();
    }
    let password = body.password.unwrap_or_default();
    if !ct_eq(&password, &account.password) {
        return bad(2, "Incorrect password");
    }
    let ttl = state.token_ttl.as_secs();
    match account.second_factor {
        SecondFactor::None => {
            let (a, r) = state.issue(&account.email);
            Json(tokens_body(&state, &a, &r)).into_response()
        }
        SecondFactor::Email => Json(json!({"accessToken": "", "refreshToken": "",
            "expiresIn": 0, "refreshExpiresIn": 0, "tfaKey": "", "accessMethod": "",
            "loginType": "verifyCode"}))
        .into_response(),
        SecondFactor::Totp => {
            let key = random_token(24);
            lock(&state.tfa_keys).insert(key.clone(), (account.email.clone(), Instant::now()));
            let _ = ttl;
            Json(
                json!({"accessToken": "", "refreshToken": "", "expiresIn": 0,
                "refreshExpiresIn": 0, "tfaKey": key, "accessMethod": "", "loginType": "tfa"}),
            )
            .into_response()
        }
    }
}

#[derive(Deserialize)]
struct SendCode {
    email: Option<String>,
}

async fn send_code(
    Shared(state): St,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    body: Option<Json<SendCode>>,
) -> Response {
    if let Err(r) = login_limit(&state, peer) {
        return r;
    }
    if let Some(account) = body
        .and_then(|Json(b)| b.email)
        .and_then(|e| state.account(&e).cloned())
    {
        // The code is fixed for the run (`cloud.json`); sending it again resets the tries.
        lock(&state.wrong_codes).remove(&account.email);
    }
    Json(json!({})).into_response()
}

async fn csrf(Shared(state): St) -> Response {
    let value = random_token(24);
    lock(&state.csrf).insert(value.clone());
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bbl_csrf_token={value}; Path=/; Secure")) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

fn csrf_error(reason: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"error": format!("CSRF error: {reason}"), "reason": reason})),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tfa {
    tfa_key: Option<String>,
    tfa_code: Option<String>,
}

async fn sign_in_tfa(
    Shared(state): St,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Option<Json<Tfa>>,
) -> Response {
    if let Err(r) = login_limit(&state, peer) {
        return r;
    }
    let Some(cookie_value) = cookie(&headers, "bbl_csrf_token") else {
        return csrf_error("missing_cookie");
    };
    let Some(header_value) = headers
        .get("x-bbl-csrf-token")
        .and_then(|v| v.to_str().ok())
    else {
        return csrf_error("missing_header");
    };
    if !ct_eq(cookie_value, header_value) || !lock(&state.csrf).contains(cookie_value) {
        return csrf_error("mismatch");
    }
    let Some(Json(body)) = body else {
        return bad(5, "Login failed");
    };
    let key = body.tfa_key.unwrap_or_default();
    let Some((email, issued)) = lock(&state.tfa_keys).get(&key).cloned() else {
        return bad(5, "Login failed");
    };
    if issued.elapsed() > Duration::from_secs(300) {
        return bad(1, "Code expired");
    }
    let Some(secret) = state
        .account(&email)
        .and_then(|a| a.totp_secret.clone())
        .and_then(|s| base32_decode(&s))
        .and_then(|b| pw_credentials::totp::TotpSecret::from_slice(&b))
    else {
        return bad(5, "Login failed");
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if pw_credentials::totp::verify(&secret, &body.tfa_code.unwrap_or_default(), now, None)
        .is_none()
    {
        return bad(2, "Incorrect code");
    }
    lock(&state.tfa_keys).remove(&key);
    let (a, r) = state.issue(&email);
    let mut response = Json(tokens_body(&state, &a, &r)).into_response();
    for (name, value) in [("token", &a), ("refreshToken", &r)] {
        if let Ok(v) = HeaderValue::from_str(&format!("{name}={value}; Path=/; Secure; HttpOnly")) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// RFC 4648 base32 without padding (the TOTP secrets of `cloud.json`).
fn base32_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u32;
    let mut count = 0u32;
    let mut out = Vec::new();
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase())?;
        bits = (bits << 5) | u32::try_from(v).ok()?;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Refresh {
    refresh_token: Option<String>,
}

async fn refresh_token(Shared(state): St, body: Option<Json<Refresh>>) -> Response {
    if !state.refresh {
        return please_login();
    }
    let Some(token) = body.and_then(|Json(b)| b.refresh_token) else {
        return please_login();
    };
    let email = {
        let mut tokens = lock(&state.tokens);
        match tokens.get(&token) {
            Some(t) if t.kind == TokenKind::Refresh && t.expires > Instant::now() => {
                let email = t.email.clone();
                // A refresh token is consumed; the old access token lives to its own expiry.
                tokens.remove(&token);
                email
            }
            _ => return please_login(),
        }
    };
    let (a, r) = state.issue(&email);
    let ttl = state.token_ttl.as_secs();
    Json(json!({"accessToken": a, "refreshToken": r, "expiresIn": ttl, "refreshExpiresIn": ttl}))
        .into_response()
}

async fn preference(Shared(state): St, headers: HeaderMap) -> Response {
    let email = match caller(&state, &headers) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let Some(a) = state.account(&email) else {
        return please_login();
    };
    Json(
        json!({"uid": a.uid, "name": a.name, "handle": format!("@{}", a.name),
        "avatar": "https://example.invalid/a.png", "bio": "", "links": [],
        "backgroundUrl": "https://example.invalid/b.png", "deviceLiveView": 1, "isModelSave": 0}),
    )
    .into_response()
}

async fn profile(Shared(state): St, headers: HeaderMap) -> Response {
    let email = match caller(&state, &headers) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let Some(a) = state.account(&email) else {
        return please_login();
    };
    Json(
        json!({"uid": a.uid, "uidStr": a.uid.to_string(), "name": a.name,
        "avatar": "https://example.invalid/a.png", "account": a.email}),
    )
    .into_response()
}

fn bound(state: &State, email: &str) -> Vec<super::CloudDevice> {
    let serials = state
        .account(email)
        .map(|a| a.serials.clone())
        .unwrap_or_default();
    lock(&state.devices)
        .iter()
        .filter(|d| serials.contains(&d.serial))
        .cloned()
        .collect()
}

async fn bind(Shared(state): St, headers: HeaderMap) -> Response {
    let email = match caller(&state, &headers) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let devices: Vec<Value> = bound(&state, &email)
        .into_iter()
        .map(|d| {
            json!({"dev_id": d.serial, "name": d.name, "online": d.online,
                "print_status": "IDLE", "dev_model_name": d.model_code,
                "dev_product_name": d.product, "dev_access_code": d.access_code,
                "nozzle_diameter": 0.4, "dev_structure": "CoreXY"})
        })
        .collect();
    Json(envelope(json!({"devices": devices}))).into_response()
}

async fn print_status(Shared(state): St, headers: HeaderMap) -> Response {
    let email = match caller(&state, &headers) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let devices: Vec<Value> = bound(&state, &email)
        .into_iter()
        .map(|d| {
            json!({"dev_id": d.serial, "dev_name": d.name, "dev_model_name": d.model_code,
                "dev_product_name": d.product, "dev_online": d.online,
                "dev_access_code": d.access_code, "task_id": null, "task_name": null,
                "task_status": null, "model_id": null, "project_id": null, "profile_id": null,
                "start_time": null, "prediction": null, "progress": null, "thumbnail": null})
        })
        .collect();
    Json(envelope(json!({"devices": devices}))).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TasksQuery {
    device_id: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

fn own_tasks(state: &State, email: &str) -> Vec<Value> {
    let mut all: Vec<Value> = bound(state, email)
        .iter()
        .filter_map(|d| state.tasks.get(&d.serial))
        .flatten()
        .cloned()
        .collect();
    all.sort_by_key(|t| std::cmp::Reverse(t.get("id").and_then(Value::as_u64).unwrap_or(0)));
    all
}

async fn tasks(Shared(state): St, headers: HeaderMap, Query(q): Query<TasksQuery>) -> Response {
    let email = match caller(&state, &headers) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let matching: Vec<Value> = own_tasks(&state, &email)
        .into_iter()
        .filter(|t| {
            q.device_id
                .as_deref()
                .is_none_or(|d| t.get("deviceId").and_then(Value::as_str) == Some(d))
        })
        .collect();
    let total = matching.len();
    let hits: Vec<Value> = matching
        .into_iter()
        .filter(|t| {
            q.after
                .is_none_or(|a| t.get("id").and_then(Value::as_u64).unwrap_or(0) < a)
        })
        .take(q.limit.unwrap_or(20).clamp(1, 500))
        .collect();
    Json(json!({"total": total, "hits": hits})).into_response()
}

async fn task(Shared(state): St, headers: HeaderMap, Path(id): Path<u64>) -> Response {
    let email = match caller(&state, &headers) {
        Ok(e) => e,
        Err(r) => return r,
    };
    match own_tasks(&state, &email)
        .into_iter()
        .find(|t| t.get("id").and_then(Value::as_u64) == Some(id))
    {
        Some(t) => Json(t).into_response(),
        None => not_found().await,
    }
}

#[derive(Deserialize)]
struct DeviceBody {
    dev_id: Option<String>,
    name: Option<String>,
}

async fn device_info(
    Shared(state): St,
    headers: HeaderMap,
    body: Option<Json<DeviceBody>>,
) -> Response {
    let email = match caller(&state, &headers) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let Some(Json(body)) = body else {
        return forbidden_device();
    };
    let serial = body.dev_id.unwrap_or_default();
    if !bound(&state, &email).iter().any(|d| d.serial == serial) {
        return forbidden_device();
    }
    if let Some(name) = body.name.filter(|n| !n.trim().is_empty()) {
        for d in lock(&state.devices).iter_mut() {
            if d.serial == serial {
                d.name = name.trim().to_owned();
            }
        }
    }
    Json(envelope(json!({}))).into_response()
}

async fn ttcode(Shared(state): St, headers: HeaderMap, body: Option<Json<DeviceBody>>) -> Response {
    let email = match caller(&state, &headers) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let serial = body.and_then(|Json(b)| b.dev_id).unwrap_or_default();
    if !bound(&state, &email).iter().any(|d| d.serial == serial) {
        return forbidden_device();
    }
    Json(envelope(
        json!({"ttcode": random_token(12), "passwd": random_token(12),
        "authkey": random_token(12), "region": "us"}),
    ))
    .into_response()
}

// --- test controls (`/_sim/`): never faulted, never counted

async fn control_fault(Shared(state): St, Json(fault): Json<super::Fault>) -> Response {
    lock(&state.faults).push_back(fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn control_clear(Shared(state): St) -> Response {
    lock(&state.faults).clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn control_hits(Shared(state): St) -> Response {
    Json(lock(&state.hits).clone()).into_response()
}

#[derive(Deserialize)]
struct Email {
    email: String,
}

async fn control_revoke(Shared(state): St, Json(e): Json<Email>) -> Response {
    lock(&state.tokens).retain(|_, t| !t.email.eq_ignore_ascii_case(&e.email));
    StatusCode::NO_CONTENT.into_response()
}

/// Counts the hit, records the user agent, and answers a queued fault instead of the route.
async fn observe(Shared(state): St, request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |m| m.as_str().to_owned(),
    );
    let method = request.method().clone();
    if path.starts_with("/_sim/") {
        return next.run(request).await;
    }
    *lock(&state.hits).entry(path.clone()).or_insert(0) += 1;
    if let Some(ua) = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        lock(&state.user_agents).push(ua.to_owned());
    }
    let fault = {
        let mut faults = lock(&state.faults);
        let fault = faults.front_mut().map(|f| {
            f.count = f.count.saturating_sub(1);
            f.clone()
        });
        if faults.front().is_some_and(|f| f.count == 0) {
            faults.pop_front();
        }
        fault
    };
    let response = match fault {
        Some(f) => fault_response(&f),
        None => next.run(request).await,
    };
    tracing::info!(%method, path, status = response.status().as_u16(), "cloud stand-in");
    let mut response = response;
    if let Ok(v) = HeaderValue::from_str(&random_token(9)) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

fn fault_response(f: &super::Fault) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = if f.cloudflare {
        (
            status,
            [(header::CONTENT_TYPE, "text/html")],
            "<!DOCTYPE html><title>Attention Required! | Cloudflare</title><p>cloudflare</p>",
        )
            .into_response()
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        too_many(None)
    } else {
        (
            status,
            Json(json!({"code": f.status, "error": "Service Unavailable", "message": "try later"})),
        )
            .into_response()
    };
    if let Some(s) = f.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn router(state: Arc<State>) -> Router {
    let na = || method_not_allowed;
    Router::new()
        .route("/v1/user-service/user/login", post(login).fallback(na()))
        .route(
            "/v1/user-service/user/sendemail/code",
            post(send_code).fallback(na()),
        )
        .route("/api/csrf", get(csrf).fallback(na()))
        .route("/api/sign-in/tfa", post(sign_in_tfa).fallback(na()))
        .route(
            "/v1/user-service/user/refreshtoken",
            post(refresh_token).fallback(na()),
        )
        .route(
            "/v1/design-user-service/my/preference",
            get(preference).fallback(na()),
        )
        .route("/v1/user-service/my/profile", get(profile).fallback(na()))
        .route("/v1/iot-service/api/user/bind", get(bind).fallback(na()))
        .route(
            "/v1/iot-service/api/user/print",
            get(print_status).fallback(na()),
        )
        .route("/v1/user-service/my/tasks", get(tasks).fallback(na()))
        .route("/v1/user-service/my/task/{id}", get(task).fallback(na()))
        .route(
            "/v1/iot-service/api/user/device/info",
            patch(device_info).fallback(na()),
        )
        .route(
            "/v1/iot-service/api/user/ttcode",
            post(ttcode).fallback(na()),
        )
        .route("/_sim/fault", post(control_fault))
        .route("/_sim/clear", post(control_clear))
        .route("/_sim/hits", get(control_hits))
        .route("/_sim/revoke", post(control_revoke))
        .fallback(not_found)
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            observe,
        ))
        .with_state(state)
}

/// Accepts TLS connections until the task is aborted.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<State>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = router(state);
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let acceptor = acceptor.clone();
        let app = app.clone().layer(axum::Extension(ConnectInfo(peer)));
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
