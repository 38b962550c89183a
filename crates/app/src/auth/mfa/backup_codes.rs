//! Backup codes: generated in a set, stored as peppered digests, each usable once.

use super::*;

impl App {
    /// Checks a backup code against every stored one and spends it.
    pub(super) async fn check_backup(&self, user: UserId, code: &str) -> Result<bool, AppError> {
        let rows = self.store.backup_codes(user).await?;
        let stored: Vec<[u8; 32]> = rows
            .iter()
            .map(|(_, d)| {
                hex::decode(d)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .unwrap_or([0; 32])
            })
            .collect();
        let Some(index) = match_backup_code(&self.pepper(), code, &stored) else {
            return Ok(false);
        };
        let Some((id, _)) = rows.get(index) else {
            return Ok(false);
        };
        Ok(self.store.use_backup_code(user, *id).await?)
    }

    pub(super) fn new_backup_codes(&self) -> Result<(Vec<String>, Vec<String>), AppError> {
        let codes = backup_codes_from(&random::<BACKUP_CODE_RANDOM_BYTES>()?);
        let mut shown = Vec::with_capacity(codes.len());
        let mut digests = Vec::with_capacity(codes.len());
        for code in codes {
            let normalized = normalize_backup_code(code.expose())
                .ok_or_else(|| AppError::Internal("a generated backup code is malformed".into()))?;
            digests.push(self.hex_digest(&normalized));
            shown.push(code.expose().to_owned());
        }
        Ok((shown, digests))
    }

    /// `POST /api/v1/auth/mfa/backup-codes/regenerate`: a current TOTP code buys a new set;
    /// the old set dies in the same transaction.
    pub async fn regenerate_backup_codes(
        &self,
        actor: &Actor,
        code: &str,
    ) -> Result<BackupCodesView, AppError> {
        let user = Self::signed_in_user(actor)?;
        let mfa = self.store.user_mfa(user).await?;
        if mfa.totp_secret.is_none() {
            return Err(AppError::Conflict(
                "Backup codes come with TOTP; set it up first.".into(),
            ));
        }
        if !self.check_totp(user, &mfa, code).await? {
            self.audit_mfa(actor, AuditEvent::AuthMfaBackupRegenerate, false)
                .await;
            return Err(wrong_code());
        }
        let (shown, digests) = self.new_backup_codes()?;
        self.store.replace_backup_codes(user, &digests).await?;
        self.audit_mfa(actor, AuditEvent::AuthMfaBackupRegenerate, true)
            .await;
        Ok(BackupCodesView {
            backup_codes: shown,
        })
    }
}
