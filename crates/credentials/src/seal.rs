//! Sealing of stored third-party secrets (printer access codes, SMTP/LDAP passwords, OIDC
//! client secrets, TOTP secrets, cloud tokens) with XChaCha20-Poly1305 under a 32-byte key.
//!
//! Format (versioned so the scheme can change without ambiguity):
//! `pw1.` + base64url-nopad(`nonce (24 bytes)` ‖ `ciphertext+tag`).
//!
//! Every value is sealed with *associated data* naming where it belongs (e.g.
//! `printer:12:access_code`). Threat: an attacker with write access to the database copies a
//! sealed secret from one row into another (say, their own webhook's secret) to have the
//! server decrypt and use it on their behalf; with the context bound in, that decryption fails.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Key length in bytes.
pub const KEY_LEN: usize = 32;
/// Nonce length in bytes (random nonces of this size never collide in practice).
pub const NONCE_LEN: usize = 24;
const PREFIX: &str = "pw1.";
const TAG_LEN: usize = 16;
const FINGERPRINT_LABEL: &str = "printwarden sealing key fingerprint v1";

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Not in the `pw1.` format at all (e.g. a legacy plaintext value).
    #[error("value is not a sealed secret")]
    NotSealed,
    /// Well-formed, but the key or the context is wrong, or the value was tampered with.
    #[error("sealed secret could not be opened (wrong key, wrong context or tampered)")]
    Undecryptable,
    /// The key material has the wrong length or encoding.
    #[error("a sealing key must be exactly 32 bytes (44 characters of standard base64)")]
    BadKey,
}

/// The 32-byte sealing key. `Debug` is redacted.
#[derive(Clone)]
pub struct SealingKey([u8; KEY_LEN]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// A key from raw bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses the textual key format: standard base64 of exactly 32 bytes, surrounding
    /// whitespace ignored (key files usually end with a newline).
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::BadKey)?;
        let bytes: [u8; KEY_LEN] = raw.try_into().map_err(|_| SealError::BadKey)?;
        Ok(Self(bytes))
    }

    /// The textual key format (standard base64).
    #[must_use]
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// A separate 32-byte key for `label`, derived with HMAC-SHA256 so that no other use of
    /// the sealing key (e.g. as the pepper of one-time code digests) can open a sealed value.
    #[must_use]
    pub fn derive(&self, label: &str) -> [u8; 32] {
        crate::signature::hmac_sha256(&self.0, label.as_bytes())
    }

    /// A short identifier of the key (16 hex digits) for status cards, logs and rotation
    /// reports: the first 8 bytes of HMAC-SHA256(key, a label used for nothing else). It
    /// identifies the key without revealing it; threat: a published fingerprint used to test
    /// guesses of the key — checking one guess costs one HMAC, no less than trying the guess
    /// on a sealed value, and a 256-bit key is out of reach either way. The label separates it
    /// from every other value derived from the key (the one-time code pepper).
    #[must_use]
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.derive(FINGERPRINT_LABEL)[..8])
    }

    /// Seals `plaintext` for `context` with the caller's fresh random `nonce`.
    #[must_use]
    pub fn seal(&self, plaintext: &[u8], context: &str, nonce: [u8; NONCE_LEN]) -> String {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and in-memory buffers cannot fail; an empty vector would
        // only make `open` fail closed, never leak.
        let ciphertext = cipher
            .encrypt(&XNonce::from(nonce), payload)
            .unwrap_or_default();
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(blob))
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::NotSealed)?;
        let blob = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Undecryptable)?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Undecryptable);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealError::Undecryptable)?;
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Undecryptable)
    }
}

/// Whether a stored value is in the sealed format (used to find legacy plaintext rows).
#[must_use]
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: SealingKey = SealingKey::from_bytes([7; KEY_LEN]);

    #[test]
    fn round_trip_and_format() {
        let sealed = KEY.seal(b"12345678", "printer:1:access_code", [1; NONCE_LEN]);
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("12345678"));
        assert_eq!(
            KEY.open(&sealed, "printer:1:access_code").as_deref(),
            Ok(&b"12345678"[..])
        );
    }

    #[test]
    fn wrong_key_context_or_tamper_fail_closed() {
        let sealed = KEY.seal(b"secret", "ctx", [2; NONCE_LEN]);
        let other = SealingKey::from_bytes([8; KEY_LEN]);
        assert_eq!(other.open(&sealed, "ctx"), Err(SealError::Undecryptable));
        assert_eq!(
            KEY.open(&sealed, "other-ctx"),
            Err(SealError::Undecryptable)
        );
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(KEY.open(&tampered, "ctx"), Err(SealError::Undecryptable));
        assert_eq!(KEY.open("pw1.", "ctx"), Err(SealError::Undecryptable));
        assert_eq!(KEY.open("pw1.!!!", "ctx"), Err(SealError::Undecryptable));
        assert_eq!(KEY.open("plain", "ctx"), Err(SealError::NotSealed));
    }

    #[test]
    fn distinct_nonces_give_distinct_ciphertexts() {
        assert_ne!(
            KEY.seal(b"x", "c", [1; NONCE_LEN]),
            KEY.seal(b"x", "c", [2; NONCE_LEN])
        );
    }

    #[test]
    fn fingerprint_is_short_stable_and_reveals_nothing_of_the_pepper() {
        let fp = KEY.fingerprint();
        assert_eq!(fp.len(), 16);
        assert_eq!(fp, KEY.fingerprint());
        assert_ne!(fp, SealingKey::from_bytes([8; KEY_LEN]).fingerprint());
        // Not a prefix of the key, of its hash, or of another derived value.
        assert!(!hex::encode([7u8; KEY_LEN]).contains(&fp));
        assert!(!hex::encode(KEY.derive("printwarden one-time code pepper v1")).contains(&fp));
    }

    #[test]
    fn key_text_format() {
        let text = KEY.to_base64();
        assert_eq!(text.len(), 44);
        let parsed = SealingKey::from_base64(&format!("{text}\n"));
        assert_eq!(parsed.map(|k| k.to_base64()), Ok(text));
        assert_eq!(
            SealingKey::from_base64("c2hvcnQ=").map(|_| ()),
            Err(SealError::BadKey)
        );
        assert_eq!(
            SealingKey::from_base64("not base64 ***").map(|_| ()),
            Err(SealError::BadKey)
        );
    }

    #[test]
    fn known_vector_matches_libsodium() {
        // Guards the on-disk format: a sealed value written by this version must open forever.
        // Produced independently with libsodium (PyNaCl) crypto_aead_xchacha20poly1305_ietf:
        // key = 32×0x07, nonce = 24×0x00, aad = "ctx", message = "abc".
        const VECTOR: &str = "pw1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAUQKNsYo_2IBX-Asmr2kD5tU_mQ";
        assert_eq!(KEY.seal(b"abc", "ctx", [0; NONCE_LEN]), VECTOR);
        assert_eq!(KEY.open(VECTOR, "ctx").as_deref(), Ok(&b"abc"[..]));
    }
}
