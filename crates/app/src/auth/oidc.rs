//! OpenID Connect sign-in (S6, issue 19 items 4–5): the providers (`settings:security`), the
//! authorization-code flow with PKCE, the account a verified ID token signs in to (linked,
//! auto-linked or created, its mapped groups synced), and linking/unlinking from Account.
//!
//! Invariants:
//! - the discovery document and every URL in it go through the outbound guard (its resolver
//!   checks every answer), and a configured CA replaces the platform roots for that provider;
//! - `state` is single-use and server-side (only its SHA-256 is stored, deleted by the
//!   statement that reads it) and bound to the browser that started the flow by a short-lived
//!   `__Host-` cookie whose digest must match (threat: login CSRF, a victim's browser finishing
//!   an attacker's sign-in); the nonce and PKCE verifier live in the same row;
//! - an ID token is only accepted with a valid signature from the provider's JWKS (refetched
//!   once on an unknown `kid`), our `aud`/`azp`, the provider's `iss`, a live `exp`, a sane
//!   `iat` and our nonce (`pw_identity::oidc::verify_id_token`);
//! - an account is found by (provider, subject) only; auto-link by email needs the `email`
//!   claim verified, is off by default, is refused by a database CHECK otherwise, and never
//!   takes an account that already has a link to this provider (threat: account takeover by
//!   anyone who can set an address at the provider);
//! - group mappings hand out rights, so saving them goes through `check_may_grant` like any
//!   membership change, and sync touches only mapped groups (a change revokes sessions);
//! - the client secret is sealed per row, never returned, and never follows a change of
//!   issuer or CA (re-entering it is required);
//! - an account's last way to sign in cannot be unlinked; every decision is audited.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use pw_credentials::token::digest;
use pw_domain::{Email, GroupId, Permission, UserId, Username};
use pw_identity::oidc::{
    AuthorizeRequest, Discovery, Expected, IdClaims, IdTokenError, Issuer, Jwks, authorize_url,
    verify_id_token,
};
use pw_policy::{Action, Target};
use pw_store::{NewUser, OidcProviderRow, OidcProviderWrite, OidcStateRow, UserPatch, UserRow};
use serde::{Deserialize, Serialize};

use crate::auth::mfa::SignIn;
use crate::auth::sessions::rights_of;
use crate::core::clock::random;
use crate::system::audit::event::AuditEvent;
use crate::system::outbound::{Refusal, read_capped, refusal_of};
use crate::{Actor, App, AppError, RequestMeta, SecretString};

/// How long a sign-in may take at the provider.
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;
/// How long a discovery document and key set are reused.
const CACHE_TTL_MS: i64 = 15 * 60 * 1000;
/// A refetch of the key set for an unknown `kid` at most this often per provider. ID tokens
/// come from the token endpoint over our own TLS connection, never from the browser, so only
/// the provider itself could send unknown kids; this bounds a misbehaving one.
const REFETCH_MIN_MS: i64 = 1000;
const MAX_PROVIDERS: usize = 20;
const MAX_MAPPINGS: usize = 100;
const MAX_FIELD: usize = 1024;
const PURPOSE_SIGN_IN: &str = "sign_in";
const PURPOSE_LINK: &str = "link";
/// The one sentence a user reads when a sign-in through a provider fails.
pub const SIGN_IN_FAILED: &str = "Sign-in with the identity provider did not work. Try again, or \
     ask your administrator.";

/// One value of the groups claim mapped to one printwarden group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcGroupMapping {
    /// A value of the groups claim (compared exactly).
    pub claim_value: String,
    /// The printwarden group its members join.
    #[schema(value_type = i64)]
    pub group_id: GroupId,
}

/// `POST /api/v1/settings/oidc/providers` and `PUT …/{id}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderInput {
    /// Shown on the sign-in page ("Sign in with …").
    pub name: String,
    /// The issuer, `https://…` (discovery is read from `/.well-known/openid-configuration`).
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// The client secret; omitted keeps the stored one (needed again when the issuer or the
    /// CA changes); empty: a public client (PKCE only).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub client_secret: Option<SecretString>,
    /// CA certificate(s) (PEM) for a provider with a private CA; trusted instead of the
    /// system's roots for this provider.
    #[serde(default)]
    pub ca_cert_pem: Option<String>,
    /// Space-separated scopes; `openid` is added when missing (default `openid email profile`).
    #[serde(default)]
    pub scopes: Option<String>,
    /// Claim with the email address (default `email`).
    #[serde(default)]
    pub email_claim: Option<String>,
    /// Claim with the user's groups, for the mapping.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Refuse a sign-in whose email is not verified by the provider (default true).
    #[serde(default)]
    pub require_verified_email: Option<bool>,
    /// Create an account at the first sign-in (default false).
    #[serde(default)]
    pub auto_create: Option<bool>,
    /// Link an existing account with the same verified email (default false; needs
    /// `email_claim` = `email` and `require_verified_email`).
    #[serde(default)]
    pub auto_link: Option<bool>,
    /// Values of the groups claim → printwarden groups.
    #[serde(default)]
    pub group_mappings: Vec<OidcGroupMapping>,
    /// Offered on the sign-in page (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A provider as `settings:security` sees it (never the secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OidcProviderView {
    /// Its id (in `/api/v1/auth/oidc/{id}/authorize`).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Issuer (normalised).
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Whether a client secret is stored (false: public client).
    pub client_secret_set: bool,
    /// CA certificate(s) trusted for this provider.
    pub ca_cert_pem: Option<String>,
    /// Scopes.
    pub scopes: String,
    /// Email claim.
    pub email_claim: String,
    /// Groups claim.
    pub groups_claim: Option<String>,
    /// Refuse unverified emails.
    pub require_verified_email: bool,
    /// Create accounts.
    pub auto_create: bool,
    /// Link by verified email.
    pub auto_link: bool,
    /// Group mappings.
    pub group_mappings: Vec<OidcGroupMapping>,
    /// Offered at sign-in.
    pub enabled: bool,
}

