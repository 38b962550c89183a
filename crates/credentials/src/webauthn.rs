//! Passkeys: the relying-party side of WebAuthn Level 3 (registration and assertion
//! verification) for ES256, Ed25519 and RS256 credentials, with `attestation: "none"`.
//!
//! Invariants: a ceremony is accepted only when its client data names the expected type,
//! the exact challenge we issued (compared in constant time) and the exact origin; the
//! authenticator data names our RP id hash, carries user presence (and user verification when
//! asked), and an assertion's signature verifies over `authData || SHA-256(clientDataJSON)`
//! with the stored public key. A signature counter that does not move forward is refused
//! (threat: a cloned authenticator), as is a credential whose backup eligibility changed
//! (it is fixed for a credential's life). Parsing is bounded: CBOR without indefinite lengths,
//! nesting at most [`MAX_DEPTH`], no item count past the bytes left, so hostile input cannot
//! make us allocate or recurse without limit. Pure: challenges are passed in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, UnparsedPublicKey};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of a registration or sign-in challenge.
pub const CHALLENGE_BYTES: usize = 32;
/// Bytes of a user handle (random, never the user id: the spec forbids identifying data).
pub const USER_HANDLE_BYTES: usize = 32;
/// Longest credential id the spec allows.
pub const MAX_CREDENTIAL_ID: usize = 1023;
/// Deepest CBOR nesting we parse (a COSE key is two deep, an attestation object three).
pub const MAX_DEPTH: usize = 8;
/// COSE algorithm numbers we accept, in our order of preference.
pub const ALGORITHMS: [i64; 3] = [ES256, ED25519, RS256];

/// COSE ES256 (ECDSA P-256 with SHA-256).
pub const ES256: i64 = -7;
/// COSE EdDSA (here: Ed25519).
pub const ED25519: i64 = -8;
/// COSE RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
pub const RS256: i64 = -257;

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;
const FLAG_ED: u8 = 0x80;

/// Why a ceremony was refused. The words are for logs and tests; users see one plain sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebauthnError {
    /// The browser's or authenticator's data could not be read.
    #[error("malformed WebAuthn data: {0}")]
    Malformed(&'static str),
    /// `clientDataJSON.type` is not the ceremony's.
    #[error("wrong ceremony type")]
    WrongType,
    /// Not the challenge we issued.
    #[error("challenge mismatch")]
    Challenge,
    /// Another origin (threat: a phishing site relaying the ceremony).
    #[error("origin mismatch")]
    Origin,
    /// Another relying party's id hash.
    #[error("RP id mismatch")]
    RpId,
    /// The user-present flag is missing.
    #[error("user not present")]
    UserNotPresent,
    /// User verification was required and is missing.
    #[error("user not verified")]
    UserNotVerified,
    /// A key type or algorithm we do not accept.
    #[error("unsupported credential algorithm")]
    Algorithm,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// The counter did not move forward (threat: a cloned authenticator).
    #[error("signature counter went backwards")]
    Counter,
    /// The backup-eligible flag changed, which a genuine credential never does.
    #[error("backup eligibility changed")]
    BackupEligibility,
}

/// The relying party: our RP id (the host of `public_url`) and the one origin we accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// RP id: a host name without port (e.g. `farm.example.org`).
    pub id: String,
    /// The exact origin browsers report (e.g. `https://farm.example.org:3443`).
    pub origin: String,
}

impl RelyingParty {
    /// The RP for an origin such as `https://host:port`; `None` when it is not one (a path,
    /// no host, or an IP address literal, which WebAuthn does not accept as an RP id).
    #[must_use]
    pub fn from_origin(origin: &str) -> Option<Self> {
        let origin = origin.trim_end_matches('/');
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))?;
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) || rest.starts_with('[') {
            return None;
        }
        let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
        if host.is_empty() || host.parse::<std::net::Ipv4Addr>().is_ok() {
            return None;
        }
        Some(Self {
            id: host.to_ascii_lowercase(),
            origin: origin.to_ascii_lowercase(),
        })
    }

    fn id_hash(&self) -> [u8; 32] {
        Sha256::digest(self.id.as_bytes()).into()
    }
}

