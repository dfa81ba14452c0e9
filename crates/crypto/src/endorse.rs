//! Device endorsements (DESIGN §4, "or by an admin's device"; protocol.md §14.6): a workspace
//! owner's or admin's identity key vouching for a member's pending device after the admin and
//! the member compared the device's approval code out of band.
//!
//! An endorsement does not put the device in the member's chain (only the member's identity or
//! one of their trusted devices can sign a link, [`crate::chain`]); it is the admin's signed
//! consent, which lets the member's pending device certify itself and append its own `add` link
//! while the member has other trusted devices.
//!
//! Binary form v1, 297 bytes:
//!
//! ```text
//! offset size  field
//! 0      1     version = 1
//! 1      16    workspace id
//! 17     16    member user id
//! 33     64    member identity PublicKeys (the identity the admin trusts; the code covers it)
//! 97     16    device id
//! 113    64    device PublicKeys
//! 177    8     issued at, unix seconds, big-endian
//! 185    16    endorsing user id
//! 201    32    endorser: the endorsing user's identity Ed25519 public key
//! 233    64    Ed25519 signature, label "device-endorsement", over bytes 0..233
//! ```

use crate::error::{CryptoError, Result};
use crate::identity::{self, KeyPair, PUBLIC_KEYS_LEN, PublicKeys, SIGNATURE_LEN};

/// Current endorsement version.
pub const ENDORSEMENT_VERSION: u8 = 1;
/// Length of an endorsement.
pub const ENDORSEMENT_LEN: usize =
    1 + 16 + 16 + PUBLIC_KEYS_LEN + 16 + PUBLIC_KEYS_LEN + 8 + 16 + 32 + SIGNATURE_LEN;
/// Signature label of endorsements.
pub const SIG_LABEL_ENDORSEMENT: &str = "device-endorsement";

const WHAT: &str = "device endorsement";

/// What an endorsement vouches for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EndorsedDevice {
    /// The workspace in which the endorser is an owner or admin.
    pub workspace: [u8; 16],
    /// The member whose device it is.
    pub user: [u8; 16],
    /// The member's identity keys.
    pub identity: PublicKeys,
    /// The device.
    pub device_id: [u8; 16],
    /// The device's public keys.
    pub device: PublicKeys,
}

/// A member's device endorsed by an admin's identity key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Endorsement {
    bytes: Vec<u8>,
    what: EndorsedDevice,
    issued_at: u64,
    endorser_user: [u8; 16],
    endorser: [u8; 32],
    signature: [u8; SIGNATURE_LEN],
}

impl Endorsement {
    /// Issues an endorsement of `what`, signed by `endorser`, the identity key pair of user
    /// `endorser_user`.
    pub fn issue(
        endorser: &KeyPair,
        endorser_user: [u8; 16],
        what: &EndorsedDevice,
        issued_at: u64,
    ) -> Result<Self> {
        let signer = *endorser.public().signing();
        let mut bytes = Vec::with_capacity(ENDORSEMENT_LEN);
        bytes.push(ENDORSEMENT_VERSION);
        bytes.extend_from_slice(&what.workspace);
        bytes.extend_from_slice(&what.user);
        bytes.extend_from_slice(&what.identity.to_bytes());
        bytes.extend_from_slice(&what.device_id);
        bytes.extend_from_slice(&what.device.to_bytes());
        bytes.extend_from_slice(&issued_at.to_be_bytes());
        bytes.extend_from_slice(&endorser_user);
        bytes.extend_from_slice(&signer);
        let signature = endorser.sign(SIG_LABEL_ENDORSEMENT, &bytes)?;
        bytes.extend_from_slice(&signature);
        Ok(Self {
            bytes,
            what: *what,
            issued_at,
            endorser_user,
            endorser: signer,
            signature,
        })
    }

