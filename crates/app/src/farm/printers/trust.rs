//! Certificate trust (seed 000): the pinned and presented fingerprints, and approving a changed
//! certificate (`printers:trust`), which wakes the supervisor to reconnect.

use super::*;

/// `GET /api/v1/printers/{id}/certificate`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CertificateView {
    /// `pinned`, `changed` or `unpinned`.
    pub state: String,
    /// The trusted certificate's SHA-256 (hex).
    pub pinned_sha256: Option<String>,
    /// A different certificate the printer presented (hex), awaiting approval.
    pub presented_sha256: Option<String>,
}

/// `POST /api/v1/printers/{id}/certificate/trust`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustCertificate {
    /// The presented fingerprint being approved (hex, colons allowed).
    pub sha256: String,
}

impl App {
    /// `GET /api/v1/printers/{id}/certificate`.
    pub async fn printer_certificate(
        &self,
        actor: &Actor,
        id: PrinterId,
    ) -> Result<CertificateView, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersRead)
            .await?;
        Ok(CertificateView {
            state: certificate_state(&row).to_owned(),
            pinned_sha256: row.pinned_sha256,
            presented_sha256: row.presented_sha256,
        })
    }

    /// `POST /api/v1/printers/{id}/certificate/trust`: pins the certificate the printer
    /// presented and lets the supervisor connect again.
    pub async fn trust_printer_certificate(
        &self,
        actor: &Actor,
        id: PrinterId,
        input: TrustCertificate,
    ) -> Result<CertificateView, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersTrust)
            .await?;
        let wanted = pw_bambu::trust::Fingerprint::parse(input.sha256.trim())
            .ok_or_else(|| AppError::BadRequest("sha256 must be 64 hex digits.".into()))?
            .to_hex();
        let Some(presented) = row.presented_sha256.clone() else {
            return Err(AppError::Conflict(
                "The printer's certificate has not changed; there is nothing to approve.".into(),
            ));
        };
        if presented != wanted {
            return Err(AppError::Conflict(
                "That is not the fingerprint the printer presented; compare again.".into(),
            ));
        }
        self.store
            .set_printer_certificate(id, Some(&presented), None, self.now())
            .await?;
        self.audit(
            actor,
            AuditEvent::PrinterCertificateTrust,
            Some(("printer", id.to_string())),
            true,
            serde_json::json!({ "previous": row.pinned_sha256, "trusted": presented }),
        )
        .await;
        self.fleet.wake(id);
        Ok(CertificateView {
            state: "pinned".into(),
            pinned_sha256: Some(presented),
            presented_sha256: None,
        })
    }
}
