//! OpenID Connect storage (S6): providers (the client secret as the application sealed it),
//! the links of accounts to a provider's subject, and the single-use state of sign-ins in
//! flight.
//!
//! Invariants: a state is read by the statement that deletes it, so it works once even when
//! two callbacks race; one subject is one account (`UNIQUE (provider_id, subject)`), an account
//! has at most one link per provider; auto-link is refused by a CHECK unless the email claim
//! is `email` and must be verified. No access decisions.

use pw_domain::UserId;
use sqlx::Row;

use crate::{Store, StoreError, flag};

/// A stored provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProviderRow {
    /// Row id.
    pub id: i64,
    /// Shown on the sign-in page.
    pub name: String,
    /// Normalised issuer.
    pub issuer: String,
    /// Our client id there.
    pub client_id: String,
    /// The sealed client secret (None: a public client).
    pub client_secret: Option<String>,
    /// Extra CA certificate(s) for a provider with a private CA.
    pub ca_cert_pem: Option<String>,
    /// Space-separated scopes.
    pub scopes: String,
    /// Claim with the email address.
    pub email_claim: String,
    /// Claim with the groups.
    pub groups_claim: Option<String>,
    /// JSON `[{claim_value, group_id}]`.
    pub group_mappings: String,
    /// Refuse unverified emails.
    pub require_verified_email: bool,
    /// Create accounts at the first sign-in.
    pub auto_create: bool,
    /// Link existing accounts by verified email.
    pub auto_link: bool,
    /// Offered on the sign-in page.
    pub enabled: bool,
}

/// What a provider is written as (insert and full update).
#[derive(Debug, Clone)]
pub struct OidcProviderWrite<'a> {
    /// Name.
    pub name: &'a str,
    /// Lower-case name for uniqueness.
    pub name_key: &'a str,
    /// Normalised issuer.
    pub issuer: &'a str,
    /// Client id.
    pub client_id: &'a str,
    /// Sealed secret (already bound to the row by the caller, see [`Store::set_oidc_secret`]).
    pub ca_cert_pem: Option<&'a str>,
    /// Scopes.
    pub scopes: &'a str,
    /// Email claim.
    pub email_claim: &'a str,
    /// Groups claim.
    pub groups_claim: Option<&'a str>,
    /// Mappings as JSON.
    pub group_mappings: &'a str,
    /// Flags.
    pub require_verified_email: bool,
    /// Flags.
    pub auto_create: bool,
    /// Flags.
    pub auto_link: bool,
    /// Flags.
    pub enabled: bool,
}

/// A link of an account to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcLinkRow {
    /// The account.
    pub user_id: UserId,
    /// The provider.
    pub provider_id: i64,
    /// The provider's subject.
    pub subject: String,
    /// The email the provider gave when linked.
    pub email: Option<String>,
    /// When linked.
    pub created_at: i64,
    /// Last sign-in through it.
    pub last_used_at: Option<i64>,
}

/// A sign-in in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcStateRow {
    /// SHA-256 (hex) of the cookie value that binds it to the browser.
    pub browser_digest: String,
    /// The provider.
    pub provider_id: i64,
    /// `sign_in` or `link`.
    pub purpose: String,
    /// The account being linked (purpose `link`).
    pub user_id: Option<UserId>,
    /// The nonce sent.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
    /// The callback URL sent.
    pub redirect_uri: String,
}

const PROVIDER: &str = "SELECT id, name, issuer, client_id, client_secret, ca_cert_pem, scopes, \
     email_claim, groups_claim, group_mappings, \
     CASE WHEN require_verified_email THEN 1 ELSE 0 END AS require_verified_email, \
     CASE WHEN auto_create THEN 1 ELSE 0 END AS auto_create, \
     CASE WHEN auto_link THEN 1 ELSE 0 END AS auto_link, \
     CASE WHEN enabled THEN 1 ELSE 0 END AS enabled FROM oidc_providers";

fn provider(r: &sqlx::any::AnyRow) -> Result<OidcProviderRow, sqlx::Error> {
    Ok(OidcProviderRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        issuer: r.try_get("issuer")?,
        client_id: r.try_get("client_id")?,
        client_secret: r.try_get("client_secret")?,
        ca_cert_pem: r.try_get("ca_cert_pem")?,
        scopes: r.try_get("scopes")?,
        email_claim: r.try_get("email_claim")?,
        groups_claim: r.try_get("groups_claim")?,
        group_mappings: r.try_get("group_mappings")?,
        require_verified_email: flag(r, "require_verified_email")?,
        auto_create: flag(r, "auto_create")?,
        auto_link: flag(r, "auto_link")?,
        enabled: flag(r, "enabled")?,
    })
}

