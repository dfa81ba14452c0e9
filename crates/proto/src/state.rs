//! Life-cycle states with stable string forms: [`DeviceState`] (`pending|trusted|revoked`),
//! [`InviteState`] (`pending|accepted|revoked`) and [`AccessRequestState`]
//! (`pending|approved|denied`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that is not one of a state's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}: expected one of {expected}")]
pub struct StateParseError {
    /// Which state was being parsed (`device state`, `invite state`).
    pub kind: &'static str,
    /// The accepted forms, comma separated.
    pub expected: &'static str,
    /// The rejected input (cut to 64 characters).
    pub value: String,
}

/// The trust state of a device (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceState {
    /// Registered, waiting for approval by a trusted device or an admin.
    Pending,
    /// Approved: holds a certificate signed by its user's identity key.
    Trusted,
    /// Revoked: its sessions are revoked and it receives no new grants.
    Revoked,
}

impl DeviceState {
    /// Every state.
    pub const ALL: [DeviceState; 3] = [
        DeviceState::Pending,
        DeviceState::Trusted,
        DeviceState::Revoked,
    ];

    /// The stable string form: `pending|trusted|revoked`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeviceState::Pending => "pending",
            DeviceState::Trusted => "trusted",
            DeviceState::Revoked => "revoked",
        }
    }
}

/// The state of a workspace invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteState {
    /// Sent, not yet answered.
    Pending,
    /// Accepted: the invitee is a member.
    Accepted,
    /// Withdrawn by an admin.
    Revoked,
}

impl InviteState {
    /// Every state.
    pub const ALL: [InviteState; 3] = [
        InviteState::Pending,
        InviteState::Accepted,
        InviteState::Revoked,
    ];

    /// The stable string form: `pending|accepted|revoked`.
    pub const fn as_str(self) -> &'static str {
        match self {
            InviteState::Pending => "pending",
            InviteState::Accepted => "accepted",
            InviteState::Revoked => "revoked",
        }
    }
}

/// The state of an access request (a team member's request for a vault, protocol.md §18.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessRequestState {
    /// Waiting for a vault manager.
    Pending,
    /// A manager's device issued the grants; the user is a member of the vault.
    Approved,
    /// A manager refused it; nothing was granted.
    Denied,
}

impl AccessRequestState {
    /// Every state.
    pub const ALL: [AccessRequestState; 3] = [
        AccessRequestState::Pending,
        AccessRequestState::Approved,
        AccessRequestState::Denied,
    ];

    /// The stable string form: `pending|approved|denied`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AccessRequestState::Pending => "pending",
            AccessRequestState::Approved => "approved",
            AccessRequestState::Denied => "denied",
        }
    }
}

/// Implements `Display`, `FromStr` and string serde for a state enum with `ALL` and `as_str`.
macro_rules! string_enum {
    ($name:ident, $kind:literal, $expected:literal) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = StateParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| StateParseError {
                        kind: $kind,
                        expected: $expected,
                        value: s.chars().take(64).collect(),
                    })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
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

string_enum!(DeviceState, "device state", "pending, trusted, revoked");
string_enum!(InviteState, "invite state", "pending, accepted, revoked");
string_enum!(
    AccessRequestState,
    "access request state",
    "pending, approved, denied"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_state_forms_are_stable() {
        let forms: Vec<&str> = DeviceState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(forms, ["pending", "trusted", "revoked"]);
        for s in DeviceState::ALL {
            assert_eq!(s.to_string().parse::<DeviceState>().unwrap(), s);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<DeviceState>(&json).unwrap(), s);
        }
    }

    #[test]
    fn access_request_state_forms_are_stable() {
        let forms: Vec<&str> = AccessRequestState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(forms, ["pending", "approved", "denied"]);
        for s in AccessRequestState::ALL {
            assert_eq!(s.to_string().parse::<AccessRequestState>().unwrap(), s);
        }
        assert!("granted".parse::<AccessRequestState>().is_err());
    }

    #[test]
    fn invite_state_forms_are_stable() {
        let forms: Vec<&str> = InviteState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(forms, ["pending", "accepted", "revoked"]);
        for s in InviteState::ALL {
            assert_eq!(s.to_string().parse::<InviteState>().unwrap(), s);
        }
    }

    #[test]
    fn unknown_state_names_kind_and_value() {
        let err = "approved".parse::<DeviceState>().unwrap_err();
        assert_eq!(err.kind, "device state");
        assert_eq!(err.value, "approved");
        assert!(err.to_string().contains("pending, trusted, revoked"));
        assert!(serde_json::from_str::<InviteState>("\"Pending\"").is_err());
    }
}
