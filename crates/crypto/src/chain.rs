//! Device certificates and the device chain: which device keys a user's identity key vouches for
//! (DESIGN §4, a Keybase-style sigchain).
//!
//! **Device certificate** (version 1, 201 bytes; integers big-endian):
//!
//! ```text
//! offset  size  field
//! 0       1     version = 0x01
//! 1       16    device id
//! 17      64    device public keys (signing:32 ‖ encryption:32)
//! 81      16    user id
//! 97      8     issued at, u64 unix seconds
//! 105     32    issuer: the user's identity Ed25519 public key
//! 137     64    Ed25519 signature, label "device-cert", over bytes 0..137
//! ```
//!
//! **Chain link** (version 1, 226 bytes):
//!
//! ```text
//! offset  size  field
//! 0       1     version = 0x01
//! 1       8     seq, u64 (the link's index in the chain, from 0)
//! 9       32    prev hash = SHA-256(full encoding of link seq−1); 32 zero bytes for seq 0
//! 41      1     op: 0x01 add device, 0x02 revoke device
//! 42      16    device id
//! 58      64    device public keys (signing:32 ‖ encryption:32)
//! 122     8     time, u64 unix seconds (informative; not checked for order)
//! 130     32    signer Ed25519 public key
//! 162     64    Ed25519 signature, label "device-chain", over bytes 0..162
//! ```
//!
//! A link's hash is `SHA-256` over its full 226 bytes (signature included). A link is signed by
//! the identity key or by a device that is trusted at that point of the chain (added by an
//! earlier link, not revoked). The first link can therefore only be signed by the identity key,
//! and every later link is bound to that genesis through the hash chain, so links of one user's
//! chain cannot be grafted onto another's.
//!
//! [`verify_chain`] replays the chain and, against a previously pinned head, refuses forks and
//! rollbacks; every failure is [`CryptoError::BadChain`] naming the first bad link.

use sha2::{Digest as _, Sha256};

use crate::error::{CryptoError, Result};
use crate::identity::{self, KeyPair, PUBLIC_KEYS_LEN, PublicKeys, SIGNATURE_LEN};

/// The device certificate version this build writes.
pub const DEVICE_CERT_VERSION: u8 = 1;
/// Length of a version-1 device certificate.
pub const DEVICE_CERT_LEN: usize = 1 + 16 + PUBLIC_KEYS_LEN + 16 + 8 + 32 + SIGNATURE_LEN;
/// Signature label of a device certificate.
pub const SIG_LABEL_DEVICE_CERT: &str = "device-cert";
/// The chain link version this build writes.
pub const CHAIN_LINK_VERSION: u8 = 1;
/// Length of a version-1 chain link.
pub const CHAIN_LINK_LEN: usize = 1 + 8 + 32 + 1 + 16 + PUBLIC_KEYS_LEN + 8 + 32 + SIGNATURE_LEN;
/// Signature label of a chain link.
pub const SIG_LABEL_DEVICE_CHAIN: &str = "device-chain";

const CERT_WHAT: &str = "device certificate";
const LINK_WHAT: &str = "chain link";

/// A device's public keys signed by its user's identity key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeviceCertificate {
    bytes: Vec<u8>,
    device_id: [u8; 16],
    device: PublicKeys,
    user_id: [u8; 16],
    issued_at: u64,
    issuer: [u8; 32],
    signature: [u8; SIGNATURE_LEN],
}

impl DeviceCertificate {
    /// Issues a certificate for `device` (id `device_id`) of user `user_id`, signed by the user's
    /// `identity` key pair.
    pub fn issue(
        identity: &KeyPair,
        user_id: [u8; 16],
        device_id: [u8; 16],
        device: &PublicKeys,
        issued_at: u64,
    ) -> Result<Self> {
        let issuer = *identity.public().signing();
        let mut bytes = Vec::with_capacity(DEVICE_CERT_LEN);
        bytes.push(DEVICE_CERT_VERSION);
        bytes.extend_from_slice(&device_id);
        bytes.extend_from_slice(&device.to_bytes());
        bytes.extend_from_slice(&user_id);
        bytes.extend_from_slice(&issued_at.to_be_bytes());
        bytes.extend_from_slice(&issuer);
        let signature = identity.sign(SIG_LABEL_DEVICE_CERT, &bytes)?;
        bytes.extend_from_slice(&signature);
        Ok(Self {
            bytes,
            device_id,
            device: *device,
            user_id,
            issued_at,
            issuer,
            signature,
        })
    }

