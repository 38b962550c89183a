//! Where a library file can be printed, as the library's "Print…" dialog offers it: the
//! printers the caller may start a print on (each with its state in plain words and, when it
//! cannot take a job now, why), and a comparable key for printer models, so a plate sliced for
//! a P1S can be flagged when the chosen printer is an A1.
//!
//! Invariant: a printer is offered only when the policy lets the caller read it *and* start a
//! print on it (`printers:control` on that printer, as printing from the library demands); the
//! start itself checks again, this list only keeps the dialog honest.

use pw_domain::{Permission, PrinterId};
use pw_policy::{Action, Decision, PrinterRef, Target, authorize};
use serde::Serialize;

use crate::farm::fleet::Connection;
use crate::{Actor, App, AppError, PrinterView};

/// A printer in the "Print…" dialog.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PrintTargetView {
    /// The printer.
    #[schema(value_type = i64)]
    pub id: PrinterId,
    /// Its name.
    pub name: String,
    /// Its model as entered (`P1S`, `X1C` …; may be empty).
    pub model: String,
    /// [`printer_model_key`] of the model; empty when unknown.
    pub model_key: String,
    /// Its state in words ("Idle", "Printing", "Offline" …).
    pub state: String,
    /// Whether it can take a job now.
    pub available: bool,
    /// Why it cannot, in words (`null` when it can).
    pub reason: Option<String>,
}

/// A printer model reduced to a key two spellings of one model share: the model code `C12`,
/// the project's `Bambu Lab P1S` and a printer entered as `p1s` all give `P1S`; `X1 Carbon`
/// gives `X1C` (the names come from [`pw_bambu::model::Model`], the one model table). Empty for
/// an empty name. Unknown names are kept (upper case, letters and digits only), so two unknown
/// but equal names still match.
#[must_use]
pub fn printer_model_key(raw: &str) -> String {
    let name: &str = match pw_bambu::model::Model::parse(raw) {
        Some(model) => model.name(),
        None => raw,
    };
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

/// The state as an operator says it, whether a job can start, and why not.
fn state_of(p: &PrinterView) -> (String, bool, Option<String>) {
    let refused = |state: &str, reason: &str| (state.to_owned(), false, Some(reason.to_owned()));
    match p.connection {
        Connection::Online => {}
        Connection::Connecting => return refused("Connecting", "It is still connecting."),
        Connection::Offline => return refused("Offline", "It is offline."),
        Connection::CertificateChanged | Connection::CertificateRefused => {
            return refused(
                "Certificate changed",
                "Its certificate changed; approve it on the Printers page first.",
            );
        }
        Connection::BadAccessCode => {
            return refused(
                "Access code refused",
                "It refused the access code; correct it on the Printers page.",
            );
        }
    }
    if p.developer_mode_off {
        return refused(
            "Commands refused",
            "It refuses commands: switch it to LAN-only mode with Developer Mode on.",
        );
    }
    let Some(status) = p.status.as_ref() else {
        return refused("Waiting for a report", "It has not reported its state yet.");
    };
    let state = match status.state.as_str() {
        "PREPARE" | "SLICING" => "Preparing",
        "RUNNING" => "Printing",
        "PAUSE" => "Paused",
        "FINISH" => "Finished",
        "FAILED" => "Stopped or failed",
        _ => "Idle",
    };
    if status.busy {
        let job = status
            .job_name
            .as_deref()
            .filter(|j| !j.is_empty())
            .map(|j| format!(" ({j})"))
            .unwrap_or_default();
        return refused(state, &format!("It is busy with a print{job}."));
    }
    (state.to_owned(), true, None)
}

fn may(actor: &Actor, permission: Permission, target: PrinterRef) -> bool {
    matches!(
        authorize(
            &actor.principal,
            Action::Perform(permission),
            &Target::Printer(target)
        ),
        Decision::Allow
    )
}

impl App {
    /// The printers `actor` may print a library file on, by name; empty (not an error) for a
    /// caller who may read or control no printer.
    pub async fn library_print_targets(
        &self,
        actor: &Actor,
    ) -> Result<Vec<PrintTargetView>, AppError> {
        let printers = match self.list_printers(actor).await {
            Ok(p) => p,
            Err(AppError::Forbidden) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out: Vec<PrintTargetView> = printers
            .into_iter()
            .filter(|p| {
                let target = PrinterRef {
                    printer: p.id,
                    location: p.location_id,
                };
                may(actor, Permission::PrintersControl, target)
            })
            .map(|p| {
                let (state, available, reason) = state_of(&p);
                PrintTargetView {
                    id: p.id,
                    model_key: printer_model_key(&p.model),
                    model: p.model,
                    name: p.name,
                    state,
                    available,
                    reason,
                }
            })
            .collect();
        out.sort_by_key(|a| a.name.to_lowercase());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::printer_model_key;

    #[test]
    fn model_spellings_share_a_key() {
        for (a, b) in [
            ("C12", "Bambu Lab P1S"),
            ("c12", "p1s"),
            ("BL-P001", "Bambu Lab X1 Carbon"),
            ("X1C", "BL-P001"),
            ("N2S", "A1"),
            ("N1", "Bambu Lab A1 mini"),
        ] {
            assert_eq!(printer_model_key(a), printer_model_key(b), "{a} ~ {b}");
        }
        for (a, b) in [("C12", "A1"), ("N1", "N2S"), ("X1", "X1C"), ("P1P", "P1S")] {
            assert_ne!(printer_model_key(a), printer_model_key(b), "{a} ≁ {b}");
        }
        assert_eq!(printer_model_key("  "), "");
    }
}
