//! OpenID Connect, the protocol half (S6): issuer normalisation, the discovery document and the
//! JWKS as parsed values, PKCE S256, the authorization URL, and the validation of an ID token
//! (signature with ring, `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`).
//!
//! Invariants:
//! - pure: no IO, no clock, no randomness — the caller fetches documents (through its outbound
//!   guard), passes `now` and the random state, nonce and verifier;
//! - only asymmetric signatures from the provider's JWKS are accepted (RS256/384/512,
//!   ES256/384); `none` and HMAC are refused (threat: alg confusion, a token "signed" with the
//!   client secret or not at all);
//! - an unknown `kid` is its own error so the caller can refetch the JWKS once (key rotation)
//!   and never trusts a key from anywhere else;
//! - every URL of a discovery document is https and the document's `issuer` is the configured
//!   one (trailing slash tolerated), so a document cannot redirect sign-ins to another issuer.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 60;
/// An ID token issued longer ago than this is refused even if not expired (seconds).
pub const MAX_AGE_SECS: i64 = 600;
/// Longest ID token accepted (bytes).
pub const MAX_TOKEN: usize = 16 * 1024;

/// An issuer identifier as configured: `https://host[:port][/path]`, no query, fragment or
/// credentials; kept as written minus a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    /// Parses and normalises an issuer. `allow_http` admits `http://` (never used for
    /// configured providers: SPEC S6 asks for https).
    pub fn parse(raw: &str, allow_http: bool) -> Result<Issuer, String> {
        let raw = raw.trim();
        let url = url::Url::parse(raw).map_err(|_| "the issuer is not a URL".to_owned())?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            _ => return Err("the issuer must be an https:// URL".to_owned()),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the issuer must not contain a user name or password".to_owned());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("the issuer must not have a query (?) or fragment (#)".to_owned());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the issuer has no host".to_owned());
        }
        Ok(Issuer(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// The normalised text (no trailing slash).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host name or address.
    #[must_use]
    pub fn host(&self) -> String {
        url::Url::parse(&self.0)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Where the discovery document is (OpenID Connect Discovery 1.0 §4).
    #[must_use]
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.0)
    }

    /// Whether `other` names this issuer (trailing slash and host case tolerated).
    #[must_use]
    pub fn matches(&self, other: &str) -> bool {
        Issuer::parse(other, true).is_ok_and(|o| o.0 == self.0)
    }
}

/// The parts of a discovery document printwarden uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The issuer as the document states it.
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
}

#[derive(Deserialize)]
struct RawDiscovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

fn https_url(name: &str, raw: &str, allow_http: bool) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|_| format!("the provider's {name} is not a URL"))?;
    match url.scheme() {
        "https" => Ok(url.to_string()),
        "http" if allow_http => Ok(url.to_string()),
        _ => Err(format!("the provider's {name} is not an https:// URL")),
    }
}

impl Discovery {
    /// Parses a discovery document fetched for `issuer`. `allow_http` as in [`Issuer::parse`].
    pub fn parse(issuer: &Issuer, body: &[u8], allow_http: bool) -> Result<Discovery, String> {
        let raw: RawDiscovery = serde_json::from_slice(body)
            .map_err(|_| "the provider's discovery document is not valid".to_owned())?;
        if !issuer.matches(&raw.issuer) {
            // Threat: a document (or a compromised path under the issuer) naming another issuer
            // would make us accept that issuer's tokens (mix-up).
            return Err(
                "the provider's discovery document names a different issuer than the one configured"
                    .to_owned(),
            );
        }
        if let Some(methods) = &raw.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err("the provider does not support PKCE with S256".to_owned());
        }
        Ok(Discovery {
            issuer: raw.issuer,
            authorization_endpoint: https_url(
                "authorization endpoint",
                &raw.authorization_endpoint,
                allow_http,
            )?,
            token_endpoint: https_url("token endpoint", &raw.token_endpoint, allow_http)?,
            jwks_uri: https_url("key set (jwks_uri)", &raw.jwks_uri, allow_http)?,
        })
    }

    /// Every URL of the document (for the outbound guard).
    #[must_use]
    pub fn urls(&self) -> [&str; 3] {
        [
            &self.authorization_endpoint,
            &self.token_endpoint,
            &self.jwks_uri,
        ]
    }
}

