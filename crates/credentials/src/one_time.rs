//! Single-use second-factor codes: backup codes (printed once at enrolment) and codes sent by
//! email. Owns their formats, normalisation and the peppered digest they are stored as.
//! Invariant: only [`one_time_digest`] values are stored, and checks compare every candidate
//! in constant time without stopping at a match.
//!
//! Why a pepper (a server-side key kept outside the database): a backup code has 40 bits and an
//! email code under 20, so a plain hash of either falls to an offline search in seconds.
//! Keyed with the pepper, a database leak alone gives an attacker nothing to search against
//! (threat: offline brute force of short codes from a stolen database or backup).

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::SecretString;
use crate::signature::hmac_sha256;

/// Backup codes issued at once.
pub const BACKUP_CODE_COUNT: usize = 10;
/// Random bytes per backup code: 40 bits, enough against online guessing under the sign-in
/// rate limit, short enough to type.
const BYTES_PER_BACKUP_CODE: usize = 5;
/// Random bytes for a full set of backup codes.
pub const BACKUP_CODE_RANDOM_BYTES: usize = BACKUP_CODE_COUNT * BYTES_PER_BACKUP_CODE;

/// 16 lower-case letters without look-alikes (no b/6, g/q/9, i/l/1, o/0, s/5, u/v, z/2), one
/// per 4 bits, so 5 random bytes make exactly 10 characters with no bias.
const BACKUP_ALPHABET: &[u8; 16] = b"acdefhjkmnprtwxy";
/// Characters in a backup code (without the dash).
const BACKUP_CODE_LEN: usize = BYTES_PER_BACKUP_CODE * 2;

/// Random bytes for one email code.
pub const EMAIL_CODE_RANDOM_BYTES: usize = 8;
/// Digits in an email code.
const EMAIL_CODE_DIGITS: usize = 6;

/// Domain separation: a digest made here can never be mistaken for another HMAC made with the
/// same key, and a format change gets a new version.
const DIGEST_CONTEXT: &[u8] = b"printwarden one-time code v1\0";

/// Makes [`BACKUP_CODE_COUNT`] codes formatted `xxxxx-xxxxx` from caller-supplied random bytes.
#[must_use]
pub fn backup_codes_from(random: &[u8; BACKUP_CODE_RANDOM_BYTES]) -> Vec<SecretString> {
    random
        .chunks_exact(BYTES_PER_BACKUP_CODE)
        .map(|chunk| {
            let mut code = String::with_capacity(BACKUP_CODE_LEN + 1);
            let nibbles = chunk.iter().flat_map(|byte| [byte >> 4, byte & 0x0f]);
            for (i, nibble) in nibbles.enumerate() {
                if i == BACKUP_CODE_LEN / 2 {
                    code.push('-');
                }
                code.push(char::from(BACKUP_ALPHABET[usize::from(nibble)]));
            }
            SecretString::new(code)
        })
        .collect()
}

/// The canonical form of a typed backup code: lower case, without whitespace and dashes.
/// `None` unless exactly 10 characters of the backup alphabet remain.
#[must_use]
pub fn normalize_backup_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let valid = code.len() == BACKUP_CODE_LEN && code.bytes().all(|b| BACKUP_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// The stored form of a normalised code: HMAC-SHA256(pepper, context || code).
#[must_use]
pub fn one_time_digest(pepper: &[u8], normalized: &str) -> [u8; 32] {
    let mut message = Vec::with_capacity(DIGEST_CONTEXT.len() + normalized.len());
    message.extend_from_slice(DIGEST_CONTEXT);
    message.extend_from_slice(normalized.as_bytes());
    hmac_sha256(pepper, &message)
}

/// The index of the stored digest the typed code matches, if any. Every digest is compared in
/// constant time and the loop never stops early, so the response time reveals neither whether
/// nor where a code matched (threat: timing side channel narrowing a guess). Malformed input
/// makes the same pass with a digest that cannot match, so it costs the same as a wrong code.
#[must_use]
pub fn match_backup_code(pepper: &[u8], input: &str, stored: &[[u8; 32]]) -> Option<usize> {
    let normalized = normalize_backup_code(input);
    let well_formed = Choice::from(u8::from(normalized.is_some()));
    // "" is never a valid normalised code, so its digest matches no issued code.
    let digest = one_time_digest(pepper, normalized.as_deref().unwrap_or(""));
    let mut matched = Choice::from(0);
    let mut index = 0_u64;
    for (i, candidate) in (0_u64..).zip(stored) {
        let hit = digest.ct_eq(candidate) & well_formed;
        index = u64::conditional_select(&index, &i, hit);
        matched |= hit;
    }
    if bool::from(matched) {
        usize::try_from(index).ok()
    } else {
        None
    }
}

/// Makes a 6-digit email code from caller-supplied random bytes. Reducing a 64-bit value
/// modulo 10^6 favours the lowest `2^64 mod 10^6` codes by one part in `2^64 / 10^6`, a bias
/// below 2^-40 and far too small to help a guesser.
#[must_use]
pub fn email_code_from(random: [u8; EMAIL_CODE_RANDOM_BYTES]) -> SecretString {
    let value = u64::from_be_bytes(random) % 1_000_000;
    SecretString::new(format!("{value:0EMAIL_CODE_DIGITS$}"))
}

/// The canonical form of a typed email code: whitespace removed, exactly 6 ASCII digits.
#[must_use]
pub fn normalize_email_code(input: &str) -> Option<String> {
    let code: String = input.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let valid = code.len() == EMAIL_CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit());
    valid.then_some(code)
}

