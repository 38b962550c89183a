//! Passwords: new hashes are argon2id (m = 19 MiB, t = 2, p = 1) in PHC format; imported hashes
//! from the anchor projects are verified and flagged for rehashing on the next successful login:
//! passlib `$pbkdf2-sha256$…` (Bambuddy), `scrypt:<salt hex>:<key hex>` (3DPrintForge: N=16384,
//! r=8, p=1, 64-byte key, the hex salt string is the salt) and bcrypt `$2a$/$2b$/$2y$`.
//!
//! Pure: the salt is passed in. Every comparison is constant-time, and unknown users cost one
//! full argon2id verification too ([`verify_dummy`]) so timing does not reveal which usernames
//! exist (threat: account enumeration).

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;

/// argon2id memory cost in KiB (19 MiB).
pub const ARGON2_M_KIB: u32 = 19 * 1024;
/// argon2id passes.
pub const ARGON2_T: u32 = 2;
/// argon2id lanes.
pub const ARGON2_P: u32 = 1;
/// Salt length for new hashes.
pub const SALT_LEN: usize = 16;
/// Longest password accepted, in bytes (bounds hashing cost per request).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Default minimum length, in characters.
pub const DEFAULT_MIN_LENGTH: usize = 8;
/// The smallest minimum an administrator may configure (the Bambuddy minimum).
pub const LOWEST_MIN_LENGTH: usize = 6;
const HASH_LEN: usize = 32;

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Correct. `rehash` is true when the stored hash is not current argon2id.
    Valid {
        /// Replace the stored hash with a fresh argon2id one.
        rehash: bool,
    },
    /// Wrong password, or a stored value we cannot use (fails closed).
    Invalid,
}

/// Why a new password is refused; the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    /// Too short.
    #[error("the password must be at least {0} characters long")]
    TooShort(usize),
    /// Too long.
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes long")]
    TooLong,
    /// Same as the username.
    #[error("the password must differ from the username")]
    SameAsUsername,
    /// On the list of common and leaked passwords, a dictionary word or name, one of them with
    /// digits or symbols around it, the name of this product, or one character repeated or
    /// counted up (NIST SP 800-63B 5.1.1.2).
    #[error(
        "this password is too easy to guess: it is a common or leaked password, a word or name, or a simple pattern. Choose another, for example a few unrelated words"
    )]
    Common,
}

/// The list of common and leaked passwords, words and names (see `data/README.md`): lower
/// case, sorted by bytes, one per line.
static COMMON_LIST: &str = include_str!("../data/common-passwords.txt");

/// The list as a sorted slice, built once from the embedded text (no IO).
static COMMON: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| COMMON_LIST.lines().collect());

/// Words of this deployment that must not be a password on their own (NIST: "context-specific
/// words, such as the name of the service").
const CONTEXT_WORDS: &[&str] = &["printwarden", "bambulab", "bambu", "printfarm", "3dprinter"];

fn listed(candidate: &str) -> bool {
    COMMON.binary_search(&candidate).is_ok() || CONTEXT_WORDS.contains(&candidate)
}

/// One character repeated (`aaaaaaaa`) or counted up or down (`abcdefgh`, `98765432`).
fn is_trivial_pattern(password: &str) -> bool {
    let chars: Vec<u32> = password.chars().map(u32::from).collect();
    let steps: Vec<i64> = chars
        .windows(2)
        .map(|w| i64::from(w[1]) - i64::from(w[0]))
        .collect();
    let Some(first) = steps.first() else {
        return true;
    };
    matches!(first, -1..=1) && steps.iter().all(|s| s == first)
}

/// Whether a password is on the common-password list, or is a listed word with only digits,
/// symbols or spaces around it (`Password1!`, `123dragon`), or a trivial pattern. Compared
/// without case. Pure and fast: a binary search in an embedded sorted list.
#[must_use]
pub fn is_common_password(password: &str) -> bool {
    let lower = password.trim().to_lowercase();
    if lower.is_empty() || listed(&lower) || is_trivial_pattern(&lower) {
        return true;
    }
    let core = lower.trim_matches(|c: char| !c.is_alphabetic());
    // Only a core of some length: stripping `1a2` down to `a` proves nothing.
    core.chars().count() >= 4 && (listed(core) || is_trivial_pattern(core))
}

/// Checks a new password against the policy: length bounds, not the username (compared
/// case-insensitively), not a common or leaked password ([`is_common_password`]). No
/// composition rules, by design (NIST SP 800-63B). That it differs from the account's current
/// password needs the stored hash, so the caller checks it.
pub fn check_new_password(
    password: &str,
    username: &str,
    min_length: usize,
) -> Result<(), PasswordRejected> {
    let min_length = min_length.max(LOWEST_MIN_LENGTH);
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordRejected::TooLong);
    }
    if password.chars().count() < min_length {
        return Err(PasswordRejected::TooShort(min_length));
    }
    if password.to_lowercase() == username.to_lowercase() {
        return Err(PasswordRejected::SameAsUsername);
    }
    if is_common_password(password) {
        return Err(PasswordRejected::Common);
    }
    Ok(())
}

