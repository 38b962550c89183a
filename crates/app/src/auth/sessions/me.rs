//! The signed-in user's own view: who they are, their groups, rights and second factors.

use super::*;

/// `GET /api/v1/auth/me`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MeView {
    /// Null while authentication is off and nobody is signed in.
    pub id: Option<UserId>,
    /// Username.
    pub username: Option<String>,
    /// The name shown for the person; null = show the username.
    pub display_name: Option<String>,
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
    /// The strictest sign-in requirement of the user's groups (`none` without one).
    pub sign_in_requirement: SignInRequirement,
    /// Set when this credential falls short of that requirement: it may only set up the
    /// missing factor (a session) or is refused everything (an API key).
    pub enrol_first: Option<SignInRequirement>,
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
                if let Principal::User(subject) = &actor.principal {
                    view.enrol_first = subject.enrol_first;
                }
                Ok(view)
            }
            None if actor.principal == Principal::AuthDisabled => Ok(MeView {
                id: None,
                username: None,
                display_name: None,
                email: None,
                auth_source: None,
                groups: Vec::new(),
                permissions: Permission::ALL.to_vec(),
                mfa: MfaState::default(),
                auth_disabled: true,
                sign_in_requirement: SignInRequirement::None,
                enrol_first: None,
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
            display_name: entry.display_name.clone(),
            email: entry.email.clone(),
            auth_source: Some(entry.auth_source.clone()),
            groups: entry.groups.clone(),
            permissions,
            mfa: entry.mfa,
            auth_disabled: !self.auth_enabled(),
            sign_in_requirement: entry.requirement,
            enrol_first: None,
        }
    }
}

impl App {
    /// After the signed-in user set up a factor within this session (a TOTP or emailed code
    /// confirmed, a passkey registered): the session has now shown it, so a group requirement
    /// it fell short of is met without a new sign-in. The proof is as good as at sign-in —
    /// the same code or signature, made now, in this session — and the session's token was
    /// minted fresh at its sign-in (no fixation). Audited when it lifts a restriction.
    pub(crate) async fn raise_session(&self, actor: &Actor, strength: SignInStrength) {
        let Some(session) = actor.session else {
            return;
        };
        let was = match &actor.principal {
            Principal::User(s) => s.enrol_first,
            _ => None,
        };
        match self.store.raise_session_strength(session, strength).await {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not record the session's new sign-in strength");
                return;
            }
        }
        self.cache.forget_session(session);
        if let Some(requirement) = was
            && requirement.met_by(strength)
        {
            self.audit(
                actor,
                AuditEvent::AuthEnrolMet,
                actor.user_id.map(|u| ("user", u.to_string())),
                true,
                serde_json::json!({
                    "requirement": requirement.as_str(),
                    "with": strength.as_str(),
                }),
            )
            .await;
        }
    }
}

/// `PATCH /api/v1/auth/me`: what a user may change about themselves here.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// The name shown for you (at most 64 characters); empty clears it (the username is shown).
    pub display_name: String,
}

impl App {
    /// `PATCH /api/v1/auth/me`: a local user's display name. Directory and provider accounts
    /// get theirs from there at each sign-in (a name set here would be overwritten, or would
    /// contradict the directory an administrator trusts).
    pub async fn update_profile(
        &self,
        actor: &Actor,
        patch: &ProfilePatch,
    ) -> Result<MeView, AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        let row = self
            .store
            .user(user)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if row.auth_source != "local" {
            return Err(AppError::Conflict(
                "Your name comes from your sign-in directory or identity provider and is updated each time you sign in.".into(),
            ));
        }
        let name = DisplayName::parse(&patch.display_name).map_err(bad)?;
        let changed = self
            .store
            .set_display_name(user, name.as_ref().map(DisplayName::as_str))
            .await?;
        if changed {
            self.cache.forget_user(user);
            self.audit(
                actor,
                AuditEvent::UserDisplayName,
                Some(("user", user.to_string())),
                true,
                serde_json::json!({"display_name": name.as_ref().map(DisplayName::as_str), "source": "account"}),
            )
            .await;
        }
        let entry = self
            .load_user_entry(user)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        Ok(self.me_view(user, &entry))
    }

    /// At a directory or provider sign-in: the name it gives, cleaned ([`DisplayName::
    /// from_external`]). A sign-in that brings no name keeps the stored one. Returns whether
    /// it changed (audited by the caller's sign-in event).
    pub(crate) async fn sync_display_name(&self, user: UserId, external: Option<&str>) -> bool {
        let Some(name) = external.and_then(DisplayName::from_external) else {
            return false;
        };
        match self.store.set_display_name(user, Some(name.as_str())).await {
            Ok(changed) => {
                if changed {
                    self.cache.forget_user(user);
                }
                changed
            }
            Err(e) => {
                // A name is no reason to refuse a sign-in.
                tracing::warn!(error = %e, "could not store the synced display name");
                false
            }
        }
    }
}