/// Whether a typed email code matches the stored digest, compared in constant time.
/// Malformed input is digested and compared too, so it costs the same as a wrong code.
#[must_use]
pub fn email_code_matches(pepper: &[u8], input: &str, stored: &[u8; 32]) -> bool {
    let normalized = normalize_email_code(input);
    let well_formed = Choice::from(u8::from(normalized.is_some()));
    let digest = one_time_digest(pepper, normalized.as_deref().unwrap_or(""));
    bool::from(digest.ct_eq(stored) & well_formed)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const PEPPER: &[u8] = b"test pepper";

    fn fixed_random() -> [u8; BACKUP_CODE_RANDOM_BYTES] {
        let mut random = [0; BACKUP_CODE_RANDOM_BYTES];
        for (byte, value) in random.iter_mut().zip((0_u8..).map(|i| i.wrapping_mul(37))) {
            *byte = value;
        }
        random
    }

    fn exposed(codes: &[SecretString]) -> Vec<&str> {
        codes.iter().map(SecretString::expose).collect()
    }

    #[test]
    fn alphabet_has_sixteen_unambiguous_characters() {
        let set: HashSet<_> = BACKUP_ALPHABET.iter().collect();
        assert_eq!(set.len(), 16);
        assert!(
            BACKUP_ALPHABET
                .iter()
                .all(|b| b.is_ascii_lowercase() && !b"bgiloqsuvz".contains(b))
        );
        assert_eq!(BACKUP_CODE_LEN * 4, BYTES_PER_BACKUP_CODE * 8);
    }

    /// Literals cross-checked with an independent Python rendering of the same nibbles.
    #[test]
    fn backup_codes_snapshot() {
        let codes = backup_codes_from(&fixed_random());
        assert_eq!(codes.len(), BACKUP_CODE_COUNT);
        assert_eq!(
            exposed(&codes),
            [
                "aadhf-pjynf",
                "rnwxa-edmfw",
                "kdnkr-txcaj",
                "drhak-hnpry",
                "xfand-xhekm",
                "nwtdx-katec",
                "hjkrp-athxp",
                "ayefh-nkxpe",
                "tmxwc-dekht",
                "mcpjt-ryach",
            ]
        );
    }

    #[test]
    fn backup_code_extremes() {
        let zeros = backup_codes_from(&[0; BACKUP_CODE_RANDOM_BYTES]);
        assert!(exposed(&zeros).iter().all(|c| *c == "aaaaa-aaaaa"));
        let ones = backup_codes_from(&[0xff; BACKUP_CODE_RANDOM_BYTES]);
        assert!(exposed(&ones).iter().all(|c| *c == "yyyyy-yyyyy"));
    }

    #[test]
    fn backup_codes_round_trip() {
        let codes = backup_codes_from(&fixed_random());
        let stored: Vec<[u8; 32]> = codes
            .iter()
            .map(|c| one_time_digest(PEPPER, &normalize_backup_code(c.expose()).unwrap()))
            .collect();
        for (i, code) in codes.iter().enumerate() {
            let text = code.expose();
            assert_eq!(match_backup_code(PEPPER, text, &stored), Some(i));
            let sloppy = format!(" {} ", text.to_uppercase().replace('-', " "));
            assert_eq!(match_backup_code(PEPPER, &sloppy, &stored), Some(i));
        }
        // The last index is found too: the loop runs to the end.
        let last = codes[BACKUP_CODE_COUNT - 1].expose();
        assert_eq!(
            match_backup_code(PEPPER, last, &stored),
            Some(BACKUP_CODE_COUNT - 1)
        );
        // A different pepper matches nothing.
        assert_eq!(
            match_backup_code(b"other", codes[0].expose(), &stored),
            None
        );
        // A used code removed from the list no longer matches.
        assert_eq!(
            match_backup_code(PEPPER, codes[0].expose(), &stored[1..]),
            None
        );
        assert_eq!(match_backup_code(PEPPER, codes[0].expose(), &[]), None);
    }

    #[test]
    fn normalize_backup_code_rules() {
        assert_eq!(
            normalize_backup_code("ACDEF-HJKMN").as_deref(),
            Some("acdefhjkmn")
        );
        assert_eq!(
            normalize_backup_code(" acd ef-hjk mn\t").as_deref(),
            Some("acdefhjkmn")
        );
        for input in [
            "",
            "acdef-hjkm",
            "acdef-hjkmnp",
            "acdef-hjkm0",
            "acdef-hjkmb",
            "acdef_hjkmn",
            "acdef-hjkmé",
        ] {
            assert_eq!(normalize_backup_code(input), None, "{input:?}");
        }
    }

    #[test]
    fn malformed_backup_input_matches_nothing() {
        // Even when a stored digest happens to be the digest of the empty string.
        let stored = [
            one_time_digest(PEPPER, ""),
            one_time_digest(PEPPER, "acdefhjkmn"),
        ];
        assert_eq!(match_backup_code(PEPPER, "", &stored), None);
        assert_eq!(match_backup_code(PEPPER, "not a code", &stored), None);
        assert_eq!(match_backup_code(PEPPER, "acdef-hjkmn", &stored), Some(1));
    }

    #[test]
    fn digest_is_keyed_and_separated() {
        assert_eq!(
            one_time_digest(PEPPER, "123456"),
            hmac_sha256(PEPPER, b"printwarden one-time code v1\x00123456")
        );
        assert_ne!(
            one_time_digest(PEPPER, "123456"),
            one_time_digest(b"x", "123456")
        );
        assert_ne!(
            one_time_digest(PEPPER, "123456"),
            one_time_digest(PEPPER, "123457")
        );
    }

    #[test]
    fn email_codes() {
        assert_eq!(email_code_from([0; 8]).expose(), "000000");
        assert_eq!(email_code_from(7_u64.to_be_bytes()).expose(), "000007");
        assert_eq!(
            email_code_from(1_234_567_u64.to_be_bytes()).expose(),
            "234567"
        );
        // 2^64 - 1 = 18446744073709551615
        assert_eq!(email_code_from([0xff; 8]).expose(), "551615");
    }

    #[test]
    fn normalize_email_code_rules() {
        assert_eq!(
            normalize_email_code(" 123 456\n").as_deref(),
            Some("123456")
        );
        for input in ["", "12345", "1234567", "12a456", "123-456", "１２３４５６"] {
            assert_eq!(normalize_email_code(input), None, "{input:?}");
        }
    }

    #[test]
    fn email_code_round_trip() {
        let code = email_code_from([1, 2, 3, 4, 5, 6, 7, 8]);
        let stored = one_time_digest(PEPPER, code.expose());
        assert!(email_code_matches(PEPPER, code.expose(), &stored));
        let spaced = format!("{} {}", &code.expose()[..3], &code.expose()[3..]);
        assert!(email_code_matches(PEPPER, &spaced, &stored));
        assert!(!email_code_matches(b"other", code.expose(), &stored));
        let wrong = if code.expose() == "000000" {
            "000001"
        } else {
            "000000"
        };
        assert!(!email_code_matches(PEPPER, wrong, &stored));
        assert!(!email_code_matches(
            PEPPER,
            "",
            &one_time_digest(PEPPER, "")
        ));
        assert!(!email_code_matches(PEPPER, "12345", &stored));
    }
}