fn argon2(m: u32, t: u32, p: u32) -> Option<Argon2<'static>> {
    Params::new(m, t, p, Some(HASH_LEN))
        .ok()
        .map(|params| Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a new password with argon2id and the caller's random salt. `None` only if the
/// password exceeds [`MAX_PASSWORD_BYTES`] (callers check the policy first).
#[must_use]
pub fn hash_password(password: &str, salt: [u8; SALT_LEN]) -> Option<String> {
    if password.len() > MAX_PASSWORD_BYTES {
        return None;
    }
    let mut out = [0u8; HASH_LEN];
    argon2(ARGON2_M_KIB, ARGON2_T, ARGON2_P)?
        .hash_password_into(password.as_bytes(), &salt, &mut out)
        .ok()?;
    Some(format!(
        "$argon2id$v=19$m={ARGON2_M_KIB},t={ARGON2_T},p={ARGON2_P}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Verifies `password` against a stored hash of any supported kind.
#[must_use]
pub fn verify_password(password: &str, stored: &str) -> Verified {
    if password.len() > MAX_PASSWORD_BYTES {
        return Verified::Invalid;
    }
    let outcome = if stored.starts_with("$argon2id$") {
        verify_argon2id(password, stored)
    } else if stored.starts_with("$pbkdf2-sha256$") {
        verify_passlib_pbkdf2(password, stored).map(|ok| (ok, true))
    } else if stored.starts_with("scrypt:") {
        verify_forge_scrypt(password, stored).map(|ok| (ok, true))
    } else if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$")
    {
        bcrypt::verify(password, stored).ok().map(|ok| (ok, true))
    } else {
        None
    };
    match outcome {
        Some((true, rehash)) => Verified::Valid { rehash },
        _ => Verified::Invalid,
    }
}

/// A well-formed argon2id hash at the current parameters that no password matches.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$cHJpbnR3YXJkZW4tZHVtbXk$2lL8eW3cQ2dK5o1hT0nJ8b4Wc6Yx9vQe7Rz1uA3sB5M";

/// Spends the same work as verifying a real argon2id hash, for unknown users.
pub fn verify_dummy(password: &str) {
    let _ = verify_argon2id(password, DUMMY);
}

/// `$argon2id$v=19$m=…,t=…,p=…$salt$hash` → (matches, needs rehash).
fn verify_argon2id(password: &str, stored: &str) -> Option<(bool, bool)> {
    let mut parts = stored.split('$').skip(2);
    let version = parts.next()?;
    let params = parts.next()?;
    let salt = STANDARD_NO_PAD.decode(parts.next()?).ok()?;
    let expected = STANDARD_NO_PAD.decode(parts.next()?).ok()?;
    if version != "v=19" || parts.next().is_some() || expected.is_empty() {
        return None;
    }
    let (mut m, mut t, mut p) = (None, None, None);
    for kv in params.split(',') {
        match kv.split_once('=')? {
            ("m", v) => m = v.parse::<u32>().ok(),
            ("t", v) => t = v.parse::<u32>().ok(),
            ("p", v) => p = v.parse::<u32>().ok(),
            _ => return None,
        }
    }
    let (m, t, p) = (m?, t?, p?);
    let params = Params::new(m, t, p, Some(expected.len())).ok()?;
    let mut out = vec![0u8; expected.len()];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), &salt, &mut out)
        .ok()?;
    let current = (m, t, p, expected.len()) == (ARGON2_M_KIB, ARGON2_T, ARGON2_P, HASH_LEN);
    Some((bool::from(out.ct_eq(&expected)), !current))
}

/// passlib's "adapted base64": standard alphabet with `.` for `+`, no padding.
fn ab64_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD.decode(s.replace('.', "+")).ok()
}

/// `$pbkdf2-sha256$<rounds>$<salt ab64>$<hash ab64>` (passlib).
fn verify_passlib_pbkdf2(password: &str, stored: &str) -> Option<bool> {
    let mut parts = stored.split('$').skip(2);
    let rounds: u32 = parts.next()?.parse().ok()?;
    let salt = ab64_decode(parts.next()?)?;
    let expected = ab64_decode(parts.next()?)?;
    if parts.next().is_some() || expected.is_empty() || !(1_000..=10_000_000).contains(&rounds) {
        return None;
    }
    let mut out = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, rounds, &mut out);
    Some(bool::from(out.ct_eq(&expected)))
}

/// `scrypt:<salt hex>:<64-byte key hex>` (3DPrintForge; the salt is the hex string itself).
fn verify_forge_scrypt(password: &str, stored: &str) -> Option<bool> {
    let mut parts = stored.split(':').skip(1);
    let salt = parts.next()?;
    let expected = hex::decode(parts.next()?).ok()?;
    if parts.next().is_some() || expected.len() != 64 || salt.is_empty() {
        return None;
    }
    let params = scrypt::Params::new(14, 8, 1).ok()?;
    let mut out = [0u8; 64];
    scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut out).ok()?;
    Some(bool::from(out.ct_eq(&expected)))
}