/// A provider as the sign-in page lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OidcProviderButton {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its icon (none yet: the sign-in page shows the name).
    pub icon_url: Option<String>,
}

/// One of the caller's links, for Account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OidcLinkView {
    /// The provider.
    pub provider_id: i64,
    /// Its name.
    pub provider_name: String,
    /// The email the provider gave.
    pub email: Option<String>,
    /// When linked (RFC 3339).
    pub linked_at: String,
}

/// `POST /api/v1/auth/oidc/{provider_id}/link` and `…/unlink`: re-authentication first.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcReauth {
    /// The account's password (required when it has one).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<SecretString>,
}

/// A flow started: where to send the browser, and the value of the binding cookie.
#[derive(Debug)]
pub struct OidcStart {
    /// The provider's authorization URL.
    pub redirect: String,
    /// The cookie value (only its SHA-256 is stored).
    pub browser_token: SecretString,
}

/// What came back to `/auth/oidc/callback`.
#[derive(Debug, Default, Deserialize)]
pub struct OidcCallback {
    /// The code.
    pub code: Option<String>,
    /// Our state.
    pub state: Option<String>,
    /// The provider's error, if it refused.
    pub error: Option<String>,
    /// RFC 9207 issuer of the answer.
    pub iss: Option<String>,
}

/// How a callback ended.
#[derive(Debug)]
pub enum OidcDone {
    /// A sign-in (a session, or a second-factor challenge).
    SignedIn(SignIn),
    /// A provider was linked to the signed-in account.
    Linked,
}

/// Discovery documents and key sets, per provider row.
#[derive(Debug, Default)]
pub struct OidcCache {
    entries: Mutex<HashMap<i64, Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    /// Issuer and CA it was fetched for: a changed provider never uses an old entry.
    issuer: String,
    ca: Option<String>,
    discovery: Discovery,
    jwks: Jwks,
    fetched_at: i64,
    jwks_fetched_at: i64,
}

impl OidcCache {
    fn get(&self, p: &OidcProviderRow) -> Option<Cached> {
        let map = self.entries.lock().ok()?;
        map.get(&p.id)
            .filter(|c| c.issuer == p.issuer && c.ca == p.ca_cert_pem)
            .cloned()
    }

    fn put(&self, id: i64, c: Cached) {
        if let Ok(mut map) = self.entries.lock() {
            map.insert(id, c);
        }
    }

    fn forget(&self, id: i64) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(&id);
        }
    }
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::BadRequest(message.into())
}

fn text(name: &str, raw: &str, required: bool) -> Result<String, AppError> {
    let value = raw.trim().to_owned();
    if required && value.is_empty() {
        return Err(bad(format!("The {name} is required.")));
    }
    if value.len() > MAX_FIELD || value.chars().any(char::is_control) {
        return Err(bad(format!(
            "The {name} must be at most {MAX_FIELD} characters without control characters."
        )));
    }
    Ok(value)
}

fn claim_name(name: &str, raw: &str) -> Result<String, AppError> {
    let value = raw.trim();
    if value.is_empty()
        || value.len() > 64
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'))
    {
        return Err(bad(format!(
            "The {name} must be a claim name like email or groups."
        )));
    }
    Ok(value.to_owned())
}