    /// Parses the binary form (checks version, length and the device keys; not the signature).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = crate::wire::Reader::new(CERT_WHAT, bytes);
        let version = r.u8()?;
        if version != DEVICE_CERT_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: CERT_WHAT,
                version,
            });
        }
        let device_id = r.array::<16>()?;
        let device = r.take(PUBLIC_KEYS_LEN)?;
        let user_id = r.array::<16>()?;
        let issued_at = r.u64()?;
        let issuer = r.array::<32>()?;
        let signature = r.array::<SIGNATURE_LEN>()?;
        r.finish()?;
        let device = PublicKeys::from_bytes(device)?;
        Ok(Self {
            bytes: bytes.to_vec(),
            device_id,
            device,
            user_id,
            issued_at,
            issuer,
            signature,
        })
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Checks that `identity` issued this certificate: the issuer field must be its signing key
    /// ([`CryptoError::UntrustedSigner`]) and the signature must verify
    /// ([`CryptoError::BadSignature`]).
    pub fn verify(&self, identity: &PublicKeys) -> Result<()> {
        if self.issuer != *identity.signing() {
            return Err(CryptoError::UntrustedSigner { what: CERT_WHAT });
        }
        let signed = self
            .bytes
            .get(..DEVICE_CERT_LEN - SIGNATURE_LEN)
            .unwrap_or(&[]);
        identity::verify(&self.issuer, SIG_LABEL_DEVICE_CERT, signed, &self.signature)
            .map_err(|_| CryptoError::BadSignature { what: CERT_WHAT })
    }

    /// The device id.
    pub fn device_id(&self) -> &[u8; 16] {
        &self.device_id
    }

    /// The device's public keys.
    pub fn device_keys(&self) -> &PublicKeys {
        &self.device
    }

    /// The user id.
    pub fn user_id(&self) -> &[u8; 16] {
        &self.user_id
    }

    /// Issue time, unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// The issuer's Ed25519 public key (authenticated only by [`verify`](Self::verify)).
    pub fn issuer(&self) -> &[u8; 32] {
        &self.issuer
    }
}

/// What a chain link does. Codes are stable; retired codes are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChainOp {
    /// Adds a device: from this link on its keys are trusted.
    AddDevice,
    /// Revokes a device: from this link on its keys are no longer trusted.
    RevokeDevice,
}

impl ChainOp {
    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            ChainOp::AddDevice => 0x01,
            ChainOp::RevokeDevice => 0x02,
        }
    }

    /// The operation for a wire code.
    pub fn from_code(code: u8) -> Result<Self> {
        match code {
            0x01 => Ok(ChainOp::AddDevice),
            0x02 => Ok(ChainOp::RevokeDevice),
            _ => Err(CryptoError::Malformed {
                what: LINK_WHAT,
                reason: "unknown operation",
            }),
        }
    }
}

/// One signed link of a user's device chain.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChainLink {
    bytes: Vec<u8>,
    seq: u64,
    prev_hash: [u8; 32],
    op: ChainOp,
    device_id: [u8; 16],
    device: PublicKeys,
    time: u64,
    signer: [u8; 32],
    signature: [u8; SIGNATURE_LEN],
}

impl ChainLink {
    /// A link adding `device` (id `device_id`) after `prev` (`None` for the first link), signed
    /// by `signer` (the identity key, or a device trusted at that point).
    pub fn add(
        prev: Option<&ChainLink>,
        device_id: [u8; 16],
        device: &PublicKeys,
        time: u64,
        signer: &KeyPair,
    ) -> Result<Self> {
        Self::build(ChainOp::AddDevice, prev, device_id, device, time, signer)
    }

    /// A link revoking `device` (id `device_id`, with the keys it was added with) after `prev`,
    /// signed by `signer`.
    pub fn revoke(
        prev: Option<&ChainLink>,
        device_id: [u8; 16],
        device: &PublicKeys,
        time: u64,
        signer: &KeyPair,
    ) -> Result<Self> {
        Self::build(ChainOp::RevokeDevice, prev, device_id, device, time, signer)
    }

