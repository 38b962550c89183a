//! TOTP second factor (RFC 6238 over RFC 4226 HOTP: HMAC-SHA1, 6 digits, 30-second steps): the
//! secret type, its enrolment encodings and code verification. Invariant: a code is accepted
//! for at most one step, and [`verify`] returns that step so the caller can store it and refuse
//! any step at or before it next time (threat: replay of a code seen over a shoulder, in a
//! proxy log or by a phishing page, while it is still inside the window).

use hmac::{KeyInit, Mac};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::SecretString;

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// Length of a TOTP secret: 160 bits, the HMAC-SHA1 output size RFC 4226 §4 recommends.
pub const TOTP_SECRET_BYTES: usize = 20;
/// Length of one time step (RFC 6238 default; authenticator apps assume it).
pub const STEP_SECONDS: u64 = 30;
/// Digits per code (RFC 4226 minimum; what authenticator apps show by default).
pub const DIGITS: u32 = 6;

/// Steps either side of the current one that are still accepted: one step absorbs clock drift
/// and a code typed as it rolls over, without widening the guessing window further (RFC 6238
/// §5.2 recommends at most one).
const WINDOW: u64 = 1;

/// RFC 4648 base32 alphabet (what `otpauth://` URIs and manual entry in apps expect).
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A user's TOTP secret. `Debug` is redacted so it cannot reach a log line (threat: anyone who
/// reads the secret can compute every future code).
#[derive(Clone)]
pub struct TotpSecret([u8; TOTP_SECRET_BYTES]);

impl TotpSecret {
    /// Wraps random bytes (the caller draws them from the OS RNG).
    #[must_use]
    pub fn from_bytes(bytes: [u8; TOTP_SECRET_BYTES]) -> Self {
        Self(bytes)
    }

    /// Wraps bytes opened from storage; `None` unless exactly [`TOTP_SECRET_BYTES`] long.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; TOTP_SECRET_BYTES]>::try_from(bytes).ok().map(Self)
    }

    /// The raw secret, for sealing at rest. It is never stored in plain text.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; TOTP_SECRET_BYTES] {
        &self.0
    }

    /// Base32 (RFC 4648, upper case, no padding): 32 characters for manual entry in an app.
    #[must_use]
    pub fn base32(&self) -> SecretString {
        SecretString::new(base32(&self.0))
    }

    /// The `otpauth://` URI that enrolment QR codes carry (the Google Authenticator key URI
    /// format). Issuer and account are percent-encoded so that a `&`, `?`, `#` or `:` in a
    /// name cannot inject or override URI parameters (threat: an account name such as
    /// `x&secret=...` replacing the secret the app stores).
    #[must_use]
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> SecretString {
        let issuer = percent_encode(issuer);
        SecretString::new(format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
             &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            account = percent_encode(account),
            secret = base32(&self.0),
        ))
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// The time step containing `unix_seconds`. Times before 1970 map to step 0 rather than
/// wrapping, so a badly set clock cannot produce a huge step that would then lock the user out
/// through the replay check.
#[must_use]
pub fn step_at(unix_seconds: i64) -> u64 {
    u64::try_from(unix_seconds).unwrap_or(0) / STEP_SECONDS
}

/// The 6-digit code for `step`, zero-padded.
#[must_use]
pub fn code_at(secret: &TotpSecret, step: u64) -> String {
    code_digits(secret, step)
        .iter()
        .map(|&d| char::from(d))
        .collect()
}

