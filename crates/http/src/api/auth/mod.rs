//! Authentication endpoints: sessions (sign-in, sign-out, setup, me), two-factor
//! authentication, passkeys, password links (recovery), API keys, the LDAP sign-in settings and
//! OpenID Connect (providers, the flow, links).

pub(crate) mod api_keys;
pub(crate) mod ldap;
pub(crate) mod mfa;
pub(crate) mod oidc;
pub(crate) mod passkeys;
pub(crate) mod recovery;
pub(crate) mod sessions;
