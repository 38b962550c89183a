//! Identity value objects: usernames, email addresses, group names and printer scopes. Each is
//! parsed once at the edge; holding one means it is valid, so deeper layers never re-check.
//!
//! Invariant: uniqueness is decided on the case-folded key (`Username::key`, `Email::key`,
//! `GroupName::key`), never on the display form, so `Admin` and `admin` are one account.
//! Usernames are NFKC-normalised and then limited to ASCII, so no two names that look alike
//! can be two accounts (threat: `ＡＤＭＩＮ` in fullwidth forms, or `аdmin` with a Cyrillic
//! `а`, posing as `admin` in the audit log and the user list). No name a person types may carry
//! invisible characters ([`is_hidden_char`]): bidi overrides, zero-width and other format or
//! control characters (threat: a name that renders as something else, e.g. U+202E before `nimda`).

use std::collections::BTreeSet;
use std::fmt;

use unicode_normalization::UnicodeNormalization;

use crate::{LocationId, PrinterId};

/// Why a value object was refused; the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// Whether `c` is invisible or changes how the text around it is shown: control characters
/// (Cc), format characters (Cf: bidi embeddings, overrides and isolates, zero-width joiners and
/// spaces, the byte-order mark, soft hyphen, tags …) and the line and paragraph separators.
/// Such a character has no place in a name a person typed and another person reads.
#[must_use]
pub fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0001}'
                | '\u{E0020}'..='\u{E007F}'
        )
}

/// Whether a typed name carries any [`is_hidden_char`].
#[must_use]
pub fn has_hidden_chars(s: &str) -> bool {
    s.chars().any(is_hidden_char)
}