/// One public key from a JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { curve: String, point: Vec<u8> },
}

/// A provider's signing keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    keys: Vec<(Option<String>, Option<String>, PublicKey)>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<RawJwk>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

impl Jwks {
    /// Parses a JWKS; keys it cannot use (encryption keys, other types) are skipped.
    pub fn parse(body: &[u8]) -> Result<Jwks, String> {
        let raw: RawJwks = serde_json::from_slice(body)
            .map_err(|_| "the provider's key set is not valid".to_owned())?;
        let mut keys = Vec::new();
        for k in raw.keys {
            if k.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let key = match k.kty.as_str() {
                "RSA" => match (k.n.as_deref().and_then(b64), k.e.as_deref().and_then(b64)) {
                    (Some(n), Some(e)) => PublicKey::Rsa { n, e },
                    _ => continue,
                },
                "EC" => match (
                    k.crv.clone(),
                    k.x.as_deref().and_then(b64),
                    k.y.as_deref().and_then(b64),
                ) {
                    (Some(curve), Some(x), Some(y)) => {
                        let mut point = vec![0x04];
                        point.extend_from_slice(&x);
                        point.extend_from_slice(&y);
                        PublicKey::Ec { curve, point }
                    }
                    _ => continue,
                },
                _ => continue,
            };
            keys.push((k.kid, k.alg, key));
        }
        Ok(Jwks { keys })
    }

    /// How many usable keys there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no usable key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
#[must_use]
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What goes into the authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    /// The provider's endpoint.
    pub endpoint: &'a str,
    /// Our client id.
    pub client_id: &'a str,
    /// Our callback.
    pub redirect_uri: &'a str,
    /// Space-separated scopes (with `openid`).
    pub scopes: &'a str,
    /// Single-use state.
    pub state: &'a str,
    /// Single-use nonce.
    pub nonce: &'a str,
    /// The PKCE verifier (only its challenge is sent).
    pub verifier: &'a str,
}

/// The URL the browser is sent to (code flow, PKCE S256).
pub fn authorize_url(req: &AuthorizeRequest<'_>) -> Result<String, String> {
    let mut url = url::Url::parse(req.endpoint)
        .map_err(|_| "the provider's authorization endpoint is not a URL".to_owned())?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", req.client_id)
        .append_pair("redirect_uri", req.redirect_uri)
        .append_pair("scope", req.scopes)
        .append_pair("state", req.state)
        .append_pair("nonce", req.nonce)
        .append_pair("code_challenge", &pkce_challenge(req.verifier))
        .append_pair("code_challenge_method", "S256");
    Ok(url.to_string())
}

/// What an ID token must say.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The issuer (the discovery document's).
    pub issuer: &'a Issuer,
    /// Our client id.
    pub client_id: &'a str,
    /// The nonce sent with this sign-in.
    pub nonce: &'a str,
    /// Now, in seconds since the epoch.
    pub now: i64,
}

/// The validated claims of an ID token.
#[derive(Debug, Clone, PartialEq)]
pub struct IdClaims {
    /// The provider's stable id of the user.
    pub sub: String,
    /// Every claim, for the configured email and groups claims.
    pub all: BTreeMap<String, serde_json::Value>,
}

impl IdClaims {
    /// A string claim.
    #[must_use]
    pub fn string(&self, name: &str) -> Option<&str> {
        self.all.get(name).and_then(serde_json::Value::as_str)
    }

    /// `email_verified` as a boolean (some providers send `"true"`).
    #[must_use]
    pub fn email_verified(&self) -> bool {
        match self.all.get("email_verified") {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        }
    }

    /// A claim holding a list of strings (or one string).
    #[must_use]
    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.all.get(name) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }
}

