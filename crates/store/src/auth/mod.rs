//! Authentication state: browser sessions, single-use tickets, API keys, second factors. Only
//! digests of tokens, tickets, keys and codes are stored.

pub(crate) mod api_keys;
pub(crate) mod mfa;
pub(crate) mod sessions;
pub(crate) mod tickets;
