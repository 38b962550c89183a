//! TOTP codes for tests: from our own implementation (pw-credentials) and from an independent
//! one (Debian's `oathtool`, installed by scripts/test.sh), so a shared misunderstanding of
//! RFC 6238 cannot make both sides agree.

use pw_credentials::totp::{STEP_SECONDS, TotpSecret, code_at, step_at};

/// RFC 4648 base32 (upper case, no padding) → bytes.
#[must_use]
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .expect("base32 character");
        buffer = (buffer << 5) | u32::try_from(value).expect("small");
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).expect("byte"));
        }
    }
    out
}

/// The code for `secret_base32` at `unix_seconds` (our implementation).
#[must_use]
pub fn totp_at(secret_base32: &str, unix_seconds: i64) -> String {
    let secret = TotpSecret::from_slice(&base32_decode(secret_base32)).expect("20-byte secret");
    code_at(&secret, step_at(unix_seconds))
}

/// The code for the time step after the one of `unix_seconds` (accepted thanks to the ±1
/// step window, and distinct from the current step for replay tests).
#[must_use]
pub fn next_totp(secret_base32: &str, unix_seconds: i64) -> String {
    let step = i64::try_from(STEP_SECONDS).expect("small");
    totp_at(secret_base32, unix_seconds + step)
}

/// The code computed by `oathtool --totp` at `unix_seconds`.
#[must_use]
pub fn oathtool_totp(secret_base32: &str, unix_seconds: i64) -> String {
    let out = std::process::Command::new("oathtool")
        .args([
            "--totp",
            "--base32",
            &format!("--now=@{unix_seconds}"),
            secret_base32,
        ])
        .output()
        .expect("oathtool (apt package oathtool; scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "oathtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// Unix seconds now.
#[must_use]
pub fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("fits")
}