fn scopes(raw: Option<&str>) -> Result<String, AppError> {
    let raw = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("openid email profile");
    let mut out: Vec<&str> = Vec::new();
    for s in raw.split_ascii_whitespace() {
        if s.len() > 64
            || !s
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        {
            return Err(bad(
                "Scopes are words separated by spaces, like openid email profile.",
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    if !out.contains(&"openid") {
        out.insert(0, "openid");
    }
    if out.len() > 20 {
        return Err(bad("At most 20 scopes."));
    }
    Ok(out.join(" "))
}

fn mappings_of(p: &OidcProviderRow) -> Vec<OidcGroupMapping> {
    serde_json::from_str(&p.group_mappings).unwrap_or_default()
}

fn view(p: &OidcProviderRow) -> OidcProviderView {
    OidcProviderView {
        id: p.id,
        name: p.name.clone(),
        issuer: p.issuer.clone(),
        client_id: p.client_id.clone(),
        client_secret_set: p.client_secret.is_some(),
        ca_cert_pem: p.ca_cert_pem.clone(),
        scopes: p.scopes.clone(),
        email_claim: p.email_claim.clone(),
        groups_claim: p.groups_claim.clone(),
        require_verified_email: p.require_verified_email,
        auto_create: p.auto_create,
        auto_link: p.auto_link,
        group_mappings: mappings_of(p),
        enabled: p.enabled,
    }
}

fn secret_context(id: i64) -> String {
    pw_store::sealed::OIDC_CLIENT_SECRET.context(id)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Why a fetch from the provider failed: refused by the guard (the words are safe to show an
/// administrator) or anything else.
enum FetchError {
    Refused(String),
    Failed(String),
}

impl FetchError {
    fn admin_message(&self) -> String {
        match self {
            FetchError::Refused(m) | FetchError::Failed(m) => m.clone(),
        }
    }
}

impl App {
    fn require_oidc_settings(&self, actor: &Actor) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SettingsSecurity),
            &Target::Global,
        )
    }

    /// The guard's client for this provider (its CA, if one is set).
    fn oidc_client(&self, ca: Option<&str>) -> Result<reqwest::Client, FetchError> {
        let guard = self.outbound().guard.clone();
        match ca {
            Some(pem) => guard.client_trusting(pem),
            None => guard.client(),
        }
        .map_err(|e| {
            tracing::warn!(error = %e, "OIDC: could not build the HTTP client");
            FetchError::Failed("the provider's CA certificate cannot be used".to_owned())
        })
    }

    /// GET through the guard; the body capped.
    async fn oidc_get(&self, client: &reqwest::Client, url: &str) -> Result<Vec<u8>, FetchError> {
        let guard = self.outbound().guard.clone();
        let checked = guard
            .check_url(url)
            .map_err(|r| FetchError::Refused(format!("{url}: {r}")))?;
        let response = client
            .get(checked)
            .send()
            .await
            .map_err(|e| refused_or(&e, url))?;
        if !response.status().is_success() {
            return Err(FetchError::Failed(format!(
                "{url} answered HTTP {}",
                response.status().as_u16()
            )));
        }
        let (body, cut) = read_capped(response)
            .await
            .map_err(|e| refused_or(&e, url))?;
        if cut {
            return Err(FetchError::Failed(format!("{url} answered too much")));
        }
        Ok(body)
    }

    /// Discovery and JWKS for a provider: cached, or fetched through the guard.
    async fn oidc_documents(&self, p: &OidcProviderRow, fresh: bool) -> Result<Cached, FetchError> {
        let now = self.now();
        if !fresh
            && let Some(c) = self.oidc.get(p)
            && now - c.fetched_at < CACHE_TTL_MS
        {
            return Ok(c);
        }
        let issuer = Issuer::parse(&p.issuer, false).map_err(FetchError::Failed)?;
        let client = self.oidc_client(p.ca_cert_pem.as_deref())?;
        let body = self.oidc_get(&client, &issuer.discovery_url()).await?;
        let discovery = Discovery::parse(&issuer, &body, false).map_err(FetchError::Failed)?;
        // Every URL the document names must pass the guard too (a public issuer naming a token
        // endpoint on the LAN is an SSRF through us).
        let guard = self.outbound().guard.clone();
        for url in discovery.urls() {
            if let Err(r) = guard.check_url(url) {
                return Err(FetchError::Refused(format!("{url}: {r}")));
            }
            if let Some(host) = url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                && let Err(r) = guard.check_host(&host).await
            {
                return Err(FetchError::Refused(format!("{url}: {r}")));
            }
        }
        let jwks_body = self.oidc_get(&client, &discovery.jwks_uri).await?;
        let jwks = Jwks::parse(&jwks_body).map_err(FetchError::Failed)?;
        let cached = Cached {
            issuer: p.issuer.clone(),
            ca: p.ca_cert_pem.clone(),
            discovery,
            jwks,
            fetched_at: now,
            jwks_fetched_at: now,
        };
        self.oidc.put(p.id, cached.clone());
        Ok(cached)
    }

    /// The key set fetched again (an unknown `kid`: the provider rotated its keys).
    async fn oidc_refetch_jwks(
        &self,
        p: &OidcProviderRow,
        c: &Cached,
    ) -> Result<Option<Cached>, FetchError> {
        if self.now() - c.jwks_fetched_at < REFETCH_MIN_MS {
            return Ok(None);
        }
        let client = self.oidc_client(p.ca_cert_pem.as_deref())?;
        let body = self.oidc_get(&client, &c.discovery.jwks_uri).await?;
        let jwks = Jwks::parse(&body).map_err(FetchError::Failed)?;
        let next = Cached {
            jwks,
            jwks_fetched_at: self.now(),
            ..c.clone()
        };
        self.oidc.put(p.id, next.clone());
        Ok(Some(next))
    }

    // ----- settings -----

    /// `GET /api/v1/settings/oidc/providers`.
    pub async fn oidc_providers(&self, actor: &Actor) -> Result<Vec<OidcProviderView>, AppError> {
        self.require_oidc_settings(actor)?;
        Ok(self
            .store
            .oidc_providers()
            .await?
            .iter()
            .map(view)
            .collect())
    }

    /// The enabled providers, for the sign-in page (public).
    pub async fn oidc_buttons(&self) -> Result<Vec<OidcProviderButton>, AppError> {
        Ok(self
            .store
            .oidc_providers()
            .await?
            .into_iter()
            .filter(|p| p.enabled)
            .map(|p| OidcProviderButton {
                id: p.id,
                name: p.name,
                icon_url: None,
            })
            .collect())
    }

    /// `POST /api/v1/settings/oidc/providers`.
    pub async fn create_oidc_provider(
        &self,
        actor: &Actor,
        input: OidcProviderInput,
    ) -> Result<OidcProviderView, AppError> {
        self.require_oidc_settings(actor)?;
        if self.store.oidc_providers().await?.len() >= MAX_PROVIDERS {
            return Err(bad(format!("At most {MAX_PROVIDERS} identity providers.")));
        }
        self.save_oidc_provider(actor, None, input).await
    }

    /// `PUT /api/v1/settings/oidc/providers/{id}`.
    pub async fn update_oidc_provider(
        &self,
        actor: &Actor,
        id: i64,
        input: OidcProviderInput,
    ) -> Result<OidcProviderView, AppError> {
        self.require_oidc_settings(actor)?;
        let old = self
            .store
            .oidc_provider(id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.save_oidc_provider(actor, Some(old), input).await
    }

    /// `DELETE /api/v1/settings/oidc/providers/{id}`: its links go with it (accounts that
    /// could only sign in through it keep their password links and reset).
    pub async fn delete_oidc_provider(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        self.require_oidc_settings(actor)?;
        let found = self.store.delete_oidc_provider(id).await?;
        self.oidc.forget(id);
        self.audit(
            actor,
            AuditEvent::SettingsOidc,
            Some(("oidc_provider", id.to_string())),
            found,
            serde_json::json!({"deleted": true}),
        )
        .await;
        if !found {
            return Err(AppError::NotFound);
        }
        Ok(())
    }

    async fn save_oidc_provider(
        &self,
        actor: &Actor,
        old: Option<OidcProviderRow>,
        input: OidcProviderInput,
    ) -> Result<OidcProviderView, AppError> {
        let name = text("name", &input.name, true)?;
        if name.chars().count() > 64 {
            return Err(bad("The name must be at most 64 characters."));
        }
        let issuer = Issuer::parse(&input.issuer, false).map_err(|e| bad(format!("{e}.")))?;
        let client_id = text("client id", &input.client_id, true)?;
        let ca_cert_pem = match input.ca_cert_pem.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(pem) => {
                pw_identity::validate_ca_pem(pem)
                    .map_err(|e| bad(format!("The CA certificate cannot be used: {e}")))?;
                Some(pem.to_owned())
            }
        };
        let scopes = scopes(input.scopes.as_deref())?;
        let email_claim = claim_name(
            "email claim",
            input.email_claim.as_deref().unwrap_or("email"),
        )?;
        let groups_claim = match input.groups_claim.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(claim_name("groups claim", c)?),
        };
        let require_verified_email = input.require_verified_email.unwrap_or(true);
        let auto_link = input.auto_link.unwrap_or(false);
        if auto_link && !(email_claim == "email" && require_verified_email) {
            return Err(bad(
                "Linking accounts by email needs the email claim to be \"email\" and verified \
                 email required: an address the provider does not verify could take over any \
                 account.",
            ));
        }
        if input.group_mappings.len() > MAX_MAPPINGS {
            return Err(bad(format!("At most {MAX_MAPPINGS} group mappings.")));
        }
        let mut group_mappings = Vec::new();
        for m in &input.group_mappings {
            group_mappings.push(OidcGroupMapping {
                claim_value: text("group claim value", &m.claim_value, true)?,
                group_id: m.group_id,
            });
        }
        if !group_mappings.is_empty() && groups_claim.is_none() {
            return Err(bad("Group mappings need a groups claim."));
        }
        let mapped: Vec<GroupId> = group_mappings.iter().map(|m| m.group_id).collect();
        self.check_groups_exist(&mapped).await?;
        // A mapping hands a group's rights to whoever the provider says: the same grant rule as
        // adding members by hand (threat: a settings:security holder mapping a group they are in
        // at the provider to Administrators).
        let granted: Vec<_> = self
            .store
            .list_groups()
            .await?
            .into_iter()
            .filter(|g| mapped.contains(&g.id))
            .collect();
        self.check_may_grant(actor, &rights_of(&granted)).await?;
        // Threat: the stored secret sent to an issuer of the caller's choosing.
        let moved = old
            .as_ref()
            .is_some_and(|o| o.issuer != issuer.as_str() || o.ca_cert_pem != ca_cert_pem);
        if moved
            && old.as_ref().is_some_and(|o| o.client_secret.is_some())
            && input.client_secret.is_none()
        {
            return Err(bad(
                "A client secret is stored. Changing the issuer or the CA certificate needs it \
                 again: type the client secret. The stored one is never sent to a changed issuer.",
            ));
        }
        let group_json =
            serde_json::to_string(&group_mappings).map_err(|e| AppError::Internal(Box::new(e)))?;
        let name_key = name.to_lowercase();
        let write = OidcProviderWrite {
            name: &name,
            name_key: &name_key,
            issuer: issuer.as_str(),
            client_id: &client_id,
            ca_cert_pem: ca_cert_pem.as_deref(),
            scopes: &scopes,
            email_claim: &email_claim,
            groups_claim: groups_claim.as_deref(),
            group_mappings: &group_json,
            require_verified_email,
            auto_create: input.auto_create.unwrap_or(false),
            auto_link,
            enabled: input.enabled.unwrap_or(true),
        };
        // Discovery must work now, through the guard: an issuer on a private address is refused
        // here unless the administrator allowed its host.
        let probe = OidcProviderRow {
            id: old.as_ref().map_or(0, |o| o.id),
            name: name.clone(),
            issuer: issuer.as_str().to_owned(),
            client_id: client_id.clone(),
            client_secret: None,
            ca_cert_pem: ca_cert_pem.clone(),
            scopes: scopes.clone(),
            email_claim: email_claim.clone(),
            groups_claim: groups_claim.clone(),
            group_mappings: group_json.clone(),
            require_verified_email,
            auto_create: write.auto_create,
            auto_link,
            enabled: write.enabled,
        };
        let secret_words = match &input.client_secret {
            None => "kept",
            Some(s) if s.is_empty() => "removed",
            Some(_) => "replaced",
        };
        let details = |ok_discovery: Option<&str>| {
            serde_json::json!({
                "name": name,
                "issuer": issuer.as_str(),
                "client_id": client_id,
                "client_secret": secret_words,
                "auto_create": write.auto_create,
                "auto_link": auto_link,
                "require_verified_email": require_verified_email,
                "group_mappings": group_mappings.len(),
                "enabled": write.enabled,
                "discovery": ok_discovery.unwrap_or("ok"),
            })
        };
        let target = old.as_ref().map(|o| ("oidc_provider", o.id.to_string()));
        if let Err(e) = self.oidc_documents(&probe, true).await {
            let message = e.admin_message();
            self.audit(
                actor,
                AuditEvent::SettingsOidc,
                target,
                false,
                details(Some(&message)),
            )
            .await;
            return Err(match e {
                FetchError::Refused(m) => AppError::UrlNotAllowed(format!(
                    "The provider's discovery cannot be used: {m}."
                )),
                FetchError::Failed(m) => {
                    bad(format!("The provider's discovery did not work: {m}."))
                }
            });
        }
        let id = match &old {
            Some(o) => {
                self.store
                    .update_oidc_provider(o.id, &write, self.now())
                    .await
                    .map_err(|e| {
                        crate::auth::sessions::conflict_or(e, "Another provider has this name.")
                    })?;
                o.id
            }
            None => self
                .store
                .insert_oidc_provider(&write, self.now())
                .await
                .map_err(|e| {
                    crate::auth::sessions::conflict_or(e, "Another provider has this name.")
                })?,
        };
        match &input.client_secret {
            None => {}
            Some(s) if s.is_empty() => self.store.set_oidc_secret(id, None).await?,
            Some(s) => {
                let sealed = self.seal(s.expose(), &secret_context(id))?;
                self.store.set_oidc_secret(id, Some(&sealed)).await?;
            }
        }
        self.oidc.forget(id);
        self.audit(
            actor,
            AuditEvent::SettingsOidc,
            Some(("oidc_provider", id.to_string())),
            true,
            details(None),
        )
        .await;
        let row = self
            .store
            .oidc_provider(id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(view(&row))
    }

    // ----- the flow -----

    /// `GET /api/v1/auth/oidc/{provider_id}/authorize`: a new single-use state, and the
    /// provider's URL to send the browser to. `redirect_uri` is our callback as the browser
    /// reaches us.
    pub async fn oidc_authorize(
        &self,
        provider_id: i64,
        redirect_uri: &str,
        meta: &RequestMeta,
    ) -> Result<OidcStart, AppError> {
        self.oidc_start(provider_id, redirect_uri, PURPOSE_SIGN_IN, None, meta)
            .await
    }

    /// `POST /api/v1/auth/oidc/{provider_id}/link`: re-authentication, then the same flow as a
    /// sign-in whose callback links the provider to the caller.
    pub async fn oidc_link_start(
        &self,
        actor: &Actor,
        provider_id: i64,
        redirect_uri: &str,
        reauth: &OidcReauth,
    ) -> Result<OidcStart, AppError> {
        let user = self.oidc_session_user(actor)?;
        self.reauthenticate(actor, user, reauth).await?;
        if self
            .store
            .oidc_links_of(user)
            .await?
            .iter()
            .any(|l| l.provider_id == provider_id)
        {
            return Err(AppError::Conflict(
                "This provider is already linked to your account.".into(),
            ));
        }
        self.oidc_start(
            provider_id,
            redirect_uri,
            PURPOSE_LINK,
            Some(user),
            &actor.meta,
        )
        .await
    }

    fn oidc_session_user(&self, actor: &Actor) -> Result<UserId, AppError> {
        // A user's own session only: never an API key or the auth-disabled principal.
        match (actor.user_id, actor.session) {
            (Some(u), Some(_)) if actor.principal != pw_policy::Principal::AuthDisabled => Ok(u),
            _ => Err(AppError::Forbidden),
        }
    }

    /// Re-authentication before a link change: the password when the account has one. An
    /// account without a password (directory or provider only) has just proven itself by
    /// signing in; it has no other secret to type here.
    async fn reauthenticate(
        &self,
        actor: &Actor,
        user: UserId,
        reauth: &OidcReauth,
    ) -> Result<(), AppError> {
        let row = self.store.user(user).await?.ok_or(AppError::NotFound)?;
        if row.password_hash.is_some() {
            let Some(pw) = &reauth.current_password else {
                return Err(AppError::WrongSecret(
                    "Type your current password to change how you sign in.".into(),
                ));
            };
            if !matches!(
                self.verify(pw, row.password_hash.clone()).await?,
                pw_credentials::password::Verified::Valid { .. }
            ) {
                self.audit(
                    actor,
                    AuditEvent::AuthOidcLink,
                    Some(("user", user.to_string())),
                    false,
                    serde_json::json!({"reason": "wrong current password"}),
                )
                .await;
                return Err(AppError::WrongSecret(
                    "The current password is not correct.".into(),
                ));
            }
        }
        Ok(())
    }

    async fn oidc_start(
        &self,
        provider_id: i64,
        redirect_uri: &str,
        purpose: &str,
        user: Option<UserId>,
        meta: &RequestMeta,
    ) -> Result<OidcStart, AppError> {
        let p = self
            .store
            .oidc_provider(provider_id)
            .await?
            .filter(|p| p.enabled)
            .ok_or(AppError::NotFound)?;
        let docs = match self.oidc_documents(&p, false).await {
            Ok(d) => d,
            Err(e) => {
                self.audit_oidc_login(
                    meta,
                    None,
                    &p,
                    false,
                    serde_json::json!({"reason": e.admin_message(), "step": "discovery"}),
                )
                .await;
                return Err(AppError::ServiceUnavailable(SIGN_IN_FAILED.into()));
            }
        };
        let state = b64(&random::<32>()?);
        let nonce = b64(&random::<32>()?);
        let verifier = b64(&random::<32>()?);
        let browser = b64(&random::<32>()?);
        let redirect = authorize_url(&AuthorizeRequest {
            endpoint: &docs.discovery.authorization_endpoint,
            client_id: &p.client_id,
            redirect_uri,
            scopes: &p.scopes,
            state: &state,
            nonce: &nonce,
            verifier: &verifier,
        })
        .map_err(|e| AppError::ServiceUnavailable(format!("{SIGN_IN_FAILED} ({e})")))?;
        let now = self.now();
        self.store
            .insert_oidc_state(
                &hex::encode(digest(&state)),
                &OidcStateRow {
                    browser_digest: hex::encode(digest(&browser)),
                    provider_id: p.id,
                    purpose: purpose.to_owned(),
                    user_id: user,
                    nonce,
                    pkce_verifier: verifier,
                    redirect_uri: redirect_uri.to_owned(),
                },
                now,
                now + STATE_TTL_MS,
            )
            .await?;
        Ok(OidcStart {
            redirect,
            browser_token: SecretString::from(browser),
        })
    }

    /// `/auth/oidc/callback`: the state taken (once), the browser binding checked, the code
    /// exchanged with the verifier, the ID token validated; then the account signs in (or the
    /// provider is linked). Every refusal is audited with its reason and answered with
    /// `Unauthenticated`.
    pub async fn oidc_callback(
        &self,
        q: &OidcCallback,
        browser_token: Option<&str>,
        previous_session: Option<&str>,
        meta: RequestMeta,
    ) -> Result<OidcDone, AppError> {
        let now = self.now();
        let Some(state) = q
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= 256)
        else {
            self.audit_oidc_refusal(&meta, None, "no state in the answer")
                .await;
            return Err(AppError::Unauthenticated);
        };
        // Taken before anything else: a replayed or raced state finds nothing.
        let Some(st) = self
            .store
            .take_oidc_state(&hex::encode(digest(state)), now)
            .await?
        else {
            self.audit_oidc_refusal(&meta, None, "unknown, used or expired state")
                .await;
            return Err(AppError::Unauthenticated);
        };
        let bound = browser_token.is_some_and(|t| {
            use subtle::ConstantTimeEq as _;
            bool::from(
                hex::encode(digest(t))
                    .as_bytes()
                    .ct_eq(st.browser_digest.as_bytes()),
            )
        });
        let Some(p) = self.store.oidc_provider(st.provider_id).await? else {
            self.audit_oidc_refusal(&meta, None, "the provider was removed")
                .await;
            return Err(AppError::Unauthenticated);
        };
        let refuse = |reason: String| {
            let p = p.clone();
            let meta = meta.clone();
            async move {
                self.audit_oidc_login(
                    &meta,
                    None,
                    &p,
                    false,
                    serde_json::json!({"reason": reason}),
                )
                .await;
                Err(AppError::Unauthenticated)
            }
        };
        if !bound {
            // Threat: login CSRF — a state started in another browser.
            return refuse("the state belongs to another browser".into()).await;
        }
        if !p.enabled && st.purpose == PURPOSE_SIGN_IN {
            return refuse("the provider is disabled".into()).await;
        }
        if let Some(error) = &q.error {
            let e: String = error.chars().take(64).filter(|c| !c.is_control()).collect();
            return refuse(format!("the provider answered with an error: {e}")).await;
        }
        let Some(code) = q
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 2048)
        else {
            return refuse("no code in the answer".into()).await;
        };
        let docs = match self.oidc_documents(&p, false).await {
            Ok(d) => d,
            Err(e) => return refuse(e.admin_message()).await,
        };
        let issuer = match Issuer::parse(&docs.discovery.issuer, false) {
            Ok(i) => i,
            Err(e) => return refuse(e).await,
        };
        // RFC 9207: when the provider names itself in the answer, it must be this one (mix-up).
        if let Some(iss) = &q.iss
            && !issuer.matches(iss)
        {
            return refuse("the answer came from another issuer".into()).await;
        }
        let id_token = match self.oidc_exchange(&p, &docs, code, &st).await {
            Ok(t) => t,
            Err(e) => return refuse(e).await,
        };
        let mut docs = docs;
        let mut result = verify_id_token(
            &id_token,
            &docs.jwks,
            &Expected {
                issuer: &issuer,
                client_id: &p.client_id,
                nonce: &st.nonce,
                now: now / 1000,
            },
        );
        if result == Err(IdTokenError::UnknownKey) {
            match self.oidc_refetch_jwks(&p, &docs).await {
                Ok(Some(next)) => {
                    docs = next;
                    result = verify_id_token(
                        &id_token,
                        &docs.jwks,
                        &Expected {
                            issuer: &issuer,
                            client_id: &p.client_id,
                            nonce: &st.nonce,
                            now: now / 1000,
                        },
                    );
                }
                Ok(None) => {}
                Err(e) => return refuse(e.admin_message()).await,
            }
        }
        let claims = match result {
            Ok(c) => c,
            Err(e) => return refuse(e.to_string()).await,
        };
        if st.purpose == PURPOSE_LINK {
            return self.oidc_link_finish(&p, &st, &claims, &meta).await;
        }
        let row = self.oidc_account(&p, &claims, &meta).await?;
        // The standard `name` claim (scope `profile`), synced at each sign-in.
        self.sync_display_name(row.id, claims.string("name")).await;
        let signed = self
            .finish_login(
                &row,
                previous_session,
                meta,
                serde_json::json!({"source": "oidc", "provider": p.id}),
            )
            .await?;
        Ok(OidcDone::SignedIn(signed))
    }

    /// The code for tokens at the token endpoint (client_secret_basic for a confidential
    /// client, the PKCE verifier always); the ID token.
    async fn oidc_exchange(
        &self,
        p: &OidcProviderRow,
        docs: &Cached,
        code: &str,
        st: &OidcStateRow,
    ) -> Result<String, String> {
        let client = self
            .oidc_client(p.ca_cert_pem.as_deref())
            .map_err(|e| e.admin_message())?;
        let url = &docs.discovery.token_endpoint;
        let guard = self.outbound().guard.clone();
        let checked = guard.check_url(url).map_err(|r| format!("{url}: {r}"))?;
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", st.redirect_uri.clone()),
            ("code_verifier", st.pkce_verifier.clone()),
        ];
        let mut request = client.post(checked);
        match &p.client_secret {
            Some(sealed) => {
                let secret = self
                    .open(sealed, &secret_context(p.id))
                    .map_err(|_| "the client secret cannot be opened".to_owned())?;
                // RFC 6749 §2.3.1: form-encode id and secret before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request = request.basic_auth(enc(&p.client_id), Some(enc(secret.expose())));
            }
            None => form.push(("client_id", p.client_id.clone())),
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let response = request
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| match refused_or(&e, url) {
                FetchError::Refused(m) | FetchError::Failed(m) => m,
            })?;
        let status = response.status();
        let (bytes, _) = read_capped(response)
            .await
            .map_err(|_| "the token endpoint's answer could not be read".to_owned())?;
        if !status.is_success() {
            let error = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_default();
            let error: String = error.chars().take(64).filter(|c| !c.is_control()).collect();
            return Err(format!(
                "the token endpoint refused the code (HTTP {}, {error})",
                status.as_u16()
            ));
        }
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("id_token")
                    .and_then(|t| t.as_str())
                    .map(str::to_owned)
            })
            .ok_or_else(|| "the token endpoint sent no ID token".to_owned())
    }

    /// The email of the claims, if it may be used: present, valid, and verified when the
    /// provider requires it.
    fn oidc_email(p: &OidcProviderRow, claims: &IdClaims) -> (Option<Email>, bool) {
        let email = claims
            .string(&p.email_claim)
            .and_then(|e| Email::parse(e).ok());
        // email_verified speaks about the standard `email` claim only.
        let verified = p.email_claim == "email" && claims.email_verified();
        (email, verified)
    }

    /// The account these claims sign in to: linked, auto-linked or created; groups synced.
    async fn oidc_account(
        &self,
        p: &OidcProviderRow,
        claims: &IdClaims,
        meta: &RequestMeta,
    ) -> Result<UserRow, AppError> {
        let refuse = |reason: &'static str| async move {
            self.audit_oidc_login(
                meta,
                None,
                p,
                false,
                serde_json::json!({"reason": reason, "subject": claims.sub}),
            )
            .await;
            Err(AppError::Unauthenticated)
        };
        let (email, verified) = Self::oidc_email(p, claims);
        if p.require_verified_email && !verified {
            return refuse("the provider has not verified the email address").await;
        }
        if let Some(link) = self.store.oidc_link_by_subject(p.id, &claims.sub).await? {
            let Some(row) = self.store.user(link.user_id).await? else {
                return refuse("the linked account no longer exists").await;
            };
            if row.disabled {
                return refuse("the account is disabled").await;
            }
            self.store.touch_oidc_link(row.id, p.id, self.now()).await?;
            return self.oidc_sync(row, p, claims, meta, "linked").await;
        }
        // Not linked yet: auto-link by verified email, or create.
        if let Some(email) = &email
            && let Some(existing) = self.store.user_by_email(&email.key()).await?
        {
            if !(p.auto_link && verified && p.email_claim == "email") {
                return refuse("an account with this email exists and linking by email is off")
                    .await;
            }
            if existing.disabled {
                return refuse("the account is disabled").await;
            }
            if self
                .store
                .oidc_links_of(existing.id)
                .await?
                .iter()
                .any(|l| l.provider_id == p.id)
            {
                // Never re-point an account's link to another subject of the same provider.
                return refuse(
                    "the account with this email is linked to another user of the provider",
                )
                .await;
            }
            self.store
                .insert_oidc_link(
                    existing.id,
                    p.id,
                    &claims.sub,
                    Some(email.as_str()),
                    self.now(),
                )
                .await
                .map_err(|e| crate::auth::sessions::conflict_or(e, SIGN_IN_FAILED))?;
            return self
                .oidc_sync(existing, p, claims, meta, "auto_linked")
                .await;
        }
        if !p.auto_create {
            return refuse("no linked account and creating accounts is off").await;
        }
        let Some(name) = self.oidc_free_username(claims).await? else {
            return refuse("no usable username in the claims").await;
        };
        let groups: Vec<GroupId> = oidc_mapped(p, claims).into_iter().collect();
        let id = self
            .store
            .insert_user(
                &NewUser {
                    username: name,
                    email: email.clone(),
                    password_hash: None,
                    auth_source: "oidc",
                    group_ids: groups.clone(),
                },
                self.now(),
            )
            .await
            .map_err(|e| crate::auth::sessions::conflict_or(e, SIGN_IN_FAILED))?;
        self.store
            .insert_oidc_link(
                id,
                p.id,
                &claims.sub,
                email.as_ref().map(Email::as_str),
                self.now(),
            )
            .await
            .map_err(|e| crate::auth::sessions::conflict_or(e, SIGN_IN_FAILED))?;
        self.audit_oidc_login(
            meta,
            Some(id),
            p,
            true,
            serde_json::json!({"created": true, "subject": claims.sub, "groups_added": groups}),
        )
        .await;
        self.store.user(id).await?.ok_or(AppError::NotFound)
    }

    /// A username for a new account: `preferred_username`, else the email's local part, made
    /// unique with a number.
    async fn oidc_free_username(&self, claims: &IdClaims) -> Result<Option<Username>, AppError> {
        let base = claims
            .string("preferred_username")
            .or_else(|| claims.string("email").and_then(|e| e.split('@').next()))
            .unwrap_or_default()
            .to_owned();
        for n in 0..20 {
            let candidate = if n == 0 {
                base.clone()
            } else {
                format!("{base}{n}")
            };
            let Ok(name) = Username::parse(&candidate) else {
                return Ok(None);
            };
            if self.store.user_by_username(&name.key()).await?.is_none() {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// Mapped groups as the claims say now (only mapped groups are touched); a change revokes
    /// the user's sessions like an administrator's edit.
    async fn oidc_sync(
        &self,
        row: UserRow,
        p: &OidcProviderRow,
        claims: &IdClaims,
        meta: &RequestMeta,
        how: &str,
    ) -> Result<UserRow, AppError> {
        let mappings = mappings_of(p);
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        if !mappings.is_empty() {
            let current: BTreeSet<GroupId> = self
                .store
                .groups_of_user(row.id)
                .await?
                .iter()
                .map(|g| g.id)
                .collect();
            let managed: BTreeSet<GroupId> = mappings.iter().map(|m| m.group_id).collect();
            let wanted: BTreeSet<GroupId> = current
                .difference(&managed)
                .copied()
                .chain(oidc_mapped(p, claims))
                .collect();
            added = wanted.difference(&current).copied().collect();
            removed = current.difference(&wanted).copied().collect();
            if wanted != current {
                let patch = UserPatch {
                    group_ids: Some(wanted.iter().copied().collect()),
                    ..UserPatch::default()
                };
                self.store
                    .update_user(row.id, &patch, &Self::admin_check(), None, self.now())
                    .await?;
                self.revoke_users(&[row.id]);
            }
        }
        self.audit_oidc_login(
            meta,
            Some(row.id),
            p,
            true,
            serde_json::json!({"account": how, "subject": claims.sub, "groups_added": added, "groups_removed": removed}),
        )
        .await;
        self.store.user(row.id).await?.ok_or(AppError::NotFound)
    }

    async fn oidc_link_finish(
        &self,
        p: &OidcProviderRow,
        st: &OidcStateRow,
        claims: &IdClaims,
        meta: &RequestMeta,
    ) -> Result<OidcDone, AppError> {
        let Some(user) = st.user_id else {
            return Err(AppError::Unauthenticated);
        };
        let (email, _) = Self::oidc_email(p, claims);
        let result = self
            .store
            .insert_oidc_link(
                user,
                p.id,
                &claims.sub,
                email.as_ref().map(Email::as_str),
                self.now(),
            )
            .await;
        let ok = result.is_ok();
        self.audit_oidc_link(meta, user, p, ok, serde_json::json!({
            "linked": ok,
            "subject": claims.sub,
            "reason": if ok { None } else { Some("this provider account is already linked to an account") },
        }))
        .await;
        match result {
            Ok(()) => Ok(OidcDone::Linked),
            Err(pw_store::StoreError::Conflict) => Err(AppError::Conflict(
                "This account at the provider is already linked to an account here.".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /api/v1/auth/oidc/links`: the caller's links.
    pub async fn oidc_links(&self, actor: &Actor) -> Result<Vec<OidcLinkView>, AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        let providers = self.store.oidc_providers().await?;
        Ok(self
            .store
            .oidc_links_of(user)
            .await?
            .into_iter()
            .map(|l| OidcLinkView {
                provider_id: l.provider_id,
                provider_name: providers
                    .iter()
                    .find(|p| p.id == l.provider_id)
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
                email: l.email,
                linked_at: crate::core::clock::rfc3339(l.created_at),
            })
            .collect())
    }

    /// `POST /api/v1/auth/oidc/{provider_id}/unlink`: re-authentication, and never the last way
    /// to sign in.
    pub async fn oidc_unlink(
        &self,
        actor: &Actor,
        provider_id: i64,
        reauth: &OidcReauth,
    ) -> Result<(), AppError> {
        let user = self.oidc_session_user(actor)?;
        self.reauthenticate(actor, user, reauth).await?;
        let Some(p) = self.store.oidc_provider(provider_id).await? else {
            return Err(AppError::NotFound);
        };
        let linked = self
            .store
            .oidc_links_of(user)
            .await?
            .iter()
            .any(|l| l.provider_id == provider_id);
        if !linked {
            return Err(AppError::NotFound);
        }
        let removed = self
            .store
            .delete_oidc_link_unless_last(user, provider_id)
            .await?;
        self.audit_oidc_link(
            &actor.meta,
            user,
            &p,
            removed,
            serde_json::json!({
                "unlinked": removed,
                "reason": if removed { None } else { Some("the last way to sign in") },
            }),
        )
        .await;
        if !removed {
            return Err(AppError::Conflict(
                "This is the only way you can sign in. Set a password or link another provider \
                 first."
                    .into(),
            ));
        }
        Ok(())
    }

    async fn audit_oidc_refusal(&self, meta: &RequestMeta, user: Option<UserId>, reason: &str) {
        let actor = Actor {
            user_id: user,
            ..Actor::anonymous(meta.clone())
        };
        self.audit(
            &actor,
            AuditEvent::AuthOidcLogin,
            None,
            false,
            serde_json::json!({"reason": reason}),
        )
        .await;
    }

    async fn audit_oidc_login(
        &self,
        meta: &RequestMeta,
        user: Option<UserId>,
        p: &OidcProviderRow,
        success: bool,
        mut details: serde_json::Value,
    ) {
        if let Some(map) = details.as_object_mut() {
            map.insert("provider".into(), serde_json::json!(p.id));
            map.insert("provider_name".into(), serde_json::json!(p.name));
        }
        let actor = Actor {
            user_id: user,
            ..Actor::anonymous(meta.clone())
        };
        self.audit(
            &actor,
            AuditEvent::AuthOidcLogin,
            user.map(|u| ("user", u.to_string())),
            success,
            details,
        )
        .await;
    }

    async fn audit_oidc_link(
        &self,
        meta: &RequestMeta,
        user: UserId,
        p: &OidcProviderRow,
        success: bool,
        mut details: serde_json::Value,
    ) {
        if let Some(map) = details.as_object_mut() {
            map.insert("provider".into(), serde_json::json!(p.id));
        }
        let actor = Actor {
            user_id: Some(user),
            ..Actor::anonymous(meta.clone())
        };
        self.audit(
            &actor,
            AuditEvent::AuthOidcLink,
            Some(("user", user.to_string())),
            success,
            details,
        )
        .await;
    }

    /// Whether the account signs in through a provider only (no local password to change).
    pub(crate) fn is_oidc_account(row: &UserRow) -> bool {
        row.auth_source == "oidc"
    }
}

/// The printwarden groups the claims' groups map to.
fn oidc_mapped(p: &OidcProviderRow, claims: &IdClaims) -> BTreeSet<GroupId> {
    let Some(claim) = &p.groups_claim else {
        return BTreeSet::new();
    };
    let values = claims.strings(claim);
    mappings_of(p)
        .iter()
        .filter(|m| values.contains(&m.claim_value))
        .map(|m| m.group_id)
        .collect()
}

fn refused_or(e: &reqwest::Error, url: &str) -> FetchError {
    match refusal_of(e) {
        Some(r @ Refusal::Blocked { .. }) | Some(r @ Refusal::Unresolvable { .. }) => {
            tracing::warn!(refusal = ?r, "OIDC: the outbound guard refused a provider URL");
            FetchError::Refused(format!("{url}: {r}"))
        }
        Some(r) => FetchError::Refused(format!("{url}: {r}")),
        None => {
            tracing::warn!(error = %e, %url, "OIDC: a request to the provider failed");
            FetchError::Failed(format!("{url} could not be reached"))
        }
    }
}