/// Why an ID token was refused. The words are for the audit log and administrators; users
/// read a generic sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a compact JWS we can read.
    #[error("the ID token is malformed")]
    Malformed,
    /// The algorithm is not one we accept.
    #[error("the ID token uses an algorithm that is not accepted ({0})")]
    Algorithm(String),
    /// No key in the JWKS has this kid (refetch the JWKS once).
    #[error("the ID token was signed with a key the provider does not publish")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the ID token's signature is not valid")]
    Signature,
    /// `iss` is not the provider.
    #[error("the ID token was issued by someone else")]
    Issuer,
    /// `aud`/`azp` are not us.
    #[error("the ID token is meant for another client")]
    Audience,
    /// `exp` passed.
    #[error("the ID token has expired")]
    Expired,
    /// `iat` in the future or too old.
    #[error("the ID token's issue time is not acceptable")]
    IssuedAt,
    /// `nonce` is not ours.
    #[error("the ID token's nonce does not match this sign-in")]
    Nonce,
    /// `sub` missing or unusable.
    #[error("the ID token has no usable subject")]
    Subject,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// Validates a compact ID token against `jwks` and `expected`.
pub fn verify_id_token(
    token: &str,
    jwks: &Jwks,
    expected: &Expected<'_>,
) -> Result<IdClaims, IdTokenError> {
    use ring::signature as sig;
    if token.len() > MAX_TOKEN {
        return Err(IdTokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed);
    };
    let header: Header = b64(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(IdTokenError::Malformed)?;
    let signature = b64(s).ok_or(IdTokenError::Malformed)?;
    let (kty, rsa_alg, ec): (&str, Option<&sig::RsaParameters>, Option<(&str, _)>) =
        match header.alg.as_str() {
            "RS256" => ("RSA", Some(&sig::RSA_PKCS1_2048_8192_SHA256), None),
            "RS384" => ("RSA", Some(&sig::RSA_PKCS1_2048_8192_SHA384), None),
            "RS512" => ("RSA", Some(&sig::RSA_PKCS1_2048_8192_SHA512), None),
            "ES256" => ("EC", None, Some(("P-256", &sig::ECDSA_P256_SHA256_FIXED))),
            "ES384" => ("EC", None, Some(("P-384", &sig::ECDSA_P384_SHA384_FIXED))),
            other => return Err(IdTokenError::Algorithm(other.chars().take(16).collect())),
        };
    let fits = |(kid, alg, key): &&(Option<String>, Option<String>, PublicKey)| {
        let kind_ok = match key {
            PublicKey::Rsa { .. } => kty == "RSA",
            PublicKey::Ec { curve, .. } => ec.is_some_and(|(c, _)| c == curve),
        };
        kind_ok
            && alg.as_deref().is_none_or(|a| a == header.alg)
            && match &header.kid {
                Some(want) => kid.as_deref() == Some(want.as_str()),
                None => true,
            }
    };
    let candidates: Vec<_> = jwks.keys.iter().filter(fits).collect();
    // Without a kid, only an unambiguous key is used.
    let key = match candidates.as_slice() {
        [one] => &one.2,
        _ => return Err(IdTokenError::UnknownKey),
    };
    let message = &token.as_bytes()[..h.len() + 1 + p.len()];
    let verified = match (key, rsa_alg, ec) {
        (PublicKey::Rsa { n, e }, Some(params), _) => sig::RsaPublicKeyComponents { n, e }
            .verify(params, message, &signature)
            .is_ok(),
        (PublicKey::Ec { point, .. }, _, Some((_, alg))) => sig::UnparsedPublicKey::new(alg, point)
            .verify(message, &signature)
            .is_ok(),
        _ => false,
    };
    if !verified {
        return Err(IdTokenError::Signature);
    }
    let all: BTreeMap<String, serde_json::Value> = b64(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(IdTokenError::Malformed)?;
    let text = |name: &str| all.get(name).and_then(serde_json::Value::as_str);
    let number = |name: &str| all.get(name).and_then(serde_json::Value::as_i64);
    if !text("iss").is_some_and(|iss| expected.issuer.matches(iss)) {
        return Err(IdTokenError::Issuer);
    }
    let audiences: Vec<&str> = match all.get("aud") {
        Some(serde_json::Value::String(a)) => vec![a.as_str()],
        Some(serde_json::Value::Array(items)) => {
            items.iter().filter_map(serde_json::Value::as_str).collect()
        }
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(IdTokenError::Audience);
    }
    // OIDC Core §3.1.3.7 (4, 5): with several audiences the authorized party must be us, and
    // an azp that is present must be us.
    match text("azp") {
        Some(azp) if azp != expected.client_id => return Err(IdTokenError::Audience),
        None if audiences.len() > 1 => return Err(IdTokenError::Audience),
        _ => {}
    }
    let exp = number("exp").ok_or(IdTokenError::Expired)?;
    if exp + LEEWAY_SECS <= expected.now {
        return Err(IdTokenError::Expired);
    }
    let iat = number("iat").ok_or(IdTokenError::IssuedAt)?;
    if iat > expected.now + LEEWAY_SECS || iat + MAX_AGE_SECS + LEEWAY_SECS < expected.now {
        return Err(IdTokenError::IssuedAt);
    }
    let nonce_ok = text("nonce").is_some_and(|n| {
        use subtle::ConstantTimeEq as _;
        bool::from(n.as_bytes().ct_eq(expected.nonce.as_bytes()))
    });
    if !nonce_ok {
        return Err(IdTokenError::Nonce);
    }
    let sub = text("sub").unwrap_or_default();
    if sub.is_empty() || sub.len() > 255 || sub.chars().any(char::is_control) {
        return Err(IdTokenError::Subject);
    }
    Ok(IdClaims {
        sub: sub.to_owned(),
        all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_normalised_and_compared_without_the_trailing_slash() {
        let i = Issuer::parse("https://IdP.example.com/realms/farm/", false).unwrap();
        assert_eq!(i.as_str(), "https://idp.example.com/realms/farm");
        assert!(i.matches("https://idp.example.com/realms/farm"));
        assert!(i.matches("https://idp.example.com/realms/farm/"));
        assert!(!i.matches("https://idp.example.com/realms/other"));
        assert_eq!(
            i.discovery_url(),
            "https://idp.example.com/realms/farm/.well-known/openid-configuration"
        );
        let root = Issuer::parse("https://idp.example.com/", false).unwrap();
        assert_eq!(root.as_str(), "https://idp.example.com");
        for bad in [
            "http://idp.example.com",
            "https://u:p@idp.example.com",
            "https://idp.example.com/?x=1",
            "https://idp.example.com/#f",
            "idp.example.com",
            "javascript:alert(1)",
        ] {
            assert!(Issuer::parse(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn discovery_for_another_issuer_or_without_s256_is_refused() {
        let i = Issuer::parse("https://idp.example.com", false).unwrap();
        let doc = |iss: &str, methods: &str| {
            format!(
                r#"{{"issuer":"{iss}","authorization_endpoint":"https://idp.example.com/auth",
                "token_endpoint":"https://idp.example.com/token","jwks_uri":"https://idp.example.com/jwks",
                "code_challenge_methods_supported":{methods}}}"#
            )
        };
        assert!(
            Discovery::parse(
                &i,
                doc("https://idp.example.com/", r#"["S256"]"#).as_bytes(),
                false
            )
            .is_ok()
        );
        assert!(
            Discovery::parse(
                &i,
                doc("https://evil.example.com", r#"["S256"]"#).as_bytes(),
                false
            )
            .is_err()
        );
        assert!(
            Discovery::parse(
                &i,
                doc("https://idp.example.com", r#"["plain"]"#).as_bytes(),
                false
            )
            .is_err()
        );
        let http_jwks = doc("https://idp.example.com", r#"["S256"]"#).replace(
            "https://idp.example.com/jwks",
            "http://idp.example.com/jwks",
        );
        assert!(Discovery::parse(&i, http_jwks.as_bytes(), false).is_err());
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused() {
        let i = Issuer::parse("https://idp.example.com", false).unwrap();
        let e = Expected {
            issuer: &i,
            client_id: "farm",
            nonce: "n",
            now: 1_000,
        };
        let enc = |v: &str| URL_SAFE_NO_PAD.encode(v);
        let claims = enc(
            r#"{"iss":"https://idp.example.com","aud":"farm","sub":"a","nonce":"n","exp":2000,"iat":990}"#,
        );
        for alg in ["none", "HS256"] {
            let token = format!("{}.{claims}.", enc(&format!(r#"{{"alg":"{alg}"}}"#)));
            assert_eq!(
                verify_id_token(&token, &Jwks::default(), &e),
                Err(IdTokenError::Algorithm(alg.to_owned()))
            );
        }
        assert_eq!(
            verify_id_token("a.b", &Jwks::default(), &e),
            Err(IdTokenError::Malformed)
        );
    }
}