    fn build(
        op: ChainOp,
        prev: Option<&ChainLink>,
        device_id: [u8; 16],
        device: &PublicKeys,
        time: u64,
        signer: &KeyPair,
    ) -> Result<Self> {
        let (seq, prev_hash) = match prev {
            None => (0, [0u8; 32]),
            Some(p) => (
                p.seq
                    .checked_add(1)
                    .ok_or(CryptoError::Length("chain sequence number"))?,
                p.hash(),
            ),
        };
        let signer_pk = *signer.public().signing();
        let mut bytes = Vec::with_capacity(CHAIN_LINK_LEN);
        bytes.push(CHAIN_LINK_VERSION);
        bytes.extend_from_slice(&seq.to_be_bytes());
        bytes.extend_from_slice(&prev_hash);
        bytes.push(op.code());
        bytes.extend_from_slice(&device_id);
        bytes.extend_from_slice(&device.to_bytes());
        bytes.extend_from_slice(&time.to_be_bytes());
        bytes.extend_from_slice(&signer_pk);
        let signature = signer.sign(SIG_LABEL_DEVICE_CHAIN, &bytes)?;
        bytes.extend_from_slice(&signature);
        Ok(Self {
            bytes,
            seq,
            prev_hash,
            op,
            device_id,
            device: *device,
            time,
            signer: signer_pk,
            signature,
        })
    }

    /// Parses the binary form (checks version, length, op and the device keys; not the
    /// signature, which only [`verify_chain`] can judge).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = crate::wire::Reader::new(LINK_WHAT, bytes);
        let version = r.u8()?;
        if version != CHAIN_LINK_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: LINK_WHAT,
                version,
            });
        }
        let seq = r.u64()?;
        let prev_hash = r.array::<32>()?;
        let op = r.u8()?;
        let device_id = r.array::<16>()?;
        let device = r.take(PUBLIC_KEYS_LEN)?;
        let time = r.u64()?;
        let signer = r.array::<32>()?;
        let signature = r.array::<SIGNATURE_LEN>()?;
        r.finish()?;
        let op = ChainOp::from_code(op)?;
        let device = PublicKeys::from_bytes(device)?;
        Ok(Self {
            bytes: bytes.to_vec(),
            seq,
            prev_hash,
            op,
            device_id,
            device,
            time,
            signer,
            signature,
        })
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `SHA-256` of the full encoding: what the next link's `prev_hash` and a pinned head hold.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The previous link's hash (zeros for the first link).
    pub fn prev_hash(&self) -> &[u8; 32] {
        &self.prev_hash
    }

    /// The operation.
    pub fn op(&self) -> ChainOp {
        self.op
    }

    /// The device added or revoked.
    pub fn device_id(&self) -> &[u8; 16] {
        &self.device_id
    }

    /// That device's public keys.
    pub fn device_keys(&self) -> &PublicKeys {
        &self.device
    }

    /// The link's time, unix seconds.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// The signer's Ed25519 public key.
    pub fn signer(&self) -> &[u8; 32] {
        &self.signer
    }

    fn verify_signature(&self) -> Result<()> {
        let signed = self
            .bytes
            .get(..CHAIN_LINK_LEN - SIGNATURE_LEN)
            .unwrap_or(&[]);
        identity::verify(
            &self.signer,
            SIG_LABEL_DEVICE_CHAIN,
            signed,
            &self.signature,
        )
    }
}

/// A device the chain currently trusts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TrustedDevice {
    /// The device id.
    pub id: [u8; 16],
    /// Its public keys.
    pub keys: PublicKeys,
    /// The seq of the link that added it.
    pub added_seq: u64,
    /// The time of that link.
    pub added_at: u64,
}

/// The outcome of [`verify_chain`]: which devices are trusted now, and the head to pin.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TrustedDevices {
    identity: PublicKeys,
    trusted: Vec<TrustedDevice>,
    revoked: Vec<TrustedDevice>,
    head: Option<(u64, [u8; 32])>,
}

impl TrustedDevices {
    /// The identity whose chain this is.
    pub fn identity(&self) -> &PublicKeys {
        &self.identity
    }

    /// The devices trusted now, in the order they were added.
    pub fn devices(&self) -> &[TrustedDevice] {
        &self.trusted
    }

    /// The trusted device with this id, if any.
    pub fn device(&self, id: &[u8; 16]) -> Option<&TrustedDevice> {
        self.trusted.iter().find(|d| d.id == *id)
    }

    /// Whether the device with this id is trusted now.
    pub fn is_trusted_device(&self, id: &[u8; 16]) -> bool {
        self.device(id).is_some()
    }

