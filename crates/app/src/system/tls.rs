//! The HTTPS certificate as a setting (S7, `settings:security`): what is served, an uploaded
//! chain + key that replaces the generated one, and going back. The listener side (files,
//! validation, the hot swap) belongs to the server binary, behind [`Certificates`]; this module
//! decides who may use it and audits every change.
//!
//! Invariant: a refused upload changes nothing — the old certificate keeps serving.

use std::sync::{Arc, OnceLock};

use pw_credentials::SecretString;
use pw_domain::Permission;
use pw_policy::{Action, Target};
use serde::{Deserialize, Serialize};

use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// Where the served certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsSource {
    /// Issued by the local CA this server generated.
    Generated,
    /// Uploaded by an administrator.
    Uploaded,
    /// Files named by `PRINTWARDEN_TLS_CERT`/`_KEY` (managed outside the server).
    Files,
}

/// `GET /api/v1/settings/tls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TlsStatus {
    /// Where it comes from.
    pub source: TlsSource,
    /// Subject distinguished name.
    pub subject: String,
    /// Names it covers (DNS names and IP addresses).
    pub sans: Vec<String>,
    /// Issuer distinguished name.
    pub issuer: String,
    /// RFC 3339.
    pub not_before: String,
    /// RFC 3339.
    pub not_after: String,
    /// Hex SHA-256 of the leaf (DER), to compare with what a browser shows.
    pub fingerprint_sha256: String,
    /// Whether the local CA can be downloaded from `/ca.crt`.
    pub local_ca: bool,
}

/// `POST /api/v1/settings/tls/certificate`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadCertificate {
    /// PEM chain: the server certificate first, then intermediates.
    pub certificate_pem: String,
    /// PEM private key of the server certificate.
    #[schema(value_type = String, format = Password)]
    pub key_pem: SecretString,
}

/// Why the certificate operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The upload is unusable; the message says why (400).
    #[error("{0}")]
    Invalid(String),
    /// Not possible in this TLS mode (409).
    #[error("{0}")]
    Fixed(String),
    /// Storing or loading failed (500; the message is for the log).
    #[error("{0}")]
    Failed(String),
}

impl From<CertificateError> for AppError {
    fn from(e: CertificateError) -> Self {
        match e {
            CertificateError::Invalid(m) => AppError::BadRequest(m),
            CertificateError::Fixed(m) => AppError::Conflict(m),
            CertificateError::Failed(m) => AppError::Internal(m.into()),
        }
    }
}

/// The listener's certificate, managed by the server binary. Calls may block (files, crypto).
pub trait Certificates: Send + Sync + std::fmt::Debug {
    /// What is served now.
    fn status(&self) -> Result<TlsStatus, CertificateError>;
    /// Validates, stores and serves an uploaded chain + key; on any error nothing changes.
    fn install(&self, chain_pem: &str, key_pem: &str) -> Result<TlsStatus, CertificateError>;
    /// Drops the uploaded certificate and serves the generated one again.
    fn remove(&self) -> Result<TlsStatus, CertificateError>;
    /// The local CA certificate (PEM), when one exists.
    fn local_ca_pem(&self) -> Option<String>;
    /// Whether an uploaded certificate is being served (cheap: no parsing).
    fn serving_upload(&self) -> bool;
}

/// Set once, when the HTTPS listener exists (after the application is built).
pub(crate) type CertificateSlot = Arc<OnceLock<Arc<dyn Certificates>>>;

fn tls_off() -> AppError {
    AppError::Conflict(
        "HTTPS is off on this server (PRINTWARDEN_TLS=off), so there is no certificate to manage."
            .into(),
    )
}

impl App {
    /// Connects the HTTPS listener's certificate manager (once).
    pub fn attach_certificates(&self, certificates: Arc<dyn Certificates>) {
        let _ = self.certificates.set(certificates);
    }

    fn certificates(&self) -> Result<Arc<dyn Certificates>, AppError> {
        self.certificates.get().cloned().ok_or_else(tls_off)
    }

    /// Runs a certificate call on a blocking thread.
    async fn with_certificates<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Certificates) -> Result<T, CertificateError> + Send + 'static,
    ) -> Result<T, AppError> {
        let certificates = self.certificates()?;
        tokio::task::spawn_blocking(move || call(certificates.as_ref()))
            .await
            .map_err(|e| AppError::Internal(Box::new(e)))?
            .map_err(AppError::from)
    }

    /// `GET /api/v1/settings/tls`.
    pub async fn tls_status(&self, actor: &Actor) -> Result<TlsStatus, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SettingsSecurity),
            &Target::Global,
        )?;
        self.with_certificates(|c| c.status()).await
    }

    /// `POST /api/v1/settings/tls/certificate`.
    pub async fn upload_certificate(
        &self,
        actor: &Actor,
        input: UploadCertificate,
    ) -> Result<TlsStatus, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SettingsSecurity),
            &Target::Global,
        )?;
        let result = self
            .with_certificates(move |c| c.install(&input.certificate_pem, input.key_pem.expose()))
            .await;
        let details = match &result {
            Ok(s) => serde_json::json!({
                "subject": s.subject, "not_after": s.not_after, "sha256": s.fingerprint_sha256,
            }),
            Err(e) => serde_json::json!({ "refused": e.to_string() }),
        };
        self.audit(
            actor,
            AuditEvent::TlsCertificateUpload,
            None,
            result.is_ok(),
            details,
        )
        .await;
        result
    }

    /// `DELETE /api/v1/settings/tls/certificate`.
    pub async fn remove_certificate(&self, actor: &Actor) -> Result<TlsStatus, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SettingsSecurity),
            &Target::Global,
        )?;
        let status = self.with_certificates(|c| c.remove()).await?;
        self.audit(
            actor,
            AuditEvent::TlsCertificateRemove,
            None,
            true,
            serde_json::json!({ "now": status.fingerprint_sha256 }),
        )
        .await;
        Ok(status)
    }

    pub(crate) fn serving_upload(&self) -> bool {
        self.certificates.get().is_some_and(|c| c.serving_upload())
    }

    /// `GET /ca.crt` (public: a CA certificate is public by nature).
    pub fn local_ca_pem(&self) -> Option<String> {
        self.certificates.get().and_then(|c| c.local_ca_pem())
    }
}
