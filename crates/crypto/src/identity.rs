//! Key pairs of principals (identities, devices, service accounts, recovery keys), their public
//! keys, and domain-separated Ed25519 signatures (DESIGN §1, §4).
//!
//! A [`KeyPair`] is an Ed25519 signing key and an X25519 encryption key, both derived from one
//! 32-byte [`Seed`] with HKDF-SHA256:
//!
//! ```text
//! ed25519 secret = HKDF-SHA256(salt = "coffer.keypair.v1", ikm = seed, info = "ed25519")
//! x25519 secret  = HKDF-SHA256(salt = "coffer.keypair.v1", ikm = seed, info = "x25519")
//! ```
//!
//! so a key pair is stored, wrapped and granted as its seed alone.
//!
//! [`PublicKeys`] encode as 64 bytes, `signing:32 ‖ encryption:32`. Parsing accepts only
//! canonical, full-order keys: the Ed25519 key must decompress, be canonically encoded and not be
//! of small order; the X25519 key must be canonical (`u < 2^255 − 19`, top bit clear) and not of
//! low order on the curve or its twist (which also rules out all zeros). Anything else is
//! [`CryptoError::BadPublicKey`].
//!
//! Every signature is **domain-separated**: [`KeyPair::sign`] signs
//!
//! ```text
//! "coffer.sig.v1" ‖ len(label):u16 BE ‖ label ‖ message
//! ```
//!
//! and [`verify`] checks with `verify_strict` (no small-order keys or `R`, canonical `S`), so a
//! signature made for one label never verifies under another.

use core::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable as _, Kem as _, Serializable as _};
use sha2::{Digest as _, Sha256};

use crate::error::{CryptoError, Result};
use crate::hkdf::hkdf_key;
use crate::secret::Seed;

/// Salt of the key-pair derivation from a seed.
pub const LABEL_KEYPAIR_SALT: &[u8] = b"coffer.keypair.v1";
/// HKDF info of the Ed25519 secret key.
pub const LABEL_KEYPAIR_ED25519: &[u8] = b"ed25519";
/// HKDF info of the X25519 secret key.
pub const LABEL_KEYPAIR_X25519: &[u8] = b"x25519";
/// Domain tag that starts every message Coffer signs.
pub const SIGNATURE_DOMAIN: &[u8] = b"coffer.sig.v1";
/// Domain tag of the public-key fingerprint hash.
pub const LABEL_PUBLIC_KEYS_FINGERPRINT: &[u8] = b"coffer.pubkeys.fingerprint.v1";
/// Length of the [`PublicKeys`] encoding.
pub const PUBLIC_KEYS_LEN: usize = 64;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// The HPKE private key type of DHKEM(X25519, HKDF-SHA256).
pub(crate) type HpkePrivateKey = <X25519HkdfSha256 as hpke::Kem>::PrivateKey;

/// The canonical u-coordinates of the X25519 points of low order (on the curve or on its twist):
/// 0, 1, the two points of order 8, and p − 1, little-endian. A clamped scalar is a multiple of
/// the cofactor 8, so `X25519(k, u)` is all zeros exactly for these (and for their non-canonical
/// encodings, which [`x25519_is_canonical`] already rejects). Comparing against the list costs
/// nothing; the Montgomery ladder it replaces cost ~40 µs per key, paid for every member's keys
/// on every sync. `low_order_list_is_exactly_the_zero_shared_points` and the Wycheproof test
/// check the list against the ladder.
const LOW_ORDER_U: [[u8; 32]; 5] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// The public half of a [`KeyPair`]: an Ed25519 signing key and an X25519 encryption key, both
/// validated (see the module documentation). Construct with [`PublicKeys::from_bytes`] or
/// [`PublicKeys::from_parts`], or take it from [`KeyPair::public`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKeys {
    signing: [u8; 32],
    encryption: [u8; 32],
}

impl PublicKeys {
    /// Validates and joins an Ed25519 key and an X25519 key.
    pub fn from_parts(signing: [u8; 32], encryption: [u8; 32]) -> Result<Self> {
        check_ed25519_public(&signing)?;
        check_x25519_public(&encryption)?;
        Ok(Self {
            signing,
            encryption,
        })
    }

