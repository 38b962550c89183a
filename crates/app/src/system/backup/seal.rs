//! How a backup is sealed and opened: with a passphrase (age's scrypt recipient), or to an age
//! public key — X25519 (`age1…`) or post-quantum (`age1pq1…`) — and opened with its identity
//! file (`AGE-SECRET-KEY-1…` lines).
//!
//! Invariants: a backup is sealed to exactly one passphrase **or** one public key, never both
//! (age refuses a passphrase beside other recipients, and a file with two ways in is as weak as
//! the weaker); a public key is checked when it is parsed, at the edge; identities never appear
//! in `Debug` output or messages (threat: a key in a log opens every backup made to it).
#![expect(
    deprecated,
    reason = "X25519 age1… keys are what age-keygen writes and operators hold; age 0.13 marks \
              them deprecated in favour of post-quantum keys, which are accepted too"
)]

use std::fmt;
use std::str::FromStr;

use pw_credentials::SecretString;

use super::{BackupError, check_new_passphrase};

/// scrypt's work factor (log2 N) for a new passphrase backup: fixed, about a second and 256 MiB
/// on a small server. age would measure the machine at that moment instead, and a backup made on
/// an idle machine could then be refused on a busy or slower one ("more work than allowed").
pub const SCRYPT_LOG_N: u8 = 18;
/// The most work a backup may ask for when it is opened (1 GiB of memory): enough for backups
/// from a fast machine, not a lever for an archive built to exhaust memory.
pub const SCRYPT_MAX_LOG_N: u8 = 20;

/// An age public key a backup can be sealed to.
#[derive(Clone, PartialEq, Eq)]
pub enum BackupRecipient {
    /// `age1…`: X25519, what `age-keygen` writes.
    X25519(age::x25519::Recipient),
    /// `age1pq1…`: the hybrid post-quantum key (`age-keygen -pq`).
    PostQuantum(Box<age::pq::Recipient>),
}

impl FromStr for BackupRecipient {
    type Err = BackupError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let refused = || {
            BackupError::Passphrase(
                "the recipient is not an age public key (it starts with age1 and comes from \
                 age-keygen; give the public key, never the secret one)"
                    .to_owned(),
            )
        };
        if text.starts_with("AGE-SECRET-KEY") {
            // Threat: the operator pasted the key that opens the backups; say so rather than
            // keep it anywhere.
            return Err(BackupError::Passphrase(
                "this is a secret key: give its public key (age1…), which only seals; keep the \
                 secret key away from the server"
                    .to_owned(),
            ));
        }
        if text.len() > 4096 {
            return Err(refused());
        }
        if text.starts_with("age1pq1") {
            return text
                .parse::<age::pq::Recipient>()
                .map(|r| Self::PostQuantum(Box::new(r)))
                .map_err(|_| refused());
        }
        text.parse::<age::x25519::Recipient>()
            .map(Self::X25519)
            .map_err(|_| refused())
    }
}

impl fmt::Display for BackupRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::X25519(r) => write!(f, "{r}"),
            Self::PostQuantum(r) => write!(f, "{r}"),
        }
    }
}

impl fmt::Debug for BackupRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackupRecipient({self})")
    }
}

impl BackupRecipient {
    fn as_age(&self) -> &dyn age::Recipient {
        match self {
            Self::X25519(r) => r,
            Self::PostQuantum(r) => r.as_ref(),
        }
    }
}

/// How a new backup is sealed.
#[derive(Clone)]
pub enum Sealing {
    /// A passphrase of at least [`super::MIN_PASSPHRASE`] characters.
    Passphrase(SecretString),
    /// An age public key; only its identity file opens the backup.
    Recipient(BackupRecipient),
}

impl fmt::Debug for Sealing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Passphrase(_) => f.write_str("Sealing::Passphrase(…)"),
            Self::Recipient(r) => write!(f, "Sealing::Recipient({r})"),
        }
    }
}

impl Sealing {
    /// A passphrase sealing, checked for length.
    pub fn passphrase(passphrase: SecretString) -> Result<Self, BackupError> {
        check_new_passphrase(passphrase.expose())?;
        Ok(Self::Passphrase(passphrase))
    }

    /// Words for the operator: "a passphrase" or "the public key age1…".
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Passphrase(_) => "a passphrase".to_owned(),
            Self::Recipient(r) => format!("the public key {r}"),
        }
    }

    pub(crate) fn encryptor(&self) -> Result<age::Encryptor, BackupError> {
        match self {
            Self::Passphrase(p) => {
                let mut recipient = age::scrypt::Recipient::new(age::secrecy::SecretString::from(
                    p.expose().to_owned(),
                ));
                recipient.set_work_factor(SCRYPT_LOG_N);
                age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                    .map_err(|e| BackupError::Refused(format!("cannot seal the backup: {e}")))
            }
            Self::Recipient(r) => age::Encryptor::with_recipients(std::iter::once(r.as_age()))
                .map_err(|e| BackupError::Refused(format!("cannot seal to that public key: {e}"))),
        }
    }
}

/// A secret age key that opens backups sealed to its public key.
#[derive(Clone)]
pub enum BackupIdentity {
    /// `AGE-SECRET-KEY-1…`.
    X25519(age::x25519::Identity),
    /// `AGE-SECRET-KEY-PQ-1…`.
    PostQuantum(Box<age::pq::Identity>),
}