/// Whether a stored value looks like a hash we can verify (used when importing users).
#[must_use]
pub fn is_supported_hash(stored: &str) -> bool {
    [
        "$argon2id$",
        "$pbkdf2-sha256$",
        "scrypt:",
        "$2a$",
        "$2b$",
        "$2y$",
    ]
    .iter()
    .any(|p| stored.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_hashes_are_argon2id_phc_with_the_configured_parameters() {
        let hash = hash_password("correct horse", [7; SALT_LEN]).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_eq!(
            verify_password("correct horse", &hash),
            Verified::Valid { rehash: false }
        );
        assert_eq!(verify_password("correct horsE", &hash), Verified::Invalid);
        assert_ne!(
            hash,
            hash_password("correct horse", [8; SALT_LEN]).unwrap(),
            "salted"
        );
    }

    #[test]
    fn weaker_argon2_parameters_verify_but_ask_for_a_rehash() {
        let mut out = [0u8; HASH_LEN];
        argon2(4096, 1, 1)
            .unwrap()
            .hash_password_into(b"pw-123456", &[1; 16], &mut out)
            .unwrap();
        let stored = format!(
            "$argon2id$v=19$m=4096,t=1,p=1${}${}",
            STANDARD_NO_PAD.encode([1; 16]),
            STANDARD_NO_PAD.encode(out)
        );
        assert_eq!(
            verify_password("pw-123456", &stored),
            Verified::Valid { rehash: true }
        );
    }

    #[test]
    fn malformed_or_unknown_hashes_fail_closed() {
        for stored in [
            "",
            "plaintext",
            "$argon2id$v=19$m=1,t=1$x$y",
            "$argon2i$v=19$m=19456,t=2,p=1$AAAA$AAAA",
            "$pbkdf2-sha256$10$c2FsdA$aGFzaA",
            "$pbkdf2-sha256$29000$!!$!!",
            "scrypt:abc:00",
            "scrypt::",
            "$2b$04$short",
            "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        ] {
            assert_eq!(
                verify_password("anything", stored),
                Verified::Invalid,
                "{stored:?}"
            );
        }
        assert_eq!(
            verify_password(&"x".repeat(MAX_PASSWORD_BYTES + 1), "$2b$04$x"),
            Verified::Invalid
        );
    }

    #[test]
    fn policy() {
        assert_eq!(
            check_new_password("short", "alice", 8),
            Err(PasswordRejected::TooShort(8))
        );
        assert_eq!(
            check_new_password("Alice-Alice", "alice-alice", 8),
            Err(PasswordRejected::SameAsUsername)
        );
        assert_eq!(
            check_new_password(&"é".repeat(600), "alice", 8),
            Err(PasswordRejected::TooLong)
        );
        assert_eq!(
            check_new_password("sixsi7", "alice", 2),
            Ok(()),
            "admin minimum floors at 6"
        );
        assert_eq!(
            check_new_password("five5", "alice", 2),
            Err(PasswordRejected::TooShort(6))
        );
        assert_eq!(
            check_new_password("ünïcødé8", "alice", 8),
            Ok(()),
            "length counts characters"
        );
    }

    #[test]
    fn the_list_is_sorted_unique_lower_case_and_large() {
        assert!(COMMON.len() >= 100_000, "{}", COMMON.len());
        assert!(
            COMMON.windows(2).all(|w| w[0] < w[1]),
            "sorted by bytes, no duplicates"
        );
        assert!(
            COMMON
                .iter()
                .all(|w| !w.is_empty() && *w == w.to_lowercase())
        );
    }

    #[test]
    fn common_and_leaked_passwords_are_refused() {
        for bad in [
            "password",
            "Password",
            "PASSWORD1",
            "Password123!",
            "123password",
            "qwertyuiop",
            "iloveyou",
            "trustno1",
            "football",
            "1q2w3e4r5t",
            "elephant",
            "  letmein  ",
            "printwarden",
            "Printwarden2024!",
            "aaaaaaaa",
            "abcdefgh",
            "98765432",
            "zzzzzzzzzzzz",
        ] {
            assert!(is_common_password(bad), "{bad:?}");
            assert_eq!(
                check_new_password(bad, "alice", 6),
                Err(PasswordRejected::Common),
                "{bad:?}"
            );
        }
        for good in [
            "correct horse battery",
            "another secret 9",
            "a brand new password",
            "reset by admin 1",
            "Kx7#mQ2!vL",
            "ünïcødé8",
            "elephant pancake",
        ] {
            assert!(!is_common_password(good), "{good:?}");
        }
    }

    #[test]
    fn dummy_verification_runs_a_full_argon2id_at_the_current_parameters() {
        // Equal cost is a property of the input, not a stopwatch: the dummy must parse, run the
        // KDF (a parse failure would return early and cost nothing) and use today's parameters.
        assert_eq!(verify_argon2id("anything", DUMMY), Some((false, false)));
        let current = hash_password("x", [0; SALT_LEN]).unwrap();
        let params = |h: &str| h.split('$').nth(3).map(str::to_owned);
        assert_eq!(params(DUMMY), params(&current));
    }
}