/// Encodes bytes as WebAuthn's base64url without padding.
#[must_use]
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
///
/// # Errors
/// `Malformed` for anything else.
pub fn from_b64url(text: &str) -> Result<Vec<u8>, WebauthnError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| WebauthnError::Malformed("base64url"))
}

/// A credential accepted at registration: what to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    /// Credential id (raw bytes).
    pub id: Vec<u8>,
    /// The COSE public key as the authenticator sent it.
    pub public_key: Vec<u8>,
    /// COSE algorithm of the key.
    pub algorithm: i64,
    /// Initial signature counter.
    pub sign_count: u32,
    /// The credential may be backed up (a synced passkey).
    pub backup_eligible: bool,
    /// The credential is backed up now.
    pub backup_state: bool,
    /// The user was verified (PIN, biometrics).
    pub user_verified: bool,
    /// The authenticator model's AAGUID.
    pub aaguid: [u8; 16],
}

/// A stored credential, as far as verifying an assertion needs it.
#[derive(Debug, Clone, Copy)]
pub struct StoredCredential<'a> {
    /// The COSE public key stored at registration.
    pub public_key: &'a [u8],
    /// The last counter we accepted.
    pub sign_count: u32,
    /// Backup eligibility recorded at registration.
    pub backup_eligible: bool,
}

/// An accepted assertion: what to update on the stored credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assertion {
    /// The new counter.
    pub sign_count: u32,
    /// Backed up now.
    pub backup_state: bool,
    /// The user was verified.
    pub user_verified: bool,
}

/// Verifies a registration (`navigator.credentials.create`) against the challenge we issued.
///
/// # Errors
/// Any [`WebauthnError`]: the credential must not be stored.
pub fn verify_registration(
    rp: &RelyingParty,
    challenge: &[u8],
    client_data_json: &[u8],
    attestation_object: &[u8],
    require_uv: bool,
) -> Result<NewCredential, WebauthnError> {
    check_client_data(rp, challenge, client_data_json, "webauthn.create")?;
    let (object, used) = cbor::decode(attestation_object)?;
    if used != attestation_object.len() {
        return Err(WebauthnError::Malformed(
            "trailing bytes after the attestation",
        ));
    }
    let auth_data = object
        .get_text("authData")
        .and_then(cbor::Value::as_bytes)
        .ok_or(WebauthnError::Malformed("authData"))?;
    // With `attestation: "none"` requested we do not judge any statement the authenticator
    // still sent (§7.1 step 21 lets an RP accept such credentials as self-attested/none).
    object
        .get_text("fmt")
        .and_then(cbor::Value::as_text)
        .ok_or(WebauthnError::Malformed("fmt"))?;
    let data = AuthData::parse(auth_data)?;
    data.check(rp, require_uv)?;
    let attested = data
        .attested
        .ok_or(WebauthnError::Malformed("no attested credential"))?;
    let key = PublicKey::from_cose(&attested.public_key)?;
    Ok(NewCredential {
        id: attested.id,
        algorithm: key.algorithm(),
        public_key: attested.public_key,
        sign_count: data.sign_count,
        backup_eligible: data.flags & FLAG_BE != 0,
        backup_state: data.flags & FLAG_BS != 0,
        user_verified: data.flags & FLAG_UV != 0,
        aaguid: attested.aaguid,
    })
}

/// Verifies an assertion (`navigator.credentials.get`) made with `stored`.
///
/// # Errors
/// Any [`WebauthnError`]; `Counter` means the authenticator may have been cloned.
pub fn verify_assertion(
    rp: &RelyingParty,
    challenge: &[u8],
    stored: StoredCredential<'_>,
    client_data_json: &[u8],
    authenticator_data: &[u8],
    sig: &[u8],
    require_uv: bool,
) -> Result<Assertion, WebauthnError> {
    check_client_data(rp, challenge, client_data_json, "webauthn.get")?;
    let data = AuthData::parse(authenticator_data)?;
    data.check(rp, require_uv)?;
    let key = PublicKey::from_cose(stored.public_key)?;
    let mut signed = authenticator_data.to_vec();
    signed.extend_from_slice(&Sha256::digest(client_data_json));
    key.verify(&signed, sig)?;
    if (data.flags & FLAG_BE != 0) != stored.backup_eligible {
        return Err(WebauthnError::BackupEligibility);
    }
    // §7.2 step 22: counters of 0 on both sides mean "this authenticator keeps none" (synced
    // passkeys); otherwise the new value must be greater than the one we stored.
    if (data.sign_count != 0 || stored.sign_count != 0) && data.sign_count <= stored.sign_count {
        return Err(WebauthnError::Counter);
    }
    Ok(Assertion {
        sign_count: data.sign_count,
        backup_state: data.flags & FLAG_BS != 0,
        user_verified: data.flags & FLAG_UV != 0,
    })
}

