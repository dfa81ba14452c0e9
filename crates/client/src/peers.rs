//! Trust of other users' identity keys (DESIGN §4; protocol.md §18.1).
//!
//! The server serves each workspace member's identity keys and the attestation an admin signed
//! over them; none of it is believed as served. This module decides, from those and from what
//! this profile pinned before (`peers.json`, 0600), which identities this client trusts:
//!
//! 1. **Root.** Each workspace has one root identity: its owner, pinned the first time this
//!    profile sees the workspace's members (trust on first use; this user's own identity when
//!    they created the workspace). Later answers cannot change it.
//! 2. **Attestation chain.** A member is trusted when their served keys carry an attestation for
//!    this workspace, this member and exactly these keys, signed by an already trusted identity
//!    of an owner or admin (the root, this user, or an admin the root or another trusted admin
//!    attested). This is repeated until nothing changes.
//! 3. **Pins.** Each trusted member's keys are pinned with the time of the attestation that
//!    made them trusted. A later answer with other keys is trusted only with a *newer*
//!    attestation (a re-confirmation after a password reset), with a notice; otherwise that
//!    member is refused, loudly.
//!
//! Grants are sealed only to trusted identities and their certified devices, and grants and
//! manifests are accepted only from devices whose certificates verify under a trusted identity.

use std::collections::BTreeMap;

use coffer_crypto::PublicKeys;
use coffer_crypto::attest::Attestation;
use coffer_proto::api::{B64, MemberInfo};
use coffer_proto::{Role, UserId, VaultId, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};
use crate::profile::Profile;

/// The file of the pins, in the profile folder.
pub(crate) const PEERS_FILE: &str = "peers.json";

/// An identity pinned by this profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PinnedIdentity {
    pub(crate) user_id: UserId,
    /// The 64-byte identity public keys.
    pub(crate) keys: B64,
    /// Issue time of the attestation that made it trusted (0: pinned on first sight).
    pub(crate) since: u64,
}

/// The pins of one profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PeerPins {
    /// Per workspace, the root identity.
    #[serde(default)]
    roots: BTreeMap<WorkspaceId, PinnedIdentity>,
    /// Per user, the identity last trusted.
    #[serde(default)]
    users: BTreeMap<UserId, PinnedIdentity>,
    /// Per workspace, the highest signed policy version accepted (protocol.md §17.1).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) policies: BTreeMap<WorkspaceId, u64>,
    /// Per vault, its root: the creator whose self-signed manager statement was seen first
    /// (protocol.md §18.6).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) vault_roots: BTreeMap<VaultId, UserId>,
    /// Per vault and member, the issue time of the newest role statement accepted: an older
    /// one is a replay.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) roles: BTreeMap<VaultId, BTreeMap<UserId, u64>>,
    /// Per user, the head of their device chain last verified (protocol.md §14.5).
    #[serde(default)]
    chains: BTreeMap<UserId, ChainPin>,
}

/// The head of a user's device chain this profile verified, under which identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChainPin {
    /// The identity public keys (64 bytes) the chain is rooted at.
    pub(crate) identity: B64,
    /// The head link's seq.
    pub(crate) seq: u64,
    /// The head link's hash (32 bytes).
    pub(crate) hash: B64,
}

/// Whom this client trusts in one workspace.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustSet {
    /// Trusted identities (this user's own included).
    pub(crate) identities: BTreeMap<UserId, PublicKeys>,
    /// Members not trusted, with why (for error messages).
    pub(crate) refused: BTreeMap<UserId, String>,
    /// Things a person should know (a root pinned on first sight, a re-confirmed identity).
    pub(crate) notices: Vec<String>,
}

impl TrustSet {
    /// The trusted identity of `user`, or the loud error naming why it is not trusted.
    pub(crate) fn require(&self, user: UserId, email: &str) -> Result<&PublicKeys> {
        if let Some(k) = self.identities.get(&user) {
            return Ok(k);
        }
        let why = self
            .refused
            .get(&user)
            .cloned()
            .unwrap_or_else(|| "not a member of the workspace".into());
        Err(ClientError::Integrity(format!(
            "refusing to trust the identity of {email}: {why}"
        )))
    }
}