    /// Whether the device with this id was added and later revoked.
    pub fn is_revoked(&self, id: &[u8; 16]) -> bool {
        self.revoked.iter().any(|d| d.id == *id)
    }

    /// Whether these exact public keys belong to a device trusted now.
    pub fn is_trusted_key(&self, keys: &PublicKeys) -> bool {
        self.trusted.iter().any(|d| d.keys == *keys)
    }

    /// Whether this Ed25519 key is the identity key or the signing key of a device trusted now:
    /// the signers whose grants this user's clients accept.
    pub fn is_trusted_signer(&self, signing: &[u8; 32]) -> bool {
        self.identity.signing() == signing
            || self.trusted.iter().any(|d| d.keys.signing() == signing)
    }

    /// The identity signing key followed by every trusted device's signing key (for
    /// [`crate::grant::open_grant`]).
    pub fn trusted_signers(&self) -> Vec<[u8; 32]> {
        core::iter::once(*self.identity.signing())
            .chain(self.trusted.iter().map(|d| *d.keys.signing()))
            .collect()
    }

    /// The last link's `(seq, hash)`, to pin and pass back as `previously_seen` next time;
    /// `None` for an empty chain.
    pub fn head(&self) -> Option<(u64, [u8; 32])> {
        self.head
    }
}

fn bad(index: usize, reason: &'static str) -> CryptoError {
    CryptoError::BadChain { index, reason }
}