    /// Parses the 64-byte encoding `signing:32 ‖ encryption:32`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = crate::wire::Reader::new("public keys", bytes);
        let signing = r.array::<32>()?;
        let encryption = r.array::<32>()?;
        r.finish()?;
        Self::from_parts(signing, encryption)
    }

    /// The 64-byte encoding `signing:32 ‖ encryption:32`.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEYS_LEN] {
        let mut out = [0u8; PUBLIC_KEYS_LEN];
        let (s, e) = out.split_at_mut(32);
        s.copy_from_slice(&self.signing);
        e.copy_from_slice(&self.encryption);
        out
    }

    /// The Ed25519 signing (verifying) key.
    pub fn signing(&self) -> &[u8; 32] {
        &self.signing
    }

    /// The X25519 encryption key.
    pub fn encryption(&self) -> &[u8; 32] {
        &self.encryption
    }

    /// `SHA-256("coffer.pubkeys.fingerprint.v1" ‖ signing ‖ encryption)`: what people compare
    /// (see [`crate::fingerprint`]) and what clients pin.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(LABEL_PUBLIC_KEYS_FINGERPRINT);
        h.update(self.signing);
        h.update(self.encryption);
        h.finalize().into()
    }

    /// Verifies a signature made by this key pair's signing key for `label`; see [`verify`].
    pub fn verify(&self, label: &str, msg: &[u8], sig: &[u8; SIGNATURE_LEN]) -> Result<()> {
        verify(&self.signing, label, msg, sig)
    }
}

impl fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKeys(sig {}, enc {})",
            data_encoding::HEXLOWER.encode(&self.signing),
            data_encoding::HEXLOWER.encode(&self.encryption)
        )
    }
}

/// Rejects an Ed25519 public key that does not decompress, is not canonically encoded, or has
/// small order.
fn check_ed25519_public(bytes: &[u8; 32]) -> Result<()> {
    let bad = CryptoError::BadPublicKey { what: "ed25519" };
    let vk = VerifyingKey::from_bytes(bytes).map_err(|_| bad.clone())?;
    if vk.is_weak() || vk.to_edwards().compress().to_bytes() != *bytes {
        return Err(bad);
    }
    Ok(())
}

/// Rejects an X25519 public key that is not canonical (`u ≥ p` or bit 255 set) or has low order
/// (including all zeros).
pub(crate) fn check_x25519_public(bytes: &[u8; 32]) -> Result<()> {
    let bad = CryptoError::BadPublicKey { what: "x25519" };
    if !x25519_is_canonical(bytes) {
        return Err(bad);
    }
    if LOW_ORDER_U.contains(bytes) {
        return Err(bad);
    }
    Ok(())
}

/// Whether a little-endian u-coordinate is below `p = 2^255 − 19` with bit 255 clear.
fn x25519_is_canonical(bytes: &[u8; 32]) -> bool {
    let [first, middle @ .., last] = bytes;
    if *last > 0x7f {
        return false;
    }
    // u ≥ p  ⇔  last = 0x7f, bytes 1..=30 all 0xff, first ≥ 0xed.
    !(*last == 0x7f && middle.iter().all(|&b| b == 0xff) && *first >= 0xed)
}

/// Builds the exact byte string that is signed for `label` and `msg`.
fn signed_message(label: &str, msg: &[u8]) -> Result<Vec<u8>> {
    let len = u16::try_from(label.len()).map_err(|_| CryptoError::Length("signature label"))?;
    let mut out = Vec::with_capacity(SIGNATURE_DOMAIN.len() + 2 + label.len() + msg.len());
    out.extend_from_slice(SIGNATURE_DOMAIN);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(label.as_bytes());
    out.extend_from_slice(msg);
    Ok(out)
}

/// Verifies a Coffer signature: `sig` must be a strict Ed25519 signature by `signing_key` over
/// `"coffer.sig.v1" ‖ len(label):u16 ‖ label ‖ msg`. Fails with
/// [`CryptoError::BadSignature`] (or [`CryptoError::BadPublicKey`] for an invalid key).
pub fn verify(
    signing_key: &[u8; 32],
    label: &str,
    msg: &[u8],
    sig: &[u8; SIGNATURE_LEN],
) -> Result<()> {
    let vk = VerifyingKey::from_bytes(signing_key)
        .map_err(|_| CryptoError::BadPublicKey { what: "ed25519" })?;
    let signed = signed_message(label, msg)?;
    vk.verify_strict(&signed, &Signature::from_bytes(sig))
        .map_err(|_| CryptoError::BadSignature { what: "signature" })
}