/// The code for `step` as ASCII digits. A fixed number of divisions, unlike `format!`, whose
/// work depends on the value, so computing the expected codes in [`verify`] takes the same time
/// whatever they are (threat: timing revealing leading zeros of the valid codes).
fn code_digits(secret: &TotpSecret, step: u64) -> [u8; DIGITS as usize] {
    let mut value = hotp(&secret.0, step, DIGITS);
    let mut digits = [b'0'; DIGITS as usize];
    for digit in digits.iter_mut().rev() {
        // `value % 10` is below 10, so the sum stays an ASCII digit.
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    digits
}

/// Checks a typed code against the steps `now - 1`, `now` and `now + 1`, and returns the step
/// it matched (the highest, should several match). Spaces are forgiven; anything but exactly
/// six ASCII digits is refused.
///
/// A step at or before `last_step` (the step the caller stored at the last success) is refused,
/// so each code works once (threat: replay within the window). All candidate steps are computed
/// and compared in constant time, without stopping at a match, so the response time does not
/// tell which step matched or how much of a code was right.
///
/// Six digits over three steps give a guesser 3 in 10^6 per try: callers must rate-limit.
#[must_use]
pub fn verify(
    secret: &TotpSecret,
    input: &str,
    unix_seconds: i64,
    last_step: Option<u64>,
) -> Option<u64> {
    let typed: Vec<u8> = input.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if typed.len() != DIGITS as usize || !typed.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let now = step_at(unix_seconds);
    let mut matched = Choice::from(0);
    let mut step_found = 0_u64;
    // Ascending order, so a later (higher) match overwrites an earlier one.
    for step in now.saturating_sub(WINDOW)..=now.saturating_add(WINDOW) {
        let fresh = last_step.is_none_or(|last| step > last);
        let hit = code_digits(secret, step).ct_eq(typed.as_slice()) & Choice::from(u8::from(fresh));
        step_found = u64::conditional_select(&step_found, &step, hit);
        matched |= hit;
    }
    bool::from(matched).then_some(step_found)
}

/// HOTP (RFC 4226 §5.3): HMAC-SHA1 over the big-endian counter, dynamic truncation to 31
/// bits, reduced to `digits` decimal digits.
fn hotp(secret: &[u8; TOTP_SECRET_BYTES], counter: u64, digits: u32) -> u32 {
    // HMAC zero-pads a key shorter than the hash block to the block size (RFC 2104 §2), so the
    // padded block is the same key; it lets us use the constructor that cannot fail instead
    // of a fallible one whose error branch would need a made-up code.
    let mut key = hmac::digest::Key::<HmacSha1>::default();
    for (k, s) in key.iter_mut().zip(secret) {
        *k = *s;
    }
    let mut mac = <HmacSha1 as KeyInit>::new(&key);
    mac.update(&counter.to_be_bytes());
    let digest: [u8; 20] = mac.finalize().into_bytes().into();
    // The low nibble of the last byte picks the offset (0..=15, so offset + 3 <= 18 < 20).
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    // A 31-bit value has at most 10 digits; when 10^digits does not fit in u32 it is larger
    // than `binary`, and the reduction is the value itself.
    10_u32.checked_pow(digits).map_or(binary, |m| binary % m)
}

/// RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity((bytes.len() * 8).div_ceil(5));
    let mut buffer = 0_u32;
    let mut bits = 0_u32;
    for &byte in bytes {
        buffer = ((buffer << 8) | u32::from(byte)) & 0xfff;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(
                BASE32_ALPHABET[(buffer >> bits) as usize & 0x1f],
            ));
        }
    }
    if bits > 0 {
        out.push(char::from(
            BASE32_ALPHABET[(buffer << (5 - bits)) as usize & 0x1f],
        ));
    }
    out
}

