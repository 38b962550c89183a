//! Typed integer ids. Keeps a `UserId` from ever being passed where a `GroupId` is expected;
//! ids are positive database keys and parse from path segments exactly once, at the edge.

use std::fmt;
use std::str::FromStr;

/// Error for an id that is not a positive integer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an id must be a positive integer")]
pub struct InvalidId;

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a database key. Keys come from the store, which only hands out valid ones.
            #[must_use]
            pub const fn from_db(raw: i64) -> Self {
                Self(raw)
            }

            /// The raw key, for the store.
            #[must_use]
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.parse::<i64>() {
                    Ok(v) if v > 0 && !s.starts_with('+') => Ok(Self(v)),
                    _ => Err(InvalidId),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = i64::deserialize(d)?;
                if raw > 0 {
                    Ok(Self(raw))
                } else {
                    Err(serde::de::Error::custom(InvalidId))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

typed_id!(
    /// A user account.
    UserId
);
typed_id!(
    /// A group of users that carries permissions.
    GroupId
);
typed_id!(
    /// A signed-in browser session.
    SessionId
);
typed_id!(
    /// An API key (the `<id>` part of `pwk_<id>_<secret>`).
    ApiKeyId
);
typed_id!(
    /// One row of the audit log.
    AuditEventId
);
typed_id!(
    /// A printer.
    PrinterId
);
typed_id!(
    /// A location (a room, a shelf, a site) that printers belong to.
    LocationId
);
typed_id!(
    /// A printer group: a named set of printers a queue item can target.
    PrinterGroupId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_positive_integers() {
        assert_eq!("42".parse::<UserId>(), Ok(UserId::from_db(42)));
        for bad in ["0", "-1", "+5", "", "1.0", "abc", "99999999999999999999"] {
            assert_eq!(bad.parse::<UserId>(), Err(InvalidId), "{bad:?}");
        }
    }

    #[test]
    fn deserialize_rejects_non_positive() {
        assert!(serde_json_like("0").is_err());
        assert_eq!(serde_json_like("7"), Ok(GroupId::from_db(7)));
    }

    fn serde_json_like(s: &str) -> Result<GroupId, String> {
        use serde::de::IntoDeserializer;
        let raw: i64 = s.parse().map_err(|_| "nan".to_owned())?;
        let de: serde::de::value::I64Deserializer<serde::de::value::Error> =
            raw.into_deserializer();
        <GroupId as serde::Deserialize>::deserialize(de).map_err(|e| e.to_string())
    }
}
typed_id!(
    /// An outbound webhook.
    WebhookId
);
typed_id!(
    /// A file in the library.
    LibraryFileId
);
typed_id!(
    /// A folder in the library.
    LibraryFolderId
);
