//! Authentication endpoints: sessions (sign-in, sign-out, setup, me), two-factor
//! authentication, passkeys, password links (recovery), API keys and the LDAP sign-in settings.

pub(crate) mod api_keys;
pub(crate) mod ldap;
pub(crate) mod mfa;
pub(crate) mod passkeys;
pub(crate) mod recovery;
pub(crate) mod sessions;
