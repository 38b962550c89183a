//! Tickets (S1, S3): single-use credentials, valid for 60 s, bound to one user, one purpose
//! (`events` or `camera`) and optionally one printer, so the browser can open a WebSocket or a
//! camera stream without putting its session token in a URL (threat: URLs end up in logs,
//! history and Referer headers; a ticket there is worthless a minute later or once used).
//!
//! Invariants: only the digest is stored; redeeming deletes it atomically; a ticket grants no
//! more than its user holds at redemption, limited to its printer; a ticket for one purpose is
//! refused on routes of the other (the route table's `Access::Ticket`).

use std::time::Duration;

use pw_credentials::SecretString;
use pw_credentials::token::{TOKEN_BYTES, digest, is_ticket, new_ticket};
use pw_domain::{PrinterId, UserId};
use pw_policy::{Credential, Subject, TicketPurpose};
use pw_store::TicketRow;
use serde::{Deserialize, Serialize};

use crate::clock::{random, rfc3339};
use crate::{Actor, App, AppError};

/// How long a ticket lives.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(60);

/// `POST /api/v1/tickets`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    /// `events` or `camera`.
    pub purpose: String,
    /// The printer a camera ticket is for.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub printer_id: Option<PrinterId>,
}

/// The issued ticket (shown once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedTicket {
    /// Use as `?ticket=` once, within a minute.
    #[schema(value_type = String)]
    pub ticket: TicketText,
    /// RFC 3339.
    pub expires_at: String,
}

/// A ticket's text: serialised exactly once, in the answer that issues it.
#[derive(Debug)]
pub struct TicketText(SecretString);

impl Serialize for TicketText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose())
    }
}

fn purpose_name(p: TicketPurpose) -> &'static str {
    match p {
        TicketPurpose::Events => "events",
        TicketPurpose::Camera => "camera",
    }
}

impl App {
    /// `POST /api/v1/tickets`.
    pub async fn issue_ticket(
        &self,
        actor: &Actor,
        request: TicketRequest,
    ) -> Result<IssuedTicket, AppError> {
        let user_id = actor.user_id.ok_or(AppError::Unauthenticated)?;
        let purpose = match request.purpose.as_str() {
            "events" => TicketPurpose::Events,
            "camera" => TicketPurpose::Camera,
            _ => {
                return Err(AppError::BadRequest(
                    "purpose must be events or camera.".into(),
                ));
            }
        };
        if purpose == TicketPurpose::Camera {
            let printer = request
                .printer_id
                .ok_or_else(|| AppError::BadRequest("a camera ticket needs printer_id.".into()))?;
            // The printer must be visible to the caller (404 otherwise, as everywhere).
            self.get_printer(actor, printer).await?;
        }
        let (ticket, stored) = new_ticket(random::<TOKEN_BYTES>()?);
        let now = self.now();
        let lifetime = i64::try_from(TICKET_LIFETIME.as_millis()).unwrap_or(60_000);
        let expires_at = now + lifetime;
        self.store
            .insert_ticket(
                &hex::encode(stored),
                &TicketRow {
                    user_id,
                    purpose: purpose_name(purpose).to_owned(),
                    printer_id: request.printer_id,
                },
                now,
                expires_at,
            )
            .await?;
        Ok(IssuedTicket {
            ticket: TicketText(ticket),
            expires_at: rfc3339(expires_at),
        })
    }

    /// Redeems a presented ticket into the subject it stands for.
    pub(crate) async fn redeem_ticket(&self, ticket: &str) -> Option<(Subject, UserId)> {
        if !is_ticket(ticket) {
            return None;
        }
        let row = self
            .store
            .redeem_ticket(&hex::encode(digest(ticket)), self.now())
            .await
            .ok()??;
        let purpose = match row.purpose.as_str() {
            "events" => TicketPurpose::Events,
            "camera" => TicketPurpose::Camera,
            _ => return None,
        };
        Some((
            Subject {
                credential: Credential::Ticket(purpose),
                printer_restriction: row.printer_id.map(|p| std::iter::once(p).collect()),
                ..Subject::session(row.user_id, pw_policy::Rights::none())
            },
            row.user_id,
        ))
    }
}
