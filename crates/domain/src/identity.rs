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
