//! Device chains on the client (DESIGN §4; protocol.md §14.5): the source of device trust.
//!
//! The server serves each user's chain of signed links (`GET /v1/users/{id}/chain`, and the
//! chains of a vault's signers in its sync frame). This client believes none of it as served:
//! [`check_chain`] verifies a chain with [`coffer_crypto::verify_chain`] under the user's trusted
//! identity and **against the head this profile pinned** for that user (`peers.json`, `chains`),
//! so a server that drops a revocation it already showed, rolls a chain back or forks it is
//! refused loudly, naming the user; then the head is pinned. A device is a grant target or a
//! trusted signer only when the verified chain trusts it now (added, not revoked) with exactly
//! the keys its certificate names ([`chain_devices`]); a device the server lists as trusted but
//! that the chain revoked or never added gets nothing and signs nothing.
//!
//! Every link this client appends (a new device, an approval, a revocation) is built on the
//! verified chain and pinned once the server accepted it.

use coffer_crypto::chain::{ChainLink, TrustedDevices};
use coffer_crypto::{CryptoError, DeviceCertificate, PublicKeys};
use coffer_proto::api::B64;
use coffer_proto::vault::{UserChain, UserDevice};
use coffer_proto::{DeviceId, DeviceState, UserId};

use crate::Client;
use crate::error::{ClientError, Result};
use crate::peers::PeerPins;

fn refused(who: &str, why: impl std::fmt::Display) -> ClientError {
    ClientError::Integrity(format!(
        "refusing the device chain of {who}: {why}: the server may be hiding a revocation, or \
         serving a rolled-back, forked or forged chain; no key goes to that user's devices"
    ))
}

/// Parses served links.
pub(crate) fn parse_links(who: &str, links: &[B64]) -> Result<Vec<ChainLink>> {
    links
        .iter()
        .enumerate()
        .map(|(i, l)| {
            ChainLink::from_bytes(&l.0).map_err(|e| refused(who, format!("link {i}: {e}")))
        })
        .collect()
}

/// Verifies `user`'s served chain under `identity` against the head `pins` holds for them, and
/// pins the new head. `who` names the user in the error (an email, or the id).
pub(crate) fn check_chain(
    pins: &mut PeerPins,
    user: UserId,
    who: &str,
    identity: &PublicKeys,
    links: &[B64],
) -> Result<TrustedDevices> {
    let parsed = parse_links(who, links)?;
    let pinned = pins.chain_pin(user, identity);
    let trusted = coffer_crypto::verify_chain(identity, &parsed, pinned).map_err(|e| match e {
        CryptoError::BadChain { index, reason } => refused(who, format!("{reason} (link {index})")),
        other => refused(who, other),
    })?;
    if let Some(head) = trusted.head() {
        pins.pin_chain(user, identity, head);
    }
    Ok(trusted)
}

/// The devices of `served` that the verified `chain` of `user` trusts now with exactly the
/// served keys, and whose certificate verifies under `identity` and names that user, that
/// device and those keys: the grant targets.
pub(crate) fn chain_devices(
    user: UserId,
    identity: &PublicKeys,
    chain: &TrustedDevices,
    served: &[UserDevice],
) -> Vec<(DeviceId, PublicKeys)> {
    served
        .iter()
        .filter(|d| d.state == DeviceState::Trusted)
        .filter_map(|d| {
            let keys = PublicKeys::from_bytes(&d.public_keys.0).ok()?;
            let in_chain = chain
                .device(d.device_id.as_uuid().as_bytes())
                .is_some_and(|t| t.keys == keys);
            if !in_chain {
                return None;
            }
            let cert = DeviceCertificate::from_bytes(&d.certificate.as_ref()?.0).ok()?;
            (cert.verify(identity).is_ok()
                && cert.user_id() == user.as_uuid().as_bytes()
                && cert.device_id() == d.device_id.as_uuid().as_bytes()
                && *cert.device_keys() == keys)
                .then_some((d.device_id, keys))
        })
        .collect()
}

impl Client {
    /// `GET /v1/users/{user}/chain`, unverified.
    pub(crate) async fn user_chain(&self, user: UserId) -> Result<UserChain> {
        self.get(&format!("v1/users/{user}/chain")).await
    }

    /// `user`'s chain, fetched and verified under `identity` against this profile's pin (which
    /// moves to the new head). `who` names the user in errors.
    pub(crate) async fn verified_chain(
        &self,
        user: UserId,
        who: &str,
        identity: &PublicKeys,
    ) -> Result<TrustedDevices> {
        let served = self.user_chain(user).await?;
        self.check_served_chain(user, who, identity, &served.links)
    }

    /// [`check_chain`] with this profile's pins, saved when they moved.
    pub(crate) fn check_served_chain(
        &self,
        user: UserId,
        who: &str,
        identity: &PublicKeys,
        links: &[B64],
    ) -> Result<TrustedDevices> {
        let mut pins = PeerPins::load(self.profile())?;
        let before = pins.clone();
        let r = check_chain(&mut pins, user, who, identity, links);
        if pins != before {
            pins.save(self.profile())?;
        }
        r
    }

