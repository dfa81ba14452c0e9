//! Identity attestations (DESIGN §4): a workspace admin's identity key vouching for a member's
//! identity key after the admin compared the member's fingerprint phrase out of band.
//!
//! Binary form v1, 217 bytes:
//!
//! ```text
//! offset size  field
//! 0      1     version = 1
//! 1      16    workspace id
//! 17     16    member user id
//! 33     64    member identity PublicKeys (Ed25519 ‖ X25519)
//! 97     8     issued at, unix seconds, big-endian
//! 105    16    attesting user id
//! 121    32    attester: the attesting user's identity Ed25519 public key
//! 153    64    Ed25519 signature, label "identity-attestation", over bytes 0..153
//! ```
//!
//! The signature uses the domain-separated scheme of [`crate::identity`], so it never verifies
//! as a device certificate, chain link or any other signed object.

use crate::error::{CryptoError, Result};
use crate::identity::{self, KeyPair, PUBLIC_KEYS_LEN, PublicKeys, SIGNATURE_LEN};

/// Current attestation version.
pub const ATTESTATION_VERSION: u8 = 1;
/// Length of an attestation.
pub const ATTESTATION_LEN: usize = 1 + 16 + 16 + PUBLIC_KEYS_LEN + 8 + 16 + 32 + SIGNATURE_LEN;
/// Signature label of attestations.
pub const SIG_LABEL_ATTESTATION: &str = "identity-attestation";

const WHAT: &str = "identity attestation";

/// A member's identity key attested by an admin.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Attestation {
    bytes: Vec<u8>,
    workspace: [u8; 16],
    user: [u8; 16],
    identity: PublicKeys,
    issued_at: u64,
    attester_user: [u8; 16],
    attester: [u8; 32],
    signature: [u8; SIGNATURE_LEN],
}

impl Attestation {
    /// Issues an attestation of `identity` (member `user` of `workspace`) signed by `attester`,
    /// the identity key pair of user `attester_user`.
    pub fn issue(
        attester: &KeyPair,
        attester_user: [u8; 16],
        workspace: [u8; 16],
        user: [u8; 16],
        identity: &PublicKeys,
        issued_at: u64,
    ) -> Result<Self> {
        let signer = *attester.public().signing();
        let mut bytes = Vec::with_capacity(ATTESTATION_LEN);
        bytes.push(ATTESTATION_VERSION);
        bytes.extend_from_slice(&workspace);
        bytes.extend_from_slice(&user);
        bytes.extend_from_slice(&identity.to_bytes());
        bytes.extend_from_slice(&issued_at.to_be_bytes());
        bytes.extend_from_slice(&attester_user);
        bytes.extend_from_slice(&signer);
        let signature = attester.sign(SIG_LABEL_ATTESTATION, &bytes)?;
        bytes.extend_from_slice(&signature);
        Ok(Self {
            bytes,
            workspace,
            user,
            identity: *identity,
            issued_at,
            attester_user,
            attester: signer,
            signature,
        })
    }

