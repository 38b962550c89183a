//! Bambu Cloud (SPEC S12, issue 20): a user links their own Bambu account (`cloud:auth`):
//! password, then the emailed or authenticator-app code, then done. The access and refresh
//! tokens are sealed per user and refreshed before expiry by the `cloud-refresh` task; the
//! linked account's printers are listed through the one budgeted, cached client
//! ([`client::Upstream`]).
//!
//! Invariants: the Bambu password is used for one call and never stored, not even in the
//! pending sign-in; no token, code or password reaches a response, a log line, an audit detail
//! or an unsealed column; a user only ever acts on their own link (every use case takes the
//! link of `actor.user_id`, there is no id to pass), and an administrator sees *that* a user
//! has a link (the users list), never its tokens.

pub(crate) mod client;
mod refresh;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use pw_domain::{Permission, UserId};
use pw_policy::{Action, Target};
use pw_store::{CloudLinkRow, NewCloudLink};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use client::CloudConfig;
use client::{Call, CloudError, Read, Region, Upstream};

use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, SecretString};

/// How long a started sign-in waits for its code.
const PENDING_LIFETIME: Duration = Duration::from_secs(600);
/// Wrong codes before a started sign-in is dropped.
const MAX_CODE_TRIES: u32 = 5;
/// Sign-in attempts per user per window (threat: printwarden as an oracle for guessing a
/// Bambu password or code, and Bambu locking the account).
const ATTEMPTS_PER_WINDOW: u32 = 10;
const ATTEMPT_WINDOW: Duration = Duration::from_secs(600);

/// `POST /api/v1/cloud/link`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudLinkInput {
    /// The Bambu account's email.
    pub email: String,
    /// Its password: used for this one call to Bambu, never stored.
    #[schema(value_type = String)]
    pub password: SecretString,
    /// `global` (default) or `china`.
    #[serde(default)]
    pub region: Option<String>,
}

impl std::fmt::Debug for CloudLinkInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudLinkInput")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// `POST /api/v1/cloud/link/verify`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudCodeInput {
    /// The code from Bambu's email, or from the authenticator app.
    #[schema(value_type = String)]
    pub code: SecretString,
}

impl std::fmt::Debug for CloudCodeInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CloudCodeInput { .. }")
    }
}

/// Where a link stands (never a token).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CloudLinkView {
    /// `none`, `code_required`, `linked` or `expired` (sign in again).
    pub state: &'static str,
    /// With `code_required`: `email` or `totp`, what code Bambu asks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    /// The Bambu account's email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `global` or `china`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'static str>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linked_at: Option<String>,
    /// RFC 3339: when Bambu's token expires (printwarden refreshes it before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// RFC 3339 of the last refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<String>,
    /// Why the last refresh failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// `available`, or `paused` while printwarden holds back its calls to Bambu.
    pub service: &'static str,
}

/// One printer of the linked account (the LAN access code stays on the server).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CloudDeviceView {
    /// Serial.
    pub serial: String,
    /// The name set in Bambu's app.
    pub name: String,
    /// Model (`X1 Carbon`, `P1S`…).
    pub model: String,
    /// Bambu's model code (`BL-P001`, `C12`…).
    pub model_code: String,
    /// Connected to Bambu Cloud.
    pub online: bool,
}

/// `GET /api/v1/cloud/devices`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CloudDevicesView {
    /// The printers.
    pub devices: Vec<CloudDeviceView>,
    /// RFC 3339: when Bambu gave this answer.
    pub fetched_at: String,
    /// True when Bambu could not be asked now and this is the last answer it gave.
    pub stale: bool,
}

/// One print of the linked account's history (Bambu's task list).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CloudTaskView {
    /// Bambu's task id.
    pub id: i64,
    /// The job's title.
    pub title: String,
    /// The printer's serial.
    pub serial: String,
    /// `finished`, `failed`, `running` or `other`.
    pub status: &'static str,
    /// As Bambu gave it (RFC 3339).
    pub started_at: String,
    /// As Bambu gave it (RFC 3339).
    pub ended_at: String,
    /// Filament used, grams.
    pub weight_g: f64,
}

/// `GET /api/v1/cloud/tasks`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CloudTasksView {
    /// The latest prints, newest first (at most 20).
    pub tasks: Vec<CloudTaskView>,
    /// RFC 3339: when Bambu gave this answer.
    pub fetched_at: String,
    /// True when Bambu could not be asked now and this is the last answer it gave.
    pub stale: bool,
}

