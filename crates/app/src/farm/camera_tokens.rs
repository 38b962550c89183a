//! Camera tokens (S3): long-lived, camera-only credentials for kiosks, Home Assistant, Frigate
//! and OBS overlays. Stored as key rows of kind `camera` (digest only, owner cascade, printer
//! restriction, revocation), always expiring within 365 days.
//!
//! Invariant: a camera token opens camera routes and nothing else (the route table refuses the
//! credential elsewhere), and on every request its rights are `camera:view` + `printers:read`
//! ∩ the owner's current rights ∩ its printer list — so it never outlives its owner's access.

use std::collections::BTreeSet;

use pw_credentials::token::{KeyKind, TOKEN_BYTES, new_key};
use pw_domain::{ApiKeyId, Permission, PrinterId};
use pw_policy::{Action, Target, delegated};
use pw_store::NewApiKey;
use serde::{Deserialize, Serialize};

use crate::auth::api_keys::ApiKeyView;
use crate::core::clock::random;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// `api_keys.kind` of camera tokens.
pub(crate) const CAMERA_KIND: &str = "camera";
/// The rights every camera token is scoped to (reading the printer is needed to find it).
const SCOPES: [Permission; 2] = [Permission::CameraView, Permission::PrintersRead];
/// Longest lifetime.
pub const MAX_CAMERA_TOKEN_DAYS: u16 = 365;

/// `POST /api/v1/camera-tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCameraToken {
    /// Label (where the token is used).
    pub name: String,
    /// Lifetime in days, 1–365.
    pub days: u16,
    /// Only these printers' cameras; absent = every camera the owner may watch.
    #[serde(default)]
    pub printer_ids: Option<Vec<PrinterId>>,
}

/// A camera token as listed (never the secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CameraTokenView {
    /// Id.
    pub id: ApiKeyId,
    /// Label.
    pub name: String,
    /// Owner's name.
    pub username: String,
    /// Printer restriction; `null` = every camera the owner may watch.
    pub printer_ids: Option<Vec<PrinterId>>,
    /// The first characters of the token (`pwc_12_`).
    pub prefix: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: Option<String>,
    /// RFC 3339 or null (never used); updated at most once a minute.
    pub last_used_at: Option<String>,
    /// Past its expiry.
    pub expired: bool,
}

/// The answer to a creation: the view plus the token, exactly once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedCameraToken {
    /// The listed fields.
    #[serde(flatten)]
    pub view: CameraTokenView,
    /// The full token. Not stored anywhere; lost if not copied now.
    pub token: String,
}

fn camera_view(key: ApiKeyView) -> CameraTokenView {
    CameraTokenView {
        prefix: format!("{}{}_", KeyKind::Camera.prefix(), key.id),
        id: key.id,
        name: key.name,
        username: key.username,
        printer_ids: key.printer_ids,
        created_at: key.created_at,
        expires_at: key.expires_at,
        last_used_at: key.last_used_at,
        expired: key.expired,
    }
}

impl App {
    /// `GET /api/v1/camera-tokens?limit=&cursor=`: one page of the caller's own tokens, newest
    /// first, the owner filter (`pw_policy::owned_visibility`, narrowed to the caller) in the
    /// query.
    pub async fn camera_tokens_page(
        &self,
        actor: &Actor,
        params: &crate::PageParams,
    ) -> Result<crate::Page<CameraTokenView>, AppError> {
        self.require(actor, Action::BeAuthenticated, &Target::Global)?;
        let seen = self.owned_rows(actor, false, Permission::ApiKeysReadAll)?;
        let page = self
            .key_rows_page(
                CAMERA_KIND,
                crate::core::page::Listing::CameraTokens,
                &seen,
                params,
            )
            .await?;
        Ok(crate::Page {
            items: page.items.into_iter().map(camera_view).collect(),
            next: page.next,
        })
    }

    /// `POST /api/v1/camera-tokens` (`camera:tokens`).
    pub async fn create_camera_token(
        &self,
        actor: &Actor,
        input: CreateCameraToken,
    ) -> Result<CreatedCameraToken, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::CameraTokens),
            &Target::Global,
        )?;
        let owner = actor.user_id.ok_or_else(|| {
            AppError::BadRequest("Sign in as a user to create a camera token.".into())
        })?;
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 100 || pw_domain::has_hidden_chars(name) {
            return Err(AppError::BadRequest(
                "The token name must be 1–100 characters without control or invisible formatting characters.".into(),
            ));
        }
        if !(1..=MAX_CAMERA_TOKEN_DAYS).contains(&input.days) {
            return Err(AppError::BadRequest(format!(
                "days must be between 1 and {MAX_CAMERA_TOKEN_DAYS}."
            )));
        }
        // Each listed printer must be one whose camera the creator may watch now; a printer
        // outside their reach reads as not existing (no probing of ids).
        let printers = match &input.printer_ids {
            None => None,
            Some(ids) if ids.is_empty() => {
                return Err(AppError::BadRequest(
                    "printer_ids: list at least one printer, or leave it out for all.".into(),
                ));
            }
            Some(ids) => {
                let set: BTreeSet<PrinterId> = ids.iter().copied().collect();
                for id in &set {
                    self.printer_for(actor, *id, Permission::CameraView)
                        .await
                        .map_err(|e| match e {
                            AppError::NotFound | AppError::Forbidden => AppError::BadRequest(
                                format!("printer_ids: no camera you may watch has id {id}."),
                            ),
                            other => other,
                        })?;
                }
                Some(set)
            }
        };
        // The grant rule: the token reaches no further than its creator (a key limited to some
        // printers mints only tokens limited to them).
        self.check_may_grant(
            actor,
            &delegated(&actor.principal, SCOPES, printers.as_ref()),
        )
        .await?;
        let now = self.now();
        let expires_at = now + i64::from(input.days) * 86_400_000;
        let scopes: BTreeSet<&'static str> = SCOPES.iter().map(|p| p.as_str()).collect();
        let scopes_json =
            serde_json::to_string(&scopes).map_err(|e| AppError::Internal(Box::new(e)))?;
        let printers_json = printers
            .as_ref()
            .map(serde_json::to_string)
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
                expires_at: Some(expires_at),
                kind: CAMERA_KIND,
            })
            .await?;
        let (token, digest) = new_key(KeyKind::Camera, id.get(), random::<TOKEN_BYTES>()?);
        self.store.seal_api_key(id, &hex::encode(digest)).await?;
        self.audit(
            actor,
            AuditEvent::CameraTokenCreate,
            Some(("api_key", id.to_string())),
            true,
            serde_json::json!({"name": name, "days": input.days, "printer_ids": printers}),
        )
        .await;
        let row = self.store.api_key(id).await?.ok_or(AppError::NotFound)?;
        Ok(CreatedCameraToken {
            view: camera_view(self.key_view(row)),
            token: token.expose().to_owned(),
        })
    }

    /// `DELETE /api/v1/camera-tokens/{id}`: the owner, or a holder of `api_keys:revoke_all`.
    pub async fn revoke_camera_token(&self, actor: &Actor, id: ApiKeyId) -> Result<(), AppError> {
        self.revoke_key(actor, id, CAMERA_KIND, AuditEvent::CameraTokenRevoke)
            .await
    }
}
