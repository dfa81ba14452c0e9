//! Recovery-key records (DESIGN §5, protocol.md §19): the **enrolment**, by which a user's
//! identity key vouches for the public keys of a recovery key of one vault, and the **recovery
//! proof**, by which that recovery key lets a new device of the same user certify itself.
//!
//! The recovery key pair itself comes from [`crate::mnemonic::recovery_key_pair`] (the words
//! *and* the server's share). The enrolment is what makes the pair's public half trustworthy: a
//! restoring client derives the pair, then requires its public keys to equal those of an
//! enrolment that verifies under the identity it pinned, so a server that swaps the share or the
//! enrolment is caught before anything is opened or granted.
//!
//! Enrolment, binary form v1, 265 bytes:
//!
//! ```text
//! offset size  field
//! 0      1     version = 1
//! 1      16    recovery id
//! 17     16    user id (who enrolled it; only their session receives the share)
//! 33     16    vault id
//! 49     16    workspace id of the vault (zeros: a personal vault)
//! 65     64    recovery PublicKeys (Ed25519 ‖ X25519)
//! 129    32    phrase check = HKDF-SHA256(salt "coffer.recovery.v1", ikm = the words' entropy,
//!              info "coffer.recovery.v1.check")
//! 161    8     created at, unix seconds, big-endian
//! 169    32    signer: the user's identity Ed25519 public key
//! 201    64    Ed25519 signature, label "recovery-enrolment", over bytes 0..201
//! ```
//!
//! The phrase check lets a client tell "these are not the words of this recovery key" from "the
//! server's share does not match": it is a one-way function of 256 bits of entropy and reveals
//! nothing usable about the words.
//!
//! Recovery proof, binary form v1, 177 bytes:
//!
//! ```text
//! offset size  field
//! 0      1     version = 1
//! 1      16    recovery id
//! 17     16    user id
//! 33     16    device id of the device to certify
//! 49     64    that device's PublicKeys
//! 113    64    Ed25519 signature by the recovery signing key, label "recovery-proof",
//!              over bytes 0..113
//! ```
//!
//! Both signatures use the domain-separated scheme of [`crate::identity`], so neither verifies
//! as a certificate, attestation, grant or any other signed object.

use crate::error::{CryptoError, Result};
use crate::hkdf::hkdf_key;
use crate::identity::{self, KeyPair, PUBLIC_KEYS_LEN, PublicKeys, SIGNATURE_LEN};
use crate::mnemonic::{LABEL_RECOVERY_SALT, RecoveryPhrase};

/// Current enrolment version.
pub const ENROLMENT_VERSION: u8 = 1;
/// Length of an enrolment.
pub const ENROLMENT_LEN: usize = 1 + 16 * 4 + PUBLIC_KEYS_LEN + 32 + 8 + 32 + SIGNATURE_LEN;
/// Signature label of enrolments.
pub const SIG_LABEL_ENROLMENT: &str = "recovery-enrolment";
/// HKDF info of the phrase check.
pub const LABEL_PHRASE_CHECK: &[u8] = b"coffer.recovery.v1.check";
/// Current recovery-proof version.
pub const PROOF_VERSION: u8 = 1;
/// Length of a recovery proof.
pub const PROOF_LEN: usize = 1 + 16 * 3 + PUBLIC_KEYS_LEN + SIGNATURE_LEN;
/// Signature label of recovery proofs.
pub const SIG_LABEL_PROOF: &str = "recovery-proof";

const WHAT: &str = "recovery enrolment";
const WHAT_PROOF: &str = "recovery proof";

/// The phrase check of `phrase` (see the module documentation).
pub fn phrase_check(phrase: &RecoveryPhrase) -> Result<[u8; 32]> {
    let entropy = phrase.expose_entropy();
    let check = hkdf_key(
        LABEL_RECOVERY_SALT,
        entropy.expose_secret(),
        &[LABEL_PHRASE_CHECK],
    )?;
    Ok(*check.expose_secret())
}

/// What an enrolment says, before it is signed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EnrolmentBody {
    /// The recovery key's id.
    pub recovery_id: [u8; 16],
    /// The enrolling user.
    pub user: [u8; 16],
    /// The vault whose keys it recovers.
    pub vault: [u8; 16],
    /// The vault's workspace (zeros: personal).
    pub workspace: [u8; 16],
    /// The recovery key pair's public keys.
    pub recovery_keys: PublicKeys,
    /// The phrase check ([`phrase_check`]).
    pub phrase_check: [u8; 32],
    /// Creation time, unix seconds.
    pub created_at: u64,
}

/// A signed recovery enrolment.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Enrolment {
    bytes: Vec<u8>,
    body: EnrolmentBody,
    signer: [u8; 32],
    signature: [u8; SIGNATURE_LEN],
}

