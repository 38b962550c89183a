//! Pure credential logic: how secrets are sealed at rest, and (later) how passwords, session
//! tokens, API keys and one-time codes are made and checked. No IO, no clock, no randomness of
//! its own: callers pass random bytes and the time in, which keeps every function testable
//! with fixed vectors.

pub mod password;
pub mod seal;
pub mod secret;
pub mod setup_code;
pub mod signature;
pub mod token;

pub use seal::{KEY_LEN, NONCE_LEN, SealError, SealingKey};
pub use secret::SecretString;
pub use setup_code::{SETUP_CODE_RANDOM_BYTES, setup_code_from, setup_code_matches};