fn link(r: &sqlx::any::AnyRow) -> Result<OidcLinkRow, sqlx::Error> {
    Ok(OidcLinkRow {
        user_id: UserId::from_db(r.try_get("user_id")?),
        provider_id: r.try_get("provider_id")?,
        subject: r.try_get("subject")?,
        email: r.try_get("email")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

impl Store {
    /// Every provider, by id.
    pub async fn oidc_providers(&self) -> Result<Vec<OidcProviderRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{PROVIDER} ORDER BY id")))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(provider).collect::<Result<_, _>>()?)
    }

    /// One provider.
    pub async fn oidc_provider(&self, id: i64) -> Result<Option<OidcProviderRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{PROVIDER} WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(provider).transpose()?)
    }

    /// Adds a provider (without its secret); its id.
    pub async fn insert_oidc_provider(
        &self,
        p: &OidcProviderWrite<'_>,
        now: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO oidc_providers (name, name_key, issuer, client_id, ca_cert_pem, scopes, \
             email_claim, groups_claim, group_mappings, require_verified_email, auto_create, \
             auto_link, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
        )
        .bind(p.name)
        .bind(p.name_key)
        .bind(p.issuer)
        .bind(p.client_id)
        .bind(p.ca_cert_pem)
        .bind(p.scopes)
        .bind(p.email_claim)
        .bind(p.groups_claim)
        .bind(p.group_mappings)
        .bind(p.require_verified_email)
        .bind(p.auto_create)
        .bind(p.auto_link)
        .bind(p.enabled)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(row.try_get("id")?)
    }

    /// Replaces a provider's settings (not its secret); false when it does not exist.
    pub async fn update_oidc_provider(
        &self,
        id: i64,
        p: &OidcProviderWrite<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oidc_providers SET name = $1, name_key = $2, issuer = $3, client_id = $4, \
             ca_cert_pem = $5, scopes = $6, email_claim = $7, groups_claim = $8, \
             group_mappings = $9, require_verified_email = $10, auto_create = $11, \
             auto_link = $12, enabled = $13, updated_at = $14 WHERE id = $15",
        )
        .bind(p.name)
        .bind(p.name_key)
        .bind(p.issuer)
        .bind(p.client_id)
        .bind(p.ca_cert_pem)
        .bind(p.scopes)
        .bind(p.email_claim)
        .bind(p.groups_claim)
        .bind(p.group_mappings)
        .bind(p.require_verified_email)
        .bind(p.auto_create)
        .bind(p.auto_link)
        .bind(p.enabled)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores the sealed client secret of a provider (None: public client).
    pub async fn set_oidc_secret(&self, id: i64, sealed: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE oidc_providers SET client_secret = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a provider (its links and states go with it).
    pub async fn delete_oidc_provider(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM oidc_providers WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a sign-in in flight; expired states are swept in the same transaction.
    pub async fn insert_oidc_state(
        &self,
        state_digest: &str,
        s: &OidcStateRow,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM oidc_states WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oidc_states (state_digest, browser_digest, provider_id, purpose, user_id, \
             nonce, pkce_verifier, redirect_uri, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(state_digest)
        .bind(&s.browser_digest)
        .bind(s.provider_id)
        .bind(&s.purpose)
        .bind(s.user_id.map(UserId::get))
        .bind(&s.nonce)
        .bind(&s.pkce_verifier)
        .bind(&s.redirect_uri)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes a live state: returns it and deletes it in one statement (single use).
    pub async fn take_oidc_state(
        &self,
        state_digest: &str,
        now: i64,
    ) -> Result<Option<OidcStateRow>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM oidc_states WHERE state_digest = $1 AND expires_at > $2 \
             RETURNING browser_digest, provider_id, purpose, user_id, nonce, pkce_verifier, \
             redirect_uri",
        )
        .bind(state_digest)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(OidcStateRow {
            browser_digest: r.try_get("browser_digest")?,
            provider_id: r.try_get("provider_id")?,
            purpose: r.try_get("purpose")?,
            user_id: r.try_get::<Option<i64>, _>("user_id")?.map(UserId::from_db),
            nonce: r.try_get("nonce")?,
            pkce_verifier: r.try_get("pkce_verifier")?,
            redirect_uri: r.try_get("redirect_uri")?,
        }))
    }

    /// The link of a provider's subject.
    pub async fn oidc_link_by_subject(
        &self,
        provider_id: i64,
        subject: &str,
    ) -> Result<Option<OidcLinkRow>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, provider_id, subject, email, created_at, last_used_at \
             FROM oidc_links WHERE provider_id = $1 AND subject = $2",
        )
        .bind(provider_id)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(link).transpose()?)
    }

    /// A user's links, by provider.
    pub async fn oidc_links_of(&self, user: UserId) -> Result<Vec<OidcLinkRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, provider_id, subject, email, created_at, last_used_at \
             FROM oidc_links WHERE user_id = $1 ORDER BY provider_id",
        )
        .bind(user.get())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(link).collect::<Result<_, _>>()?)
    }

    /// Links an account; `Conflict` when the subject or the (user, provider) pair is taken.
    pub async fn insert_oidc_link(
        &self,
        user: UserId,
        provider_id: i64,
        subject: &str,
        email: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oidc_links (user_id, provider_id, subject, email, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(user.get())
        .bind(provider_id)
        .bind(subject)
        .bind(email)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// Records a sign-in through a link.
    pub async fn touch_oidc_link(
        &self,
        user: UserId,
        provider_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE oidc_links SET last_used_at = $1 WHERE user_id = $2 AND provider_id = $3",
        )
        .bind(now)
        .bind(user.get())
        .bind(provider_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a link unless it is the account's last way to sign in (no password, not a
    /// directory account, no other link): checked and deleted in one statement, so two
    /// parallel unlinks cannot remove both of the last two links. `Ok(false)`: nothing
    /// removed (no such link, or it is the last way in).
    pub async fn delete_oidc_link_unless_last(
        &self,
        user: UserId,
        provider_id: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Serialise unlinks of one user: touch the user row first (a row lock on PostgreSQL,
        // the database lock on SQLite).
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind(user.get())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(
            "DELETE FROM oidc_links WHERE user_id = $1 AND provider_id = $2 AND ( \
               EXISTS (SELECT 1 FROM users u WHERE u.id = $1 \
                       AND (u.password_hash IS NOT NULL OR u.auth_source = 'ldap')) \
               OR (SELECT COUNT(*) FROM oidc_links l WHERE l.user_id = $1) > 1)",
        )
        .bind(user.get())
        .bind(provider_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