impl Enrolment {
    /// Signs `body` with `identity`, the enrolling user's identity key pair.
    pub fn issue(identity: &KeyPair, body: EnrolmentBody) -> Result<Self> {
        let signer = *identity.public().signing();
        let mut bytes = Vec::with_capacity(ENROLMENT_LEN);
        bytes.push(ENROLMENT_VERSION);
        bytes.extend_from_slice(&body.recovery_id);
        bytes.extend_from_slice(&body.user);
        bytes.extend_from_slice(&body.vault);
        bytes.extend_from_slice(&body.workspace);
        bytes.extend_from_slice(&body.recovery_keys.to_bytes());
        bytes.extend_from_slice(&body.phrase_check);
        bytes.extend_from_slice(&body.created_at.to_be_bytes());
        bytes.extend_from_slice(&signer);
        let signature = identity.sign(SIG_LABEL_ENROLMENT, &bytes)?;
        bytes.extend_from_slice(&signature);
        Ok(Self {
            bytes,
            body,
            signer,
            signature,
        })
    }

    /// Parses the binary form (version, length, the recovery keys; not the signature).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = crate::wire::Reader::new(WHAT, bytes);
        let version = r.u8()?;
        if version != ENROLMENT_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: WHAT,
                version,
            });
        }
        let recovery_id = r.array::<16>()?;
        let user = r.array::<16>()?;
        let vault = r.array::<16>()?;
        let workspace = r.array::<16>()?;
        let keys = r.take(PUBLIC_KEYS_LEN)?;
        let phrase_check = r.array::<32>()?;
        let created_at = r.u64()?;
        let signer = r.array::<32>()?;
        let signature = r.array::<SIGNATURE_LEN>()?;
        r.finish()?;
        Ok(Self {
            bytes: bytes.to_vec(),
            body: EnrolmentBody {
                recovery_id,
                user,
                vault,
                workspace,
                recovery_keys: PublicKeys::from_bytes(keys)?,
                phrase_check,
                created_at,
            },
            signer,
            signature,
        })
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// What it says (authenticated only by [`verify`](Self::verify)).
    pub fn body(&self) -> &EnrolmentBody {
        &self.body
    }

    /// The signer's Ed25519 key as written (authenticated only by [`verify`](Self::verify)).
    pub fn signer(&self) -> &[u8; 32] {
        &self.signer
    }

    /// Checks that `identity` (the identity the verifier pinned) signed this enrolment: the
    /// signer field must be its signing key ([`CryptoError::UntrustedSigner`]) and the
    /// signature must verify ([`CryptoError::BadSignature`]).
    pub fn verify(&self, identity: &PublicKeys) -> Result<()> {
        if self.signer != *identity.signing() {
            return Err(CryptoError::UntrustedSigner { what: WHAT });
        }
        let signed = self
            .bytes
            .get(..ENROLMENT_LEN - SIGNATURE_LEN)
            .unwrap_or(&[]);
        identity::verify(&self.signer, SIG_LABEL_ENROLMENT, signed, &self.signature)
            .map_err(|_| CryptoError::BadSignature { what: WHAT })
    }
}

/// A recovery proof: the recovery key vouching for a device of the enrolling user.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RecoveryProof {
    bytes: Vec<u8>,
    recovery_id: [u8; 16],
    user: [u8; 16],
    device: [u8; 16],
    device_keys: PublicKeys,
    signature: [u8; SIGNATURE_LEN],
}

impl RecoveryProof {
    /// Signs a proof for device `device` (keys `device_keys`) of `user` with `recovery`, the
    /// recovery key pair of recovery key `recovery_id`.
    pub fn issue(
        recovery: &KeyPair,
        recovery_id: [u8; 16],
        user: [u8; 16],
        device: [u8; 16],
        device_keys: &PublicKeys,
    ) -> Result<Self> {
        let mut bytes = Vec::with_capacity(PROOF_LEN);
        bytes.push(PROOF_VERSION);
        bytes.extend_from_slice(&recovery_id);
        bytes.extend_from_slice(&user);
        bytes.extend_from_slice(&device);
        bytes.extend_from_slice(&device_keys.to_bytes());
        let signature = recovery.sign(SIG_LABEL_PROOF, &bytes)?;
        bytes.extend_from_slice(&signature);
        Ok(Self {
            bytes,
            recovery_id,
            user,
            device,
            device_keys: *device_keys,
            signature,
        })
    }

