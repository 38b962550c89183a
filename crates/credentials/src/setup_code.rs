//! The one-time setup code that claims a fresh instance (SPEC S2). Without it nobody can
//! become the first administrator, so an instance reachable on the network cannot be claimed
//! by whoever finds it first (threat: the first-comer race of unclaimed installs).
//!
//! Format: `XXXX-XXXX-XXXX` from a 32-character alphabet without look-alikes (no 0/O, 1/I):
//! 60 bits of entropy, easy to read off a console and type.

use subtle::ConstantTimeEq;

use crate::SecretString;

const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const GROUPS: usize = 3;
const GROUP_LEN: usize = 4;

/// Random bytes needed for one code.
pub const SETUP_CODE_RANDOM_BYTES: usize = GROUPS * GROUP_LEN;

/// Builds a setup code from random bytes (5 bits of each byte are used).
#[must_use]
pub fn setup_code_from(random: [u8; SETUP_CODE_RANDOM_BYTES]) -> SecretString {
    let mut code = String::with_capacity(GROUPS * (GROUP_LEN + 1));
    for (i, byte) in random.iter().enumerate() {
        if i > 0 && i % GROUP_LEN == 0 {
            code.push('-');
        }
        code.push(char::from(ALPHABET[usize::from(byte & 0x1f)]));
    }
    SecretString::new(code)
}

/// Compares a typed code with the real one: case, spaces and dashes are forgiven, the
/// comparison takes the same time wherever the first difference is.
#[must_use]
pub fn setup_code_matches(expected: &SecretString, typed: &str) -> bool {
    let normalise = |s: &str| -> Vec<u8> {
        s.bytes()
            .filter(|b| b.is_ascii_alphanumeric())
            .map(|b| b.to_ascii_uppercase())
            .collect()
    };
    let (a, b) = (normalise(expected.expose()), normalise(typed));
    a.len() == b.len() && bool::from(a.ct_eq(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_alphabet() {
        let code = setup_code_from([0, 1, 2, 31, 32, 33, 255, 7, 8, 9, 10, 11]);
        let text = code.expose();
        assert_eq!(text.len(), 14);
        assert_eq!(text.matches('-').count(), 2);
        assert!(
            text.chars()
                .all(|c| c == '-' || (c.is_ascii_alphanumeric() && !"01OI".contains(c))),
            "{text}"
        );
        assert_eq!(&text[..4], "ABC9");
        assert_eq!(
            ALPHABET
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            32
        );
    }

    #[test]
    fn matching_forgives_case_and_separators_only() {
        let code = setup_code_from([5; SETUP_CODE_RANDOM_BYTES]);
        let lower = code.expose().to_lowercase().replace('-', " ");
        assert!(setup_code_matches(&code, code.expose()));
        assert!(setup_code_matches(&code, &lower));
        assert!(!setup_code_matches(&code, ""));
        assert!(!setup_code_matches(&code, &code.expose()[..13]));
        assert!(!setup_code_matches(&code, "AAAA-AAAA-AAAB"));
    }
}
