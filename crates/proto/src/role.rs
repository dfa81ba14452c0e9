//! Workspace roles (DESIGN §1) and their stable string forms.
//!
//! The strings `owner`, `admin`, `developer`, `member` and `no-access` are the wire and storage
//! forms; they never change meaning.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A workspace role.
///
/// What each role may do is decided by the server's policy function, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// All rights; a workspace always keeps at least one owner.
    Owner,
    /// Users, roles, vaults and secrets.
    Admin,
    /// Manages secrets in the vaults and projects they belong to.
    Developer,
    /// Reads what they are given; no edits.
    Member,
    /// A member with no access at all.
    NoAccess,
}

impl Role {
    /// Every role, from the most to the least powerful.
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Developer,
        Role::Member,
        Role::NoAccess,
    ];

    /// The stable string form: `owner|admin|developer|member|no-access`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Member => "member",
            Role::NoAccess => "no-access",
        }
    }
}

/// A string that is not one of the role names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {value:?}: expected one of owner, admin, developer, member, no-access")]
pub struct RoleParseError {
    /// The rejected input (cut to 64 characters).
    pub value: String,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = RoleParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| RoleParseError {
                value: s.chars().take(64).collect(),
            })
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_are_stable() {
        let forms: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            forms,
            ["owner", "admin", "developer", "member", "no-access"]
        );
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
    }

    #[test]
    fn unknown_role_is_a_clear_error() {
        let err = "Owner".parse::<Role>().unwrap_err();
        assert_eq!(err.value, "Owner");
        assert!(err.to_string().contains("no-access"));
        assert!("no_access".parse::<Role>().is_err());
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
        let long = "x".repeat(1000);
        assert_eq!(long.parse::<Role>().unwrap_err().value.len(), 64);
    }
}
