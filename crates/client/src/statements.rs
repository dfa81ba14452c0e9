//! What the client believes of the signed workspace policy and of vault roles (THREATS (c) 6;
//! docs/protocol.md §17.1 and §18.6). The server serves both; none of it is acted on unless it
//! verifies.
//!
//! - **Policy.** The workspace policy counts only as a statement signed by an identity this
//!   device trusts ([`crate::peers`]) whose served role is owner or admin (or the pinned root),
//!   naming this workspace, with a version at or above the highest this device accepted before
//!   (pinned in `peers.json`). Anything else — no statement, a forged or foreign one, an older
//!   version, clear fields that differ from the signed ones — is ignored with a notice, and the
//!   client behaves as under the default policy (`admin_recovery = manual`).
//! - **Roles.** A vault's root is the member whose self-signed manager statement this device
//!   saw first for the vault (the creator signs one at creation), pinned. A member's role
//!   counts when their statement names this vault, them and their trusted identity, and was
//!   signed by the root or by a member already holding a verified manager statement (to a fixed
//!   point); a statement older than one accepted before is a replay and ignored. A manifest new
//!   to this device is accepted only when its signer's user holds a verified editor or manager
//!   role.

use std::collections::BTreeMap;

use coffer_crypto::PublicKeys;
use coffer_crypto::statement::{PolicySettings, PolicyStatement, RoleStatement};
use coffer_proto::api::{AdminRecovery, B64, MemberInfo, WorkspacePolicy};
use coffer_proto::vault::{MemberRoleStatement, VaultRole};
use coffer_proto::{Role, UserId, VaultId, WorkspaceId};

use crate::Client;
use crate::error::{ClientError, Result};
use crate::peers::{PeerPins, TrustSet};
use crate::vaults::Ctx;

/// The policy this client acts on in one workspace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EffectivePolicy {
    /// The accepted version (0: none, the defaults).
    pub(crate) version: u64,
    /// Whether new vaults are shared with the trusted owners and admins.
    pub(crate) admin_recovery_auto: bool,
    /// Whether the signed policy requires MFA.
    pub(crate) mfa_required: bool,
}

fn uid(b: &[u8; 16]) -> UserId {
    UserId::from_uuid(uuid::Uuid::from_bytes(*b))
}

/// Decides which policy of `ws` to act on from what the server `served`, the members and the
/// trust decision; pins the version accepted and pushes a notice for everything ignored.
pub(crate) fn judge_policy(
    pins: &mut PeerPins,
    trust: &TrustSet,
    members: &[MemberInfo],
    ws: WorkspaceId,
    served: &WorkspacePolicy,
    notices: &mut Vec<String>,
) -> EffectivePolicy {
    let pinned = pins.policies.get(&ws).copied().unwrap_or(0);
    let Some(bytes) = served.statement.as_ref() else {
        if served.admin_recovery == AdminRecovery::Auto || pinned > 0 {
            notices.push(format!(
                "ignoring an unsigned workspace policy (admin_recovery = {}): only a policy \
                 signed by an owner or admin this device trusts counts{}",
                served.admin_recovery.as_str(),
                if pinned > 0 {
                    format!(" (this device accepted signed version {pinned} before)")
                } else {
                    String::new()
                }
            ));
        }
        return EffectivePolicy::default();
    };
    let st = match PolicyStatement::from_bytes(&bytes.0) {
        Ok(s) => s,
        Err(e) => {
            notices.push(format!("ignoring a malformed workspace policy: {e}"));
            return EffectivePolicy::default();
        }
    };
    let signer = uid(st.signer_user());
    let role = members.iter().find(|m| m.user_id == signer).map(|m| m.role);
    let may_sign =
        pins.root_of(ws) == Some(signer) || matches!(role, Some(Role::Owner | Role::Admin));
    let verified = st.workspace() == ws.as_uuid().as_bytes()
        && may_sign
        && trust
            .identities
            .get(&signer)
            .is_some_and(|k| st.verify(k).is_ok());
    if !verified {
        notices.push(
            "ignoring a workspace policy not signed by an owner or admin this device trusts \
             (forged or substituted by the server)"
                .into(),
        );
        return EffectivePolicy::default();
    }
    if st.version() < pinned {
        notices.push(format!(
            "ignoring a stale workspace policy (version {}; this device accepted version \
             {pinned} before): the server replays an old policy",
            st.version()
        ));
        return EffectivePolicy::default();
    }
    pins.policies.insert(ws, st.version());
    let s = st.settings();
    let signed_auto = if s.admin_recovery_auto {
        AdminRecovery::Auto
    } else {
        AdminRecovery::Manual
    };
    if served.admin_recovery != signed_auto {
        notices.push(format!(
            "ignoring an unsigned workspace policy setting: the server says admin_recovery = \
             {}, the signed policy (version {}) says {}",
            served.admin_recovery.as_str(),
            st.version(),
            signed_auto.as_str()
        ));
    }
    EffectivePolicy {
        version: st.version(),
        admin_recovery_auto: s.admin_recovery_auto,
        mfa_required: s.mfa_required,
    }
}

