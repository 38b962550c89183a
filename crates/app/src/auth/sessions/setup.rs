//! First start: the one-time setup code and the first administrator.
//!
//! Invariant: setup works only while no administrator exists and only with the current code;
//! the code file is removed once an administrator exists.

use super::*;

/// `POST /api/v1/auth/setup`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The code from the console / `<data>/setup-code`.
    #[schema(value_type = String, format = Password)]
    pub setup_code: SecretString,
    /// The first administrator's name.
    pub username: String,
    /// Their password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// Optional address.
    #[serde(default)]
    pub email: Option<String>,
}

impl App {
    /// `POST /api/v1/auth/setup`: claims the instance with the one-time code.
    pub async fn setup(
        &self,
        req: SetupRequest,
        meta: RequestMeta,
    ) -> Result<LoginOutcome, AppError> {
        // Held for the whole operation: two setups racing with the right code cannot both win.
        let mut code = self.setup_code.lock().await;
        if self.administrator_exists().await? {
            return Err(AppError::Conflict(
                "This instance is already set up.".into(),
            ));
        }
        let valid = code
            .as_ref()
            .is_some_and(|c| setup_code_matches(c, req.setup_code.expose()));
        if !valid {
            self.audit_anonymous(
                &meta,
                AuditEvent::AuthSetup,
                false,
                serde_json::json!({"reason": "wrong setup code"}),
            )
            .await;
            return Err(AppError::Forbidden);
        }
        let username = Username::parse(&req.username).map_err(bad)?;
        let email = parse_email(req.email.as_deref())?;
        self.check_password(&req.password, &username).await?;
        let hash = self.hash(&req.password).await?;
        let admins = self.system_group(SystemGroup::Administrators).await?;
        let id = self
            .store
            .insert_user(
                &NewUser {
                    username: username.clone(),
                    email,
                    password_hash: Some(hash),
                    auth_source: "local",
                    group_ids: vec![admins],
                },
                self.now(),
            )
            .await
            .map_err(|e| conflict_or(e, "That username or email is already taken."))?;
        *code = None;
        self.remove_setup_code_file();
        let actor = Actor {
            user_id: Some(id),
            name: Arc::from(username.as_str()),
            ..Actor::anonymous(meta.clone())
        };
        self.audit(
            &actor,
            AuditEvent::AuthSetup,
            Some(("user", id.to_string())),
            true,
            serde_json::json!({}),
        )
        .await;
        self.open_session(id, &meta, SignInStrength::Password).await
    }

    /// Once an administrator exists the setup code is worthless; its file goes too so nobody
    /// mistakes it for a live secret.
    pub(crate) fn remove_setup_code_file(&self) {
        if let Some(path) = &self.config.setup_code_file
            && let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "could not delete the setup-code file");
        }
    }

    /// While no administrator exists, makes a fresh one-time setup code from `random` and
    /// returns it for the operator (console and 0600 file); returns `None` once set up.
    /// Each start issues a new code, so a code seen in an old log is worthless.
    pub async fn issue_setup_code(
        &self,
        random: [u8; SETUP_CODE_RANDOM_BYTES],
    ) -> Result<Option<SecretString>, AppError> {
        if self.administrator_exists().await? {
            *self.setup_code.lock().await = None;
            return Ok(None);
        }
        let code = setup_code_from(random);
        *self.setup_code.lock().await = Some(code.clone());
        Ok(Some(code))
    }

    pub(crate) async fn administrator_exists(&self) -> Result<bool, AppError> {
        Ok(self
            .store
            .count_administrators(&Self::admin_check())
            .await?
            > 0)
    }
}