fn check_client_data(
    rp: &RelyingParty,
    challenge: &[u8],
    json: &[u8],
    kind: &str,
) -> Result<(), WebauthnError> {
    #[derive(serde::Deserialize)]
    struct ClientData {
        #[serde(rename = "type")]
        kind: String,
        challenge: String,
        origin: String,
        #[serde(rename = "crossOrigin", default)]
        cross_origin: Option<bool>,
    }
    let data: ClientData =
        serde_json::from_slice(json).map_err(|_| WebauthnError::Malformed("clientDataJSON"))?;
    if data.kind != kind {
        return Err(WebauthnError::WrongType);
    }
    let got = from_b64url(&data.challenge).map_err(|_| WebauthnError::Challenge)?;
    if got.len() != challenge.len() || !bool::from(got.ct_eq(challenge)) {
        return Err(WebauthnError::Challenge);
    }
    // Threat: a ceremony run inside a frame of another site, or relayed by a phishing page.
    if data.origin != rp.origin || data.cross_origin == Some(true) {
        return Err(WebauthnError::Origin);
    }
    Ok(())
}

struct Attested {
    aaguid: [u8; 16],
    id: Vec<u8>,
    public_key: Vec<u8>,
}

struct AuthData {
    rp_id_hash: [u8; 32],
    flags: u8,
    sign_count: u32,
    attested: Option<Attested>,
}

impl AuthData {
    fn parse(bytes: &[u8]) -> Result<Self, WebauthnError> {
        let short = WebauthnError::Malformed("authenticator data too short");
        let head = bytes.get(..37).ok_or(short.clone())?;
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&head[..32]);
        let flags = head[32];
        let sign_count = u32::from_be_bytes([head[33], head[34], head[35], head[36]]);
        let mut rest = &bytes[37..];
        let attested = if flags & FLAG_AT != 0 {
            let fixed = rest.get(..18).ok_or(short.clone())?;
            let mut aaguid = [0u8; 16];
            aaguid.copy_from_slice(&fixed[..16]);
            let len = usize::from(u16::from_be_bytes([fixed[16], fixed[17]]));
            if len == 0 || len > MAX_CREDENTIAL_ID {
                return Err(WebauthnError::Malformed("credential id length"));
            }
            let id = rest.get(18..18 + len).ok_or(short.clone())?.to_vec();
            rest = &rest[18 + len..];
            let (_, used) = cbor::decode(rest)?;
            let public_key = rest[..used].to_vec();
            rest = &rest[used..];
            Some(Attested {
                aaguid,
                id,
                public_key,
            })
        } else {
            None
        };
        if flags & FLAG_ED != 0 {
            let (_, used) = cbor::decode(rest)?;
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            return Err(WebauthnError::Malformed("trailing authenticator data"));
        }
        if flags & FLAG_BE == 0 && flags & FLAG_BS != 0 {
            return Err(WebauthnError::Malformed("backed up but not eligible"));
        }
        Ok(Self {
            rp_id_hash,
            flags,
            sign_count,
            attested,
        })
    }

    fn check(&self, rp: &RelyingParty, require_uv: bool) -> Result<(), WebauthnError> {
        if !bool::from(self.rp_id_hash.ct_eq(&rp.id_hash())) {
            return Err(WebauthnError::RpId);
        }
        if self.flags & FLAG_UP == 0 {
            return Err(WebauthnError::UserNotPresent);
        }
        if require_uv && self.flags & FLAG_UV == 0 {
            return Err(WebauthnError::UserNotVerified);
        }
        Ok(())
    }
}

enum PublicKey {
    Es256(Vec<u8>),
    Ed25519(Vec<u8>),
    Rs256 { n: Vec<u8>, e: Vec<u8> },
}

