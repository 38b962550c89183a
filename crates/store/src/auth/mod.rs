//! Authentication state: browser sessions, single-use tickets, API keys, second factors,
//! passkeys and password links, OpenID Connect providers, links and states. Only digests of
//! tokens, tickets, keys, codes and links are stored.

pub(crate) mod api_keys;
pub(crate) mod mfa;
pub(crate) mod oidc;
pub(crate) mod passkeys;
pub(crate) mod recovery;
pub(crate) mod sessions;
pub(crate) mod tickets;
