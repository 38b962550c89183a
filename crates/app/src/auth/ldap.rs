//! LDAP sign-in (S6): the settings (`settings:security`), the Test button, and the directory
//! half of a sign-in — find and bind the user, provision the account on first sign-in, sync
//! the email and the mapped groups at each one.
//!
//! Invariants:
//! - a local account wins a name clash: the directory is only asked when no local account of
//!   that name exists (or the account came from the directory), and a directory user whose
//!   name belongs to a local account is refused (threat: whoever controls a directory entry
//!   taking over the local administrator);
//! - the bind password is sealed at rest, never returned, and never follows a change of server:
//!   changing the URL, StartTLS, the CA or the bind DN needs it typed again;
//! - group sync touches only groups that appear in a mapping (manual memberships stay), and a
//!   change goes through the same store path as an administrator's edit, which revokes the
//!   user's sessions with it;
//! - every decision is audited (`auth.ldap_login`), and the directory's host goes through the
//!   outbound guard like every other outbound connection;
//! - when the directory cannot be used, directory users get a clear message and local
//!   accounts are untouched (they never reach this module).

use std::collections::BTreeSet;
use std::time::Duration;

use pw_domain::{Email, GroupId, Permission, Username};
use pw_identity::ldap::{
    DirectoryUser, LdapConfig, LdapError, LdapUrl, authenticate, normalize_dn, test_connection,
    validate_ca_pem, validate_filter_template,
};
use pw_policy::{Action, Target};
use pw_store::{NewUser, UserPatch, UserRow};
use serde::{Deserialize, Serialize};

use crate::auth::sessions::rights_of;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, RequestMeta, SecretString};

/// The setting (its key is also in `pw_store::sealed::LDAP_BIND_PASSWORD`).
const KEY_LDAP: &str = "auth.ldap";
pub(crate) const PASSWORD_CONTEXT: &str = "settings.ldap.bind_password";
/// Limit for connecting and for each LDAP operation (a sign-in makes four).
const LDAP_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_MAPPINGS: usize = 100;
const MAX_FIELD: usize = 1024;
/// What a directory user reads when the directory cannot be used.
const DIRECTORY_DOWN: &str = "The directory used for sign-in cannot be reached right now, so \
     directory accounts cannot sign in. Local accounts still can. Try again later or tell your \
     administrator.";

/// One directory group mapped to one printwarden group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapGroupMapping {
    /// The group's DN in the directory (compared case-insensitively).
    pub directory_group: String,
    /// The printwarden group its members join.
    #[schema(value_type = i64)]
    pub group_id: GroupId,
}

/// What is stored under `auth.ldap` (the bind password sealed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct StoredLdap {
    url: String,
    starttls: bool,
    ca_cert_pem: Option<String>,
    bind_dn: String,
    bind_password_sealed: Option<String>,
    user_base: String,
    user_filter: String,
    email_attr: String,
    name_attr: String,
    group_base: Option<String>,
    group_mappings: Vec<LdapGroupMapping>,
    auto_provision: bool,
    enabled: bool,
}

/// `GET /api/v1/settings/ldap` (the bind password is never shown).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LdapSettingsView {
    /// `ldaps://host[:port]` or `ldap://host[:port]` (with `starttls`); empty: not configured.
    pub url: String,
    /// StartTLS on an `ldap://` URL (required for `ldap://`).
    pub starttls: bool,
    /// CA certificate(s) to trust instead of the system's.
    pub ca_cert_pem: Option<String>,
    /// The service account that searches.
    pub bind_dn: String,
    /// Whether a bind password is stored.
    pub bind_password_set: bool,
    /// Where users are searched.
    pub user_base: String,
    /// Filter with `{username}`.
    pub user_filter: String,
    /// Attribute with the email address.
    pub email_attr: String,
    /// Attribute with the display name.
    pub name_attr: String,
    /// Where groups are searched (default: `user_base`).
    pub group_base: Option<String>,
    /// Directory groups → printwarden groups.
    pub group_mappings: Vec<LdapGroupMapping>,
    /// Create the account at the first directory sign-in.
    pub auto_provision: bool,
    /// Directory sign-in is on.
    pub enabled: bool,
}

