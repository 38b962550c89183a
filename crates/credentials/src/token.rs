//! Bearer secrets: browser session tokens and API keys. Both are 256-bit random values shown to
//! their holder once; only their SHA-256 is stored, so a database leak yields nothing usable
//! (threat: stolen backups replaying sessions/keys). Checks compare digests in constant time.
//!
//! API key format: `pwk_<key id>_<secret>` — the id finds the row without scanning, the fixed
//! prefix lets secret scanners recognise a leaked key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::SecretString;

/// Random bytes in a token or key secret.
pub const TOKEN_BYTES: usize = 32;
/// Length of an encoded secret (base64url without padding of 32 bytes).
const ENCODED_LEN: usize = 43;
/// API key prefix.
pub const API_KEY_PREFIX: &str = "pwk_";
/// Camera token prefix: an API-key-shaped credential that opens camera streams only.
pub const CAMERA_TOKEN_PREFIX: &str = "pwc_";
/// Ticket prefix (single-use credentials for WebSocket and camera upgrades).
pub const TICKET_PREFIX: &str = "pwt_";

/// SHA-256 of a secret, as stored.
#[must_use]
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time comparison of a presented secret with a stored digest.
#[must_use]
pub fn matches_digest(secret: &str, stored: &[u8]) -> bool {
    stored.len() == 32 && bool::from(digest(secret).ct_eq(stored))
}

fn encode(random: [u8; TOKEN_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

fn is_encoded_secret(s: &str) -> bool {
    s.len() == ENCODED_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new session token from random bytes: the cookie value (secret) and its digest (stored).
#[must_use]
pub fn new_session_token(random: [u8; TOKEN_BYTES]) -> (SecretString, [u8; 32]) {
    let token = encode(random);
    let stored = digest(&token);
    (SecretString::new(token), stored)
}

/// Whether a cookie value has the shape of one of our session tokens (cheap pre-check before
/// any lookup; junk never reaches the database).
#[must_use]
pub fn is_session_token(value: &str) -> bool {
    is_encoded_secret(value)
}

/// A new ticket: the value handed out once and its digest (stored).
#[must_use]
pub fn new_ticket(random: [u8; TOKEN_BYTES]) -> (SecretString, [u8; 32]) {
    let ticket = format!("{TICKET_PREFIX}{}", encode(random));
    let stored = digest(&ticket);
    (SecretString::new(ticket), stored)
}

/// Whether a value has the shape of a ticket (junk never reaches the database).
#[must_use]
pub fn is_ticket(value: &str) -> bool {
    value
        .strip_prefix(TICKET_PREFIX)
        .is_some_and(is_encoded_secret)
}

/// The two credentials stored as key rows: the prefix says which a presented one claims to be,
/// and the row's kind must agree (threat: a camera token re-prefixed `pwk_` to pass as a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `pwk_…`: an API key with scopes.
    Api,
    /// `pwc_…`: a camera token.
    Camera,
}

impl KeyKind {
    /// The prefix of keys of this kind.
    #[must_use]
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Api => API_KEY_PREFIX,
            Self::Camera => CAMERA_TOKEN_PREFIX,
        }
    }
}

/// A new API key for key row `id`: the full key (shown once) and the digest of its secret.
#[must_use]
pub fn new_api_key(id: i64, random: [u8; TOKEN_BYTES]) -> (SecretString, [u8; 32]) {
    new_key(KeyKind::Api, id, random)
}

/// A new key of `kind` for key row `id`: the full key (shown once) and its secret's digest.
#[must_use]
pub fn new_key(kind: KeyKind, id: i64, random: [u8; TOKEN_BYTES]) -> (SecretString, [u8; 32]) {
    let secret = encode(random);
    let stored = digest(&secret);
    (
        SecretString::new(format!("{}{id}_{secret}", kind.prefix())),
        stored,
    )
}

/// Splits a presented API key into its row id and secret; `None` for anything malformed.
#[must_use]
pub fn parse_api_key(key: &str) -> Option<(i64, &str)> {
    match parse_key(key)? {
        (KeyKind::Api, id, secret) => Some((id, secret)),
        (KeyKind::Camera, ..) => None,
    }
}

/// Splits a presented API key or camera token into kind, row id and secret.
#[must_use]
pub fn parse_key(key: &str) -> Option<(KeyKind, i64, &str)> {
    let (kind, rest) = if let Some(rest) = key.strip_prefix(API_KEY_PREFIX) {
        (KeyKind::Api, rest)
    } else {
        (KeyKind::Camera, key.strip_prefix(CAMERA_TOKEN_PREFIX)?)
    };
    let (id, secret) = rest.split_once('_')?;
    let id: i64 = id
        .parse()
        .ok()
        .filter(|v| *v > 0 && !id.starts_with('+') && !id.starts_with('0'))?;
    is_encoded_secret(secret).then_some((kind, id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_are_stored_only_as_digests() {
        let (token, stored) = new_session_token([9; TOKEN_BYTES]);
        assert!(is_session_token(token.expose()));
        assert!(matches_digest(token.expose(), &stored));
        assert!(!matches_digest("other", &stored));
        assert!(!matches_digest(token.expose(), &stored[..31]));
        assert_ne!(new_session_token([8; TOKEN_BYTES]).1, stored);
        for junk in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}!", "a".repeat(42)),
        ] {
            assert!(!is_session_token(junk), "{junk}");
        }
    }

    #[test]
    fn api_keys_round_trip_and_reject_malformed_input() {
        let (key, stored) = new_api_key(42, [1; TOKEN_BYTES]);
        let text = key.expose();
        assert!(text.starts_with("pwk_42_"), "{text}");
        let (id, secret) = parse_api_key(text).unwrap();
        assert_eq!(id, 42);
        assert!(matches_digest(secret, &stored));
        let good = &text["pwk_42_".len()..];
        for bad in [
            String::new(),
            "pwk_".into(),
            format!("pwk_0_{good}"),
            format!("pwk_-1_{good}"),
            format!("pwk_+4_{good}"),
            format!("pwk_042_{good}"),
            format!("pwk_x_{good}"),
            format!("pwk_42_{}", &good[1..]),
            format!("pwk_42_{good}="),
            format!("bb_42_{good}"),
            "pwk_1_nonsense".into(),
        ] {
            assert_eq!(parse_api_key(&bad), None, "{bad}");
        }
    }

    #[test]
    fn camera_tokens_carry_their_kind() {
        let (token, stored) = new_key(KeyKind::Camera, 7, [2; TOKEN_BYTES]);
        let text = token.expose();
        assert!(text.starts_with("pwc_7_"), "{text}");
        let (kind, id, secret) = parse_key(text).unwrap();
        assert_eq!((kind, id), (KeyKind::Camera, 7));
        assert!(matches_digest(secret, &stored));
        assert_eq!(
            parse_api_key(text),
            None,
            "a camera token is not an API key"
        );
        let (key, _) = new_api_key(7, [2; TOKEN_BYTES]);
        assert_eq!(parse_key(key.expose()).unwrap().0, KeyKind::Api);
        assert_eq!(parse_key("pwx_7_abc"), None);
    }
}