    /// Parses the binary form (version, length, both key sets; not the signature).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = crate::wire::Reader::new(WHAT, bytes);
        let version = r.u8()?;
        if version != ENDORSEMENT_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: WHAT,
                version,
            });
        }
        let workspace = r.array::<16>()?;
        let user = r.array::<16>()?;
        let identity = r.take(PUBLIC_KEYS_LEN)?;
        let device_id = r.array::<16>()?;
        let device = r.take(PUBLIC_KEYS_LEN)?;
        let issued_at = r.u64()?;
        let endorser_user = r.array::<16>()?;
        let endorser = r.array::<32>()?;
        let signature = r.array::<SIGNATURE_LEN>()?;
        r.finish()?;
        let identity = PublicKeys::from_bytes(identity)?;
        let device = PublicKeys::from_bytes(device)?;
        Ok(Self {
            bytes: bytes.to_vec(),
            what: EndorsedDevice {
                workspace,
                user,
                identity,
                device_id,
                device,
            },
            issued_at,
            endorser_user,
            endorser,
            signature,
        })
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Checks that `endorser` (an identity the verifier trusts) signed this endorsement: the
    /// endorser field must be its signing key ([`CryptoError::UntrustedSigner`]) and the
    /// signature must verify ([`CryptoError::BadSignature`]).
    pub fn verify(&self, endorser: &PublicKeys) -> Result<()> {
        if self.endorser != *endorser.signing() {
            return Err(CryptoError::UntrustedSigner { what: WHAT });
        }
        let signed = self
            .bytes
            .get(..ENDORSEMENT_LEN - SIGNATURE_LEN)
            .unwrap_or(&[]);
        identity::verify(
            &self.endorser,
            SIG_LABEL_ENDORSEMENT,
            signed,
            &self.signature,
        )
        .map_err(|_| CryptoError::BadSignature { what: WHAT })
    }

    /// What it vouches for (authenticated only by [`verify`](Self::verify)).
    pub fn endorsed(&self) -> &EndorsedDevice {
        &self.what
    }

    /// Issue time, unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// The endorsing user.
    pub fn endorser_user(&self) -> &[u8; 16] {
        &self.endorser_user
    }

    /// The endorser's Ed25519 public key (authenticated only by [`verify`](Self::verify)).
    pub fn endorser(&self) -> &[u8; 32] {
        &self.endorser
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::secret::Seed;

    fn kp(b: u8) -> KeyPair {
        KeyPair::from_seed(&Seed::from_array([b; 32])).unwrap()
    }

    fn sample() -> (KeyPair, EndorsedDevice, Endorsement) {
        let (admin, member, device) = (kp(1), kp(2), kp(3));
        let what = EndorsedDevice {
            workspace: [4; 16],
            user: [5; 16],
            identity: member.public(),
            device_id: [6; 16],
            device: device.public(),
        };
        let e = Endorsement::issue(&admin, [7; 16], &what, 9).unwrap();
        (admin, what, e)
    }

    #[test]
    fn round_trip_and_layout() {
        let (admin, what, e) = sample();
        assert_eq!(ENDORSEMENT_LEN, 297);
        let b = e.as_bytes();
        assert_eq!(b.len(), ENDORSEMENT_LEN);
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..17], &[4; 16]);
        assert_eq!(&b[17..33], &[5; 16]);
        assert_eq!(&b[33..97], &what.identity.to_bytes());
        assert_eq!(&b[97..113], &[6; 16]);
        assert_eq!(&b[113..177], &what.device.to_bytes());
        assert_eq!(&b[177..185], &9u64.to_be_bytes());
        assert_eq!(&b[185..201], &[7; 16]);
        assert_eq!(&b[201..233], admin.public().signing());
        let sig: [u8; 64] = b[233..].try_into().unwrap();
        admin
            .public()
            .verify("device-endorsement", &b[..233], &sig)
            .unwrap();
        let back = Endorsement::from_bytes(b).unwrap();
        assert_eq!(back, e);
        back.verify(&admin.public()).unwrap();
        assert_eq!(back.endorsed(), &what);
        assert_eq!(back.issued_at(), 9);
        assert_eq!(back.endorser_user(), &[7; 16]);
        assert_eq!(back.endorser(), admin.public().signing());
    }

    #[test]
    fn another_endorser_or_label_is_refused() {
        let (_, what, e) = sample();
        assert_eq!(
            e.verify(&kp(8).public()).unwrap_err(),
            CryptoError::UntrustedSigner {
                what: "device endorsement"
            }
        );
        // Same bytes signed under the attestation label: refused.
        let admin = kp(1);
        let mut b = e.as_bytes()[..233].to_vec();
        b.extend_from_slice(&admin.sign("identity-attestation", &b.clone()).unwrap());
        let forged = Endorsement::from_bytes(&b).unwrap();
        assert!(matches!(
            forged.verify(&admin.public()),
            Err(CryptoError::BadSignature { .. })
        ));
        // The endorser field rewritten to another key: its signature does not verify.
        let other = kp(8);
        let mut b = e.as_bytes().to_vec();
        b[201..233].copy_from_slice(other.public().signing());
        let forged = Endorsement::from_bytes(&b).unwrap();
        assert!(matches!(
            forged.verify(&other.public()),
            Err(CryptoError::BadSignature { .. })
        ));
        assert_eq!(forged.endorsed(), &what);
    }

    #[test]
    fn every_bit_flip_and_truncation_is_refused() {
        let (admin, _, e) = sample();
        let b = e.as_bytes();
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut t = b.to_vec();
                t[i] ^= 1 << bit;
                match Endorsement::from_bytes(&t) {
                    Ok(x) => assert!(
                        x.verify(&admin.public()).is_err(),
                        "byte {i} bit {bit} still verifies"
                    ),
                    Err(CryptoError::UnknownVersion { .. } | CryptoError::BadPublicKey { .. }) => {}
                    Err(other) => panic!("byte {i} bit {bit}: {other:?}"),
                }
            }
        }
        for len in 0..b.len() {
            assert!(matches!(
                Endorsement::from_bytes(&b[..len]),
                Err(CryptoError::Truncated { at, .. }) if at == len
            ));
        }
        let mut long = b.to_vec();
        long.push(0);
        assert!(matches!(
            Endorsement::from_bytes(&long),
            Err(CryptoError::Malformed { .. })
        ));
    }
}