/// `PUT /api/v1/settings/ldap`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapSettingsInput {
    /// `ldaps://…`, or `ldap://…` with `starttls: true`; plain LDAP is refused.
    pub url: String,
    /// Upgrade `ldap://` with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// CA certificate (PEM) for a directory with a private CA.
    #[serde(default)]
    pub ca_cert_pem: Option<String>,
    /// Service account DN.
    pub bind_dn: String,
    /// New bind password; omitted keeps the stored one. Changing the URL, StartTLS, the CA or
    /// the bind DN needs it again (400 otherwise): the stored password never goes to another
    /// server.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub bind_password: Option<SecretString>,
    /// Search base for users.
    pub user_base: String,
    /// Filter with `{username}`, e.g. `(uid={username})`.
    pub user_filter: String,
    /// Email attribute (default `mail`).
    #[serde(default = "default_email_attr")]
    pub email_attr: String,
    /// Display name attribute (default `cn`).
    #[serde(default = "default_name_attr")]
    pub name_attr: String,
    /// Search base for groups (default: `user_base`).
    #[serde(default)]
    pub group_base: Option<String>,
    /// Directory groups → printwarden groups.
    #[serde(default)]
    pub group_mappings: Vec<LdapGroupMapping>,
    /// Create accounts at the first directory sign-in (default true).
    #[serde(default = "yes")]
    pub auto_provision: bool,
    /// Directory sign-in on (needs a bind password).
    #[serde(default)]
    pub enabled: bool,
}

fn default_email_attr() -> String {
    "mail".to_owned()
}
fn default_name_attr() -> String {
    "cn".to_owned()
}
fn yes() -> bool {
    true
}

/// `POST /api/v1/settings/ldap/test`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapTestRequest {
    /// A user to look up (never signed in as).
    #[serde(default)]
    pub username: Option<String>,
}

/// One step of the test, in words.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LdapTestStep {
    /// `connect`, `bind`, `find_user`, `groups` or `mapping`.
    pub step: String,
    /// Whether it worked.
    pub ok: bool,
    /// What happened.
    pub message: String,
}

/// The test's outcome.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LdapTestOutcome {
    /// Every step worked.
    pub ok: bool,
    /// The steps in order.
    pub steps: Vec<LdapTestStep>,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::BadRequest(message.into())
}

fn text(name: &str, raw: &str, required: bool) -> Result<String, AppError> {
    let value = raw.trim().to_owned();
    if required && value.is_empty() {
        return Err(bad(format!("{name} is required.")));
    }
    if value.len() > MAX_FIELD || value.chars().any(char::is_control) {
        return Err(bad(format!(
            "{name} must be at most {MAX_FIELD} characters without control characters."
        )));
    }
    Ok(value)
}

fn attribute(name: &str, raw: &str) -> Result<String, AppError> {
    let value = raw.trim();
    if value.is_empty()
        || value.len() > 64
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ';' || c == '.')
    {
        return Err(bad(format!(
            "{name} must be an attribute name like mail or cn."
        )));
    }
    Ok(value.to_owned())
}

/// The settings whose change must not carry the stored password along, old → new.
fn sensitive_changes(
    old: &StoredLdap,
    next: &StoredLdap,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{Value, json};
    let mut out = serde_json::Map::new();
    let mut field = |name: &str, from: Value, to: Value| {
        if from != to {
            out.insert(name.to_owned(), json!({ "from": from, "to": to }));
        }
    };
    field("url", json!(old.url), json!(next.url));
    field("starttls", json!(old.starttls), json!(next.starttls));
    field("bind_dn", json!(old.bind_dn), json!(next.bind_dn));
    if old.ca_cert_pem != next.ca_cert_pem {
        out.insert("ca_cert_pem".to_owned(), json!("changed"));
    }
    out
}