/// Verifies a user's device chain rooted at `identity`, and, if a head was pinned before
/// (`previously_seen = Some((seq, hash))`), that this chain extends it.
///
/// Refuses, with [`CryptoError::BadChain`] naming the first bad link: a seq that is not the
/// link's index (gap, reordering); a `prev_hash` that is not the previous link's hash; a signer
/// that is neither the identity key nor a device trusted at that point (never added, or
/// revoked); a bad signature; adding a device id twice (even after revocation) or keys already
/// in the chain; revoking an unknown or already revoked device, or with keys other than those it
/// was added with; a chain shorter than the pinned head (rollback, `index` = the chain's length);
/// a different link at the pinned seq (fork, `index` = that seq).
pub fn verify_chain(
    identity: &PublicKeys,
    links: &[ChainLink],
    previously_seen: Option<(u64, [u8; 32])>,
) -> Result<TrustedDevices> {
    let mut trusted: Vec<TrustedDevice> = Vec::new();
    let mut revoked: Vec<TrustedDevice> = Vec::new();
    let mut prev_hash = [0u8; 32];
    for (index, link) in links.iter().enumerate() {
        if u64::try_from(index).ok() != Some(link.seq) {
            return Err(bad(index, "sequence number is not the link's position"));
        }
        if link.prev_hash != prev_hash {
            return Err(bad(index, "previous hash does not match"));
        }
        let signer_ok = link.signer == *identity.signing()
            || trusted.iter().any(|d| *d.keys.signing() == link.signer);
        if !signer_ok {
            return Err(bad(index, "signer is not trusted at this point"));
        }
        if link.verify_signature().is_err() {
            return Err(bad(index, "bad signature"));
        }
        match link.op {
            ChainOp::AddDevice => {
                let mut known = trusted.iter().chain(revoked.iter());
                if known.clone().any(|d| d.id == link.device_id) {
                    return Err(bad(index, "device added twice"));
                }
                let reused = known.any(|d| {
                    d.keys.signing() == link.device.signing()
                        || d.keys.encryption() == link.device.encryption()
                }) || link.device.signing() == identity.signing()
                    || link.device.encryption() == identity.encryption();
                if reused {
                    return Err(bad(index, "device keys already in the chain"));
                }
                trusted.push(TrustedDevice {
                    id: link.device_id,
                    keys: link.device,
                    added_seq: link.seq,
                    added_at: link.time,
                });
            }
            ChainOp::RevokeDevice => {
                let Some(pos) = trusted.iter().position(|d| d.id == link.device_id) else {
                    return Err(if revoked.iter().any(|d| d.id == link.device_id) {
                        bad(index, "device already revoked")
                    } else {
                        bad(index, "revoking an unknown device")
                    });
                };
                let device = trusted.remove(pos);
                if device.keys != link.device {
                    return Err(bad(index, "revoked keys do not match the device"));
                }
                revoked.push(device);
            }
        }
        prev_hash = link.hash();
    }
    if let Some((seq, hash)) = previously_seen {
        let pinned = usize::try_from(seq)
            .ok()
            .and_then(|i| links.get(i).map(|l| (i, l)));
        match pinned {
            None => return Err(bad(links.len(), "chain is shorter than the pinned head")),
            Some((i, link)) if link.hash() != hash => {
                return Err(bad(i, "chain forks from the pinned head"));
            }
            Some(_) => {}
        }
    }
    let head = links.last().map(|l| (l.seq, l.hash()));
    Ok(TrustedDevices {
        identity: *identity,
        trusted,
        revoked,
        head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Users {
        identity: KeyPair,
        d1: KeyPair,
        d2: KeyPair,
        d3: KeyPair,
    }

    fn users() -> Users {
        Users {
            identity: KeyPair::generate().unwrap(),
            d1: KeyPair::generate().unwrap(),
            d2: KeyPair::generate().unwrap(),
            d3: KeyPair::generate().unwrap(),
        }
    }

    const ID1: [u8; 16] = [1; 16];
    const ID2: [u8; 16] = [2; 16];
    const ID3: [u8; 16] = [3; 16];

    /// identity adds d1; d1 adds d2; d2 revokes d1; identity adds d3.
    fn chain(u: &Users) -> Vec<ChainLink> {
        let l0 = ChainLink::add(None, ID1, &u.d1.public(), 100, &u.identity).unwrap();
        let l1 = ChainLink::add(Some(&l0), ID2, &u.d2.public(), 200, &u.d1).unwrap();
        let l2 = ChainLink::revoke(Some(&l1), ID1, &u.d1.public(), 300, &u.d2).unwrap();
        let l3 = ChainLink::add(Some(&l2), ID3, &u.d3.public(), 400, &u.identity).unwrap();
        vec![l0, l1, l2, l3]
    }

    fn reason(r: Result<TrustedDevices>) -> (usize, &'static str) {
        match r {
            Err(CryptoError::BadChain { index, reason }) => (index, reason),
            other => panic!("expected BadChain, got {other:?}"),
        }
    }

    #[test]
    fn certificate_round_trip_and_layout() {
        let u = users();
        let cert =
            DeviceCertificate::issue(&u.identity, [7; 16], ID1, &u.d1.public(), 1_700_000_000)
                .unwrap();
        let b = cert.as_bytes();
        assert_eq!(b.len(), DEVICE_CERT_LEN);
        assert_eq!(b.len(), 201);
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..17], &ID1);
        assert_eq!(&b[17..81], &u.d1.public().to_bytes());
        assert_eq!(&b[81..97], &[7; 16]);
        assert_eq!(&b[97..105], &1_700_000_000u64.to_be_bytes());
        assert_eq!(&b[105..137], u.identity.public().signing());
        let sig: [u8; 64] = b[137..].try_into().unwrap();
        u.identity
            .public()
            .verify("device-cert", &b[..137], &sig)
            .unwrap();
        let back = DeviceCertificate::from_bytes(b).unwrap();
        assert_eq!(back, cert);
        back.verify(&u.identity.public()).unwrap();
        assert_eq!(back.device_id(), &ID1);
        assert_eq!(back.device_keys(), &u.d1.public());
        assert_eq!(back.user_id(), &[7; 16]);
        assert_eq!(back.issued_at(), 1_700_000_000);
        assert_eq!(back.issuer(), u.identity.public().signing());
    }

    #[test]
    fn certificate_from_another_identity_is_refused() {
        let u = users();
        let cert = DeviceCertificate::issue(&u.d2, [7; 16], ID1, &u.d1.public(), 1).unwrap();
        assert_eq!(
            cert.verify(&u.identity.public()).unwrap_err(),
            CryptoError::UntrustedSigner {
                what: "device certificate"
            }
        );
        // Issuer field rewritten to the identity: the signature fails.
        let mut b = cert.as_bytes().to_vec();
        b[105..137].copy_from_slice(u.identity.public().signing());
        let forged = DeviceCertificate::from_bytes(&b).unwrap();
        assert_eq!(
            forged.verify(&u.identity.public()).unwrap_err(),
            CryptoError::BadSignature {
                what: "device certificate"
            }
        );
    }

    #[test]
    fn certificate_bit_flips_and_truncations_are_typed_errors() {
        let u = users();
        let cert = DeviceCertificate::issue(&u.identity, [7; 16], ID1, &u.d1.public(), 5).unwrap();
        let b = cert.as_bytes();
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut t = b.to_vec();
                t[i] ^= 1 << bit;
                match DeviceCertificate::from_bytes(&t) {
                    Ok(c) => match c.verify(&u.identity.public()) {
                        Err(
                            CryptoError::BadSignature { .. } | CryptoError::UntrustedSigner { .. },
                        ) => {}
                        other => panic!("byte {i} bit {bit}: {other:?}"),
                    },
                    Err(CryptoError::UnknownVersion { .. } | CryptoError::BadPublicKey { .. }) => {}
                    Err(e) => panic!("byte {i} bit {bit}: {e:?}"),
                }
            }
        }
        for len in 0..b.len() {
            assert!(matches!(
                DeviceCertificate::from_bytes(&b[..len]),
                Err(CryptoError::Truncated { at, .. }) if at == len
            ));
        }
        let mut long = b.to_vec();
        long.push(0);
        assert!(matches!(
            DeviceCertificate::from_bytes(&long),
            Err(CryptoError::Malformed { .. })
        ));
    }

    #[test]
    fn link_layout_is_as_documented() {
        let u = users();
        let links = chain(&u);
        let b = links[1].as_bytes();
        assert_eq!(b.len(), CHAIN_LINK_LEN);
        assert_eq!(b.len(), 226);
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..9], &1u64.to_be_bytes());
        assert_eq!(&b[9..41], &links[0].hash());
        assert_eq!(
            links[0].hash(),
            <[u8; 32]>::from(Sha256::digest(links[0].as_bytes()))
        );
        assert_eq!(&links[0].as_bytes()[9..41], &[0; 32]);
        assert_eq!(b[41], 0x01);
        assert_eq!(links[2].as_bytes()[41], 0x02);
        assert_eq!(&b[42..58], &ID2);
        assert_eq!(&b[58..122], &u.d2.public().to_bytes());
        assert_eq!(&b[122..130], &200u64.to_be_bytes());
        assert_eq!(&b[130..162], u.d1.public().signing());
        let sig: [u8; 64] = b[162..].try_into().unwrap();
        u.d1.public()
            .verify("device-chain", &b[..162], &sig)
            .unwrap();
        for l in &links {
            assert_eq!(&ChainLink::from_bytes(l.as_bytes()).unwrap(), l);
        }
    }

    #[test]
    fn a_valid_chain_gives_the_trusted_devices() {
        let u = users();
        let links = chain(&u);
        let t = verify_chain(&u.identity.public(), &links, None).unwrap();
        let ids: Vec<_> = t.devices().iter().map(|d| d.id).collect();
        assert_eq!(ids, vec![ID2, ID3]);
        assert!(!t.is_trusted_device(&ID1));
        assert!(t.is_revoked(&ID1));
        assert!(t.is_trusted_device(&ID2));
        assert!(t.is_trusted_key(&u.d3.public()));
        assert!(!t.is_trusted_key(&u.d1.public()));
        assert!(t.is_trusted_signer(u.identity.public().signing()));
        assert!(t.is_trusted_signer(u.d2.public().signing()));
        assert!(!t.is_trusted_signer(u.d1.public().signing()));
        assert_eq!(
            t.trusted_signers(),
            vec![
                *u.identity.public().signing(),
                *u.d2.public().signing(),
                *u.d3.public().signing()
            ]
        );
        assert_eq!(t.device(&ID3).unwrap().added_seq, 3);
        assert_eq!(t.device(&ID3).unwrap().added_at, 400);
        assert_eq!(t.head(), Some((3, links[3].hash())));
        // Every prefix is a valid chain too, and extends an earlier pin.
        for n in 1..=links.len() {
            let prefix = verify_chain(&u.identity.public(), &links[..n], None).unwrap();
            let pin = prefix.head();
            verify_chain(&u.identity.public(), &links, pin).unwrap();
        }
        let empty = verify_chain(&u.identity.public(), &[], None).unwrap();
        assert_eq!(empty.head(), None);
        assert!(empty.devices().is_empty());
    }

    #[test]
    fn the_chain_is_rooted_in_the_identity() {
        let u = users();
        let links = chain(&u);
        let other = KeyPair::generate().unwrap();
        assert_eq!(
            reason(verify_chain(&other.public(), &links, None)),
            (0, "signer is not trusted at this point")
        );
        // A genesis signed by a device is refused.
        let l0 = ChainLink::add(None, ID1, &u.d1.public(), 1, &u.d1).unwrap();
        assert_eq!(
            reason(verify_chain(&u.identity.public(), &[l0], None)),
            (0, "signer is not trusted at this point")
        );
    }

    #[test]
    fn gaps_reordering_and_bad_prev_hash_are_refused() {
        let u = users();
        let links = chain(&u);
        let id = u.identity.public();
        let mut gap = links.clone();
        gap.remove(1);
        assert_eq!(
            reason(verify_chain(&id, &gap, None)),
            (1, "sequence number is not the link's position")
        );
        let mut swapped = links.clone();
        swapped.swap(1, 2);
        assert_eq!(
            reason(verify_chain(&id, &swapped, None)),
            (1, "sequence number is not the link's position")
        );
        // Right seq, wrong previous link (a link of a parallel history).
        let alt0 = ChainLink::add(None, ID1, &u.d1.public(), 101, &u.identity).unwrap();
        let alt1 = ChainLink::add(Some(&alt0), ID2, &u.d2.public(), 200, &u.d1).unwrap();
        let mixed = vec![links[0].clone(), alt1];
        assert_eq!(
            reason(verify_chain(&id, &mixed, None)),
            (1, "previous hash does not match")
        );
        // A first link with a non-zero prev hash.
        let mut b = links[0].as_bytes().to_vec();
        b[9] = 1;
        let l0 = ChainLink::from_bytes(&b).unwrap();
        assert_eq!(
            reason(verify_chain(&id, &[l0], None)),
            (0, "previous hash does not match")
        );
    }

    #[test]
    fn revoked_or_never_added_keys_cannot_sign() {
        let u = users();
        let links = chain(&u);
        let id = u.identity.public();
        // d1 was revoked at link 2; it signs link 3.
        let mut l = links[..3].to_vec();
        l.push(ChainLink::add(Some(&links[2]), ID3, &u.d3.public(), 400, &u.d1).unwrap());
        assert_eq!(
            reason(verify_chain(&id, &l, None)),
            (3, "signer is not trusted at this point")
        );
        // d3 was never added; it signs link 1.
        let l1 = ChainLink::add(Some(&links[0]), ID2, &u.d2.public(), 200, &u.d3).unwrap();
        assert_eq!(
            reason(verify_chain(&id, &[links[0].clone(), l1], None)),
            (1, "signer is not trusted at this point")
        );
        // A device cannot add itself.
        let l1 = ChainLink::add(Some(&links[0]), ID2, &u.d2.public(), 200, &u.d2).unwrap();
        assert_eq!(
            reason(verify_chain(&id, &[links[0].clone(), l1], None)),
            (1, "signer is not trusted at this point")
        );
    }

    #[test]
    fn add_and_revoke_rules() {
        let u = users();
        let links = chain(&u);
        let id = u.identity.public();
        let extend = |op: ChainOp, dev_id: [u8; 16], keys: &PublicKeys| {
            let mut l = links.clone();
            let last = l.last().unwrap().clone();
            let next = match op {
                ChainOp::AddDevice => ChainLink::add(Some(&last), dev_id, keys, 500, &u.identity),
                ChainOp::RevokeDevice => {
                    ChainLink::revoke(Some(&last), dev_id, keys, 500, &u.identity)
                }
            }
            .unwrap();
            l.push(next);
            verify_chain(&id, &l, None)
        };
        let fresh = KeyPair::generate().unwrap().public();
        assert_eq!(
            reason(extend(ChainOp::AddDevice, ID2, &fresh)),
            (4, "device added twice")
        );
        // Re-adding a revoked device id.
        assert_eq!(
            reason(extend(ChainOp::AddDevice, ID1, &fresh)),
            (4, "device added twice")
        );
        // New id, keys already in the chain (trusted or revoked) or the identity's own.
        assert_eq!(
            reason(extend(ChainOp::AddDevice, [9; 16], &u.d2.public())),
            (4, "device keys already in the chain")
        );
        assert_eq!(
            reason(extend(ChainOp::AddDevice, [9; 16], &u.d1.public())),
            (4, "device keys already in the chain")
        );
        assert_eq!(
            reason(extend(ChainOp::AddDevice, [9; 16], &id)),
            (4, "device keys already in the chain")
        );
        assert_eq!(
            reason(extend(ChainOp::RevokeDevice, [9; 16], &fresh)),
            (4, "revoking an unknown device")
        );
        assert_eq!(
            reason(extend(ChainOp::RevokeDevice, ID1, &u.d1.public())),
            (4, "device already revoked")
        );
        assert_eq!(
            reason(extend(ChainOp::RevokeDevice, ID2, &fresh)),
            (4, "revoked keys do not match the device")
        );
        // The legitimate versions pass.
        extend(ChainOp::AddDevice, [9; 16], &fresh).unwrap();
        let t = extend(ChainOp::RevokeDevice, ID2, &u.d2.public()).unwrap();
        assert!(!t.is_trusted_device(&ID2));
    }

    #[test]
    fn forks_and_rollbacks_against_the_pinned_head_are_refused() {
        let u = users();
        let links = chain(&u);
        let id = u.identity.public();
        let pinned = verify_chain(&id, &links, None).unwrap().head();
        // Rollback: the server drops the last link.
        assert_eq!(
            reason(verify_chain(&id, &links[..3], pinned)),
            (3, "chain is shorter than the pinned head")
        );
        assert_eq!(
            reason(verify_chain(&id, &[], pinned)),
            (0, "chain is shorter than the pinned head")
        );
        // Fork: a different, validly signed link 3 (d3 never added; d1 revocation hidden).
        let fork3 =
            ChainLink::add(Some(&links[2]), [8; 16], &u.d3.public(), 401, &u.identity).unwrap();
        let forked = vec![
            links[0].clone(),
            links[1].clone(),
            links[2].clone(),
            fork3.clone(),
        ];
        verify_chain(&id, &forked, None).unwrap();
        assert_eq!(
            reason(verify_chain(&id, &forked, pinned)),
            (3, "chain forks from the pinned head")
        );
        // A fork that is also longer is still a fork.
        let fork4 = ChainLink::revoke(Some(&fork3), ID2, &u.d2.public(), 500, &u.identity).unwrap();
        let mut longer = forked.clone();
        longer.push(fork4);
        assert_eq!(
            reason(verify_chain(&id, &longer, pinned)),
            (3, "chain forks from the pinned head")
        );
        // A pin at an earlier seq with a different hash.
        let wrong_pin = Some((1, links[0].hash()));
        assert_eq!(
            reason(verify_chain(&id, &links, wrong_pin)),
            (1, "chain forks from the pinned head")
        );
        // A pin far in the future.
        assert_eq!(
            reason(verify_chain(&id, &links, Some((u64::MAX, [0; 32])))),
            (4, "chain is shorter than the pinned head")
        );
    }

    #[test]
    fn every_bit_flip_of_a_link_is_caught_at_that_link() {
        let u = users();
        let links = chain(&u);
        let id = u.identity.public();
        for (li, link) in links.iter().enumerate() {
            let b = link.as_bytes();
            for i in 0..b.len() {
                for bit in 0..8 {
                    let mut t = b.to_vec();
                    t[i] ^= 1 << bit;
                    match ChainLink::from_bytes(&t) {
                        Ok(flipped) => {
                            let mut l = links.clone();
                            l[li] = flipped;
                            match verify_chain(&id, &l, None) {
                                Err(CryptoError::BadChain { index, .. }) => assert_eq!(
                                    index, li,
                                    "link {li} byte {i} bit {bit} reported at {index}"
                                ),
                                other => panic!("link {li} byte {i} bit {bit}: {other:?}"),
                            }
                        }
                        Err(
                            CryptoError::UnknownVersion { .. }
                            | CryptoError::Malformed { .. }
                            | CryptoError::BadPublicKey { .. },
                        ) => {}
                        Err(e) => panic!("link {li} byte {i} bit {bit}: {e:?}"),
                    }
                }
            }
            for len in 0..b.len() {
                assert!(matches!(
                    ChainLink::from_bytes(&b[..len]),
                    Err(CryptoError::Truncated { at, .. }) if at == len
                ));
            }
        }
    }

    #[test]
    fn a_certificate_signature_is_not_a_link_signature() {
        // Same key, same bytes, other label: the link does not verify.
        let u = users();
        let links = chain(&u);
        let b = links[0].as_bytes();
        let sig = u.identity.sign("device-cert", &b[..162]).unwrap();
        let mut t = b[..162].to_vec();
        t.extend_from_slice(&sig);
        let l0 = ChainLink::from_bytes(&t).unwrap();
        assert_eq!(
            reason(verify_chain(&u.identity.public(), &[l0], None)),
            (0, "bad signature")
        );
    }
}
