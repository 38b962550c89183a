//! Security settings (`settings:security`): the authentication switch, the minimum password
//! length and the API key expiry cap. Loaded at start, kept in memory, written through, and
//! re-read every few seconds so changes made by another node or the CLI arrive.
//!
//! Invariant: while authentication is off every request is the `auth-disabled` principal and
//! every page shows a banner; switching it on again needs an administrator to exist (otherwise
//! nobody could sign in).

use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use pw_credentials::password::{DEFAULT_MIN_LENGTH, LOWEST_MIN_LENGTH, MAX_PASSWORD_BYTES};
use pw_domain::Permission;
use pw_policy::{Action, Target};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::notify::webhooks::Outbound;
use crate::system::audit::event::AuditEvent;
use crate::system::outbound::{AllowList, Guard};
use crate::{Actor, App, AppError};

const KEY_AUTH_ENABLED: &str = "auth.enabled";
const KEY_MIN_PASSWORD: &str = "security.min_password_length";
const KEY_API_KEY_MAX_DAYS: &str = "security.api_key_max_days";
const KEY_OUTBOUND_ALLOWED: &str = "outbound.allowed_hosts";
const MAX_ALLOWED_HOSTS: usize = 100;

/// `GET/PUT /api/v1/settings/security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Shortest accepted new password (≥ 6).
    pub min_password_length: usize,
    /// Longest allowed API key lifetime in days; `null` = no cap.
    pub api_key_max_days: Option<u32>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            min_password_length: DEFAULT_MIN_LENGTH,
            api_key_max_days: None,
        }
    }
}

/// `GET/PUT /api/v1/settings/outbound`: private hosts outbound requests may reach anyway.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboundSettings {
    /// Host names (exact), IP addresses or CIDR ranges, e.g. `ha.lan`, `192.168.1.0/24`.
    pub allowed_hosts: Vec<String>,
}