impl App {
    fn require_ldap_settings(&self, actor: &Actor) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SettingsSecurity),
            &Target::Global,
        )
    }

    async fn stored_ldap(&self) -> Result<StoredLdap, AppError> {
        Ok(self
            .store
            .setting(KEY_LDAP)
            .await?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default())
    }

    fn ldap_view(s: &StoredLdap) -> LdapSettingsView {
        LdapSettingsView {
            url: s.url.clone(),
            starttls: s.starttls,
            ca_cert_pem: s.ca_cert_pem.clone(),
            bind_dn: s.bind_dn.clone(),
            bind_password_set: s.bind_password_sealed.is_some(),
            user_base: s.user_base.clone(),
            user_filter: s.user_filter.clone(),
            email_attr: s.email_attr.clone(),
            name_attr: s.name_attr.clone(),
            group_base: s.group_base.clone(),
            group_mappings: s.group_mappings.clone(),
            auto_provision: s.auto_provision,
            enabled: s.enabled,
        }
    }

    /// Whether directory sign-in is on (for `/api/v1/auth/status`).
    pub async fn ldap_enabled(&self) -> Result<bool, AppError> {
        let s = self.stored_ldap().await?;
        Ok(s.enabled && s.bind_password_sealed.is_some())
    }

    /// `GET /api/v1/settings/ldap`.
    pub async fn get_ldap_settings(&self, actor: &Actor) -> Result<LdapSettingsView, AppError> {
        self.require_ldap_settings(actor)?;
        Ok(Self::ldap_view(&self.stored_ldap().await?))
    }

    /// `PUT /api/v1/settings/ldap`.
    pub async fn update_ldap_settings(
        &self,
        actor: &Actor,
        input: LdapSettingsInput,
    ) -> Result<LdapSettingsView, AppError> {
        self.require_ldap_settings(actor)?;
        let old = self.stored_ldap().await?;
        let url = LdapUrl::parse(&input.url, input.starttls).map_err(bad)?;
        if url.host.parse::<std::net::IpAddr>().is_ok()
            && let Err(refusal) = self.outbound().guard.check_host(&url.host).await
        {
            return Err(AppError::UrlNotAllowed(format!("url: {refusal}")));
        }
        let ca_cert_pem = match input.ca_cert_pem.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(pem) => {
                validate_ca_pem(pem).map_err(|e| bad(format!("ca_cert_pem: {e}")))?;
                Some(pem.to_owned())
            }
        };
        let user_filter = text("user_filter", &input.user_filter, true)?;
        validate_filter_template(&user_filter).map_err(bad)?;
        let group_base = match input.group_base.as_deref() {
            None => None,
            Some(raw) => Some(text("group_base", raw, false)?).filter(|g| !g.is_empty()),
        };
        if input.group_mappings.len() > MAX_MAPPINGS {
            return Err(bad(format!("At most {MAX_MAPPINGS} group mappings.")));
        }
        let mut group_mappings = Vec::new();
        for m in &input.group_mappings {
            let dn = text("directory_group", &m.directory_group, true)?;
            group_mappings.push(LdapGroupMapping {
                directory_group: dn,
                group_id: m.group_id,
            });
        }
        let mapped: Vec<GroupId> = group_mappings.iter().map(|m| m.group_id).collect();
        self.check_groups_exist(&mapped).await?;
        // A mapping hands a group's rights to whoever the directory says: the same grant rule
        // as adding members by hand (threat: a settings:security holder mapping a directory
        // group they are in to Administrators).
        let granted: Vec<_> = self
            .store
            .list_groups()
            .await?
            .into_iter()
            .filter(|g| mapped.contains(&g.id))
            .collect();
        self.check_may_grant(actor, &rights_of(&granted)).await?;
        let mut next = StoredLdap {
            url: format!(
                "{}://{}:{}",
                if input.url.trim().starts_with("ldaps") {
                    "ldaps"
                } else {
                    "ldap"
                },
                url.host,
                url.port
            ),
            starttls: input.starttls,
            ca_cert_pem,
            bind_dn: text("bind_dn", &input.bind_dn, true)?,
            bind_password_sealed: None,
            user_base: text("user_base", &input.user_base, true)?,
            user_filter,
            email_attr: attribute("email_attr", &input.email_attr)?,
            name_attr: attribute("name_attr", &input.name_attr)?,
            group_base,
            group_mappings,
            auto_provision: input.auto_provision,
            enabled: input.enabled,
        };
        let changed = sensitive_changes(&old, &next);
        let password = match &input.bind_password {
            None => "kept",
            Some(p) if p.is_empty() => "removed",
            Some(_) => "replaced",
        };
        // Threat: an administrator (or a stolen session) points the stored bind password at a
        // server of their choosing, which receives it in the first bind.
        if old.bind_password_sealed.is_some()
            && input.bind_password.is_none()
            && !changed.is_empty()
        {
            self.audit_ldap_change(actor, false, &changed, password, &next)
                .await;
            return Err(bad(
                "A bind password is stored. Changing the server URL, StartTLS, the CA certificate \
                 or the bind DN needs it again: type the bind password. The stored one is never \
                 sent to a changed server.",
            ));
        }
        next.bind_password_sealed = match &input.bind_password {
            None => old.bind_password_sealed.clone(),
            Some(p) if p.is_empty() => None,
            Some(p) => Some(self.seal(p.expose(), PASSWORD_CONTEXT)?),
        };
        if next.enabled && next.bind_password_sealed.is_none() {
            return Err(bad(
                "Enter the bind password before enabling LDAP sign-in (an empty one would be an \
                 anonymous bind).",
            ));
        }
        let stored = serde_json::to_string(&next).map_err(|e| AppError::Internal(Box::new(e)))?;
        self.store
            .set_setting(KEY_LDAP, &stored, self.now())
            .await?;
        self.audit_ldap_change(actor, true, &changed, password, &next)
            .await;
        Ok(Self::ldap_view(&next))
    }

    async fn audit_ldap_change(
        &self,
        actor: &Actor,
        success: bool,
        changed: &serde_json::Map<String, serde_json::Value>,
        password: &str,
        next: &StoredLdap,
    ) {
        self.audit(
            actor,
            AuditEvent::SettingsLdap,
            None,
            success,
            serde_json::json!({
                "changed": changed,
                "bind_password": password,
                "enabled": next.enabled,
                "url": next.url,
            }),
        )
        .await;
    }

    /// The connection settings from `stored`: the host resolved and checked by the outbound
    /// guard, the bind password opened. The inner error is the directory's, in words.
    async fn ldap_config(
        &self,
        stored: &StoredLdap,
    ) -> Result<Result<LdapConfig, LdapError>, AppError> {
        let url = match LdapUrl::parse(&stored.url, stored.starttls) {
            Ok(u) => u,
            Err(e) => return Ok(Err(LdapError::Config(e))),
        };
        let Some(sealed) = stored.bind_password_sealed.as_deref() else {
            return Ok(Err(LdapError::Config(
                "no bind password is stored".to_owned(),
            )));
        };
        let connect_to = match self.outbound().guard.check_host(&url.host).await {
            Ok(ips) => ips,
            Err(refusal) => {
                // The reason stays in the log: shown, it would map internal names.
                tracing::warn!(host = %url.host, refusal = ?refusal, "LDAP server refused by the outbound policy");
                return Ok(Err(LdapError::Unreachable(format!(
                    "{}:{}",
                    url.host, url.port
                ))));
            }
        };
        Ok(Ok(LdapConfig {
            connect_to,
            ca_cert_pem: stored.ca_cert_pem.clone(),
            bind_dn: stored.bind_dn.clone(),
            bind_password: self.open(sealed, PASSWORD_CONTEXT)?,
            user_base: stored.user_base.clone(),
            user_filter: stored.user_filter.clone(),
            email_attr: stored.email_attr.clone(),
            name_attr: stored.name_attr.clone(),
            group_base: stored
                .group_base
                .clone()
                .unwrap_or_else(|| stored.user_base.clone()),
            timeout: LDAP_TIMEOUT,
            url,
        }))
    }

    /// `POST /api/v1/settings/ldap/test`: connect, bind, and optionally find a user and say
    /// which printwarden groups its directory groups map to.
    pub async fn test_ldap(
        &self,
        actor: &Actor,
        request: LdapTestRequest,
    ) -> Result<LdapTestOutcome, AppError> {
        self.require_ldap_settings(actor)?;
        let stored = self.stored_ldap().await?;
        if stored.url.is_empty() {
            return Err(AppError::Conflict("Save the LDAP settings first.".into()));
        }
        let username = request
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let mut steps: Vec<LdapTestStep> = match self.ldap_config(&stored).await? {
            Err(e) => vec![LdapTestStep {
                step: "connect".into(),
                ok: false,
                message: format!("Could not connect: {e}."),
            }],
            Ok(config) => test_connection(&config, username)
                .await
                .into_iter()
                .map(|s| LdapTestStep {
                    step: s.step.to_owned(),
                    ok: s.ok,
                    message: s.message,
                })
                .collect(),
        };
        if let Some(groups_step) = steps.iter().find(|s| s.step == "groups" && s.ok) {
            let found: BTreeSet<String> = groups_step
                .message
                .trim_start_matches("The user is in: ")
                .trim_end_matches('.')
                .split("; ")
                .map(normalize_dn)
                .collect();
            let names = self.store.list_groups().await?;
            let mapped: Vec<String> = stored
                .group_mappings
                .iter()
                .filter(|m| found.contains(&normalize_dn(&m.directory_group)))
                .filter_map(|m| names.iter().find(|g| g.id == m.group_id))
                .map(|g| g.name.as_str().to_owned())
                .collect();
            steps.push(LdapTestStep {
                step: "mapping".into(),
                ok: true,
                message: if mapped.is_empty() {
                    "None of these groups is mapped: the user would join no printwarden group."
                        .to_owned()
                } else {
                    format!("The user would join: {}.", mapped.join(", "))
                },
            });
        }
        let ok = steps.iter().all(|s| s.ok);
        self.audit(
            actor,
            AuditEvent::SettingsLdapTest,
            None,
            ok,
            serde_json::json!({
                "username": username,
                "steps": steps.iter().map(|s| serde_json::json!({"step": s.step, "ok": s.ok})).collect::<Vec<_>>(),
            }),
        )
        .await;
        Ok(LdapTestOutcome { ok, steps })
    }

    /// Whether this sign-in goes to the directory: LDAP is on, and either no local account of
    /// that name exists or the account came from the directory.
    pub(crate) async fn ldap_applies(&self, user: Option<&UserRow>) -> Result<bool, AppError> {
        if user.is_some_and(|u| u.auth_source != "ldap") {
            return Ok(false);
        }
        self.ldap_enabled().await
    }

    /// The directory half of a sign-in: the account (found or provisioned, synced) of a user
    /// whose password the directory accepted. Every refusal is `Unauthenticated` (audited with
    /// its reason); an unusable directory is [`AppError::ServiceUnavailable`].
    pub(crate) async fn ldap_sign_in(
        &self,
        typed: &str,
        password: &SecretString,
        existing: Option<UserRow>,
        meta: &RequestMeta,
    ) -> Result<UserRow, AppError> {
        let stored = self.stored_ldap().await?;
        let config = self.ldap_config(&stored).await?;
        let result = match &config {
            Ok(config) => authenticate(config, typed, password).await,
            Err(e) => Err(e.clone()),
        };
        let directory = match result {
            Ok(d) => d,
            Err(e) => {
                let reason = e.to_string();
                self.audit_ldap_login(
                    meta,
                    None,
                    typed,
                    false,
                    serde_json::json!({"reason": reason}),
                )
                .await;
                if e.is_outage() {
                    tracing::warn!(error = %e, "LDAP sign-in: the directory cannot be used");
                    return Err(AppError::ServiceUnavailable(DIRECTORY_DOWN.into()));
                }
                return Err(AppError::Unauthenticated);
            }
        };
        let refuse = |reason: &'static str| async move {
            self.audit_ldap_login(
                meta,
                None,
                typed,
                false,
                serde_json::json!({"reason": reason}),
            )
            .await;
            Err(AppError::Unauthenticated)
        };
        let Ok(name) = Username::parse(&directory.uid) else {
            return refuse("the directory name is not a valid printwarden username").await;
        };
        // The account this directory entry is: the one the typed name found, or the one named
        // like the entry's uid (when the filter matched on something else, such as mail).
        let account = match existing {
            Some(row) if row.username.key() == name.key() => Some(row),
            _ => self.store.user_by_username(&name.key()).await?,
        };
        let row = match account {
            Some(row) if row.auth_source != "ldap" => {
                // Local wins: a directory entry never signs in to a local account.
                return refuse("a local account has this name").await;
            }
            Some(row) if row.disabled => return refuse("the account is disabled").await,
            Some(row) => row,
            None if !stored.auto_provision => {
                return refuse("no account and auto-provisioning is off").await;
            }
            None => {
                self.ldap_provision(&name, &directory, &stored, meta, typed)
                    .await?
            }
        };
        self.ldap_sync(row, &directory, &stored, meta, typed).await
    }

    async fn ldap_provision(
        &self,
        name: &Username,
        directory: &DirectoryUser,
        stored: &StoredLdap,
        meta: &RequestMeta,
        typed: &str,
    ) -> Result<UserRow, AppError> {
        let email = self.free_directory_email(directory, None).await?;
        let groups: Vec<GroupId> = mapped_groups(stored, directory).into_iter().collect();
        let id = self
            .store
            .insert_user(
                &NewUser {
                    username: name.clone(),
                    email,
                    password_hash: None,
                    auth_source: "ldap",
                    group_ids: groups.clone(),
                },
                self.now(),
            )
            .await?;
        self.audit_ldap_login(
            meta,
            Some(id),
            typed,
            true,
            serde_json::json!({"provisioned": true, "dn": directory.dn, "groups_added": groups}),
        )
        .await;
        self.store.user(id).await?.ok_or(AppError::NotFound)
    }

    /// Email, display name and mapped groups as the directory says now; a change of groups revokes the
    /// user's other sessions (the store does it with the change).
    async fn ldap_sync(
        &self,
        row: UserRow,
        directory: &DirectoryUser,
        stored: &StoredLdap,
        meta: &RequestMeta,
        typed: &str,
    ) -> Result<UserRow, AppError> {
        let current: BTreeSet<GroupId> = self
            .store
            .groups_of_user(row.id)
            .await?
            .iter()
            .map(|g| g.id)
            .collect();
        let managed: BTreeSet<GroupId> = stored.group_mappings.iter().map(|m| m.group_id).collect();
        let wanted: BTreeSet<GroupId> = current
            .difference(&managed)
            .copied()
            .chain(mapped_groups(stored, directory))
            .collect();
        let email = self.free_directory_email(directory, Some(&row)).await?;
        let email_change = (email.as_ref().map(Email::key) != row.email.as_ref().map(Email::key)
            && email.is_some())
        .then_some(email);
        let group_change = (wanted != current).then(|| wanted.iter().copied().collect::<Vec<_>>());
        let added: Vec<GroupId> = wanted.difference(&current).copied().collect();
        let removed: Vec<GroupId> = current.difference(&wanted).copied().collect();
        if email_change.is_some() || group_change.is_some() {
            let patch = UserPatch {
                email: email_change.clone(),
                group_ids: group_change.clone(),
                ..UserPatch::default()
            };
            self.store
                .update_user(row.id, &patch, &Self::admin_check(), None, self.now())
                .await?;
            // Same as an administrator's edit: caches dropped, live connections told.
            self.revoke_users(&[row.id]);
        }
        let name_synced = self
            .sync_display_name(row.id, directory.display_name.as_deref())
            .await;
        self.audit_ldap_login(
            meta,
            Some(row.id),
            typed,
            true,
            serde_json::json!({
                "dn": directory.dn,
                "email_synced": email_change.is_some(),
                "display_name_synced": name_synced,
                "groups_added": added,
                "groups_removed": removed,
            }),
        )
        .await;
        self.store.user(row.id).await?.ok_or(AppError::NotFound)
    }

    /// The directory's email when it is valid and no other account uses it.
    async fn free_directory_email(
        &self,
        directory: &DirectoryUser,
        row: Option<&UserRow>,
    ) -> Result<Option<Email>, AppError> {
        let Some(email) = directory
            .email
            .as_deref()
            .and_then(|e| Email::parse(e).ok())
        else {
            return Ok(row.and_then(|r| r.email.clone()));
        };
        match self.store.user_by_email(&email.key()).await? {
            Some(other) if row.is_none_or(|r| r.id != other.id) => {
                tracing::warn!(user = ?row.map(|r| r.id), "LDAP email sync skipped: another account has that address");
                Ok(row.and_then(|r| r.email.clone()))
            }
            _ => Ok(Some(email)),
        }
    }

    async fn audit_ldap_login(
        &self,
        meta: &RequestMeta,
        user: Option<pw_domain::UserId>,
        typed: &str,
        success: bool,
        mut details: serde_json::Value,
    ) {
        let typed = crate::auth::sessions::typed_name(typed);
        if let Some(map) = details.as_object_mut() {
            map.insert("username".into(), serde_json::json!(typed));
        }
        let actor = Actor {
            user_id: user,
            name: std::sync::Arc::from(typed.as_str()),
            ..Actor::anonymous(meta.clone())
        };
        self.audit(
            &actor,
            AuditEvent::AuthLdapLogin,
            user.map(|u| ("user", u.to_string())),
            success,
            details,
        )
        .await;
    }

    /// Refuses a password change or reset for an account whose password lives elsewhere.
    pub(crate) fn refuse_external_password(row: &UserRow) -> Result<(), AppError> {
        if row.auth_source == "ldap" {
            return Err(AppError::BadRequest(
                "This account signs in with the organisation's directory (LDAP): its password is \
                 changed there, not here."
                    .into(),
            ));
        }
        if Self::is_oidc_account(row) {
            return Err(AppError::BadRequest(
                "This account signs in with an identity provider (OpenID Connect): it has no \
                 password here. Its password is changed at the provider."
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The printwarden groups `directory`'s groups map to.
fn mapped_groups(stored: &StoredLdap, directory: &DirectoryUser) -> BTreeSet<GroupId> {
    stored
        .group_mappings
        .iter()
        .filter(|m| directory.groups.contains(&normalize_dn(&m.directory_group)))
        .map(|m| m.group_id)
        .collect()
}