impl PublicKey {
    /// A COSE_Key (RFC 9053): EC2/P-256 with ES256, OKP/Ed25519 with EdDSA, RSA with RS256.
    fn from_cose(bytes: &[u8]) -> Result<Self, WebauthnError> {
        let (key, used) = cbor::decode(bytes)?;
        if used != bytes.len() {
            return Err(WebauthnError::Malformed("trailing bytes after the key"));
        }
        let int = |label: i64| key.get_int(label).and_then(cbor::Value::as_int);
        let bytes_of = |label: i64| key.get_int(label).and_then(cbor::Value::as_bytes);
        match (int(1), int(3)) {
            // kty EC2, alg ES256, crv P-256: the point as SEC1 uncompressed.
            (Some(2), Some(ES256)) if int(-1) == Some(1) => {
                let (x, y) = (bytes_of(-2), bytes_of(-3));
                match (x, y) {
                    (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                        let mut point = vec![0x04];
                        point.extend_from_slice(x);
                        point.extend_from_slice(y);
                        Ok(Self::Es256(point))
                    }
                    _ => Err(WebauthnError::Malformed("EC2 key coordinates")),
                }
            }
            // kty OKP, alg EdDSA, crv Ed25519.
            (Some(1), Some(ED25519)) if int(-1) == Some(6) => match bytes_of(-2) {
                Some(x) if x.len() == 32 => Ok(Self::Ed25519(x.to_vec())),
                _ => Err(WebauthnError::Malformed("OKP key")),
            },
            // kty RSA, alg RS256.
            (Some(3), Some(RS256)) => match (bytes_of(-1), bytes_of(-2)) {
                (Some(n), Some(e)) if n.len() >= 256 && !e.is_empty() => Ok(Self::Rs256 {
                    n: n.to_vec(),
                    e: e.to_vec(),
                }),
                _ => Err(WebauthnError::Malformed("RSA key")),
            },
            _ => Err(WebauthnError::Algorithm),
        }
    }

    fn algorithm(&self) -> i64 {
        match self {
            Self::Es256(_) => ES256,
            Self::Ed25519(_) => ED25519,
            Self::Rs256 { .. } => RS256,
        }
    }

    fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), WebauthnError> {
        let result = match self {
            Self::Es256(point) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, point)
                .verify(message, sig),
            Self::Ed25519(key) => {
                UnparsedPublicKey::new(&signature::ED25519, key).verify(message, sig)
            }
            Self::Rs256 { n, e } => signature::RsaPublicKeyComponents { n, e }.verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                message,
                sig,
            ),
        };
        result.map_err(|_| WebauthnError::Signature)
    }
}

/// The subset of CBOR (RFC 8949) WebAuthn uses: definite lengths only, bounded depth.
pub mod cbor {
    use super::{MAX_DEPTH, WebauthnError};

