//! Tickets: single-use credentials for WebSocket and camera upgrades, stored as their SHA-256.
//! Redeeming deletes the row in the same statement, so a ticket works once even when two
//! servers race for it.

use pw_domain::{ApiKeyId, PrinterId, SessionId, UserId};
use sqlx::Row;

use crate::{Store, StoreError};

/// What a redeemed ticket grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRow {
    /// Whose it is.
    pub user_id: UserId,
    /// `events` or `camera`.
    pub purpose: String,
    /// The one printer it is for, if any.
    pub printer_id: Option<PrinterId>,
    /// The API key it was minted with, if any: redemption re-derives that key's bounds.
    pub api_key_id: Option<ApiKeyId>,
    /// The browser session it was minted with, if any: a socket opened with the ticket lives
    /// no longer than that session.
    pub session_id: Option<SessionId>,
}

impl Store {
    /// Stores a ticket's digest; expired ones are swept on the way.
    pub async fn insert_ticket(
        &self,
        digest: &str,
        ticket: &TicketRow,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM tickets WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO tickets (digest, user_id, purpose, printer_id, expires_at, api_key_id, \
             session_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(digest)
        .bind(ticket.user_id.get())
        .bind(ticket.purpose.as_str())
        .bind(ticket.printer_id.map(PrinterId::get))
        .bind(expires_at)
        .bind(ticket.api_key_id.map(ApiKeyId::get))
        .bind(ticket.session_id.map(SessionId::get))
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// Redeems a ticket: returns it and deletes it, if it exists and has not expired.
    pub async fn redeem_ticket(
        &self,
        digest: &str,
        now: i64,
    ) -> Result<Option<TicketRow>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM tickets WHERE digest = $1 AND expires_at > $2 \
             RETURNING user_id, purpose, printer_id, api_key_id, session_id",
        )
        .bind(digest)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<TicketRow, sqlx::Error> {
                Ok(TicketRow {
                    user_id: UserId::from_db(r.try_get("user_id")?),
                    purpose: r.try_get("purpose")?,
                    printer_id: r
                        .try_get::<Option<i64>, _>("printer_id")?
                        .map(PrinterId::from_db),
                    api_key_id: r
                        .try_get::<Option<i64>, _>("api_key_id")?
                        .map(ApiKeyId::from_db),
                    session_id: r
                        .try_get::<Option<i64>, _>("session_id")?
                        .map(SessionId::from_db),
                })
            })
            .transpose()?)
    }
}
