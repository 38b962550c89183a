//! Tickets (S1, S3): single-use credentials, valid for 60 s, bound to one user, one purpose
//! (`events` or `camera`) and optionally one printer, so the browser can open a WebSocket or a
//! camera stream without putting its session token in a URL (threat: URLs end up in logs,
//! history and Referer headers; a ticket there is worthless a minute later or once used).
//!
//! Invariants: only the digest is stored; redeeming deletes it atomically; a ticket carries the
//! bounds of the credential that minted it — at redemption its rights are the owner's current
//! rights ∩ the minting key's current scopes and printer list (a revoked or expired key's
//! tickets grant nothing) ∩ its purpose's rights ([`TicketPurpose::permissions`]), limited to
//! its printer; a ticket for one purpose is refused on routes of the other (the route table's
//! `Access::Ticket`, and an events ticket lacks `camera:view` wherever it is presented).

use std::time::Duration;

use pw_credentials::SecretString;
use pw_credentials::token::{TOKEN_BYTES, digest, is_ticket, new_ticket};
use std::collections::BTreeSet;

use pw_domain::{ApiKeyId, Permission, PrinterId, SessionId, UserId};
use pw_policy::{Action, Principal, Target, TicketPurpose, delegated};
use pw_store::TicketRow;
use serde::{Deserialize, Serialize};

use crate::core::clock::{random, rfc3339};
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

/// Where a ticket came from: the user, purpose and printer it was issued for and the
/// credential that minted it. Every use — the upgrade, and each re-check of the socket it
/// opened — derives the ticket's rights from these as they are at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TicketOrigin {
    /// Whose it is.
    pub(crate) user: UserId,
    /// What it opens.
    pub(crate) purpose: TicketPurpose,
    /// The printers it is limited to (a camera ticket: its one printer).
    pub(crate) printers: Option<BTreeSet<PrinterId>>,
    /// The API key that minted it, if any.
    pub(crate) api_key: Option<ApiKeyId>,
    /// The browser session that minted it, if any.
    pub(crate) session: Option<SessionId>,
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
        // Purpose-checked: an events ticket needs `printers:read`, a camera ticket
        // `camera:view` on its printer (404 for a printer the caller may not see).
        let printer_list: Option<BTreeSet<PrinterId>> = match purpose {
            TicketPurpose::Camera => {
                let printer = request.printer_id.ok_or_else(|| {
                    AppError::BadRequest("a camera ticket needs printer_id.".into())
                })?;
                self.printer_for(actor, printer, Permission::CameraView)
                    .await?;
                Some(std::iter::once(printer).collect())
            }
            TicketPurpose::Events => {
                self.require(
                    actor,
                    Action::Perform(Permission::PrintersRead),
                    &Target::Global,
                )?;
                match &actor.principal {
                    Principal::User(s) => s.printer_restriction.clone(),
                    _ => None,
                }
            }
        };
        // The grant rule: the ticket's rights stay inside the minting credential's (a key's
        // scopes and printer list included); redemption re-derives them from the same key.
        self.check_may_grant(
            actor,
            &delegated(
                &actor.principal,
                purpose.permissions().iter().copied(),
                printer_list.as_ref(),
            ),
        )
        .await?;
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
                    printer_id: match purpose {
                        TicketPurpose::Camera => request.printer_id,
                        TicketPurpose::Events => None,
                    },
                    api_key_id: actor.api_key,
                    session_id: actor.session,
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

    /// Redeems a presented ticket: where it came from (its bounds are derived from that by
    /// [`App::ticket_bounds`]).
    pub(crate) async fn redeem_ticket(&self, ticket: &str) -> Option<TicketOrigin> {
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
        Some(TicketOrigin {
            user: row.user_id,
            purpose,
            printers: row.printer_id.map(|p| std::iter::once(p).collect()),
            api_key: row.api_key_id,
            session: row.session_id,
        })
    }
}
