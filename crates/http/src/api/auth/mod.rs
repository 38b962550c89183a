//! Authentication endpoints: sessions (sign-in, sign-out, setup, me), two-factor
//! authentication, password links (recovery) and API keys.

pub(crate) mod api_keys;
pub(crate) mod mfa;
pub(crate) mod recovery;
pub(crate) mod sessions;