/// A login name: 1–64 ASCII letters, digits and `. _ - @` after NFKC normalisation (fullwidth
/// `ＡＤＭＩＮ` becomes `ADMIN`), compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Longest accepted username, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Parses a username as typed (surrounding spaces are ignored, compatibility forms are
    /// folded by NFKC).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let normalized: String = raw.nfkc().collect();
        let s = normalized.trim();
        if s.is_empty() {
            return Err(Invalid("The username must not be empty."));
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(Invalid("The username must be at most 64 characters."));
        }
        // ASCII only: letters of other scripts include look-alikes of Latin ones (Cyrillic а,
        // Greek ο) that no normalisation folds, so a mixed name could pose as another.
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(Invalid(
                "The username may contain only letters, digits and . _ - @ (letters a to z, without accents or other alphabets).",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// Rebuilds a stored username (already validated when it was stored).
    #[must_use]
    pub fn from_db(raw: String) -> Self {
        Self(raw)
    }

    /// The username as the user typed it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness and login key: lower case.
    #[must_use]
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address: `local@domain`, at most 254 bytes, no spaces or control characters.
/// Deliberately permissive beyond that; the real check is whether mail arrives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses an address as typed (surrounding spaces are ignored).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.len() > 254 {
            return Err(Invalid("The email address must be at most 254 characters."));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(Invalid("The email address needs an @."));
        };
        if local.is_empty()
            || domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || s.chars().any(|c| c.is_whitespace() || is_hidden_char(c))
        {
            return Err(Invalid(
                "The email address is not valid (expected name@example.com).",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// Rebuilds a stored address.
    #[must_use]
    pub fn from_db(raw: String) -> Self {
        Self(raw)
    }

    /// The address as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key: lower case.
    #[must_use]
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A group name: 1–64 printable characters, unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct GroupName(String);

impl GroupName {
    /// Parses a group name (surrounding spaces are ignored).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Invalid("The group name must not be empty."));
        }
        if s.chars().count() > 64 {
            return Err(Invalid("The group name must be at most 64 characters."));
        }
        if has_hidden_chars(s) {
            return Err(Invalid(
                "The group name must not contain control or invisible formatting characters.",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// Rebuilds a stored name.
    #[must_use]
    pub fn from_db(raw: String) -> Self {
        Self(raw)
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key: lower case.
    #[must_use]
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// Where a group's printer-bound rights apply: these locations and these printers. A group
/// without a scope applies everywhere; a scope always names at least one place.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PrinterScope {
    /// Every printer in these locations.
    #[serde(default)]
    pub locations: BTreeSet<LocationId>,
    /// These printers, wherever they are.
    #[serde(default)]
    pub printers: BTreeSet<PrinterId>,
}

impl PrinterScope {
    /// Checks that the scope names at least one place (an empty scope would silently grant
    /// nothing; "everywhere" is written as no scope at all).
    pub fn validate(self) -> Result<Self, Invalid> {
        if self.locations.is_empty() && self.printers.is_empty() {
            return Err(Invalid(
                "A scope must name at least one location or printer; leave it out to apply everywhere.",
            ));
        }
        Ok(self)
    }

    /// Whether a printer (in an optional location) is inside the scope.
    #[must_use]
    pub fn covers(&self, printer: PrinterId, location: Option<LocationId>) -> bool {
        self.printers.contains(&printer) || location.is_some_and(|l| self.locations.contains(&l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_fold_case_and_refuse_odd_characters() {
        let u = Username::parse("  Alice.B ").unwrap();
        assert_eq!(u.as_str(), "Alice.B");
        assert_eq!(u.key(), "alice.b");
        for bad in ["", "   ", "a b", "x/y", "semi;colon", &"a".repeat(65)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Username::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn usernames_fold_compatibility_forms_and_refuse_other_scripts() {
        // Fullwidth letters fold to ASCII, so they meet `admin` at the uniqueness key.
        assert_eq!(Username::parse("ＡＤＭＩＮ").unwrap().key(), "admin");
        assert_eq!(Username::parse("ａｄｍｉｎ１").unwrap().as_str(), "admin1");
        // Look-alikes from other scripts are refused rather than guessed at.
        for bad in [
            "\u{0430}dmin",  // Cyrillic а
            "adm\u{0456}n",  // Cyrillic і
            "\u{03BF}scar",  // Greek ο
            "admin\u{200B}", // zero-width space
            "\u{202E}nimda", // right-to-left override
            "é",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hidden_characters_are_refused_in_names_and_addresses() {
        for c in [
            '\u{202E}',
            '\u{2066}',
            '\u{200F}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{2028}',
            '\u{E0041}',
            '\n',
        ] {
            assert!(is_hidden_char(c), "{c:?}");
            let name = format!("Farm{c}A");
            assert!(GroupName::parse(&name).is_err(), "{name:?}");
            assert!(Email::parse(&format!("a{c}b@example.com")).is_err());
        }
        for c in ['a', 'é', 'ж', '中', ' ', '-', '🙂'] {
            assert!(!is_hidden_char(c), "{c:?}");
        }
        assert!(GroupName::parse("Ateliér Ost 🙂").is_ok());
    }

    #[test]
    fn emails_need_a_domain_with_a_dot() {
        assert_eq!(
            Email::parse(" A@Example.com ").unwrap().key(),
            "a@example.com"
        );
        for bad in ["", "a", "a@", "@b.c", "a@b", "a@.b", "a b@c.d", "a@b.c."] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scopes_name_a_place_and_cover_by_printer_or_location() {
        assert!(PrinterScope::default().validate().is_err());
        let scope = PrinterScope {
            locations: [LocationId::from_db(1)].into(),
            printers: [PrinterId::from_db(7)].into(),
        };
        assert!(scope.covers(PrinterId::from_db(7), None));
        assert!(scope.covers(PrinterId::from_db(8), Some(LocationId::from_db(1))));
        assert!(!scope.covers(PrinterId::from_db(8), Some(LocationId::from_db(2))));
        assert!(!scope.covers(PrinterId::from_db(8), None));
    }
}

/// What a group demands of its members' sign-ins (issue 19): nothing beyond the first step,
/// any second factor, or a passkey. A user in several groups is held to the strictest.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SignInRequirement {
    /// The password (or directory, or provider) alone suffices.
    #[default]
    None,
    /// A second factor: an authenticator app, emailed codes or a passkey.
    TwoFactor,
    /// A passkey (alone or as the second factor).
    Passkey,
}

impl SignInRequirement {
    /// Every requirement, least strict first.
    pub const ALL: [SignInRequirement; 3] = [
        SignInRequirement::None,
        SignInRequirement::TwoFactor,
        SignInRequirement::Passkey,
    ];

    /// The stored and wire form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SignInRequirement::None => "none",
            SignInRequirement::TwoFactor => "two_factor",
            SignInRequirement::Passkey => "passkey",
        }
    }

    /// Parses the stored form; anything unknown is the strictest requirement (fail closed: a
    /// value written by a newer release must not relax the rule).
    #[must_use]
    pub fn from_db(raw: &str) -> Self {
        match raw {
            "none" => SignInRequirement::None,
            "two_factor" => SignInRequirement::TwoFactor,
            _ => SignInRequirement::Passkey,
        }
    }

    /// Whether a sign-in of this strength meets the requirement.
    #[must_use]
    pub const fn met_by(self, strength: SignInStrength) -> bool {
        match self {
            SignInRequirement::None => true,
            SignInRequirement::TwoFactor => {
                matches!(
                    strength,
                    SignInStrength::TwoFactor | SignInStrength::Passkey
                )
            }
            SignInRequirement::Passkey => matches!(strength, SignInStrength::Passkey),
        }
    }

    /// What a member must set up, in words for the person who must do it.
    #[must_use]
    pub const fn explain(self) -> &'static str {
        match self {
            SignInRequirement::None => "",
            SignInRequirement::TwoFactor => {
                "Your group requires a second sign-in step. Set up an authenticator app, emailed codes or a passkey on your Account page before you continue."
            }
            SignInRequirement::Passkey => {
                "Your group requires signing in with a passkey. Add a passkey on your Account page (or sign in with one) before you continue."
            }
        }
    }
}

/// What a sign-in proved, strongest last: the first step only (a password, the directory or
/// an identity provider), a second factor (TOTP, a backup code, an emailed code), or a
/// passkey (alone or as the second factor). Kept with the session it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum SignInStrength {
    /// One step.
    #[default]
    Password,
    /// A second factor besides the first step.
    TwoFactor,
    /// A passkey.
    Passkey,
}

impl SignInStrength {
    /// The stored form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SignInStrength::Password => "password",
            SignInStrength::TwoFactor => "two_factor",
            SignInStrength::Passkey => "passkey",
        }
    }

    /// Parses the stored form; anything unknown is the weakest (fail closed).
    #[must_use]
    pub fn from_db(raw: &str) -> Self {
        match raw {
            "two_factor" => SignInStrength::TwoFactor,
            "passkey" => SignInStrength::Passkey,
            _ => SignInStrength::Password,
        }
    }
}

#[cfg(test)]
mod sign_in_tests {
    use super::*;

    #[test]
    fn requirements_are_met_by_strong_enough_sign_ins_only() {
        use SignInRequirement as R;
        use SignInStrength as S;
        assert!(R::None.met_by(S::Password));
        assert!(!R::TwoFactor.met_by(S::Password));
        assert!(R::TwoFactor.met_by(S::TwoFactor));
        assert!(R::TwoFactor.met_by(S::Passkey));
        assert!(!R::Passkey.met_by(S::TwoFactor));
        assert!(R::Passkey.met_by(S::Passkey));
        assert!(R::None < R::TwoFactor && R::TwoFactor < R::Passkey);
        for r in R::ALL {
            assert_eq!(R::from_db(r.as_str()), r);
        }
        assert_eq!(R::from_db("something new"), R::Passkey);
        assert_eq!(S::from_db("something new"), S::Password);
    }
}

/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX: usize = 64;

/// The name shown for a person ("Alice Operator"): 1–64 characters, no control or invisible
/// characters. Never used to decide anything (the username is the identity); shown escaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses what a person typed: surrounding spaces ignored, empty means "no display name"
    /// (`Ok(None)`).
    pub fn parse(raw: &str) -> Result<Option<Self>, Invalid> {
        let s = raw.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if s.chars().count() > DISPLAY_NAME_MAX {
            return Err(Invalid("The display name must be at most 64 characters."));
        }
        if has_hidden_chars(s) {
            return Err(Invalid(
                "The display name must not contain control or invisible formatting characters.",
            ));
        }
        Ok(Some(Self(s.to_owned())))
    }

    /// Takes what a directory or an identity provider says, leniently: invisible and control
    /// characters dropped (threat: a name that renders as something else), then cut to 64
    /// characters; nothing left means no display name. A sign-in never fails over a name.
    #[must_use]
    pub fn from_external(raw: &str) -> Option<Self> {
        let cleaned: String = raw.chars().filter(|c| !is_hidden_char(*c)).collect();
        let s: String = cleaned.trim().chars().take(DISPLAY_NAME_MAX).collect();
        let s = s.trim();
        (!s.is_empty()).then(|| Self(s.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod display_name_tests {
    use super::*;

    #[test]
    fn typed_names_are_checked_and_external_ones_cleaned() {
        assert_eq!(DisplayName::parse("  "), Ok(None));
        assert_eq!(
            DisplayName::parse(" Alice O. ").unwrap().unwrap().as_str(),
            "Alice O."
        );
        assert!(DisplayName::parse(&"x".repeat(65)).is_err());
        assert!(DisplayName::parse("a\u{202e}b").is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        assert_eq!(
            DisplayName::from_external("\u{202e}Mallory\u{200b} ")
                .unwrap()
                .as_str(),
            "Mallory"
        );
        assert_eq!(
            DisplayName::from_external(&"y".repeat(200))
                .unwrap()
                .as_str()
                .len(),
            64
        );
        assert_eq!(DisplayName::from_external("\u{200b}"), None);
    }
}