    /// A decoded CBOR item.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        /// An integer (major types 0 and 1).
        Int(i128),
        /// A byte string.
        Bytes(Vec<u8>),
        /// A text string.
        Text(String),
        /// An array.
        Array(Vec<Value>),
        /// A map, in wire order.
        Map(Vec<(Value, Value)>),
        /// A simple value or float (only skipped over).
        Simple,
        /// A tagged item (the tag is dropped).
        Tagged(Box<Value>),
    }

    impl Value {
        /// Map lookup by text key.
        #[must_use]
        pub fn get_text(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
                    .map(|(_, v)| v),
                _ => None,
            }
        }

        /// Map lookup by integer key (COSE labels).
        #[must_use]
        pub fn get_int(&self, key: i64) -> Option<&Value> {
            match self {
                Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| matches!(k, Value::Int(i) if *i == i128::from(key)))
                    .map(|(_, v)| v),
                _ => None,
            }
        }

        /// The bytes of a byte string.
        #[must_use]
        pub fn as_bytes(&self) -> Option<&[u8]> {
            match self {
                Value::Bytes(b) => Some(b),
                _ => None,
            }
        }

        /// The text of a text string.
        #[must_use]
        pub fn as_text(&self) -> Option<&str> {
            match self {
                Value::Text(t) => Some(t),
                _ => None,
            }
        }

        /// An integer that fits `i64`.
        #[must_use]
        pub fn as_int(&self) -> Option<i64> {
            match self {
                Value::Int(i) => i64::try_from(*i).ok(),
                _ => None,
            }
        }
    }

    /// Decodes the first item of `input`; returns it and the bytes it took.
    ///
    /// # Errors
    /// `Malformed` for truncated input, indefinite lengths, reserved values, invalid UTF-8,
    /// lengths past the input, or nesting deeper than [`MAX_DEPTH`].
    pub fn decode(input: &[u8]) -> Result<(Value, usize), WebauthnError> {
        let mut at = 0;
        let value = item(input, &mut at, 0)?;
        Ok((value, at))
    }

    fn bad(what: &'static str) -> WebauthnError {
        WebauthnError::Malformed(what)
    }

    fn take<'a>(input: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], WebauthnError> {
        let end = at.checked_add(n).ok_or(bad("CBOR length"))?;
        let slice = input.get(*at..end).ok_or(bad("CBOR truncated"))?;
        *at = end;
        Ok(slice)
    }

    fn argument(input: &[u8], at: &mut usize, info: u8) -> Result<u64, WebauthnError> {
        Ok(match info {
            0..=23 => u64::from(info),
            24 => u64::from(take(input, at, 1)?[0]),
            25 => {
                let b = take(input, at, 2)?;
                u64::from(u16::from_be_bytes([b[0], b[1]]))
            }
            26 => {
                let b = take(input, at, 4)?;
                u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }
            27 => {
                let b = take(input, at, 8)?;
                u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }
            _ => return Err(bad("CBOR indefinite or reserved length")),
        })
    }

    /// A count of items must fit in what is left: each item takes at least one byte.
    fn count(input: &[u8], at: usize, n: u64, per_item: u64) -> Result<usize, WebauthnError> {
        let left = u64::try_from(input.len().saturating_sub(at)).unwrap_or(u64::MAX);
        if n.saturating_mul(per_item) > left {
            return Err(bad("CBOR count past the input"));
        }
        usize::try_from(n).map_err(|_| bad("CBOR count"))
    }

    fn item(input: &[u8], at: &mut usize, depth: usize) -> Result<Value, WebauthnError> {
        if depth > MAX_DEPTH {
            return Err(bad("CBOR nested too deep"));
        }
        let first = take(input, at, 1)?[0];
        let (major, info) = (first >> 5, first & 0x1f);
        if major == 7 {
            // Simple values and floats: skip their payload.
            return match info {
                0..=23 => Ok(Value::Simple),
                24 => take(input, at, 1).map(|_| Value::Simple),
                25 => take(input, at, 2).map(|_| Value::Simple),
                26 => take(input, at, 4).map(|_| Value::Simple),
                27 => take(input, at, 8).map(|_| Value::Simple),
                _ => Err(bad("CBOR break or reserved")),
            };
        }
        let arg = argument(input, at, info)?;
        match major {
            0 => Ok(Value::Int(i128::from(arg))),
            1 => Ok(Value::Int(-1 - i128::from(arg))),
            2 => {
                let n = count(input, *at, arg, 1)?;
                Ok(Value::Bytes(take(input, at, n)?.to_vec()))
            }
            3 => {
                let n = count(input, *at, arg, 1)?;
                let text =
                    std::str::from_utf8(take(input, at, n)?).map_err(|_| bad("CBOR UTF-8"))?;
                Ok(Value::Text(text.to_owned()))
            }
            4 => {
                let n = count(input, *at, arg, 1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(item(input, at, depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            5 => {
                let n = count(input, *at, arg, 2)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = item(input, at, depth + 1)?;
                    let v = item(input, at, depth + 1)?;
                    entries.push((k, v));
                }
                Ok(Value::Map(entries))
            }
            _ => Ok(Value::Tagged(Box::new(item(input, at, depth + 1)?))),
        }
    }
}

/// A software authenticator for tests (ours and the integration tests'): makes ES256 or
/// Ed25519 credentials and answers ceremonies like a browser would, with knobs to misbehave.
#[cfg(any(test, feature = "soft-authenticator"))]
pub mod soft;

#[cfg(test)]
mod tests;