/// A principal's private keys: Ed25519 for signing, X25519 for receiving grants, both derived
/// from one seed. Zeroizes on drop, never prints its secrets, is not `Clone` (use
/// [`duplicate`](Self::duplicate)).
pub struct KeyPair {
    seed: Seed,
    signing: SigningKey,
    encryption: HpkePrivateKey,
    public: PublicKeys,
}

impl KeyPair {
    /// A fresh key pair from a random seed.
    pub fn generate() -> Result<Self> {
        Self::from_seed(&Seed::random()?)
    }

    /// The key pair derived from `seed` (deterministic).
    pub fn from_seed(seed: &Seed) -> Result<Self> {
        let ikm = seed.expose_secret();
        let ed = hkdf_key(LABEL_KEYPAIR_SALT, ikm, &[LABEL_KEYPAIR_ED25519])?;
        let x = hkdf_key(LABEL_KEYPAIR_SALT, ikm, &[LABEL_KEYPAIR_X25519])?;
        let signing = SigningKey::from_bytes(ed.expose_secret());
        // Clamps the scalar; the only error is a wrong length, which cannot happen here.
        let encryption = HpkePrivateKey::from_bytes(x.expose_secret())
            .map_err(|_| CryptoError::Length("x25519 secret"))?;
        let enc_pk = X25519HkdfSha256::sk_to_pk(&encryption).to_bytes();
        let mut enc = [0u8; 32];
        enc.copy_from_slice(&enc_pk);
        let public = PublicKeys {
            signing: signing.verifying_key().to_bytes(),
            encryption: enc,
        };
        Ok(Self {
            seed: seed.duplicate(),
            signing,
            encryption,
            public,
        })
    }

    /// The seed: the only thing to store or wrap to keep this key pair.
    pub fn seed(&self) -> &Seed {
        &self.seed
    }

    /// The public keys.
    pub fn public(&self) -> PublicKeys {
        self.public
    }

    /// Signs `msg` for `label` (see the module documentation for the exact bytes signed).
    pub fn sign(&self, label: &str, msg: &[u8]) -> Result<[u8; SIGNATURE_LEN]> {
        let signed = signed_message(label, msg)?;
        Ok(self.signing.sign(&signed).to_bytes())
    }

    /// An independent copy.
    pub fn duplicate(&self) -> Self {
        Self {
            seed: self.seed.duplicate(),
            signing: self.signing.clone(),
            encryption: self.encryption.clone(),
            public: self.public,
        }
    }

    /// The X25519 private key, as HPKE wants it.
    pub(crate) fn hpke_private(&self) -> &HpkePrivateKey {
        &self.encryption
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({:?}, ***)", self.public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(b: u8) -> Seed {
        Seed::from_array([b; 32])
    }

    #[test]
    fn low_order_list_is_exactly_the_zero_shared_points() {
        // Every listed u gives the all-zero shared secret under any clamped scalar ...
        for k in [[0x5a; 32], [0x01; 32], [0xff; 32]] {
            for u in LOW_ORDER_U {
                assert_eq!(x25519_dalek::x25519(k, u), [0; 32], "{u:02x?}");
                assert!(check_x25519_public(&u).is_err());
            }
        }
        // ... and keys that are not listed (real ones and arbitrary canonical strings) do not,
        // and pass the check.
        for b in 2..=200u8 {
            let mut u = [b; 32];
            u[31] &= 0x7f;
            let real = *KeyPair::from_seed(&seed(b)).unwrap().public().encryption();
            for u in [u, real] {
                assert_ne!(x25519_dalek::x25519([0x5a; 32], u), [0; 32]);
                assert!(check_x25519_public(&u).is_ok(), "{u:02x?}");
            }
        }
    }

