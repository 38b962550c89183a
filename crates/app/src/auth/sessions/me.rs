//! The signed-in user's own view: who they are, their groups, rights and second factors.

use super::*;

/// `GET /api/v1/auth/me`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MeView {
    /// Null while authentication is off and nobody is signed in.
    pub id: Option<UserId>,
    /// Username.
    pub username: Option<String>,
    /// Address.
    pub email: Option<String>,
    /// `local`.
    pub auth_source: Option<String>,
    /// Groups.
    pub groups: Vec<GroupRef>,
    /// Effective permissions, in catalogue order.
    pub permissions: Vec<Permission>,
    /// Second factors.
    pub mfa: MfaState,
    /// True while authentication is switched off.
    pub auth_disabled: bool,
}

/// A group, by id and name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct GroupRef {
    /// Id.
    pub id: GroupId,
    /// Name.
    pub name: String,
}

/// Which second factors are set up.
#[derive(Debug, Clone, Copy, Serialize, Default, utoipa::ToSchema)]
pub struct MfaState {
    /// TOTP enrolled.
    pub totp: bool,
    /// Email codes enabled.
    pub email: bool,
    /// Registered passkeys.
    pub passkeys: u32,
}

impl App {
    /// `GET /api/v1/auth/me`.
    pub async fn me(&self, actor: &Actor) -> Result<MeView, AppError> {
        match actor.user_id {
            Some(id) => {
                // The cache entry resolve() just validated: no database round trip.
                let entry = match self.cache.user(id) {
                    Some(entry) => entry,
                    None => self
                        .load_user_entry(id)
                        .await?
                        .ok_or(AppError::Unauthenticated)?,
                };
                let mut view = self.me_view(id, &entry);
                // An API key sees what it may actually do: its scopes ∩ the owner's rights.
                if let Principal::User(subject) = &actor.principal
                    && subject.credential == Credential::ApiKey
                {
                    view.permissions = subject.rights.permissions().collect();
                }
                Ok(view)
            }
            None if actor.principal == Principal::AuthDisabled => Ok(MeView {
                id: None,
                username: None,
                email: None,
                auth_source: None,
                groups: Vec::new(),
                permissions: Permission::ALL.to_vec(),
                mfa: MfaState::default(),
                auth_disabled: true,
            }),
            None => Err(AppError::Unauthenticated),
        }
    }

    pub(super) fn me_view(&self, id: UserId, entry: &UserEntry) -> MeView {
        let permissions = if self.auth_enabled() {
            entry.rights.permissions().collect()
        } else {
            Permission::ALL.to_vec()
        };
        MeView {
            id: Some(id),
            username: Some(entry.username.to_string()),
            email: entry.email.clone(),
            auth_source: Some(entry.auth_source.clone()),
            groups: entry.groups.clone(),
            permissions,
            mfa: entry.mfa,
            auth_disabled: !self.auth_enabled(),
        }
    }
}