impl fmt::Debug for BackupIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupIdentity(…)")
    }
}

impl BackupIdentity {
    /// Every key in an identity file (`age-keygen` output: comments and one key per line).
    pub fn parse_file(text: &str) -> Result<Vec<Self>, BackupError> {
        let mut out = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = if line.starts_with("AGE-SECRET-KEY-PQ-") {
                line.parse::<age::pq::Identity>()
                    .ok()
                    .map(|i| Self::PostQuantum(Box::new(i)))
            } else {
                line.parse::<age::x25519::Identity>().ok().map(Self::X25519)
            };
            // The line is never repeated in the message: it may be a mistyped secret key.
            let Some(identity) = parsed else {
                return Err(BackupError::Passphrase(
                    "the identity file holds a line that is not an age secret key (AGE-SECRET-KEY-1…)"
                        .to_owned(),
                ));
            };
            out.push(identity);
        }
        if out.is_empty() {
            return Err(BackupError::Passphrase(
                "the identity file holds no age secret key".to_owned(),
            ));
        }
        Ok(out)
    }

    fn as_age(&self) -> &dyn age::Identity {
        match self {
            Self::X25519(i) => i,
            Self::PostQuantum(i) => i.as_ref(),
        }
    }
}

/// How a backup is opened: the passphrase it was sealed with, or identities one of which
/// matches the public key it was sealed to.
#[derive(Clone)]
pub enum Opening {
    /// For a passphrase backup.
    Passphrase(SecretString),
    /// For a backup sealed to a public key.
    Identities(Vec<BackupIdentity>),
}

impl fmt::Debug for Opening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Passphrase(_) => f.write_str("Opening::Passphrase(…)"),
            Self::Identities(i) => write!(f, "Opening::Identities({} keys)", i.len()),
        }
    }
}

impl From<&SecretString> for Opening {
    fn from(passphrase: &SecretString) -> Self {
        Self::Passphrase(passphrase.clone())
    }
}

impl From<&Opening> for Opening {
    fn from(opening: &Opening) -> Self {
        opening.clone()
    }
}

impl Opening {
    /// The decrypted stream, or why it cannot be opened with this.
    pub(crate) fn open<R: std::io::BufRead>(
        &self,
        decryptor: age::Decryptor<R>,
    ) -> Result<age::stream::StreamReader<R>, BackupError> {
        match self {
            Self::Passphrase(passphrase) => {
                if !decryptor.is_scrypt() {
                    return Err(BackupError::Passphrase(
                        "this backup is sealed to a public key, not a passphrase: open it with \
                         its identity file"
                            .to_owned(),
                    ));
                }
                let mut identity = age::scrypt::Identity::new(age::secrecy::SecretString::from(
                    passphrase.expose().to_owned(),
                ));
                identity.set_max_work_factor(SCRYPT_MAX_LOG_N);
                decryptor
                    .decrypt(std::iter::once(&identity as &dyn age::Identity))
                    .map_err(super::read::decrypt_error)
            }
            Self::Identities(identities) => {
                if decryptor.is_scrypt() {
                    return Err(BackupError::Passphrase(
                        "this backup is sealed with a passphrase, not a public key: open it with \
                         its passphrase"
                            .to_owned(),
                    ));
                }
                decryptor
                    .decrypt(identities.iter().map(BackupIdentity::as_age))
                    .map_err(|e| match e {
                        age::DecryptError::NoMatchingKeys => BackupError::Passphrase(
                            "none of the identity file's keys opens this backup: it was sealed \
                             to another public key"
                                .to_owned(),
                        ),
                        other => super::read::decrypt_error(other),
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_parse_and_secret_keys_are_refused() {
        let identity = age::x25519::Identity::generate();
        let public = identity.to_public().to_string();
        let parsed: BackupRecipient = public.parse().unwrap();
        assert_eq!(parsed.to_string(), public);
        let pq = age::pq::Identity::generate().to_public().to_string();
        assert!(matches!(
            pq.parse::<BackupRecipient>().unwrap(),
            BackupRecipient::PostQuantum(_)
        ));
        let secret = identity.to_string();
        let e = secret
            .expose_secret()
            .parse::<BackupRecipient>()
            .unwrap_err();
        assert!(e.to_string().contains("secret key"), "{e}");
        assert!(!e.to_string().contains(secret.expose_secret()));
        assert!("age1nope".parse::<BackupRecipient>().is_err());
        assert!("".parse::<BackupRecipient>().is_err());
    }

    #[test]
    fn identity_files_parse_without_echoing_a_bad_line() {
        let identity = age::x25519::Identity::generate();
        let file = format!(
            "# created: today\n# public key: {}\n{}\n",
            identity.to_public(),
            identity.to_string().expose_secret()
        );
        assert_eq!(BackupIdentity::parse_file(&file).unwrap().len(), 1);
        let e = BackupIdentity::parse_file("AGE-SECRET-KEY-1TYPO\n").unwrap_err();
        assert!(!e.to_string().contains("TYPO"));
        assert!(BackupIdentity::parse_file("# nothing\n").is_err());
    }

    use age::secrecy::ExposeSecret;
}
