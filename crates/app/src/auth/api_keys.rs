//! API keys (S3): created with scopes the owner holds, shown once, stored as a digest; listed
//! and revoked by their owner, or by holders of `api_keys:read_all` / `api_keys:revoke_all`.
//!
//! Invariant: a key's rights are recomputed on every request as scopes ∩ the owner's current
//! rights (see `auth::resolve_key`), so a key never outlives a right its owner lost.

use std::collections::BTreeSet;

use pw_credentials::SecretString;
use pw_credentials::token::{TOKEN_BYTES, new_api_key};
use pw_domain::{ApiKeyId, Permission, PrinterId, UserId};
use pw_policy::{Action, Target, delegated};
use pw_store::{ApiKeyRow, NewApiKey};
use serde::{Deserialize, Serialize};

use crate::core::clock::{parse_rfc3339, random, rfc3339};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

const NAME_MAX: usize = 100;
/// `api_keys.kind` of API keys.
pub(crate) const API_KIND: &str = "api";

/// A key as listed (never the secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    /// Id (also the public part of the key).
    pub id: ApiKeyId,
    /// Label.
    pub name: String,
    /// Owner.
    pub user_id: UserId,
    /// Owner's name.
    pub username: String,
    /// Scopes.
    pub scopes: Vec<Permission>,
    /// Printer restriction; `null` = all printers.
    pub printer_ids: Option<Vec<PrinterId>>,
    /// The first characters of the key, to recognise it (`pwk_12_…`).
    pub prefix: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339 or null (never expires).
    pub expires_at: Option<String>,
    /// RFC 3339 or null (never used); updated at most once a minute.
    pub last_used_at: Option<String>,
    /// Past its expiry.
    pub expired: bool,
}

/// The answer to a creation: the view plus the key, exactly once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    /// The listed fields.
    #[serde(flatten)]
    pub view: ApiKeyView,
    /// The full key. Not stored anywhere; lost if not copied now.
    pub key: String,
}

/// `POST /api/v1/api-keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// Label.
    pub name: String,
    /// Rights; each must be held by the creator.
    pub scopes: Vec<Permission>,
    /// RFC 3339; absent = no expiry (unless the instance caps it).
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Limit to these printers.
    #[serde(default)]
    pub printer_ids: Option<Vec<PrinterId>>,
}

impl App {
    pub(crate) fn key_view(&self, row: ApiKeyRow) -> ApiKeyView {
        let scopes = serde_json::from_str::<Vec<String>>(&row.scopes)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| Permission::parse(p))
            .collect();
        ApiKeyView {
            id: row.id,
            prefix: format!("pwk_{}_", row.id),
            name: row.name,
            user_id: row.user_id,
            username: row.username,
            scopes,
            printer_ids: row.printer_ids.and_then(|p| serde_json::from_str(&p).ok()),
            created_at: rfc3339(row.created_at),
            expired: row.expires_at.is_some_and(|t| t <= self.now()),
            expires_at: row.expires_at.map(rfc3339),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }

    /// `GET /api/v1/api-keys[?all=true]&limit=&cursor=`: one page of keys, newest first — the
    /// caller's own, or with `all` (`api_keys:read_all`) everyone's. The owner filter comes from
    /// `pw_policy::owned_visibility` and runs in the query, so a page never holds, counts or
    /// pages past another user's key unless the caller may see it.
    pub async fn api_keys_page(
        &self,
        actor: &Actor,
        all: bool,
        params: &crate::PageParams,
    ) -> Result<crate::Page<ApiKeyView>, AppError> {
        use crate::core::page::Listing;
        self.require(actor, Action::BeAuthenticated, &Target::Global)?;
        if all {
            self.require(
                actor,
                Action::Perform(Permission::ApiKeysReadAll),
                &Target::Global,
            )?;
        }
        let seen = self.owned_rows(actor, all, Permission::ApiKeysReadAll)?;
        self.key_rows_page(API_KIND, Listing::ApiKeys, &seen, params)
            .await
    }

    /// One page of key rows of `kind` (API keys or camera tokens) that `seen` lets through,
    /// newest first, with the cursor of the next page.
    pub(crate) async fn key_rows_page(
        &self,
        kind: &str,
        listing: crate::core::page::Listing,
        seen: &pw_policy::Visibility,
        params: &crate::PageParams,
    ) -> Result<crate::Page<ApiKeyView>, AppError> {
        let page = crate::core::page::PageRequest::parse(listing, params)?;
        let rows = self
            .store
            .api_keys_page(kind, crate::core::page::owner_filter(seen), &page.store())
            .await?;
        let (rows, next) = page.finish(listing, rows, |r| (String::new(), r.id.get()));
        Ok(crate::Page {
            items: rows.into_iter().map(|r| self.key_view(r)).collect(),
            next,
        })
    }

    /// The owned rows (keys, camera tokens) a list shows: `pw_policy::owned_visibility` for
    /// the caller, narrowed to their own rows unless they asked for everyone's (`all`).
    pub(crate) fn owned_rows(
        &self,
        actor: &Actor,
        all: bool,
        read_all: Permission,
    ) -> Result<pw_policy::Visibility, AppError> {
        use pw_policy::Visibility;
        let seen = pw_policy::owned_visibility(&actor.principal, None, read_all);
        if all {
            return Ok(seen);
        }
        let me = actor.user_id.ok_or(AppError::Unauthenticated)?;
        Ok(match seen {
            Visibility::All | Visibility::Own(_) => Visibility::Own(me),
            Visibility::None | Visibility::Printers(_) => Visibility::None,
        })
    }

