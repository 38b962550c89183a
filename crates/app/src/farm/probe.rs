//! "Test connection" for the add-printer form: one MQTT login attempt exactly as the printer's
//! supervisor would make it (serial check in the handshake, no pin yet), classified into what
//! the user has to fix. Nothing is stored; the access code is used for this one login only.

use std::time::Duration;

use pw_bambu::report::{Frame, Report};
use pw_bambu::session::{Endpoint, Session, SessionError};
use pw_bambu::trust::{Fingerprint, PrinterVerifier};
use pw_credentials::SecretString;
use pw_domain::Permission;
use pw_policy::{Action, Target};
use serde::{Deserialize, Serialize};

use crate::farm::printers::{
    DEFAULT_MQTT_PORT, parse_access_code, parse_host, parse_port, parse_serial,
};
use crate::{Actor, App, AppError};

/// How long the check waits for the first report after logging in.
const REPORT_WAIT: Duration = Duration::from_secs(8);
/// How long the check waits for the answer to its Developer Mode question.
const REPLY_WAIT: Duration = Duration::from_secs(4);

/// `POST /api/v1/printers/check`: where the printer is and how to log in.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckPrinter {
    /// Serial, as on the printer's label or screen.
    pub serial: String,
    /// Host name or IP address.
    pub host: String,
    /// LAN access code.
    #[schema(value_type = String, format = Password)]
    pub access_code: SecretString,
    /// Default 8883.
    #[serde(default)]
    pub mqtt_port: Option<u16>,
}

/// What the check found, from the first thing that stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// Logged in and a report arrived; commands will be accepted.
    Ok,
    /// No TCP connection (wrong address, printer off, firewall).
    Unreachable,
    /// The TLS handshake failed or the certificate is not this printer's.
    Certificate,
    /// The printer refused the access code.
    AccessCode,
    /// Logged in, but the printer reports Developer Mode off: it will ignore commands.
    DeveloperModeOff,
    /// Logged in, but no report arrived in time.
    NoReport,
    /// Something else went wrong (the message says what).
    Failed,
}

/// `POST /api/v1/printers/check` answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PrinterCheck {
    /// The first thing that stopped the check, or `ok`.
    pub outcome: CheckOutcome,
    /// A sentence for the user.
    pub message: String,
    /// SHA-256 of the certificate the printer presented, to compare with the printer's screen
    /// before it is pinned on first contact.
    pub presented_sha256: Option<String>,
    /// `gcode_state` of the first report.
    pub state: Option<String>,
}

impl App {
    /// Tries the connection the supervisor would make, without storing anything.
    pub async fn check_printer(
        &self,
        actor: &Actor,
        input: CheckPrinter,
    ) -> Result<PrinterCheck, AppError> {
        // Only someone who may add printers may make the server dial a LAN address with it.
        self.require(
            actor,
            Action::Perform(Permission::PrintersCreate),
            &Target::Global,
        )?;
        let serial = parse_serial(&input.serial)?;
        let host = parse_host(&input.host)?;
        parse_access_code(&input.access_code)?;
        let endpoint = Endpoint {
            host,
            port: parse_port("mqtt_port", input.mqtt_port, DEFAULT_MQTT_PORT)?,
            serial: serial.clone(),
            access_code: input.access_code,
        };
        let verifier = PrinterVerifier::new(&serial, None, self.printer_roots());
        let connected =
            Session::connect(&endpoint, &verifier, &format!("printwarden-check-{serial}")).await;
        let presented = verifier.seen().presented.as_ref().map(Fingerprint::to_hex);
        let answer = |outcome, message: String, state| PrinterCheck {
            outcome,
            message,
            presented_sha256: presented.clone(),
            state,
        };
        let mut session = match connected {
            Ok(s) => s,
            Err(e) => {
                let outcome = match e {
                    SessionError::Unreachable(_) => CheckOutcome::Unreachable,
                    SessionError::Certificate(_) | SessionError::Tls(_) => {
                        CheckOutcome::Certificate
                    }
                    SessionError::BadAccessCode => CheckOutcome::AccessCode,
                    _ => CheckOutcome::Failed,
                };
                return Ok(answer(outcome, e.to_string(), None));
            }
        };
        let mut report = Report::new();
        let first = tokio::time::timeout(REPORT_WAIT, async {
            loop {
                let payload = session.reader.recv().await?;
                if let Ok(Frame::Status) = report.apply(&payload) {
                    return Ok::<_, SessionError>(report.status());
                }
            }
        })
        .await;
        // P1/A1 firmware sends no `fun` (docs/PROTOCOL.md, model capabilities), so its report
        // cannot say whether Developer Mode is on. Ask with a command that changes nothing:
        // the chamber light set to the mode it reports. A "verify failed" answer means off.
        let refused = match &first {
            Ok(Ok(status))
                if status.developer_mode.is_none()
                    && !status
                        .hms
                        .iter()
                        .any(pw_bambu::report::Hms::is_verify_failed) =>
            {
                control_refused(&mut session, &mut report).await
            }
            _ => false,
        };
        session.writer.disconnect().await;
        Ok(match first {
            Ok(Ok(status)) => {
                let off = refused
                    || status.developer_mode == Some(false)
                    || status
                        .hms
                        .iter()
                        .any(pw_bambu::report::Hms::is_verify_failed);
                let state = Some(status.gcode_state.as_str().to_owned());
                if off {
                    answer(
                        CheckOutcome::DeveloperModeOff,
                        "Connected, but Developer Mode is off: the printer will report but ignore commands. Switch on LAN-only mode and Developer Mode on the printer.".to_owned(),
                        state,
                    )
                } else {
                    answer(
                        CheckOutcome::Ok,
                        "Connected, logged in and received a report.".to_owned(),
                        state,
                    )
                }
            }
            Ok(Err(e)) => answer(CheckOutcome::Failed, e.to_string(), None),
            Err(_) => answer(
                CheckOutcome::NoReport,
                format!(
                    "Logged in, but no report arrived within {} s.",
                    REPORT_WAIT.as_secs()
                ),
                None,
            ),
        })
    }
}

/// Sends the chamber light its current mode and reads the answer: `true` when the printer
/// refuses it as a control command without Developer Mode ("mqtt message verify failed").
/// No answer within the wait counts as not refused (the check reports what it saw).
async fn control_refused(session: &mut Session, report: &mut Report) -> bool {
    let on = report
        .raw()
        .get("print")
        .and_then(|p| p.get("lights_report"))
        .and_then(serde_json::Value::as_array)
        .and_then(|lights| {
            lights.iter().find(|l| {
                l.get("node").and_then(serde_json::Value::as_str) == Some("chamber_light")
            })
        })
        .and_then(|l| l.get("mode").and_then(serde_json::Value::as_str))
        .is_none_or(|mode| mode != "off");
    let command = pw_bambu::command::Command::Light {
        node: pw_bambu::command::LightNode::Chamber,
        on,
    };
    let Ok(seq) = session.writer.send(&command).await else {
        return false;
    };
    let seq = seq.to_string();
    tokio::time::timeout(REPLY_WAIT, async {
        loop {
            let Ok(payload) = session.reader.recv().await else {
                return false;
            };
            if let Ok(Frame::Reply(reply)) = report.apply(&payload)
                && reply.sequence_id.as_deref().is_none_or(|s| s == seq)
                && reply.command == "ledctrl"
            {
                return reply.verify_failed();
            }
        }
    })
    .await
    .unwrap_or(false)
}
