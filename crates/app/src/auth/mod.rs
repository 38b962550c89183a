//! Who is asking: sessions (setup, sign-in, sign-out, principal resolution), one-time tickets,
//! second factors, passkeys, password reset links, API keys, directory (LDAP) and OpenID Connect sign-in, and the revocation of live credentials.

pub(crate) mod api_keys;
pub(crate) mod ldap;
pub(crate) mod live;
pub(crate) mod mfa;
pub(crate) mod oidc;
pub(crate) mod passkeys;
pub(crate) mod recovery;
pub(crate) mod sessions;
pub(crate) mod tickets;