/// `?refresh=true`: ask Bambu now instead of serving a fresh cached answer.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CloudDevicesQuery {
    /// Ask Bambu now (still within the budgets).
    #[serde(default)]
    pub refresh: bool,
}

/// A sign-in waiting for its code. Holds no password.
enum Step {
    Email,
    Totp { tfa_key: SecretString },
}

struct Pending {
    email: String,
    region: Region,
    step: Step,
    started: Instant,
    tries: u32,
}

/// The feature's shared state.
pub(crate) struct Cloud {
    pub(crate) upstream: Upstream,
    pending: Mutex<HashMap<UserId, Pending>>,
    attempts: Mutex<HashMap<UserId, (Instant, u32)>>,
    /// Wakes the refresher when a link changes.
    pub(crate) wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloud").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cloud {
    pub(crate) fn new(upstream: Upstream) -> Self {
        Self {
            upstream,
            pending: Mutex::default(),
            attempts: Mutex::default(),
            wake: tokio::sync::Notify::new(),
        }
    }

    fn spend_attempt(&self, user: UserId) -> Result<(), AppError> {
        let mut attempts = lock(&self.attempts);
        let now = Instant::now();
        let entry = attempts.entry(user).or_insert((now, 0));
        if now.duration_since(entry.0) > ATTEMPT_WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= ATTEMPTS_PER_WINDOW {
            return Err(AppError::RateLimited(
                "Too many Bambu Cloud sign-in attempts; wait ten minutes.".into(),
            ));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// The seal context of a link's token.
fn context(user: UserId, which: &str) -> String {
    format!("cloud_link:{}:{which}", user.get())
}

fn cloud_error(e: &CloudError) -> AppError {
    match e {
        CloudError::SignedOut | CloudError::Refused { .. } => AppError::BadRequest(e.message()),
        CloudError::Unavailable(m) | CloudError::Failed(m) => {
            AppError::ServiceUnavailable(m.clone())
        }
    }
}

/// Bambu's 400 body at sign-in: `{code, error}`.
fn refusal(answer: &client::Answer) -> CloudError {
    let code = answer.json.get("code").and_then(Value::as_i64);
    let text = answer
        .json
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("the sign-in was refused")
        .chars()
        .take(120)
        .collect();
    CloudError::Refused { code, text }
}

/// Tokens from a sign-in or refresh answer.
struct Tokens {
    access: SecretString,
    refresh: Option<SecretString>,
    expires_in: i64,
    refresh_expires_in: Option<i64>,
}

fn tokens_of(json: &Value) -> Option<Tokens> {
    let access = json
        .get("accessToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())?;
    Some(Tokens {
        access: SecretString::new(access.to_owned()),
        refresh: json
            .get("refreshToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| SecretString::new(t.to_owned())),
        // Bambu says 90 days; a missing value is taken as one day, so the refresher looks
        // again soon rather than trusting a token for months.
        expires_in: json
            .get("expiresIn")
            .and_then(Value::as_i64)
            .filter(|s| *s > 0)
            .unwrap_or(86_400),
        refresh_expires_in: json
            .get("refreshExpiresIn")
            .and_then(Value::as_i64)
            .filter(|s| *s > 0),
    })
}

impl App {
    fn require_cloud(&self, actor: &Actor) -> Result<UserId, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::CloudAuth),
            &Target::Global,
        )?;
        actor
            .user_id
            .ok_or_else(|| AppError::BadRequest("Sign in as a user to link Bambu Cloud.".into()))
    }

    /// `POST /api/v1/cloud/link`: signs in to Bambu with the password; either linked at once
    /// or waiting for the code Bambu asks for.
    pub async fn link_cloud(
        &self,
        actor: &Actor,
        input: CloudLinkInput,
    ) -> Result<CloudLinkView, AppError> {
        let user = self.require_cloud(actor)?;
        let email = input.email.trim().to_owned();
        if email.is_empty()
            || email.len() > 254
            || !email.contains('@')
            || pw_domain::has_hidden_chars(&email)
        {
            return Err(AppError::BadRequest(
                "Enter the email address of the Bambu account.".into(),
            ));
        }
        let password = input.password;
        if password.is_empty() || password.expose().len() > 256 {
            return Err(AppError::BadRequest(
                "Enter the Bambu account's password.".into(),
            ));
        }
        let region = match input.region.as_deref() {
            None | Some("") => Region::Global,
            Some(r) => Region::parse(r).ok_or_else(|| {
                AppError::BadRequest("region must be `global` or `china`.".into())
            })?,
        };
        self.cloud.spend_attempt(user)?;
        lock(&self.cloud.pending).remove(&user);
        let answer = self
            .cloud
            .upstream
            .call(
                user,
                region,
                &Call::post(
                    "/v1/user-service/user/login",
                    json!({"account": email, "password": password.expose()}),
                ),
            )
            .await;
        drop(password);
        let answer = match answer {
            Ok(a) if a.status == 200 => a,
            Ok(a) => {
                let e = refusal(&a);
                self.audit_link(actor, user, &email, region, "password", Some(&e))
                    .await;
                return Err(match e {
                    CloudError::Refused { code: Some(2), .. } => AppError::WrongSecret(
                        "Bambu did not accept this email and password.".into(),
                    ),
                    other => cloud_error(&other),
                });
            }
            Err(e) => return Err(cloud_error(&e)),
        };
        if let Some(tokens) = tokens_of(&answer.json) {
            self.finish_link(actor, user, &email, region, tokens, "password")
                .await?;
            return self.cloud_link_status(actor).await;
        }
        let step = match answer.json.get("loginType").and_then(Value::as_str) {
            Some("verifyCode") => {
                // Bambu mails the code on its own only for some addresses (§2.2, disputed):
                // ask for it explicitly, as the other clients do.
                let sent = self
                    .cloud
                    .upstream
                    .call(
                        user,
                        region,
                        &Call::post(
                            "/v1/user-service/user/sendemail/code",
                            json!({"email": email, "type": "codeLogin"}),
                        ),
                    )
                    .await;
                if let Err(e) = sent {
                    return Err(cloud_error(&e));
                }
                Step::Email
            }
            Some("tfa") => {
                let key = answer
                    .json
                    .get("tfaKey")
                    .and_then(Value::as_str)
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| {
                        AppError::ServiceUnavailable(
                            "Bambu Cloud asked for an authenticator code but sent no sign-in key; try again."
                                .into(),
                        )
                    })?;
                Step::Totp {
                    tfa_key: SecretString::new(key.to_owned()),
                }
            }
            _ => {
                return Err(AppError::ServiceUnavailable(
                    "Bambu Cloud answered the sign-in in a way printwarden does not know.".into(),
                ));
            }
        };
        lock(&self.cloud.pending).insert(
            user,
            Pending {
                email,
                region,
                step,
                started: Instant::now(),
                tries: 0,
            },
        );
        self.cloud_link_status(actor).await
    }

    /// `POST /api/v1/cloud/link/verify`: the code Bambu asked for.
    pub async fn verify_cloud_link(
        &self,
        actor: &Actor,
        input: CloudCodeInput,
    ) -> Result<CloudLinkView, AppError> {
        let user = self.require_cloud(actor)?;
        let code: String = input
            .code
            .expose()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if code.is_empty() || code.len() > 12 || !code.chars().all(|c| c.is_ascii_digit()) {
            return Err(AppError::BadRequest("Enter the code (digits only).".into()));
        }
        let code = SecretString::new(code);
        let (email, region, tfa_key) = {
            let mut pending = lock(&self.cloud.pending);
            let Some(p) = pending.get_mut(&user) else {
                return Err(AppError::BadRequest(
                    "No Bambu Cloud sign-in is waiting for a code; start again.".into(),
                ));
            };
            if p.started.elapsed() > PENDING_LIFETIME {
                pending.remove(&user);
                return Err(AppError::BadRequest(
                    "The sign-in took too long; start again.".into(),
                ));
            }
            p.tries += 1;
            let key = match &p.step {
                Step::Email => None,
                Step::Totp { tfa_key } => Some(tfa_key.clone()),
            };
            (p.email.clone(), p.region, key)
        };
        self.cloud.spend_attempt(user)?;
        let result = match &tfa_key {
            None => {
                self.cloud
                    .upstream
                    .call(
                        user,
                        region,
                        &Call::post(
                            "/v1/user-service/user/login",
                            json!({"account": email, "code": code.expose()}),
                        ),
                    )
                    .await
            }
            Some(key) => self.tfa_step(user, region, key, &code).await,
        };
        drop(code);
        let answer = match result {
            Ok(a) if a.status == 200 => a,
            Ok(a) => {
                let e = refusal(&a);
                self.audit_link(actor, user, &email, region, "code", Some(&e))
                    .await;
                let expired = matches!(e, CloudError::Refused { code: Some(1), .. });
                let mut pending = lock(&self.cloud.pending);
                let exhausted = pending
                    .get(&user)
                    .is_some_and(|p| p.tries >= MAX_CODE_TRIES);
                if expired || exhausted {
                    pending.remove(&user);
                    return Err(AppError::BadRequest(
                        "The code has expired or was tried too often; start again.".into(),
                    ));
                }
                return Err(AppError::WrongSecret(
                    "That code is not right; check it and try again.".into(),
                ));
            }
            Err(e) => return Err(cloud_error(&e)),
        };
        let mut json = answer.json.clone();
        // The authenticator step hands the token back as a cookie (§2.3, variant A).
        if json
            .get("accessToken")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            && let Some(obj) = json.as_object_mut()
        {
            for (name, key) in [("token", "accessToken"), ("refreshToken", "refreshToken")] {
                if let Some((_, v)) = answer.cookies.iter().find(|(n, _)| n == name) {
                    obj.insert(key.to_owned(), Value::String(v.expose().to_owned()));
                }
            }
        }
        let tokens = tokens_of(&json).ok_or_else(|| {
            AppError::ServiceUnavailable("Bambu Cloud accepted the code but sent no token.".into())
        })?;
        drop(json);
        lock(&self.cloud.pending).remove(&user);
        self.finish_link(actor, user, &email, region, tokens, "code")
            .await?;
        self.cloud_link_status(actor).await
    }

    /// The web-origin authenticator step (§2.3 variant A): a CSRF cookie, then the code.
    async fn tfa_step(
        &self,
        user: UserId,
        region: Region,
        key: &SecretString,
        code: &SecretString,
    ) -> Result<client::Answer, CloudError> {
        let mut csrf_call = Call::post("/api/csrf", Value::Null);
        csrf_call.method = reqwest::Method::GET;
        csrf_call.body = None;
        csrf_call.web = true;
        let csrf = self.cloud.upstream.call(user, region, &csrf_call).await?;
        let token = csrf
            .cookies
            .iter()
            .find(|(n, _)| n == "bbl_csrf_token")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                CloudError::Failed("Bambu Cloud's sign-in page did not start the code step.".into())
            })?;
        let mut call = Call::post(
            "/api/sign-in/tfa",
            json!({"tfaKey": key.expose(), "tfaCode": code.expose()}),
        );
        call.web = true;
        call.headers = vec![
            ("cookie", format!("bbl_csrf_token={}", token.expose())),
            ("x-bbl-csrf-token", token.expose().to_owned()),
        ];
        self.cloud.upstream.call(user, region, &call).await
    }

    /// Seals and stores the tokens, learns the Bambu uid, audits.
    async fn finish_link(
        &self,
        actor: &Actor,
        user: UserId,
        email: &str,
        region: Region,
        tokens: Tokens,
        step: &str,
    ) -> Result<(), AppError> {
        let now = self.now();
        let profile = match self
            .cloud
            .upstream
            .call(
                user,
                region,
                &Call::get("/v1/design-user-service/my/preference", &tokens.access),
            )
            .await
        {
            Ok(a) if a.status == 200 => Some(a.json),
            _ => None,
        };
        let uid = profile
            .as_ref()
            .and_then(|p| p.get("uid"))
            .map(|u| match u {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        let access = self.seal(tokens.access.expose(), &context(user, "access_token"))?;
        let refresh = tokens
            .refresh
            .as_ref()
            .map(|r| self.seal(r.expose(), &context(user, "refresh_token")))
            .transpose()?;
        self.store
            .put_cloud_link(&NewCloudLink {
                user_id: user,
                email,
                region: region.as_str(),
                cloud_uid: uid.as_deref(),
                access_token: &access,
                refresh_token: refresh.as_deref(),
                expires_at: now + tokens.expires_in.saturating_mul(1000),
                refresh_expires_at: tokens
                    .refresh_expires_in
                    .map(|s| now + s.saturating_mul(1000)),
                now,
            })
            .await?;
        self.cloud.upstream.forget(user);
        if let Some(profile) = profile {
            // The profile read of this link, cached under its own generation.
            self.cloud
                .upstream
                .remember((user, now, Read::Profile), profile, now);
        }
        self.cloud.wake.notify_one();
        self.audit_link(actor, user, email, region, step, None)
            .await;
        Ok(())
    }

    async fn audit_link(
        &self,
        actor: &Actor,
        user: UserId,
        email: &str,
        region: Region,
        step: &str,
        failure: Option<&CloudError>,
    ) {
        let mut details = json!({"email": email, "region": region.as_str(), "step": step});
        if let (Some(e), Some(obj)) = (failure, details.as_object_mut()) {
            obj.insert("reason".into(), Value::String(e.message()));
        }
        self.audit(
            actor,
            AuditEvent::CloudLink,
            Some(("user", user.to_string())),
            failure.is_none(),
            details,
        )
        .await;
    }

    /// `GET /api/v1/cloud/link`: the caller's own link (never a token).
    pub async fn cloud_link_status(&self, actor: &Actor) -> Result<CloudLinkView, AppError> {
        let user = self.require_cloud(actor)?;
        let service = if self.cloud.upstream.paused() {
            "paused"
        } else {
            "available"
        };
        let none = CloudLinkView {
            state: "none",
            method: None,
            email: None,
            region: None,
            linked_at: None,
            expires_at: None,
            refreshed_at: None,
            last_error: None,
            service,
        };
        if let Some(p) = lock(&self.cloud.pending)
            .get(&user)
            .filter(|p| p.started.elapsed() <= PENDING_LIFETIME)
        {
            return Ok(CloudLinkView {
                state: "code_required",
                method: Some(match p.step {
                    Step::Email => "email",
                    Step::Totp { .. } => "totp",
                }),
                email: Some(p.email.clone()),
                region: Some(p.region.as_str()),
                ..none
            });
        }
        let Some(row) = self.store.cloud_link(user).await? else {
            return Ok(none);
        };
        let region = Region::parse(&row.region).unwrap_or(Region::Global);
        Ok(CloudLinkView {
            state: if row.state == "expired" || row.expires_at <= self.now() {
                "expired"
            } else {
                "linked"
            },
            method: None,
            email: Some(row.email),
            region: Some(region.as_str()),
            linked_at: Some(crate::rfc3339(row.linked_at)),
            expires_at: Some(crate::rfc3339(row.expires_at)),
            refreshed_at: row.refreshed_at.map(crate::rfc3339),
            last_error: row.last_error,
            service,
        })
    }

    /// `DELETE /api/v1/cloud/link`: removes the caller's link (and a sign-in in progress).
    pub async fn unlink_cloud(&self, actor: &Actor) -> Result<(), AppError> {
        let user = self.require_cloud(actor)?;
        let pending = lock(&self.cloud.pending).remove(&user).is_some();
        let row = self.store.cloud_link(user).await?;
        let deleted = self.store.delete_cloud_link(user).await?;
        self.cloud.upstream.forget(user);
        if !deleted && !pending {
            return Err(AppError::NotFound);
        }
        if deleted {
            self.audit(
                actor,
                AuditEvent::CloudUnlink,
                Some(("user", user.to_string())),
                true,
                json!({"email": row.map(|r| r.email).unwrap_or_default()}),
            )
            .await;
        }
        Ok(())
    }

    /// `GET /api/v1/cloud/devices`: the linked account's printers, from the cache while fresh
    /// (or with `refresh`, from Bambu within the budgets), the last answer when Bambu cannot
    /// be asked.
    pub async fn cloud_devices(
        &self,
        actor: &Actor,
        query: &CloudDevicesQuery,
    ) -> Result<CloudDevicesView, AppError> {
        let user = self.require_cloud(actor)?;
        let (json, at, stale) = self
            .cloud_read(
                user,
                Read::Devices,
                "/v1/iot-service/api/user/bind",
                query.refresh,
            )
            .await?;
        let devices = items(&json, "devices")
            .iter()
            .filter_map(|d| {
                let serial = text(d, "dev_id");
                (!serial.is_empty()).then(|| CloudDeviceView {
                    name: text(d, "name"),
                    model: text(d, "dev_product_name"),
                    model_code: text(d, "dev_model_name"),
                    online: d.get("online").and_then(Value::as_bool).unwrap_or(false),
                    serial,
                })
            })
            .take(500)
            .collect();
        Ok(CloudDevicesView {
            devices,
            fetched_at: crate::rfc3339(at),
            stale,
        })
    }

    /// `GET /api/v1/cloud/tasks`: the linked account's latest prints, cached like devices.
    pub async fn cloud_tasks(
        &self,
        actor: &Actor,
        query: &CloudDevicesQuery,
    ) -> Result<CloudTasksView, AppError> {
        let user = self.require_cloud(actor)?;
        let (json, at, stale) = self
            .cloud_read(
                user,
                Read::Tasks,
                "/v1/user-service/my/tasks?limit=20",
                query.refresh,
            )
            .await?;
        let tasks = items(&json, "hits")
            .iter()
            .take(20)
            .map(|t| CloudTaskView {
                id: t.get("id").and_then(Value::as_i64).unwrap_or(0),
                title: text(t, "title"),
                serial: text(t, "deviceId"),
                status: match t.get("status").and_then(Value::as_i64) {
                    Some(2) => "finished",
                    Some(3) => "failed",
                    Some(4) => "running",
                    _ => "other",
                },
                started_at: text(t, "startTime"),
                ended_at: text(t, "endTime"),
                weight_g: t.get("weight").and_then(Value::as_f64).unwrap_or(0.0),
            })
            .collect();
        Ok(CloudTasksView {
            tasks,
            fetched_at: crate::rfc3339(at),
            stale,
        })
    }

    /// A cached read of the user's own account: fresh cache, else Bambu (refreshing the token
    /// first when it is due, and once more after a 401), else the stale cache.
    async fn cloud_read(
        &self,
        user: UserId,
        read: Read,
        path: &str,
        force: bool,
    ) -> Result<(Value, i64, bool), AppError> {
        let row = self.live_link(user).await?;
        let key = (user, row.linked_at, read);
        if !force && let Some((v, at)) = self.cloud.upstream.cached(key, false) {
            return Ok((v, at, false));
        }
        let region = Region::parse(&row.region).unwrap_or(Region::Global);
        let row = if refresh::due(&row, self.now()) || row.expires_at <= self.now() {
            self.refresh_link(&row).await.unwrap_or(row)
        } else {
            row
        };
        let mut token = self.open(&row.access_token, &context(user, "access_token"))?;
        let mut answer = self
            .cloud
            .upstream
            .call(user, region, &Call::get(path, &token))
            .await;
        if matches!(answer, Err(CloudError::SignedOut)) {
            // Expired early or revoked elsewhere: one refresh, one more try.
            if let Some(fresh) = self.refresh_link(&row).await {
                token = self.open(&fresh.access_token, &context(user, "access_token"))?;
                answer = self
                    .cloud
                    .upstream
                    .call(user, region, &Call::get(path, &token))
                    .await;
            }
        }
        drop(token);
        match answer {
            Ok(a) if a.status == 200 => {
                let now = self.now();
                self.cloud.upstream.remember(key, a.json.clone(), now);
                Ok((a.json, now, false))
            }
            Ok(a) => {
                tracing::info!(
                    status = a.status,
                    "Bambu Cloud: unexpected answer to a read"
                );
                Err(AppError::ServiceUnavailable(
                    "Bambu Cloud refused the request.".into(),
                ))
            }
            Err(CloudError::SignedOut) => {
                self.link_expired(user, "Bambu refused the token").await;
                Err(cloud_error(&CloudError::SignedOut))
            }
            Err(e) => match self.cloud.upstream.cached(key, true) {
                Some((v, at)) => Ok((v, at, true)),
                None => Err(cloud_error(&e)),
            },
        }
    }

    /// The caller's link, if it is usable.
    async fn live_link(&self, user: UserId) -> Result<CloudLinkRow, AppError> {
        let row = self.store.cloud_link(user).await?.ok_or_else(|| {
            AppError::Conflict(
                "Link your Bambu Cloud account first (Account → Bambu Cloud).".into(),
            )
        })?;
        if row.state == "expired" {
            return Err(AppError::Conflict(
                "Bambu Cloud no longer accepts this sign-in; link the account again.".into(),
            ));
        }
        Ok(row)
    }
}

/// The array under `key` in a Bambu answer (empty when it is missing or not an array: a
/// changed answer shows as "nothing", never as an error page).
fn items<'a>(json: &'a Value, key: &str) -> &'a [Value] {
    json.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The string under `key` of one item of a Bambu answer, empty when missing.
fn text(item: &Value, key: &str) -> String {
    item.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}