    /// `POST /api/v1/api-keys`.
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        input: CreateApiKey,
    ) -> Result<CreatedApiKey, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::ApiKeysCreate),
            &Target::Global,
        )?;
        let owner = actor.user_id.ok_or_else(|| {
            AppError::BadRequest(
                "Sign in as a user to create an API key; a key needs an owner.".into(),
            )
        })?;
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > NAME_MAX || pw_domain::has_hidden_chars(name) {
            return Err(AppError::BadRequest(
                "The key name must be 1–100 characters without control or invisible formatting characters.".into(),
            ));
        }
        if input.scopes.is_empty() {
            return Err(AppError::BadRequest(
                "Choose at least one scope for the key.".into(),
            ));
        }
        // S3 and the grant rule: a key carries at most its creator's rights and reach — the
        // owner's for a session, the minting key's scopes and printer list for a key
        // (threat: a key limited to one printer minting an unlimited one).
        let printer_list: Option<BTreeSet<PrinterId>> = input
            .printer_ids
            .as_ref()
            .map(|p| p.iter().copied().collect());
        let granted = delegated(
            &actor.principal,
            input.scopes.iter().copied(),
            printer_list.as_ref(),
        );
        if let Some(missing) = self.ungrantable(actor, &granted).await? {
            return Err(AppError::BadRequest(format!(
                "You cannot give a key the scope {missing}{}: you do not hold it that widely yourself.",
                if printer_list.is_some() {
                    " on these printers"
                } else {
                    ""
                }
            )));
        }
        let now = self.now();
        let expires_at = match input.expires_at.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(parse_rfc3339(s).ok_or_else(|| {
                AppError::BadRequest(
                    "expires_at must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z.".into(),
                )
            })?),
        };
        if expires_at.is_some_and(|t| t <= now) {
            return Err(AppError::BadRequest(
                "expires_at must be in the future.".into(),
            ));
        }
        let max_days = self.security_settings().api_key_max_days;
        if let Some(days) = max_days {
            let cap = now + i64::from(days) * 86_400_000;
            match expires_at {
                None => {
                    return Err(AppError::BadRequest(format!(
                        "Keys on this instance must expire within {days} days; set expires_at."
                    )));
                }
                Some(t) if t > cap => {
                    return Err(AppError::BadRequest(format!(
                        "Keys on this instance must expire within {days} days."
                    )));
                }
                Some(_) => {}
            }
        }
        let scopes: BTreeSet<&'static str> = input.scopes.iter().map(|p| p.as_str()).collect();
        let scopes_json =
            serde_json::to_string(&scopes).map_err(|e| AppError::Internal(Box::new(e)))?;
        let printers_json = input
            .printer_ids
            .as_ref()
            .map(|p| serde_json::to_string(&p.iter().collect::<BTreeSet<_>>()))
            .transpose()
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        let id = self
            .store
            .insert_api_key(&NewApiKey {
                user_id: owner,
                name,
                scopes: &scopes_json,
                printer_ids: printers_json.as_deref(),
                now,
                expires_at,
                kind: API_KIND,
            })
            .await?;
        let (key, digest): (SecretString, [u8; 32]) =
            new_api_key(id.get(), random::<TOKEN_BYTES>()?);
        self.store.seal_api_key(id, &hex::encode(digest)).await?;
        self.audit(
            actor,
            AuditEvent::ApiKeyCreate,
            Some(("api_key", id.to_string())),
            true,
            serde_json::json!({"name": name, "scopes": scopes, "expires_at": expires_at.map(rfc3339)}),
        )
        .await;
        let row = self.store.api_key(id).await?.ok_or(AppError::NotFound)?;
        Ok(CreatedApiKey {
            view: self.key_view(row),
            key: key.expose().to_owned(),
        })
    }

    /// `DELETE /api/v1/api-keys/{id}`: the owner, or a holder of `api_keys:revoke_all`.
    /// Someone else's key answers 404 to a caller who may not revoke it.
    pub async fn revoke_api_key(&self, actor: &Actor, id: ApiKeyId) -> Result<(), AppError> {
        self.revoke_key(actor, id, API_KIND, AuditEvent::ApiKeyRevoke)
            .await
    }

    /// Deletes a key row of `kind` for its owner or a holder of `api_keys:revoke_all`.
    pub(crate) async fn revoke_key(
        &self,
        actor: &Actor,
        id: ApiKeyId,
        kind: &str,
        event: AuditEvent,
    ) -> Result<(), AppError> {
        let row = self
            .store
            .api_key(id)
            .await?
            .filter(|r| r.kind == kind)
            .ok_or(AppError::NotFound)?;
        self.require(
            actor,
            Action::OnOwned {
                own: None,
                all: Permission::ApiKeysRevokeAll,
            },
            &Target::Owned {
                owner: Some(row.user_id),
                printer: None,
            },
        )?;
        self.store.delete_api_key(id).await?;
        self.cache.forget_key(id);
        // Streams opened with this key or camera token end now, not at their next request.
        self.access_changed();
        self.audit(
            actor,
            event,
            Some(("api_key", id.to_string())),
            true,
            serde_json::json!({"name": row.name, "owner": row.username}),
        )
        .await;
        Ok(())
    }
}