    /// This user's own chain, verified against the pin, as links to append to.
    pub(crate) async fn own_chain(
        &self,
        user: UserId,
        identity: &PublicKeys,
    ) -> Result<(Vec<ChainLink>, TrustedDevices)> {
        let served = self.user_chain(user).await?;
        let trusted = self.check_served_chain(user, "your own account", identity, &served.links)?;
        Ok((parse_links("your own account", &served.links)?, trusted))
    }

    /// Pins `link` as the head of `user`'s chain (after the server accepted it).
    pub(crate) fn pin_link(
        &self,
        user: UserId,
        identity: &PublicKeys,
        link: &ChainLink,
    ) -> Result<()> {
        let mut pins = PeerPins::load(self.profile())?;
        pins.pin_chain(user, identity, (link.seq(), link.hash()));
        pins.save(self.profile())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use coffer_crypto::KeyPair;

    use super::*;

    fn b(l: &ChainLink) -> B64 {
        B64(l.as_bytes().to_vec())
    }

    #[test]
    fn rollback_fork_and_identity_change() {
        let id = KeyPair::generate().unwrap();
        let (d1, d2) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
        let l0 = ChainLink::add(None, [1; 16], &d1.public(), 1, &id).unwrap();
        let l1 = ChainLink::add(Some(&l0), [2; 16], &d2.public(), 2, &id).unwrap();
        let l2 = ChainLink::revoke(Some(&l1), [2; 16], &d2.public(), 3, &id).unwrap();
        let user = UserId::new_random();
        let mut pins = PeerPins::default();
        let t = check_chain(
            &mut pins,
            user,
            "u@x",
            &id.public(),
            &[b(&l0), b(&l1), b(&l2)],
        )
        .unwrap();
        assert!(t.is_revoked(&[2; 16]));
        assert_eq!(pins.chain_pin(user, &id.public()), Some((2, l2.hash())));
        // the revocation dropped: refused, naming the user; the pin stays
        let e = check_chain(&mut pins, user, "u@x", &id.public(), &[b(&l0), b(&l1)]).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("u@x") && m.contains("shorter than the pinned head"),
            "{m}"
        );
        assert_eq!(pins.chain_pin(user, &id.public()), Some((2, l2.hash())));
        // a fork at the pinned seq
        let fork = ChainLink::add(
            Some(&l1),
            [3; 16],
            &KeyPair::generate().unwrap().public(),
            3,
            &id,
        )
        .unwrap();
        let e = check_chain(
            &mut pins,
            user,
            "u@x",
            &id.public(),
            &[b(&l0), b(&l1), b(&fork)],
        )
        .unwrap_err();
        assert!(e.to_string().contains("forks"), "{e}");
        // garbage
        assert!(check_chain(&mut pins, user, "u@x", &id.public(), &[B64(vec![1, 2])]).is_err());
        // another identity (a re-confirmed one) starts from no pin
        let id2 = KeyPair::generate().unwrap();
        let m0 = ChainLink::add(None, [1; 16], &d1.public(), 1, &id2).unwrap();
        check_chain(&mut pins, user, "u@x", &id2.public(), &[b(&m0)]).unwrap();
        assert_eq!(pins.chain_pin(user, &id2.public()), Some((0, m0.hash())));
        assert_eq!(pins.chain_pin(user, &id.public()), None);
    }

    #[test]
    fn only_chain_trusted_certified_devices_are_targets() {
        let id = KeyPair::generate().unwrap();
        let user = UserId::new_random();
        let (d1, d2, d3) = (
            KeyPair::generate().unwrap(),
            KeyPair::generate().unwrap(),
            KeyPair::generate().unwrap(),
        );
        let (i1, i2, i3) = (
            DeviceId::new_random(),
            DeviceId::new_random(),
            DeviceId::new_random(),
        );
        let u = |d: DeviceId| *d.as_uuid().as_bytes();
        let l0 = ChainLink::add(None, u(i1), &d1.public(), 1, &id).unwrap();
        let l1 = ChainLink::add(Some(&l0), u(i2), &d2.public(), 2, &id).unwrap();
        let l2 = ChainLink::revoke(Some(&l1), u(i2), &d2.public(), 3, &id).unwrap();
        let chain = coffer_crypto::verify_chain(&id.public(), &[l0, l1, l2], None).unwrap();
        let served = |i: DeviceId, k: &KeyPair| UserDevice {
            device_id: i,
            state: DeviceState::Trusted,
            public_keys: B64(k.public().to_bytes().to_vec()),
            certificate: Some(B64(DeviceCertificate::issue(
                &id,
                *user.as_uuid().as_bytes(),
                u(i),
                &k.public(),
                1,
            )
            .unwrap()
            .as_bytes()
            .to_vec())),
        };
        // d2 revoked by the chain, d3 never added; d1 with substituted keys
        let list = vec![served(i1, &d1), served(i2, &d2), served(i3, &d3)];
        let got = chain_devices(user, &id.public(), &chain, &list);
        assert_eq!(got, vec![(i1, d1.public())]);
        let swapped = vec![UserDevice {
            public_keys: B64(d3.public().to_bytes().to_vec()),
            ..served(i1, &d1)
        }];
        assert!(chain_devices(user, &id.public(), &chain, &swapped).is_empty());
    }
}