/// Normalises and checks allow-list entries: host names, addresses or CIDRs.
fn parse_allowed_hosts(entries: Vec<String>) -> Result<Vec<String>, AppError> {
    let mut out: Vec<String> = Vec::new();
    for entry in entries {
        let e = entry.trim().trim_end_matches('.').to_ascii_lowercase();
        if e.is_empty() {
            continue;
        }
        let name_like = e.len() <= 253
            && e.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !name_like && e.parse::<pw_domain::net::Cidr>().is_err() {
            return Err(AppError::BadRequest(format!(
                "Allowed private hosts: `{e}` is not a host name, an address or a range. Write one per line, like homeassistant.lan, 192.168.1.20 or 192.168.1.0/24."
            )));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.len() > MAX_ALLOWED_HOSTS {
        return Err(AppError::BadRequest(format!(
            "Allowed private hosts: list at most {MAX_ALLOWED_HOSTS} entries."
        )));
    }
    Ok(out)
}

impl App {
    pub(crate) async fn load_security_settings(&self) -> Result<(), AppError> {
        let on = self
            .store
            .setting(KEY_AUTH_ENABLED)
            .await?
            .is_none_or(|v| v != "false");
        self.auth_on.store(on, Ordering::SeqCst);
        let mut s = SecuritySettings::default();
        if let Some(v) = self
            .store
            .setting(KEY_MIN_PASSWORD)
            .await?
            .and_then(|v| v.parse().ok())
        {
            s.min_password_length = v;
        }
        s.api_key_max_days = self
            .store
            .setting(KEY_API_KEY_MAX_DAYS)
            .await?
            .and_then(|v| v.parse().ok());
        *self
            .security
            .write()
            .unwrap_or_else(PoisonError::into_inner) = s;
        let allowed: Vec<String> = self
            .store
            .setting(KEY_OUTBOUND_ALLOWED)
            .await?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default();
        self.install_allow_list(&allowed)
    }

    /// Replaces the guard (and its client) when the allow-list changed.
    fn install_allow_list(&self, allowed: &[String]) -> Result<(), AppError> {
        let mut current = self
            .outbound
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if current.allowed != allowed {
            let guard = Guard::new(Arc::clone(&self.config.resolver), AllowList::new(allowed));
            *current = Arc::new(Outbound::new(guard, allowed.to_vec())?);
        }
        Ok(())
    }

    /// `GET /api/v1/settings/outbound`.
    pub fn get_outbound_settings(&self, actor: &Actor) -> Result<OutboundSettings, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SettingsSecurity),
            &Target::Global,
        )?;
        Ok(OutboundSettings {
            allowed_hosts: self.outbound().allowed.clone(),
        })
    }

    /// `PUT /api/v1/settings/outbound`.
    pub async fn update_outbound_settings(
        &self,
        actor: &Actor,
        new: OutboundSettings,
    ) -> Result<OutboundSettings, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SettingsSecurity),
            &Target::Global,
        )?;
        let allowed = parse_allowed_hosts(new.allowed_hosts)?;
        let text = serde_json::to_string(&allowed).map_err(|e| AppError::Internal(Box::new(e)))?;
        self.store
            .set_setting(KEY_OUTBOUND_ALLOWED, &text, self.now())
            .await?;
        self.install_allow_list(&allowed)?;
        self.audit(
            actor,
            AuditEvent::SettingsOutbound,
            None,
            true,
            serde_json::json!({ "allowed_hosts": allowed }),
        )
        .await;
        Ok(OutboundSettings {
            allowed_hosts: allowed,
        })
    }

    /// Re-reads the settings another process or node may have written (the CLI, a second
    /// server on the same PostgreSQL). The server calls it every few seconds, so a switch
    /// made elsewhere takes effect within the same window as a revocation does.
    pub async fn reload_settings(&self) -> Result<(), AppError> {
        let was_on = self.auth_on.load(Ordering::SeqCst);
        self.load_security_settings().await?;
        if self.auth_on.load(Ordering::SeqCst) != was_on {
            // Cached principals were resolved under the other mode.
            self.cache.clear();
        }
        Ok(())
    }

    /// The [`Task::SettingsReload`](crate::Task::SettingsReload) loop: [`App::reload_settings`]
    /// every few seconds, starting one interval after start (the settings were just loaded).
    pub(crate) async fn reload_settings_often(self) {
        let mut every = tokio::time::interval(crate::core::tasks::SETTINGS_RELOAD_INTERVAL);
        every.tick().await; // the first tick is immediate; the settings were just loaded
        loop {
            every.tick().await;
            if let Err(e) = self.reload_settings().await {
                tracing::warn!(error = %e, "could not re-read the settings; keeping the current ones");
            }
        }
    }

    pub(crate) fn security_settings(&self) -> SecuritySettings {
        *self.security.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// `GET /api/v1/settings/security`.
    pub fn get_security_settings(&self, actor: &Actor) -> Result<SecuritySettings, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SettingsSecurity),
            &Target::Global,
        )?;
        Ok(self.security_settings())
    }

    /// `PUT /api/v1/settings/security`.
    pub async fn update_security_settings(
        &self,
        actor: &Actor,
        new: SecuritySettings,
    ) -> Result<SecuritySettings, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SettingsSecurity),
            &Target::Global,
        )?;
        if !(LOWEST_MIN_LENGTH..=MAX_PASSWORD_BYTES).contains(&new.min_password_length) {
            return Err(AppError::BadRequest(format!(
                "min_password_length must be between {LOWEST_MIN_LENGTH} and {MAX_PASSWORD_BYTES}."
            )));
        }
        if new
            .api_key_max_days
            .is_some_and(|d| !(1..=3650).contains(&d))
        {
            return Err(AppError::BadRequest(
                "api_key_max_days must be between 1 and 3650, or null.".into(),
            ));
        }
        let now = self.now();
        self.store
            .set_setting(KEY_MIN_PASSWORD, &new.min_password_length.to_string(), now)
            .await?;
        self.store
            .set_setting(
                KEY_API_KEY_MAX_DAYS,
                &new.api_key_max_days
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                now,
            )
            .await?;
        let old = self.security_settings();
        *self
            .security
            .write()
            .unwrap_or_else(PoisonError::into_inner) = new;
        self.audit(
            actor,
            AuditEvent::SettingsSecurityUpdate,
            None,
            true,
            serde_json::json!({"before": old, "after": new}),
        )
        .await;
        Ok(new)
    }

    /// `POST /api/v1/auth/disable` and `/enable`: the runtime authentication switch.
    pub async fn set_auth_enabled(&self, actor: &Actor, enabled: bool) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SettingsSecurity),
            &Target::Global,
        )?;
        if enabled && !self.administrator_exists().await? {
            return Err(AppError::Conflict(
                "Create an administrator before switching authentication on, or nobody could sign in.".into(),
            ));
        }
        if enabled && !self.config.auth_enabled {
            return Err(AppError::Conflict(
                "Authentication is switched off by PRINTWARDEN_AUTH=disabled; remove it and restart.".into(),
            ));
        }
        self.store
            .set_setting(
                KEY_AUTH_ENABLED,
                if enabled { "true" } else { "false" },
                self.now(),
            )
            .await?;
        self.auth_on.store(enabled, Ordering::SeqCst);
        self.cache.clear();
        self.audit(
            actor,
            if enabled {
                AuditEvent::AuthEnable
            } else {
                AuditEvent::AuthDisable
            },
            None,
            true,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }
}