    /// Parses the binary form (version, length, the member's keys; not the signature).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = crate::wire::Reader::new(WHAT, bytes);
        let version = r.u8()?;
        if version != ATTESTATION_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: WHAT,
                version,
            });
        }
        let workspace = r.array::<16>()?;
        let user = r.array::<16>()?;
        let identity = r.take(PUBLIC_KEYS_LEN)?;
        let issued_at = r.u64()?;
        let attester_user = r.array::<16>()?;
        let attester = r.array::<32>()?;
        let signature = r.array::<SIGNATURE_LEN>()?;
        r.finish()?;
        let identity = PublicKeys::from_bytes(identity)?;
        Ok(Self {
            bytes: bytes.to_vec(),
            workspace,
            user,
            identity,
            issued_at,
            attester_user,
            attester,
            signature,
        })
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Checks that `attester` (an identity the verifier trusts) signed this attestation: the
    /// attester field must be its signing key ([`CryptoError::UntrustedSigner`]) and the
    /// signature must verify ([`CryptoError::BadSignature`]).
    pub fn verify(&self, attester: &PublicKeys) -> Result<()> {
        if self.attester != *attester.signing() {
            return Err(CryptoError::UntrustedSigner { what: WHAT });
        }
        let signed = self
            .bytes
            .get(..ATTESTATION_LEN - SIGNATURE_LEN)
            .unwrap_or(&[]);
        identity::verify(
            &self.attester,
            SIG_LABEL_ATTESTATION,
            signed,
            &self.signature,
        )
        .map_err(|_| CryptoError::BadSignature { what: WHAT })
    }

    /// The workspace.
    pub fn workspace(&self) -> &[u8; 16] {
        &self.workspace
    }

    /// The member's user id.
    pub fn user(&self) -> &[u8; 16] {
        &self.user
    }

    /// The attested identity keys.
    pub fn identity(&self) -> &PublicKeys {
        &self.identity
    }

    /// Issue time, unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// The attesting user.
    pub fn attester_user(&self) -> &[u8; 16] {
        &self.attester_user
    }

    /// The attester's Ed25519 public key (authenticated only by [`verify`](Self::verify)).
    pub fn attester(&self) -> &[u8; 32] {
        &self.attester
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::chain::DeviceCertificate;
    use crate::secret::Seed;

    fn kp(b: u8) -> KeyPair {
        KeyPair::from_seed(&Seed::from_array([b; 32])).unwrap()
    }

    fn sample() -> (KeyPair, KeyPair, Attestation) {
        let (admin, member) = (kp(1), kp(2));
        let a = Attestation::issue(&admin, [3; 16], [4; 16], [5; 16], &member.public(), 7).unwrap();
        (admin, member, a)
    }

    #[test]
    fn round_trip_and_layout() {
        let (admin, member, a) = sample();
        assert_eq!(a.as_bytes().len(), ATTESTATION_LEN);
        assert_eq!(ATTESTATION_LEN, 217);
        let b = Attestation::from_bytes(a.as_bytes()).unwrap();
        assert_eq!(a, b);
        b.verify(&admin.public()).unwrap();
        assert_eq!(b.workspace(), &[4; 16]);
        assert_eq!(b.user(), &[5; 16]);
        assert_eq!(b.identity(), &member.public());
        assert_eq!(b.issued_at(), 7);
        assert_eq!(b.attester_user(), &[3; 16]);
        assert_eq!(b.attester(), admin.public().signing());
        // offsets of the documented layout
        let bytes = a.as_bytes();
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..17], &[4; 16]);
        assert_eq!(&bytes[17..33], &[5; 16]);
        assert_eq!(&bytes[33..97], &member.public().to_bytes());
        assert_eq!(&bytes[97..105], &7u64.to_be_bytes());
        assert_eq!(&bytes[105..121], &[3; 16]);
        assert_eq!(&bytes[121..153], admin.public().signing());
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let (admin, _, a) = sample();
        let bytes = a.as_bytes().to_vec();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut t = bytes.clone();
                t[i] ^= 1 << bit;
                let refused = match Attestation::from_bytes(&t) {
                    Err(_) => true,
                    Ok(p) => p.verify(&admin.public()).is_err(),
                };
                assert!(refused, "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn another_attester_or_a_foreign_signature_is_refused() {
        let (_, member, a) = sample();
        assert!(matches!(
            a.verify(&kp(9).public()),
            Err(CryptoError::UntrustedSigner { .. })
        ));
        // a device certificate's signature (same key, same bytes length class) never verifies
        let admin = kp(1);
        let cert = DeviceCertificate::issue(&admin, [5; 16], [6; 16], &member.public(), 7).unwrap();
        let mut forged = a.as_bytes()[..ATTESTATION_LEN - SIGNATURE_LEN].to_vec();
        forged.extend_from_slice(&cert.as_bytes()[cert.as_bytes().len() - SIGNATURE_LEN..]);
        let f = Attestation::from_bytes(&forged).unwrap();
        assert!(matches!(
            f.verify(&admin.public()),
            Err(CryptoError::BadSignature { .. })
        ));
        // wrong length and version
        assert!(Attestation::from_bytes(&a.as_bytes()[..100]).is_err());
        let mut v2 = a.as_bytes().to_vec();
        v2[0] = 2;
        assert!(matches!(
            Attestation::from_bytes(&v2),
            Err(CryptoError::UnknownVersion { .. })
        ));
    }
}