/// The verified roles of `vault`'s members from the served `statements`, given the trusted
/// `identities` (this user's included). Pins the vault's root on first sight and the issue time
/// of each statement accepted. `Err` names why no root could be found.
pub(crate) fn verified_roles(
    pins: &mut PeerPins,
    vault: VaultId,
    statements: &[MemberRoleStatement],
    identities: &BTreeMap<UserId, PublicKeys>,
) -> core::result::Result<BTreeMap<UserId, VaultRole>, String> {
    let vid = *vault.as_uuid().as_bytes();
    // Parsed statements that name this vault and the member they are served for, and whose
    // member identity is the trusted one.
    let parsed: Vec<RoleStatement> = statements
        .iter()
        .filter_map(|s| {
            let st = RoleStatement::from_bytes(&s.statement.0).ok()?;
            (st.vault() == &vid
                && st.member() == s.user_id.as_uuid().as_bytes()
                && identities.get(&s.user_id) == Some(st.identity()))
            .then_some(st)
        })
        .collect();
    let root = match pins.vault_roots.get(&vault) {
        Some(r) => *r,
        None => {
            let first = parsed
                .iter()
                .filter(|st| {
                    st.is_self_issued()
                        && st.role() == VaultRole::Manager.code()
                        && st.verify(st.identity()).is_ok()
                })
                .min_by_key(|st| (st.issued_at(), *st.member()))
                .map(|st| uid(st.member()));
            let Some(r) = first else {
                return Err(
                    "no signed root statement from a trusted vault creator (the vault has no \
                     verifiable roles)"
                        .into(),
                );
            };
            pins.vault_roots.insert(vault, r);
            r
        }
    };
    if !identities.contains_key(&root) {
        return Err("the vault's pinned creator is not trusted by this device".into());
    }
    let mut roles = BTreeMap::from([(root, VaultRole::Manager)]);
    let seen = pins.roles.entry(vault).or_default();
    let mut issued: BTreeMap<UserId, u64> = BTreeMap::new();
    loop {
        let mut changed = false;
        for st in &parsed {
            let member = uid(st.member());
            if member == root {
                continue;
            }
            let issuer = uid(st.issuer_user());
            let Some(role) = VaultRole::from_code(st.role()) else {
                continue;
            };
            let newest = issued.get(&member).is_none_or(|t| st.issued_at() > *t);
            let not_replayed = seen.get(&member).is_none_or(|t| st.issued_at() >= *t);
            // The signature last: a statement already taken (or beaten by a newer one) is not
            // verified again on the next pass of the loop.
            let candidate = roles.get(&issuer) == Some(&VaultRole::Manager)
                && newest
                && not_replayed
                && roles.get(&member) != Some(&role);
            if candidate
                && identities
                    .get(&issuer)
                    .is_some_and(|k| st.verify(k).is_ok())
            {
                roles.insert(member, role);
                issued.insert(member, st.issued_at());
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for (u, t) in issued {
        seen.insert(u, t);
    }
    Ok(roles)
}

/// What [`Client::set_policy`] signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyReport {
    /// The new policy version.
    pub version: u64,
    /// MFA required.
    pub mfa_required: bool,
    /// The admin-recovery setting.
    pub admin_recovery: AdminRecovery,
}

impl Client {
    /// The policy of `ws` this device acts on, with the members and the trust decision it was
    /// judged against; notices for anything ignored go to [`Client::take_notices`].
    pub(crate) async fn workspace_policy(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
    ) -> Result<(EffectivePolicy, Vec<MemberInfo>, TrustSet)> {
        let members: Vec<MemberInfo> = self.get(&format!("v1/workspaces/{ws}/members")).await?;
        let served: WorkspacePolicy = self.get(&format!("v1/workspaces/{ws}/policy")).await?;
        let mut pins = PeerPins::load(self.profile())?;
        let before = pins.clone();
        let trust = pins.trust(ctx.keys.user_id, &ctx.identity, ws, &members);
        let mut notices = Vec::new();
        let eff = judge_policy(&mut pins, &trust, &members, ws, &served, &mut notices);
        if pins != before {
            pins.save(self.profile())?;
        }
        for n in notices {
            self.notice(n);
        }
        Ok((eff, members, trust))
    }

    /// Signs and sets the policy of `workspace` (owners and admins): MFA required and the
    /// admin-recovery setting (each unchanged from the policy this device accepts when `None`). The
    /// version is one above the highest this device accepted.
    pub async fn set_policy(
        &self,
        workspace: &str,
        mfa_required: Option<bool>,
        admin_recovery: Option<AdminRecovery>,
    ) -> Result<PolicyReport> {
        let ws = self.resolve_workspace(workspace).await?.workspace_id;
        let ctx = self.vault_ctx()?;
        let (current, _, _) = self.workspace_policy(&ctx, ws).await?;
        let mut pins = PeerPins::load(self.profile())?;
        let floor = pins
            .policies
            .get(&ws)
            .copied()
            .unwrap_or(0)
            .max(current.version);
        let version = floor
            .checked_add(1)
            .ok_or_else(|| ClientError::Invalid("the policy has no version left".into()))?;
        let mfa_required = mfa_required.unwrap_or(current.mfa_required);
        let admin_recovery = admin_recovery.unwrap_or(if current.admin_recovery_auto {
            AdminRecovery::Auto
        } else {
            AdminRecovery::Manual
        });
        let st = PolicyStatement::issue(
            &ctx.keys.identity,
            *ctx.keys.user_id.as_uuid().as_bytes(),
            *ws.as_uuid().as_bytes(),
            version,
            PolicySettings {
                mfa_required,
                admin_recovery_auto: admin_recovery == AdminRecovery::Auto,
            },
            u64::try_from(crate::model::now_unix()).unwrap_or(0),
        )?;
        self.put(
            &format!("v1/workspaces/{ws}/policy"),
            &WorkspacePolicy {
                mfa_required,
                admin_recovery,
                statement: Some(B64(st.as_bytes().to_vec())),
            },
        )
        .await?;
        pins.policies.insert(ws, version);
        pins.save(self.profile())?;
        Ok(PolicyReport {
            version,
            mfa_required,
            admin_recovery,
        })
    }

    /// After creating `vault` in `ws`: under a signed `admin_recovery = auto` policy, shares it
    /// with the workspace's trusted owners and admins as managers (THREATS (a), BW01: only a
    /// signed policy can make the client do this).
    pub(crate) async fn admin_recovery_after_create(
        &mut self,
        ctx: &Ctx,
        ws: WorkspaceId,
        vault: VaultId,
    ) -> Result<()> {
        let (policy, members, trust) = self.workspace_policy(ctx, ws).await?;
        if !policy.admin_recovery_auto {
            return Ok(());
        }
        let mut emails = Vec::new();
        for m in &members {
            if m.user_id == ctx.keys.user_id || !matches!(m.role, Role::Owner | Role::Admin) {
                continue;
            }
            if trust.identities.contains_key(&m.user_id) {
                emails.push(m.email.clone());
            } else {
                self.notice(format!(
                    "workspace policy admin_recovery = auto: not sharing with {}: their \
                     identity is not confirmed by an admin this device trusts",
                    m.email
                ));
            }
        }
        if emails.is_empty() {
            return Ok(());
        }
        let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
        self.vault_share_many(&vault.to_string(), &refs, VaultRole::Manager)
            .await?;
        self.notice(format!(
            "signed workspace policy (version {}) admin_recovery = auto: shared the vault with \
             {} as manager",
            policy.version,
            emails.join(", ")
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use coffer_crypto::KeyPair;

    use super::*;

    fn id() -> UserId {
        UserId::from_uuid(uuid::Uuid::new_v4())
    }

    fn st(
        by: (&KeyPair, UserId),
        of: (&KeyPair, UserId),
        v: VaultId,
        r: VaultRole,
        at: u64,
    ) -> MemberRoleStatement {
        let s = RoleStatement::issue(
            by.0,
            *by.1.as_uuid().as_bytes(),
            *v.as_uuid().as_bytes(),
            *of.1.as_uuid().as_bytes(),
            &of.0.public(),
            r.code(),
            at,
        )
        .unwrap();
        MemberRoleStatement {
            user_id: of.1,
            statement: B64(s.as_bytes().to_vec()),
        }
    }

    #[test]
    fn roles_chain_to_the_pinned_creator_and_replays_are_refused() {
        let (a, b, c) = (
            KeyPair::generate().unwrap(),
            KeyPair::generate().unwrap(),
            KeyPair::generate().unwrap(),
        );
        let (ia, ib, ic) = (id(), id(), id());
        let v = VaultId::new_random();
        let ids = BTreeMap::from([(ia, a.public()), (ib, b.public()), (ic, c.public())]);
        let mut pins = PeerPins::default();
        let list = vec![
            st((&a, ia), (&a, ia), v, VaultRole::Manager, 1),
            st((&a, ia), (&b, ib), v, VaultRole::Manager, 2),
            st((&b, ib), (&c, ic), v, VaultRole::Editor, 3),
        ];
        let roles = verified_roles(&mut pins, v, &list, &ids).unwrap();
        assert_eq!(roles.get(&ic), Some(&VaultRole::Editor));
        assert_eq!(pins.vault_roots.get(&v), Some(&ia));
        // c signs itself manager, or a non-manager's statement: not counted
        let forged = vec![
            list[0].clone(),
            st((&c, ic), (&c, ic), v, VaultRole::Manager, 9),
        ];
        let roles = verified_roles(&mut pins, v, &forged, &ids).unwrap();
        assert_eq!(roles.get(&ic), None);
        // a demotion, then a replay of the older editor statement: viewer stays
        let demoted = vec![
            list[0].clone(),
            list[1].clone(),
            st((&a, ia), (&c, ic), v, VaultRole::Viewer, 5),
        ];
        assert_eq!(
            verified_roles(&mut pins, v, &demoted, &ids)
                .unwrap()
                .get(&ic),
            Some(&VaultRole::Viewer)
        );
        let roles = verified_roles(&mut pins, v, &list, &ids).unwrap();
        assert_eq!(
            roles.get(&ic),
            None,
            "a replayed older statement counts for nothing"
        );
        // no root at all
        let mut fresh = PeerPins::default();
        assert!(verified_roles(&mut fresh, v, &list[1..], &ids).is_err());
    }

    #[test]
    fn policy_needs_a_trusted_admin_signature_and_a_fresh_version() {
        let admin = KeyPair::generate().unwrap();
        let ia = id();
        let ws = WorkspaceId::from_uuid(uuid::Uuid::new_v4());
        let members = vec![MemberInfo {
            user_id: ia,
            email: "a".into(),
            role: Role::Admin,
            joined_at: 1,
            identity_public_keys: Some(B64(admin.public().to_bytes().to_vec())),
            attestation: None,
        }];
        let mut trust = TrustSet::default();
        trust.identities.insert(ia, admin.public());
        let sign = |k: &KeyPair, v: u64, auto: bool| WorkspacePolicy {
            mfa_required: false,
            admin_recovery: AdminRecovery::Manual,
            statement: Some(B64(PolicyStatement::issue(
                k,
                *ia.as_uuid().as_bytes(),
                *ws.as_uuid().as_bytes(),
                v,
                PolicySettings {
                    mfa_required: false,
                    admin_recovery_auto: auto,
                },
                1,
            )
            .unwrap()
            .as_bytes()
            .to_vec())),
        };
        let mut pins = PeerPins::default();
        let mut n = Vec::new();
        let p = judge_policy(
            &mut pins,
            &trust,
            &members,
            ws,
            &sign(&admin, 2, true),
            &mut n,
        );
        assert!(p.admin_recovery_auto);
        assert!(
            n.iter()
                .any(|x| x.contains("unsigned workspace policy setting"))
        );
        n.clear();
        let p = judge_policy(
            &mut pins,
            &trust,
            &members,
            ws,
            &sign(&admin, 1, true),
            &mut n,
        );
        assert!(!p.admin_recovery_auto && n[0].contains("stale"));
        n.clear();
        let evil = KeyPair::generate().unwrap();
        let p = judge_policy(
            &mut pins,
            &trust,
            &members,
            ws,
            &sign(&evil, 3, true),
            &mut n,
        );
        assert!(!p.admin_recovery_auto && n[0].contains("not signed by an owner or admin"));
        n.clear();
        let unsigned = WorkspacePolicy {
            mfa_required: false,
            admin_recovery: AdminRecovery::Auto,
            statement: None,
        };
        let p = judge_policy(&mut pins, &trust, &members, ws, &unsigned, &mut n);
        assert!(!p.admin_recovery_auto && n[0].contains("ignoring an unsigned workspace policy"));
    }
}