fn parse_keys(m: &MemberInfo) -> Option<PublicKeys> {
    m.identity_public_keys
        .as_ref()
        .and_then(|k| PublicKeys::from_bytes(&k.0).ok())
}

impl PeerPins {
    /// The pinned root (owner) of workspace `ws`, if any.
    pub(crate) fn root_of(&self, ws: WorkspaceId) -> Option<UserId> {
        self.roots.get(&ws).map(|r| r.user_id)
    }

    /// The pins of `profile` (none yet: empty).
    pub(crate) fn load(profile: &Profile) -> Result<Self> {
        match profile.read_optional(PEERS_FILE)? {
            None => Ok(Self::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::config(profile.path(PEERS_FILE), e.to_string())),
        }
    }

    /// Saves the pins.
    pub(crate) fn save(&self, profile: &Profile) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| ClientError::Protocol(format!("pins: {e}")))?;
        profile.write_private(PEERS_FILE, &bytes)
    }

    /// The chain head pinned for `user` under `identity` (`None`: never seen, or pinned under
    /// another identity, which a re-confirmed identity replaces).
    pub(crate) fn chain_pin(&self, user: UserId, identity: &PublicKeys) -> Option<(u64, [u8; 32])> {
        let p = self.chains.get(&user)?;
        if p.identity.0 != identity.to_bytes() {
            return None;
        }
        Some((p.seq, p.hash.0.as_slice().try_into().ok()?))
    }

    /// Pins `head` as `user`'s chain head under `identity` (never moves a pin backwards under
    /// the same identity).
    pub(crate) fn pin_chain(&mut self, user: UserId, identity: &PublicKeys, head: (u64, [u8; 32])) {
        if let Some((seq, _)) = self.chain_pin(user, identity)
            && seq > head.0
        {
            return;
        }
        self.chains.insert(
            user,
            ChainPin {
                identity: B64(identity.to_bytes().to_vec()),
                seq: head.0,
                hash: B64(head.1.to_vec()),
            },
        );
    }

    /// Decides whom to trust in `ws` given the served `members`; pins the root on first sight
    /// and the keys of newly trusted members. `me`/`my_keys`: this user and their pinned
    /// identity.
    pub(crate) fn trust(
        &mut self,
        me: UserId,
        my_keys: &PublicKeys,
        ws: WorkspaceId,
        members: &[MemberInfo],
    ) -> TrustSet {
        let mut set = TrustSet::default();
        set.identities.insert(me, *my_keys);
        let root = match self.roots.get(&ws) {
            Some(r) => Some(r.clone()),
            None => {
                let owner = members
                    .iter()
                    .filter(|m| m.role == Role::Owner)
                    .min_by_key(|m| (m.joined_at, m.user_id));
                let pinned = owner.and_then(|o| {
                    let keys = if o.user_id == me {
                        *my_keys
                    } else {
                        parse_keys(o)?
                    };
                    if o.user_id != me {
                        set.notices.push(format!(
                            "pinned the identity of {} as the owner of this workspace on first \
                             sight (fingerprint: {})",
                            o.email,
                            coffer_crypto::fingerprint::fingerprint_phrase(&keys)
                        ));
                    }
                    Some(PinnedIdentity {
                        user_id: o.user_id,
                        keys: B64(keys.to_bytes().to_vec()),
                        since: 0,
                    })
                });
                if let Some(p) = &pinned {
                    self.roots.insert(ws, p.clone());
                }
                pinned
            }
        };
        let root_user = root.as_ref().map(|r| r.user_id);
        if let Some(r) = &root
            && r.user_id != me
            && let Ok(k) = PublicKeys::from_bytes(&r.keys.0)
        {
            set.identities.insert(r.user_id, k);
        }
        let role_of: BTreeMap<UserId, Role> = members.iter().map(|m| (m.user_id, m.role)).collect();
        let may_attest = |u: &UserId| {
            Some(*u) == root_user
                || *u == me
                || matches!(role_of.get(u), Some(Role::Owner | Role::Admin))
        };
        let ws_bytes = *ws.as_uuid().as_bytes();
        loop {
            let mut changed = false;
            for m in members {
                if set.identities.contains_key(&m.user_id) {
                    continue;
                }
                let Some(keys) = parse_keys(m) else {
                    set.refused
                        .insert(m.user_id, "the server served no valid identity keys".into());
                    continue;
                };
                let Some(att) = m
                    .attestation
                    .as_ref()
                    .and_then(|a| Attestation::from_bytes(&a.0).ok())
                else {
                    set.refused.insert(
                        m.user_id,
                        "no admin has confirmed this member yet (`coffer workspace confirm`)"
                            .into(),
                    );
                    continue;
                };
                let attester = UserId::from_uuid(uuid::Uuid::from_bytes(*att.attester_user()));
                let chained = att.workspace() == &ws_bytes
                    && att.user() == m.user_id.as_uuid().as_bytes()
                    && att.identity() == &keys
                    && may_attest(&attester)
                    && set
                        .identities
                        .get(&attester)
                        .is_some_and(|k| att.verify(k).is_ok());
                if !chained {
                    set.refused.insert(
                        m.user_id,
                        "its attestation does not chain to an identity this device trusts \
                         (the served key or attestation may be substituted)"
                            .into(),
                    );
                    continue;
                }
                let pinned = self.users.get(&m.user_id);
                if let Some(p) = pinned
                    && p.keys.0 != keys.to_bytes()
                {
                    if att.issued_at() <= p.since {
                        set.refused.insert(
                            m.user_id,
                            "the server serves other identity keys than the ones this device \
                             pinned, without a newer confirmation: possible key substitution"
                                .into(),
                        );
                        continue;
                    }
                    set.notices.push(format!(
                        "the identity of {} changed and was re-confirmed (new fingerprint: {})",
                        m.email,
                        coffer_crypto::fingerprint::fingerprint_phrase(&keys)
                    ));
                }
                self.users.insert(
                    m.user_id,
                    PinnedIdentity {
                        user_id: m.user_id,
                        keys: B64(keys.to_bytes().to_vec()),
                        since: att.issued_at(),
                    },
                );
                set.refused.remove(&m.user_id);
                set.identities.insert(m.user_id, keys);
                changed = true;
            }
            if !changed {
                break;
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use coffer_crypto::KeyPair;

    use super::*;

    struct Person {
        id: UserId,
        keys: KeyPair,
        email: String,
    }

    fn person(email: &str) -> Person {
        Person {
            id: UserId::from_uuid(uuid::Uuid::new_v4()),
            keys: KeyPair::generate().unwrap(),
            email: email.into(),
        }
    }

    fn ws() -> WorkspaceId {
        WorkspaceId::from_uuid(uuid::Uuid::from_bytes([7; 16]))
    }

    fn member(p: &Person, role: Role, joined: i64, att: Option<&Attestation>) -> MemberInfo {
        MemberInfo {
            user_id: p.id,
            email: p.email.clone(),
            role,
            joined_at: joined,
            identity_public_keys: Some(B64(p.keys.public().to_bytes().to_vec())),
            attestation: att.map(|a| B64(a.as_bytes().to_vec())),
        }
    }

    fn attest(by: &Person, of: &Person, at: u64) -> Attestation {
        Attestation::issue(
            &by.keys,
            *by.id.as_uuid().as_bytes(),
            *ws().as_uuid().as_bytes(),
            *of.id.as_uuid().as_bytes(),
            &of.keys.public(),
            at,
        )
        .unwrap()
    }

    #[test]
    fn members_chain_to_the_pinned_owner() {
        let (owner, admin, dev, me) = (person("o"), person("a"), person("d"), person("me"));
        let members = vec![
            member(&owner, Role::Owner, 1, None),
            member(&admin, Role::Admin, 2, Some(&attest(&owner, &admin, 10))),
            member(&dev, Role::Developer, 3, Some(&attest(&admin, &dev, 11))),
            member(&me, Role::Member, 4, Some(&attest(&owner, &me, 12))),
        ];
        let mut pins = PeerPins::default();
        let set = pins.trust(me.id, &me.keys.public(), ws(), &members);
        for p in [&owner, &admin, &dev, &me] {
            assert_eq!(
                set.identities.get(&p.id),
                Some(&p.keys.public()),
                "{}",
                p.email
            );
        }
        assert_eq!(set.notices.len(), 1, "the owner was pinned on first sight");
    }

    #[test]
    fn unconfirmed_non_admin_attested_and_substituted_members_are_refused() {
        let (owner, dev, other, me) = (person("o"), person("d"), person("x"), person("me"));
        let evil = person("evil");
        // `other` attested by a developer (not an admin): refused.
        let mut members = vec![
            member(&owner, Role::Owner, 1, None),
            member(&dev, Role::Developer, 2, Some(&attest(&owner, &dev, 10))),
            member(&other, Role::Member, 3, Some(&attest(&dev, &other, 11))),
            member(&me, Role::Member, 4, None),
        ];
        let mut pins = PeerPins::default();
        let set = pins.trust(me.id, &me.keys.public(), ws(), &members);
        assert!(set.identities.contains_key(&dev.id));
        assert!(!set.identities.contains_key(&other.id));
        // The server swaps dev's keys for its own, keeping the old attestation.
        members[1].identity_public_keys = Some(B64(evil.keys.public().to_bytes().to_vec()));
        let set = pins.trust(me.id, &me.keys.public(), ws(), &members);
        assert!(!set.identities.contains_key(&dev.id));
        assert!(set.require(dev.id, "d").is_err());
        // ... or with an attestation it signed itself: still refused.
        let forged = Attestation::issue(
            &evil.keys,
            *owner.id.as_uuid().as_bytes(),
            *ws().as_uuid().as_bytes(),
            *dev.id.as_uuid().as_bytes(),
            &evil.keys.public(),
            99,
        )
        .unwrap();
        members[1].attestation = Some(B64(forged.as_bytes().to_vec()));
        let set = pins.trust(me.id, &me.keys.public(), ws(), &members);
        assert!(!set.identities.contains_key(&dev.id));
    }

    #[test]
    fn the_root_cannot_be_replaced_and_changed_keys_need_a_newer_confirmation() {
        let (owner, dev, me) = (person("o"), person("d"), person("me"));
        let mut members = vec![
            member(&owner, Role::Owner, 1, None),
            member(&dev, Role::Developer, 2, Some(&attest(&owner, &dev, 10))),
        ];
        let mut pins = PeerPins::default();
        assert!(
            pins.trust(me.id, &me.keys.public(), ws(), &members)
                .identities
                .contains_key(&dev.id)
        );
        // A server-made owner attesting a server key for dev: the pinned root stays.
        let fake_owner = person("fake");
        let evil = person("evil");
        members[0] = member(&fake_owner, Role::Owner, 0, None);
        let mut evil_dev = member(
            &evil,
            Role::Developer,
            2,
            Some(&attest(&fake_owner, &evil, 50)),
        );
        evil_dev.user_id = dev.id;
        let forged = Attestation::issue(
            &fake_owner.keys,
            *fake_owner.id.as_uuid().as_bytes(),
            *ws().as_uuid().as_bytes(),
            *dev.id.as_uuid().as_bytes(),
            &evil.keys.public(),
            50,
        )
        .unwrap();
        evil_dev.attestation = Some(B64(forged.as_bytes().to_vec()));
        members[1] = evil_dev;
        let set = pins.trust(me.id, &me.keys.public(), ws(), &members);
        assert!(!set.identities.contains_key(&dev.id));
        assert!(!set.identities.contains_key(&fake_owner.id));
        // A genuine re-confirmation by the real owner, newer than the pin: accepted, noticed.
        let new_dev = Person {
            id: dev.id,
            keys: KeyPair::generate().unwrap(),
            email: "d".into(),
        };
        members[0] = member(&owner, Role::Owner, 1, None);
        members[1] = member(
            &new_dev,
            Role::Developer,
            2,
            Some(&attest(&owner, &new_dev, 20)),
        );
        let set = pins.trust(me.id, &me.keys.public(), ws(), &members);
        assert_eq!(set.identities.get(&dev.id), Some(&new_dev.keys.public()));
        assert!(set.notices.iter().any(|n| n.contains("re-confirmed")));
        // An old confirmation of the first key, replayed: refused now.
        members[1] = member(&dev, Role::Developer, 2, Some(&attest(&owner, &dev, 10)));
        let set = pins.trust(me.id, &me.keys.public(), ws(), &members);
        assert!(!set.identities.contains_key(&dev.id));
    }
}
