//! `src/auth/`: sessions, tickets, API keys, second factors, password links and OpenID Connect.

mod api_keys;
mod mfa;
mod oidc;
mod recovery;
mod sessions;
mod tickets;