    /// Parses the binary form (not the signature).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = crate::wire::Reader::new(WHAT_PROOF, bytes);
        let version = r.u8()?;
        if version != PROOF_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: WHAT_PROOF,
                version,
            });
        }
        let recovery_id = r.array::<16>()?;
        let user = r.array::<16>()?;
        let device = r.array::<16>()?;
        let keys = r.take(PUBLIC_KEYS_LEN)?;
        let signature = r.array::<SIGNATURE_LEN>()?;
        r.finish()?;
        Ok(Self {
            bytes: bytes.to_vec(),
            recovery_id,
            user,
            device,
            device_keys: PublicKeys::from_bytes(keys)?,
            signature,
        })
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The recovery key it claims.
    pub fn recovery_id(&self) -> &[u8; 16] {
        &self.recovery_id
    }

    /// The user.
    pub fn user(&self) -> &[u8; 16] {
        &self.user
    }

    /// The device it vouches for.
    pub fn device(&self) -> &[u8; 16] {
        &self.device
    }

    /// That device's public keys.
    pub fn device_keys(&self) -> &PublicKeys {
        &self.device_keys
    }

    /// Checks the signature under `recovery_keys`, the public keys of the enrolled recovery key
    /// ([`CryptoError::BadSignature`]).
    pub fn verify(&self, recovery_keys: &PublicKeys) -> Result<()> {
        let signed = self.bytes.get(..PROOF_LEN - SIGNATURE_LEN).unwrap_or(&[]);
        recovery_keys
            .verify(SIG_LABEL_PROOF, signed, &self.signature)
            .map_err(|_| CryptoError::BadSignature { what: WHAT_PROOF })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::attest::Attestation;
    use crate::secret::{SecretBytes, Seed};

    fn kp(b: u8) -> KeyPair {
        KeyPair::from_seed(&Seed::from_array([b; 32])).unwrap()
    }

    fn phrase() -> RecoveryPhrase {
        RecoveryPhrase::from_entropy(&SecretBytes::from_array([0x80; 32])).unwrap()
    }

    fn body(recovery: &KeyPair) -> EnrolmentBody {
        EnrolmentBody {
            recovery_id: [1; 16],
            user: [2; 16],
            vault: [3; 16],
            workspace: [4; 16],
            recovery_keys: recovery.public(),
            phrase_check: phrase_check(&phrase()).unwrap(),
            created_at: 5,
        }
    }

    #[test]
    fn enrolment_round_trip_and_layout() {
        let (identity, recovery) = (kp(7), kp(8));
        let e = Enrolment::issue(&identity, body(&recovery)).unwrap();
        assert_eq!(ENROLMENT_LEN, 265);
        assert_eq!(e.as_bytes().len(), ENROLMENT_LEN);
        let back = Enrolment::from_bytes(e.as_bytes()).unwrap();
        assert_eq!(back, e);
        back.verify(&identity.public()).unwrap();
        assert_eq!(back.body(), &body(&recovery));
        let b = e.as_bytes();
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..17], &[1; 16]);
        assert_eq!(&b[17..33], &[2; 16]);
        assert_eq!(&b[33..49], &[3; 16]);
        assert_eq!(&b[49..65], &[4; 16]);
        assert_eq!(&b[65..129], &recovery.public().to_bytes());
        assert_eq!(&b[129..161], &phrase_check(&phrase()).unwrap());
        assert_eq!(&b[161..169], &5u64.to_be_bytes());
        assert_eq!(&b[169..201], identity.public().signing());
        // the signature is the domain-separated one of `identity`, label "recovery-enrolment"
        let sig: [u8; 64] = b[201..].try_into().unwrap();
        identity
            .public()
            .verify("recovery-enrolment", &b[..201], &sig)
            .unwrap();
    }

    #[test]
    fn phrase_check_is_pinned_and_one_way() {
        let c = phrase_check(&phrase()).unwrap();
        let expected = hkdf_key(
            b"coffer.recovery.v1",
            &[0x80; 32],
            &[b"coffer.recovery.v1.check"],
        )
        .unwrap();
        assert_eq!(&c, expected.expose_secret());
        assert_ne!(c, [0x80; 32]);
        let other = RecoveryPhrase::from_entropy(&SecretBytes::from_array([0x81; 32])).unwrap();
        assert_ne!(c, phrase_check(&other).unwrap());
        // not the seed derivation either
        let seed =
            crate::mnemonic::recovery_seed(&phrase(), &SecretBytes::from_array([0; 32])).unwrap();
        assert_ne!(&c, seed.expose_secret());
    }

    #[test]
    fn every_flipped_enrolment_bit_is_refused() {
        let (identity, recovery) = (kp(7), kp(8));
        let bytes = Enrolment::issue(&identity, body(&recovery))
            .unwrap()
            .as_bytes()
            .to_vec();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut t = bytes.clone();
                t[i] ^= 1 << bit;
                let refused = match Enrolment::from_bytes(&t) {
                    Err(_) => true,
                    Ok(e) => e.verify(&identity.public()).is_err(),
                };
                assert!(refused, "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn foreign_signer_wrong_length_and_version_are_refused() {
        let (identity, recovery) = (kp(7), kp(8));
        let e = Enrolment::issue(&identity, body(&recovery)).unwrap();
        assert!(matches!(
            e.verify(&kp(9).public()),
            Err(CryptoError::UntrustedSigner { .. })
        ));
        // signed by another key that writes itself as signer: refused under the pinned identity
        let forged = Enrolment::issue(&kp(9), body(&recovery)).unwrap();
        assert!(matches!(
            forged.verify(&identity.public()),
            Err(CryptoError::UntrustedSigner { .. })
        ));
        // the identity's signature for another label (an attestation) never verifies here
        let a = Attestation::issue(&identity, [0; 16], [0; 16], [0; 16], &recovery.public(), 1)
            .unwrap();
        let mut spliced = e.as_bytes()[..ENROLMENT_LEN - SIGNATURE_LEN].to_vec();
        spliced.extend_from_slice(&a.as_bytes()[a.as_bytes().len() - SIGNATURE_LEN..]);
        assert!(matches!(
            Enrolment::from_bytes(&spliced)
                .unwrap()
                .verify(&identity.public()),
            Err(CryptoError::BadSignature { .. })
        ));
        assert!(Enrolment::from_bytes(&e.as_bytes()[..264]).is_err());
        let mut long = e.as_bytes().to_vec();
        long.push(0);
        assert!(Enrolment::from_bytes(&long).is_err());
        let mut v2 = e.as_bytes().to_vec();
        v2[0] = 2;
        assert!(matches!(
            Enrolment::from_bytes(&v2),
            Err(CryptoError::UnknownVersion { .. })
        ));
    }

    fn proof() -> (KeyPair, KeyPair, RecoveryProof) {
        let (recovery, device) = (kp(8), kp(10));
        let p =
            RecoveryProof::issue(&recovery, [1; 16], [2; 16], [6; 16], &device.public()).unwrap();
        (recovery, device, p)
    }

    #[test]
    fn proof_round_trip_and_layout() {
        let (recovery, device, p) = proof();
        assert_eq!(PROOF_LEN, 177);
        assert_eq!(p.as_bytes().len(), PROOF_LEN);
        let back = RecoveryProof::from_bytes(p.as_bytes()).unwrap();
        assert_eq!(back, p);
        back.verify(&recovery.public()).unwrap();
        let b = p.as_bytes();
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..17], &[1; 16]);
        assert_eq!(&b[17..33], &[2; 16]);
        assert_eq!(&b[33..49], &[6; 16]);
        assert_eq!(&b[49..113], &device.public().to_bytes());
        assert_eq!(back.recovery_id(), &[1; 16]);
        assert_eq!(back.user(), &[2; 16]);
        assert_eq!(back.device(), &[6; 16]);
        assert_eq!(back.device_keys(), &device.public());
    }

    #[test]
    fn every_flipped_proof_bit_is_refused() {
        let (recovery, _, p) = proof();
        let bytes = p.as_bytes().to_vec();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut t = bytes.clone();
                t[i] ^= 1 << bit;
                let refused = match RecoveryProof::from_bytes(&t) {
                    Err(_) => true,
                    Ok(p) => p.verify(&recovery.public()).is_err(),
                };
                assert!(refused, "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn proof_under_another_key_or_label_is_refused() {
        let (recovery, device, p) = proof();
        // another recovery key
        assert!(matches!(
            p.verify(&kp(11).public()),
            Err(CryptoError::BadSignature { .. })
        ));
        // the same key's enrolment-labelled signature over the same bytes is not a proof
        let signed = &p.as_bytes()[..PROOF_LEN - SIGNATURE_LEN];
        let wrong_label = recovery.sign(SIG_LABEL_ENROLMENT, signed).unwrap();
        let mut forged = signed.to_vec();
        forged.extend_from_slice(&wrong_label);
        assert!(
            RecoveryProof::from_bytes(&forged)
                .unwrap()
                .verify(&recovery.public())
                .is_err()
        );
        // the device signing for itself is not a proof either
        let own =
            RecoveryProof::issue(&device, [1; 16], [2; 16], [6; 16], &device.public()).unwrap();
        assert!(own.verify(&recovery.public()).is_err());
        let mut v2 = p.as_bytes().to_vec();
        v2[0] = 2;
        assert!(matches!(
            RecoveryProof::from_bytes(&v2),
            Err(CryptoError::UnknownVersion { .. })
        ));
    }
}
