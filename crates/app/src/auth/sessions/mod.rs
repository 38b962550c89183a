//! Sessions (S2): setup, sign-in, sign-out, the signed-in user's view, the session list, password
//! change and principal resolution, one file per use case; shared helpers live here.
//!
//! Invariants: an unknown user costs the same argon2id work as a known one (no enumeration by
//! timing); login always mints a new token and ends the session the request came with
//! (threat: session fixation); the cookie value is never stored, only its SHA-256.

mod list;
mod me;
mod password;
mod resolve;
mod setup;
mod sign_in;
mod sign_out;

pub use list::SessionView;
pub use me::{GroupRef, MeView, MfaState, ProfilePatch};
pub use setup::SetupRequest;
pub use sign_in::LoginOutcome;
pub(crate) use sign_in::typed_name;

use std::collections::BTreeSet;
use std::sync::Arc;

use pw_credentials::password::{
    Verified, check_new_password, hash_password, verify_dummy, verify_password,
};
use pw_credentials::token::{
    KeyKind, TOKEN_BYTES, digest, is_session_token, matches_digest, new_session_token, parse_key,
};
use pw_credentials::{SETUP_CODE_RANDOM_BYTES, SecretString, setup_code_from, setup_code_matches};
use pw_domain::{
    ApiKeyId, DisplayName, Email, GroupId, Permission, PrinterId, SessionId, SignInRequirement,
    SignInStrength, SystemGroup, UserId, Username,
};
use pw_policy::{Credential, Principal, Rights, Subject};
use pw_store::{GroupRow, NewSession, NewUser, UserPatch};
use serde::{Deserialize, Serialize};

use crate::auth::mfa::SignIn;
use crate::auth::tickets::TicketOrigin;
use crate::core::cache::{KeyEntry, REVALIDATE_MS, SessionEntry, TOUCH_EVERY_MS, UserEntry};
use crate::core::clock::{random, rfc3339};
use crate::farm::camera_tokens::CAMERA_KIND;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, Done, Presented, RequestMeta};

const USER_AGENT_MAX: usize = 256;

/// The rights a set of groups grants. System groups carry their rights in code; an unknown
/// permission string in a row (a right removed from the catalogue) is ignored.
pub(crate) fn rights_of(groups: &[GroupRow]) -> Rights {
    let mut rights = Rights::none();
    for g in groups {
        let system = g
            .is_system
            .then(|| SystemGroup::from_key(&g.name.key()))
            .flatten();
        let permissions: Vec<Permission> = match system {
            Some(s) => s.permissions(),
            None => g
                .permissions
                .iter()
                .filter_map(|p| Permission::parse(p))
                .collect(),
        };
        let scope = g
            .scope
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        rights.grant_group(permissions, scope.as_ref());
    }
    rights
}

impl App {
    pub(crate) async fn system_group(&self, which: SystemGroup) -> Result<GroupId, AppError> {
        self.store
            .list_groups()
            .await?
            .into_iter()
            .find(|g| g.is_system && g.name.key() == which.name().to_lowercase())
            .map(|g| g.id)
            .ok_or_else(|| {
                AppError::Internal(format!("system group {} is missing", which.name()).into())
            })
    }
}

pub(crate) fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn bad(e: pw_domain::Invalid) -> AppError {
    AppError::BadRequest(e.0.to_owned())
}

pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> AppError {
    AppError::Internal(Box::new(e))
}

pub(crate) fn parse_email(raw: Option<&str>) -> Result<Option<Email>, AppError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => Email::parse(s).map(Some).map_err(bad),
    }
}

/// A unique-constraint conflict becomes a 409 with `message`; anything else stays as it is.
pub(crate) fn conflict_or(e: pw_store::StoreError, message: &str) -> AppError {
    match e {
        pw_store::StoreError::Conflict => AppError::Conflict(message.into()),
        other => other.into(),
    }
}