    #[test]
    fn derivation_matches_an_independent_computation() {
        let s = seed(0x42);
        let kp = KeyPair::from_seed(&s).unwrap();
        let hk = ::hkdf::Hkdf::<Sha256>::new(Some(b"coffer.keypair.v1"), &[0x42; 32]);
        let mut ed = [0u8; 32];
        hk.expand(b"ed25519", &mut ed).unwrap();
        let mut x = [0u8; 32];
        hk.expand(b"x25519", &mut x).unwrap();
        let expected_sig = SigningKey::from_bytes(&ed).verifying_key().to_bytes();
        let expected_enc = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(x));
        assert_eq!(kp.public().signing(), &expected_sig);
        assert_eq!(kp.public().encryption(), expected_enc.as_bytes());
        assert_ne!(ed, x);
        // Deterministic, and the seed is what is kept.
        let again = KeyPair::from_seed(kp.seed()).unwrap();
        assert_eq!(again.public(), kp.public());
        assert_eq!(kp.duplicate().public(), kp.public());
        assert_ne!(
            KeyPair::from_seed(&seed(0x43)).unwrap().public(),
            kp.public()
        );
    }

    #[test]
    fn generated_pairs_differ() {
        let a = KeyPair::generate().unwrap();
        let b = KeyPair::generate().unwrap();
        assert_ne!(a.public(), b.public());
        assert_ne!(a.seed(), b.seed());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let kp = KeyPair::from_seed(&seed(0x42)).unwrap();
        let s = format!("{kp:?}");
        assert!(s.starts_with("KeyPair(PublicKeys(sig "));
        assert!(!s.contains(&data_encoding::HEXLOWER.encode(kp.seed().expose_secret())));
        assert!(!s.contains(&data_encoding::HEXLOWER.encode(kp.signing.as_bytes())));
        assert!(!s.contains("4242"));
    }

    #[test]
    fn sign_verify_round_trip_and_tamper() {
        let kp = KeyPair::generate().unwrap();
        let pk = kp.public();
        let sig = kp.sign("grant", b"hello").unwrap();
        pk.verify("grant", b"hello", &sig).unwrap();
        verify(pk.signing(), "grant", b"hello", &sig).unwrap();
        let bad = CryptoError::BadSignature { what: "signature" };
        assert_eq!(pk.verify("grant", b"hellp", &sig).unwrap_err(), bad);
        let other = KeyPair::generate().unwrap().public();
        assert_eq!(other.verify("grant", b"hello", &sig).unwrap_err(), bad);
        for i in 0..SIGNATURE_LEN {
            for bit in 0..8 {
                let mut s = sig;
                s[i] ^= 1 << bit;
                assert_eq!(pk.verify("grant", b"hello", &s).unwrap_err(), bad);
            }
        }
    }

    #[test]
    fn a_signature_for_one_label_never_verifies_under_another() {
        let kp = KeyPair::generate().unwrap();
        let pk = kp.public();
        let sig = kp.sign("grant", b"msg").unwrap();
        for label in ["device-cert", "device-chain", "grant ", "Grant", ""] {
            assert!(matches!(
                pk.verify(label, b"msg", &sig),
                Err(CryptoError::BadSignature { .. })
            ));
        }
        // The length prefix keeps label and message apart.
        let sig = kp.sign("ab", b"c").unwrap();
        assert!(pk.verify("a", b"bc", &sig).is_err());
        assert!(pk.verify("abc", b"", &sig).is_err());
        // A raw Ed25519 signature over the bare message is not a Coffer signature.
        let raw = kp.signing.sign(b"msg").to_bytes();
        assert!(pk.verify("", b"msg", &raw).is_err());
        // The exact bytes signed.
        let sig = kp.sign("grant", b"xy").unwrap();
        let vk = VerifyingKey::from_bytes(pk.signing()).unwrap();
        vk.verify_strict(
            b"coffer.sig.v1\x00\x05grantxy",
            &Signature::from_bytes(&sig),
        )
        .unwrap();
    }

    #[test]
    fn public_keys_encoding_round_trips() {
        let pk = KeyPair::generate().unwrap().public();
        let bytes = pk.to_bytes();
        assert_eq!(&bytes[..32], pk.signing());
        assert_eq!(&bytes[32..], pk.encryption());
        assert_eq!(PublicKeys::from_bytes(&bytes).unwrap(), pk);
        for len in 0..64 {
            assert!(matches!(
                PublicKeys::from_bytes(&bytes[..len]),
                Err(CryptoError::Truncated { .. })
            ));
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(matches!(
            PublicKeys::from_bytes(&long),
            Err(CryptoError::Malformed { .. })
        ));
    }

    /// Low-order X25519 points (RFC 7748 and the usual blocklists), plus their non-canonical
    /// aliases with bit 255 set.
    fn low_order_u() -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        let mut zero = [0u8; 32];
        out.push(zero);
        zero[0] = 1;
        out.push(zero);
        out.push(
            data_encoding::HEXLOWER
                .decode(b"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
                .unwrap()
                .try_into()
                .unwrap(),
        );
        out.push(
            data_encoding::HEXLOWER
                .decode(b"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157")
                .unwrap()
                .try_into()
                .unwrap(),
        );
        let mut p_minus_1 = [0xff; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        out.push(p_minus_1);
        out
    }

    #[test]
    fn x25519_low_order_zero_and_non_canonical_keys_are_rejected() {
        let good = KeyPair::generate().unwrap().public();
        let bad = CryptoError::BadPublicKey { what: "x25519" };
        for u in low_order_u() {
            assert_eq!(PublicKeys::from_parts(*good.signing(), u).unwrap_err(), bad);
            let mut high = u;
            high[31] |= 0x80;
            assert_eq!(
                PublicKeys::from_parts(*good.signing(), high).unwrap_err(),
                bad
            );
        }
        // p, p+1 (aliases of 0 and 1) and the largest value below 2^255.
        for first in [0xed, 0xee, 0xff] {
            let mut u = [0xff; 32];
            u[0] = first;
            u[31] = 0x7f;
            assert_eq!(PublicKeys::from_parts(*good.signing(), u).unwrap_err(), bad);
        }
        // A good key with bit 255 set is not canonical.
        let mut high = *good.encryption();
        high[31] |= 0x80;
        assert_eq!(
            PublicKeys::from_parts(*good.signing(), high).unwrap_err(),
            bad
        );
        assert_eq!(
            PublicKeys::from_parts(*good.signing(), *good.encryption()).unwrap(),
            good
        );
    }

    #[test]
    fn ed25519_invalid_small_order_and_non_canonical_keys_are_rejected() {
        let good = KeyPair::generate().unwrap().public();
        let bad = CryptoError::BadPublicKey { what: "ed25519" };
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKeys::from_parts(identity, *good.encryption()).unwrap_err(),
            bad
        );
        // Some small y that is not on the curve.
        let off_curve = (2u8..=255)
            .map(|y| {
                let mut b = [0u8; 32];
                b[0] = y;
                b
            })
            .find(|b| VerifyingKey::from_bytes(b).is_err())
            .unwrap();
        assert_eq!(
            PublicKeys::from_parts(off_curve, *good.encryption()).unwrap_err(),
            bad
        );
        // A valid full-order point with y < 19 written as y + p is non-canonical.
        let y = (2u8..19)
            .find(|&y| {
                let mut b = [0u8; 32];
                b[0] = y;
                VerifyingKey::from_bytes(&b).is_ok_and(|vk| !vk.is_weak())
            })
            .unwrap();
        let mut canonical = [0u8; 32];
        canonical[0] = y;
        PublicKeys::from_parts(canonical, *good.encryption()).unwrap();
        let mut alias = [0xff; 32];
        alias[0] = y + 0xed;
        alias[31] = 0x7f;
        assert!(VerifyingKey::from_bytes(&alias).is_ok());
        assert_eq!(
            PublicKeys::from_parts(alias, *good.encryption()).unwrap_err(),
            bad
        );
    }

    #[test]
    fn fingerprint_is_labelled_and_distinct() {
        let pk = KeyPair::from_seed(&seed(1)).unwrap().public();
        let mut h = Sha256::new();
        h.update(b"coffer.pubkeys.fingerprint.v1");
        h.update(pk.to_bytes());
        let expected: [u8; 32] = h.finalize().into();
        assert_eq!(pk.fingerprint(), expected);
        let other = KeyPair::from_seed(&seed(2)).unwrap().public();
        assert_ne!(pk.fingerprint(), other.fingerprint());
        // Swapping one half changes the fingerprint.
        let mixed = PublicKeys::from_parts(*pk.signing(), *other.encryption()).unwrap();
        assert_ne!(mixed.fingerprint(), pk.fingerprint());
    }
}
