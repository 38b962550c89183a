//! A software authenticator for tests: ES256 or Ed25519 credentials answering registration
//! and sign-in ceremonies as a browser and authenticator together would, with public fields
//! to misbehave (another origin or RP id, a counter set back, flags cleared).
//!
//! Test tooling only (behind `cfg(test)` or the `soft-authenticator` feature, which the
//! server never enables): it draws keys from the system RNG, which the pure code never does.

use ring::error::Unspecified;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};

use super::{ED25519, ES256, b64url};

enum Key {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// One credential on a software authenticator.
pub struct SoftAuthenticator {
    key: Key,
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The next assertion reports `counter + 1` (set it back to act as a clone).
    pub counter: u32,
    /// Report the backup-eligible flag.
    pub backup_eligible: bool,
    /// Report the backed-up flag.
    pub backed_up: bool,
    /// Report user verification.
    pub verify_user: bool,
    /// Report user presence.
    pub user_present: bool,
    /// The user handle it was registered with.
    pub user_handle: Vec<u8>,
}

impl std::fmt::Debug for SoftAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftAuthenticator")
            .field("credential_id", &b64url(&self.credential_id))
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

/// What `navigator.credentials.create` returns, raw.
#[derive(Debug, Clone)]
pub struct Created {
    /// `clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `attestationObject`.
    pub attestation_object: Vec<u8>,
}

/// What `navigator.credentials.get` returns, raw.
#[derive(Debug, Clone)]
pub struct Asserted {
    /// `clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `authenticatorData`.
    pub authenticator_data: Vec<u8>,
    /// `signature`.
    pub signature: Vec<u8>,
    /// `userHandle`.
    pub user_handle: Vec<u8>,
}

impl SoftAuthenticator {
    /// A new ES256 credential.
    ///
    /// # Errors
    /// If the system RNG fails.
    pub fn es256() -> Result<Self, Unspecified> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| Unspecified)?;
        Self::with(Key::Es256(pair))
    }

    /// A new Ed25519 credential.
    ///
    /// # Errors
    /// If the system RNG fails.
    pub fn ed25519() -> Result<Self, Unspecified> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| Unspecified)?;
        Self::with(Key::Ed25519(pair))
    }

    fn with(key: Key) -> Result<Self, Unspecified> {
        let mut id = [0u8; 16];
        ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut id)?;
        Ok(Self {
            key,
            credential_id: id.to_vec(),
            counter: 0,
            backup_eligible: true,
            backed_up: false,
            verify_user: true,
            user_present: true,
            user_handle: Vec::new(),
        })
    }

    /// The COSE public key.
    #[must_use]
    pub fn cose_key(&self) -> Vec<u8> {
        match &self.key {
            Key::Es256(pair) => {
                let point = pair.public_key().as_ref();
                map(&[
                    (int(1), int(2)),
                    (int(3), int(ES256)),
                    (int(-1), int(1)),
                    (int(-2), bytes(&point[1..33])),
                    (int(-3), bytes(&point[33..65])),
                ])
            }
            Key::Ed25519(pair) => map(&[
                (int(1), int(1)),
                (int(3), int(ED25519)),
                (int(-1), int(6)),
                (int(-2), bytes(pair.public_key().as_ref())),
            ]),
        }
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut flags = 0;
        if self.user_present {
            flags |= 0x01;
        }
        if self.verify_user {
            flags |= 0x04;
        }
        if self.backup_eligible {
            flags |= 0x08;
        }
        if self.backed_up {
            flags |= 0x10;
        }
        if attested {
            flags |= 0x40;
        }
        flags
    }

    /// Client data JSON for a ceremony.
    #[must_use]
    pub fn client_data(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
        format!(
            r#"{{"type":"{kind}","challenge":"{}","origin":"{origin}","crossOrigin":false}}"#,
            b64url(challenge)
        )
        .into_bytes()
    }

    /// Answers `navigator.credentials.create` for `rp_id` at `origin`.
    #[must_use]
    pub fn create(
        &mut self,
        rp_id: &str,
        origin: &str,
        challenge: &[u8],
        user_handle: &[u8],
    ) -> Created {
        self.user_handle = user_handle.to_vec();
        let mut auth = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth.push(self.flags(true));
        auth.extend_from_slice(&self.counter.to_be_bytes());
        auth.extend_from_slice(&[0u8; 16]);
        auth.extend_from_slice(
            &u16::try_from(self.credential_id.len())
                .unwrap_or(0)
                .to_be_bytes(),
        );
        auth.extend_from_slice(&self.credential_id);
        auth.extend_from_slice(&self.cose_key());
        let attestation_object = map(&[
            (text("fmt"), text("none")),
            (text("attStmt"), map(&[])),
            (text("authData"), bytes(&auth)),
        ]);
        Created {
            client_data_json: Self::client_data("webauthn.create", challenge, origin),
            attestation_object,
        }
    }

    /// Answers `navigator.credentials.get` for `rp_id` at `origin`; the counter moves on.
    ///
    /// # Errors
    /// If signing fails (the system RNG, for ECDSA).
    pub fn get(
        &mut self,
        rp_id: &str,
        origin: &str,
        challenge: &[u8],
    ) -> Result<Asserted, Unspecified> {
        self.counter = self.counter.wrapping_add(1);
        let client_data_json = Self::client_data("webauthn.get", challenge, origin);
        let mut auth = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth.push(self.flags(false));
        auth.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = auth.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data_json));
        let signature = match &self.key {
            Key::Es256(pair) => pair.sign(&SystemRandom::new(), &signed)?.as_ref().to_vec(),
            Key::Ed25519(pair) => pair.sign(&signed).as_ref().to_vec(),
        };
        Ok(Asserted {
            client_data_json,
            authenticator_data: auth,
            signature,
            user_handle: self.user_handle.clone(),
        })
    }
}

/// CBOR encoding of the few shapes the authenticator writes.
fn head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | u8::try_from(n).unwrap_or(0)],
        24..=0xff => vec![m | 24, u8::try_from(n).unwrap_or(0)],
        0x100..=0xffff => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&u16::try_from(n).unwrap_or(0).to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![m | 26];
            v.extend_from_slice(&u32::try_from(n).unwrap_or(0).to_be_bytes());
            v
        }
    }
}

/// A CBOR integer.
#[must_use]
pub fn int(i: i64) -> Vec<u8> {
    if i >= 0 {
        head(0, i.unsigned_abs())
    } else {
        head(1, (-1 - i).unsigned_abs())
    }
}

/// A CBOR byte string.
#[must_use]
pub fn bytes(b: &[u8]) -> Vec<u8> {
    let mut v = head(2, b.len() as u64);
    v.extend_from_slice(b);
    v
}

/// A CBOR text string.
#[must_use]
pub fn text(t: &str) -> Vec<u8> {
    let mut v = head(3, t.len() as u64);
    v.extend_from_slice(t.as_bytes());
    v
}

/// A CBOR map of encoded pairs.
#[must_use]
pub fn map(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut v = head(5, entries.len() as u64);
    for (k, val) in entries {
        v.extend_from_slice(k);
        v.extend_from_slice(val);
    }
    v
}
