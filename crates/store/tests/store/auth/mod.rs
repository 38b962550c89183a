//! `src/auth/`: sessions, tickets, API keys, second factors and password links.

mod api_keys;
mod mfa;
mod recovery;
mod sessions;
mod tickets;
