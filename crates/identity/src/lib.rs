//! The identity edges: talking to the outside services that identity features depend on. It
//! owns the protocol clients and keeps one invariant across them: every connection that
//! carries a credential is verified TLS unless the caller explicitly chose plaintext, and no
//! error or log line carries a secret.
//!
//! Today: `mail` (SMTP delivery for invitations, password resets and the admin's test mail),
//! `ldap` (sign-in against a directory over LDAPS or StartTLS) and `oidc` (OpenID Connect: discovery,
//! PKCE and ID token validation; the caller fetches through its outbound guard).

pub mod ldap;
pub mod mail;
pub mod oidc;

pub use mail::{Mail, MailError, SmtpConfig, SmtpSecurity, send_mail, validate_ca_pem};