/// Percent-encodes every byte except RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push_str(&format!("{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const RFC_SECRET: &[u8; 20] = b"12345678901234567890";

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(*RFC_SECRET)
    }

    /// RFC 4226 Appendix D.
    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in (0_u64..).zip(expected) {
            assert_eq!(code_at(&rfc_secret(), counter), code, "counter {counter}");
        }
    }

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits).
    #[test]
    fn rfc6238_totp_vectors() {
        let rows: [(i64, u32); 6] = [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        for (time, code) in rows {
            assert_eq!(hotp(RFC_SECRET, step_at(time), 8), code, "T = {time}");
        }
        assert_eq!(
            format!("{:08}", hotp(RFC_SECRET, step_at(1_111_111_109), 8)),
            "07081804"
        );
    }

    #[test]
    fn wide_digit_counts_do_not_overflow() {
        let full = hotp(RFC_SECRET, 0, 10);
        assert!(full < 1 << 31);
        assert_eq!(full % 1_000_000, 755_224);
        assert_eq!(hotp(RFC_SECRET, 0, 12), full);
    }

    #[test]
    fn base32_encodings() {
        assert_eq!(
            rfc_secret().base32().expose(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(rfc_secret().base32().expose().len(), 32);
        // RFC 4648 §10, padding removed.
        for (input, output) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), output);
        }
    }

    #[test]
    fn secret_construction_and_redaction() {
        let secret = rfc_secret();
        assert_eq!(secret.as_bytes(), RFC_SECRET);
        assert!(TotpSecret::from_slice(&RFC_SECRET[..19]).is_none());
        assert!(TotpSecret::from_slice(&[0; 21]).is_none());
        let copy = TotpSecret::from_slice(RFC_SECRET).unwrap();
        assert_eq!(copy.as_bytes(), RFC_SECRET);
        let debug = format!("{secret:?}");
        assert!(!debug.contains("1234"), "{debug}");
        assert!(!debug.contains("GEZD"), "{debug}");
    }

    #[test]
    fn otpauth_uri_is_exact_and_encoded() {
        assert_eq!(
            rfc_secret()
                .otpauth_uri("printwarden", "ana@example.com")
                .expose(),
            "otpauth://totp/printwarden:ana%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=printwarden\
             &algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(
            rfc_secret()
                .otpauth_uri("Print Farm: A&B", "ana smith&secret=x")
                .expose(),
            "otpauth://totp/Print%20Farm%3A%20A%26B:ana%20smith%26secret%3Dx\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Print%20Farm%3A%20A%26B\
             &algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(percent_encode("é~-._"), "%C3%A9~-._");
    }

    #[test]
    fn step_at_clamps_and_divides() {
        assert_eq!(step_at(-1), 0);
        assert_eq!(step_at(i64::MIN), 0);
        assert_eq!(step_at(0), 0);
        assert_eq!(step_at(29), 0);
        assert_eq!(step_at(30), 1);
        assert_eq!(step_at(59), 1);
    }

    #[test]
    fn verify_accepts_one_step_either_side_only() {
        let secret = rfc_secret();
        let t = 1_111_111_111;
        let now = step_at(t);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let step = now.checked_add_signed(offset).unwrap();
            let code = code_at(&secret, step);
            let result = verify(&secret, &code, t, None);
            if accepted {
                assert_eq!(result, Some(step), "offset {offset}");
            } else {
                assert_eq!(result, None, "offset {offset}");
            }
        }
    }

    #[test]
    fn verify_forgives_spaces() {
        let secret = rfc_secret();
        let code = code_at(&secret, step_at(59));
        let spaced = format!(" {} {}\t\n", &code[..3], &code[3..]);
        assert_eq!(verify(&secret, &spaced, 59, None), Some(1));
    }

    #[test]
    fn verify_refuses_replays() {
        let secret = rfc_secret();
        let t = 1_234_567_890;
        let now = step_at(t);
        let code = code_at(&secret, now);
        assert_eq!(verify(&secret, &code, t, None), Some(now));
        assert_eq!(verify(&secret, &code, t, Some(now)), None);
        assert_eq!(verify(&secret, &code, t, Some(now + 1)), None);
        assert_eq!(verify(&secret, &code, t, Some(now - 1)), Some(now));
        // The previous step's code is refused once `now` was used...
        let previous = code_at(&secret, now - 1);
        assert_eq!(verify(&secret, &previous, t, Some(now)), None);
        // ...and the next step's code is still accepted.
        let next = code_at(&secret, now + 1);
        assert_eq!(verify(&secret, &next, t, Some(now)), Some(now + 1));
    }

    #[test]
    fn verify_refuses_malformed_input() {
        let secret = rfc_secret();
        for input in [
            "",
            "12345",
            "1234567",
            "12a456",
            "123-456",
            "１２３４５６",
            "+12345",
            "-12345",
        ] {
            assert_eq!(verify(&secret, input, 59, None), None, "{input:?}");
        }
    }

    #[test]
    fn verify_at_the_epoch_checks_steps_zero_and_one() {
        let secret = rfc_secret();
        assert_eq!(verify(&secret, &code_at(&secret, 0), 0, None), Some(0));
        assert_eq!(verify(&secret, &code_at(&secret, 1), 0, None), Some(1));
        assert_eq!(verify(&secret, &code_at(&secret, 0), -5, None), Some(0));
        assert_eq!(verify(&secret, &code_at(&secret, 2), 0, None), None);
    }

    proptest! {
        #[test]
        fn verify_never_panics(
            bytes in any::<[u8; 20]>(),
            input in any::<String>(),
            time in any::<i64>(),
            last in any::<Option<u64>>(),
        ) {
            let _ = verify(&TotpSecret::from_bytes(bytes), &input, time, last);
        }

        #[test]
        fn current_code_verifies(bytes in any::<[u8; 20]>(), time in any::<i64>()) {
            let secret = TotpSecret::from_bytes(bytes);
            let now = step_at(time);
            let code = code_at(&secret, now);
            prop_assert_eq!(code.len(), 6);
            // The highest matching step wins; the next step's code equals this one about once
            // in a million cases.
            let expected = if code_at(&secret, now + 1) == code { now + 1 } else { now };
            prop_assert_eq!(verify(&secret, &code, time, None), Some(expected));
        }
    }
}
