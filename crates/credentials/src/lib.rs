//! Pure credential logic: how secrets are sealed at rest, and how passwords, session tokens,
//! API keys, webhook signatures and second factors (TOTP, backup codes, email codes, passkeys) are made
//! and checked. No IO, no clock, no randomness of its own: callers pass random bytes and the
//! time in, which keeps every function testable with fixed vectors.

pub mod one_time;
pub mod password;
pub mod qr;
pub mod seal;
pub mod secret;
pub mod setup_code;
pub mod signature;
pub mod token;
pub mod totp;
pub mod webauthn;

pub use seal::{KEY_LEN, NONCE_LEN, SealError, SealingKey};
pub use secret::SecretString;
pub use setup_code::{SETUP_CODE_RANDOM_BYTES, setup_code_from, setup_code_matches};
pub use totp::TotpSecret;
