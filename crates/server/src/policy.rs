//! The one policy function: may a member with a given workspace role do a given action?
//!
//! Every workspace handler calls [`authorize`] before it acts; the rules are the table of
//! `docs/api.md` ("Roles and the policy") and DESIGN §1; creating a workspace vault is one of
//! its actions too ([`Action::CreateVault`]). Roles *within* a vault are
//! [`coffer_proto::VaultRole`] and checked by the vault handlers. State-dependent rules that no
//! role can override (the last owner cannot leave, be demoted or be removed) are checked by the
//! handlers against the store and answer `409 conflict`.

use coffer_proto::Role;

/// Something a member may try to do in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the workspace, list its members.
    ReadWorkspace,
    /// Invite someone with this role.
    Invite {
        /// The role offered.
        role: Role,
    },
    /// Change a member's role.
    ChangeRole {
        /// The member's current role.
        from: Role,
        /// The new role.
        to: Role,
    },
    /// Remove another member.
    RemoveMember {
        /// That member's role.
        target: Role,
    },
    /// Set the workspace policy (`mfa_required`).
    SetPolicy,
    /// Read the workspace's audit log.
    ReadAudit,
    /// Leave the workspace (remove oneself).
    Leave,
    /// Create a local vault in the workspace (owner, admin, developer).
    CreateVault,
    /// Confirm a member: store an attestation of their identity key (owner, admin).
    ConfirmMember,
    /// Issue a password reset for a member (protocol.md §20): an owner for admins and below,
    /// an admin for developers and below; never for an owner.
    ResetPassword {
        /// That member's role.
        target: Role,
    },
    /// Create teams and add or remove their members (owner, admin). Linking a team to a vault
    /// and deciding its access requests are vault-manager actions, checked by the handlers.
    ManageTeams,
}

/// Refusal by the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the role {role:?} may not {action:?}")]
pub struct Denied {
    /// The actor's role.
    pub role: Role,
    /// What was refused.
    pub action: Action,
}

/// Rank of a role: owner 4 > admin 3 > developer 2 > member 1 > no-access 0.
fn rank(role: Role) -> u8 {
    match role {
        Role::Owner => 4,
        Role::Admin => 3,
        Role::Developer => 2,
        Role::Member => 1,
        Role::NoAccess => 0,
    }
}

/// Decides whether `actor` may do `action`. Anything touching the owner role (inviting as
/// owner, making or demoting an owner, removing an owner) needs an owner; managing other
/// members needs admin or more; reading needs member or more; anyone may leave.
pub fn authorize(actor: Role, action: Action) -> Result<(), Denied> {
    let r = rank(actor);
    let allowed = match action {
        Action::ReadWorkspace => r >= rank(Role::Member),
        Action::SetPolicy | Action::ReadAudit | Action::ConfirmMember | Action::ManageTeams => {
            r >= rank(Role::Admin)
        }
        Action::Invite { role } | Action::RemoveMember { target: role } => {
            if role == Role::Owner {
                actor == Role::Owner
            } else {
                r >= rank(Role::Admin)
            }
        }
        Action::ChangeRole { from, to } => {
            if from == Role::Owner || to == Role::Owner {
                actor == Role::Owner
            } else {
                r >= rank(Role::Admin)
            }
        }
        Action::Leave => true,
        Action::CreateVault => r >= rank(Role::Developer),
        Action::ResetPassword { target } => {
            target != Role::Owner && r >= rank(Role::Admin) && r > rank(target)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied {
            role: actor,
            action,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Role::{Admin as A, Developer as D, Member as M, NoAccess as N, Owner as O};

    const Y: bool = true;
    const X: bool = false;

    /// The full role × action table, as data. Columns: owner, admin, developer, member,
    /// no-access. Every `ChangeRole` pair of roles is listed.
    #[rustfmt::skip]
    const TABLE: &[(Action, [bool; 5])] = &[
        (Action::ReadWorkspace,                  [Y, Y, Y, Y, X]),
        (Action::Invite { role: O },             [Y, X, X, X, X]),
        (Action::Invite { role: A },             [Y, Y, X, X, X]),
        (Action::Invite { role: D },             [Y, Y, X, X, X]),
        (Action::Invite { role: M },             [Y, Y, X, X, X]),
        (Action::Invite { role: N },             [Y, Y, X, X, X]),
        (Action::ChangeRole { from: O, to: O },  [Y, X, X, X, X]),
        (Action::ChangeRole { from: O, to: A },  [Y, X, X, X, X]),
        (Action::ChangeRole { from: O, to: D },  [Y, X, X, X, X]),
        (Action::ChangeRole { from: O, to: M },  [Y, X, X, X, X]),
        (Action::ChangeRole { from: O, to: N },  [Y, X, X, X, X]),
        (Action::ChangeRole { from: A, to: O },  [Y, X, X, X, X]),
        (Action::ChangeRole { from: A, to: A },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: A, to: D },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: A, to: M },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: A, to: N },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: D, to: O },  [Y, X, X, X, X]),
        (Action::ChangeRole { from: D, to: A },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: D, to: D },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: D, to: M },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: D, to: N },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: M, to: O },  [Y, X, X, X, X]),
        (Action::ChangeRole { from: M, to: A },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: M, to: D },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: M, to: M },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: M, to: N },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: N, to: O },  [Y, X, X, X, X]),
        (Action::ChangeRole { from: N, to: A },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: N, to: D },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: N, to: M },  [Y, Y, X, X, X]),
        (Action::ChangeRole { from: N, to: N },  [Y, Y, X, X, X]),
        (Action::RemoveMember { target: O },     [Y, X, X, X, X]),
        (Action::RemoveMember { target: A },     [Y, Y, X, X, X]),
        (Action::RemoveMember { target: D },     [Y, Y, X, X, X]),
        (Action::RemoveMember { target: M },     [Y, Y, X, X, X]),
        (Action::RemoveMember { target: N },     [Y, Y, X, X, X]),
        (Action::SetPolicy,                      [Y, Y, X, X, X]),
        (Action::ReadAudit,                      [Y, Y, X, X, X]),
        (Action::Leave,                          [Y, Y, Y, Y, Y]),
        (Action::CreateVault,                    [Y, Y, Y, X, X]),
        (Action::ConfirmMember,                  [Y, Y, X, X, X]),
        (Action::ResetPassword { target: O },    [X, X, X, X, X]),
        (Action::ResetPassword { target: A },    [Y, X, X, X, X]),
        (Action::ResetPassword { target: D },    [Y, Y, X, X, X]),
        (Action::ResetPassword { target: M },    [Y, Y, X, X, X]),
        (Action::ResetPassword { target: N },    [Y, Y, X, X, X]),
        (Action::ManageTeams,                    [Y, Y, X, X, X]),
    ];

    #[test]
    fn full_role_action_table() {
        let roles = [O, A, D, M, N];
        assert_eq!(TABLE.len(), 1 + 5 + 25 + 5 + 3 + 1 + 1 + 5 + 1);
        for (action, expected) in TABLE {
            for (role, want) in roles.iter().zip(expected) {
                let got = authorize(*role, *action).is_ok();
                assert_eq!(got, *want, "{role:?} × {action:?}");
            }
        }
    }

    #[test]
    fn denial_names_role_and_action() {
        let d = authorize(M, Action::SetPolicy).unwrap_err();
        assert_eq!(d.role, M);
        assert_eq!(d.action, Action::SetPolicy);
    }
}
