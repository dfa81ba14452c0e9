//! Typed identifiers: one newtype over [`uuid::Uuid`] per kind of principal or object, so a
//! `UserId` can never be passed where a `DeviceId` is expected.
//!
//! Every id displays as the lowercase hyphenated UUID form (`67e55044-10b1-426f-9247-bb680e5fe0c8`),
//! parses from it (and from the other forms [`uuid::Uuid`] accepts), and is serialised by serde
//! as that string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A string that is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: expected a UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8")]
pub struct IdParseError {
    /// Which kind of id was being parsed (`user id`, `device id`, ...).
    pub kind: &'static str,
}

/// Defines one id newtype with its constructors, `Display`, `FromStr` and string serde.
macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (version 4) id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| IdParseError { kind: $kind })
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

define_id!(
    /// A user: one person, with one identity key pair.
    UserId,
    "user id"
);
define_id!(
    /// A device: one client install of one user.
    DeviceId,
    "device id"
);
define_id!(
    /// A workspace: an organisation.
    WorkspaceId,
    "workspace id"
);
define_id!(
    /// A login session (the bearer token is separate and never stored).
    SessionId,
    "session id"
);
define_id!(
    /// An invitation of an email address into a workspace.
    InviteId,
    "invite id"
);
define_id!(
    /// A vault.
    VaultId,
    "vault id"
);
define_id!(
    /// An item in a vault.
    ItemId,
    "item id"
);
define_id!(
    /// A team (group of users) in a workspace.
    TeamId,
    "team id"
);
define_id!(
    /// A request that a user be given access to a vault through a team (protocol.md §18.5).
    AccessRequestId,
    "access request id"
);
define_id!(
    /// A service account (a machine identity).
    ServiceAccountId,
    "service account id"
);
define_id!(
    /// A key grant.
    GrantId,
    "grant id"
);
define_id!(
    /// A recovery key of a vault (protocol.md §19).
    RecoveryId,
    "recovery id"
);
define_id!(
    /// An admin-issued password reset (protocol.md §20).
    ResetId,
    "reset id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parse_round_trip() {
        let id = UserId::new_random();
        let s = id.to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(s, s.to_lowercase());
        assert_eq!(s.parse::<UserId>().unwrap(), id);
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(DeviceId::new_random(), DeviceId::new_random());
    }

    #[test]
    fn serde_is_a_plain_string() {
        let id: WorkspaceId = "67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"67e55044-10b1-426f-9247-bb680e5fe0c8\"");
        let back: WorkspaceId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn bad_id_is_rejected_with_its_kind() {
        let err = "not-a-uuid".parse::<SessionId>().unwrap_err();
        assert_eq!(err.kind, "session id");
        assert!(err.to_string().contains("session id"));
        assert!(serde_json::from_str::<SessionId>("\"nope\"").is_err());
        assert!(serde_json::from_str::<SessionId>("42").is_err());
    }

    #[test]
    fn debug_names_the_kind() {
        let id: ItemId = "67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap();
        assert_eq!(
            format!("{id:?}"),
            "ItemId(67e55044-10b1-426f-9247-bb680e5fe0c8)"
        );
    }
}
