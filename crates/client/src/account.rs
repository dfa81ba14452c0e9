//! The account's signed state and its key bundle (DESIGN §4, "signed state, not server flags").
//!
//! ## Signed account state, format version 1
//!
//! ```text
//! offset  size  field
//! 0       1     format version = 0x01
//! 1       4     Argon2id m (KiB), u32 big-endian
//! 5       4     Argon2id t, u32 big-endian
//! 9       4     Argon2id p, u32 big-endian
//! 13      64    identity public keys: Ed25519 (32) ‖ X25519 (32)
//! 77      2     L = length of the email, u16 big-endian, 1 ≤ L ≤ 320
//! 79      L     the email, UTF-8, trimmed and lower-cased
//! 79+L    64    Ed25519 signature by the identity key, label "account-state", over bytes 0..79+L
//! ```
//!
//! The signature is the domain-separated Coffer signature of `coffer_crypto::identity`
//! (`"coffer.sig.v1" ‖ len(label) ‖ label ‖ message`). A client accepts a state only if the
//! signature verifies under the identity key it opened from the bundle, the public keys equal
//! that key, the KSF parameters equal those it just logged in with, the email is the one it logs
//! in as, and the version is not below the highest version the profile has seen. Unknown (higher)
//! versions are refused: this build cannot check what they say.
//!
//! ## Account bundle
//!
//! The bundle is an envelope (`coffer_crypto::envelope`) under the password KEK (derived from the
//! OPAQUE export key) with context `Context::new(Purpose::AccountBundle).with_field("email:" ‖
//! email)`, the email trimmed and lower-cased. It is bound to the **email** (not the user id)
//! because the bundle is sealed before the server assigns the user id. Its plaintext is:
//!
//! ```text
//! offset  size  field
//! 0       1     bundle version = 0x01
//! 1       32    identity key pair seed
//! ```

use coffer_crypto::envelope::{self, Envelope};
use coffer_crypto::identity::{KeyPair, PublicKeys, SIGNATURE_LEN};
use coffer_crypto::secret::Seed;
use coffer_crypto::{Context, Purpose, SymmetricKey};
use coffer_proto::api::KsfParams;

use crate::error::{ClientError, Result};

/// The account-state format version this build writes (and the highest it reads).
pub const ACCOUNT_STATE_VERSION: u8 = 1;
/// The signature label of the account state.
pub const ACCOUNT_STATE_LABEL: &str = "account-state";
/// The account bundle plaintext version this build writes.
pub const BUNDLE_VERSION: u8 = 1;
/// Longest email accepted (RFC 5321 limits).
pub const MAX_EMAIL_LEN: usize = 320;

const HEADER_LEN: usize = 1 + 12 + 64 + 2;

/// Trims and lower-cases an email, and checks it looks like one (`local@domain`).
pub fn normalize_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= MAX_EMAIL_LEN
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if ok {
        Ok(e)
    } else {
        Err(ClientError::Invalid(format!(
            "{email:?} is not an email address"
        )))
    }
}

/// The context the account bundle is sealed in.
pub fn bundle_context(email: &str) -> Result<Context> {
    Ok(Context::new(Purpose::AccountBundle).with_field(format!("email:{email}"))?)
}

/// Seals the identity seed under the password KEK.
pub fn seal_bundle(kek: &SymmetricKey, email: &str, identity: &KeyPair) -> Result<Envelope> {
    let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(33));
    plain.push(BUNDLE_VERSION);
    plain.extend_from_slice(identity.seed().expose_secret());
    Ok(envelope::seal(kek, &bundle_context(email)?, &plain)?)
}

/// Opens the bundle and rebuilds the identity key pair.
pub fn open_bundle(kek: &SymmetricKey, email: &str, bundle: &[u8]) -> Result<KeyPair> {
    let env = Envelope::from_bytes(bundle)?;
    let plain = envelope::open(kek, &bundle_context(email)?, &env)?;
    let bytes = plain.expose_secret();
    match bytes.split_first() {
        Some((&BUNDLE_VERSION, seed)) if seed.len() == 32 => {
            Ok(KeyPair::from_seed(&Seed::from_slice(seed)?)?)
        }
        Some((&BUNDLE_VERSION, _)) => Err(ClientError::AccountState(
            "the account bundle has the wrong length".into(),
        )),
        Some((v, _)) => Err(ClientError::AccountState(format!(
            "unknown account bundle version {v}"
        ))),
        None => Err(ClientError::AccountState("empty account bundle".into())),
    }
}

/// The content of a signed account state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// Format version.
    pub version: u8,
    /// KSF parameters of the password.
    pub ksf: KsfParams,
    /// The identity public keys.
    pub identity: PublicKeys,
    /// The account's email (normalised).
    pub email: String,
}

impl AccountState {
    /// A version-1 state.
    pub fn new(ksf: KsfParams, identity: PublicKeys, email: &str) -> Result<Self> {
        Ok(Self {
            version: ACCOUNT_STATE_VERSION,
            ksf,
            identity,
            email: normalize_email(email)?,
        })
    }

    /// The signed bytes (everything before the signature).
    fn body(&self) -> Result<Vec<u8>> {
        let email = self.email.as_bytes();
        let len = u16::try_from(email.len())
            .ok()
            .filter(|l| *l > 0 && usize::from(*l) <= MAX_EMAIL_LEN)
            .ok_or_else(|| ClientError::Invalid("email length out of range".into()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + email.len() + SIGNATURE_LEN);
        out.push(self.version);
        out.extend_from_slice(&self.ksf.m_kib.to_be_bytes());
        out.extend_from_slice(&self.ksf.t.to_be_bytes());
        out.extend_from_slice(&self.ksf.p.to_be_bytes());
        out.extend_from_slice(&self.identity.to_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(email);
        Ok(out)
    }

    /// Encodes and signs with the identity key (which must be the one named in the state).
    pub fn sign(&self, identity: &KeyPair) -> Result<Vec<u8>> {
        if identity.public() != self.identity {
            return Err(ClientError::AccountState(
                "signing key is not the account's identity key".into(),
            ));
        }
        let mut out = self.body()?;
        let sig = identity.sign(ACCOUNT_STATE_LABEL, &out)?;
        out.extend_from_slice(&sig);
        Ok(out)
    }

    /// Parses a signed state and verifies its signature under `identity` (the key opened from
    /// the bundle, never the key written inside the state).
    pub fn verify(bytes: &[u8], identity: &PublicKeys) -> Result<Self> {
        let bad = |why: &str| ClientError::AccountState(why.to_owned());
        let (&version, _) = bytes.split_first().ok_or_else(|| bad("empty"))?;
        if version == 0 || version > ACCOUNT_STATE_VERSION {
            return Err(bad(&format!("unknown format version {version}")));
        }
        if bytes.len() < HEADER_LEN + SIGNATURE_LEN {
            return Err(bad("truncated"));
        }
        let (body, sig) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
        let mut sig_arr = [0u8; SIGNATURE_LEN];
        sig_arr.copy_from_slice(sig);
        identity
            .verify(ACCOUNT_STATE_LABEL, body, &sig_arr)
            .map_err(|_| bad("the signature does not verify under the account's identity key"))?;
        let u32_at = |at: usize| -> Result<u32> {
            let mut b = [0u8; 4];
            b.copy_from_slice(body.get(at..at + 4).ok_or_else(|| bad("truncated"))?);
            Ok(u32::from_be_bytes(b))
        };
        let ksf = KsfParams {
            m_kib: u32_at(1)?,
            t: u32_at(5)?,
            p: u32_at(9)?,
        };
        let keys = PublicKeys::from_bytes(body.get(13..77).ok_or_else(|| bad("truncated"))?)?;
        let len_bytes = body.get(77..79).ok_or_else(|| bad("truncated"))?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        let email = body.get(79..).ok_or_else(|| bad("truncated"))?;
        if email.len() != len || len == 0 || len > MAX_EMAIL_LEN {
            return Err(bad("bad email length"));
        }
        let email = core::str::from_utf8(email).map_err(|_| bad("email is not UTF-8"))?;
        if keys != *identity {
            return Err(bad("the state names another identity key"));
        }
        Ok(Self {
            version,
            ksf,
            identity: keys,
            email: email.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floor() -> KsfParams {
        crate::ksf::KSF_FLOOR
    }

    #[test]
    fn state_round_trips_and_is_frozen() {
        let id = KeyPair::from_seed(&Seed::from_array([7; 32])).unwrap();
        let st = AccountState::new(floor(), id.public(), " Alice@Example.COM ").unwrap();
        let bytes = st.sign(&id).unwrap();
        assert_eq!(bytes.len(), 79 + "alice@example.com".len() + 64);
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..13], &[0, 0, 0x4c, 0, 0, 0, 0, 2, 0, 0, 0, 1]);
        assert_eq!(&bytes[13..77], &id.public().to_bytes());
        assert_eq!(&bytes[77..79], &[0, 17]);
        assert_eq!(&bytes[79..96], b"alice@example.com");
        let back = AccountState::verify(&bytes, &id.public()).unwrap();
        assert_eq!(back, st);
    }

    #[test]
    fn tampering_and_wrong_keys_are_refused() {
        let id = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        let st = AccountState::new(floor(), id.public(), "a@b.c").unwrap();
        let bytes = st.sign(&id).unwrap();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 1;
            assert!(AccountState::verify(&t, &id.public()).is_err(), "byte {i}");
        }
        assert!(AccountState::verify(&bytes, &other.public()).is_err());
        assert!(AccountState::verify(&bytes[..bytes.len() - 1], &id.public()).is_err());
        // A state signed by another key but naming ours is refused, and so is signing with a
        // key the state does not name.
        assert!(st.sign(&other).is_err());
        let forged = AccountState::new(floor(), other.public(), "a@b.c")
            .unwrap()
            .sign(&other)
            .unwrap();
        assert!(AccountState::verify(&forged, &id.public()).is_err());
    }

    #[test]
    fn bundle_is_bound_to_the_email_and_key() {
        let kek = SymmetricKey::generate().unwrap();
        let id = KeyPair::generate().unwrap();
        let env = seal_bundle(&kek, "a@b.c", &id).unwrap();
        let back = open_bundle(&kek, "a@b.c", env.as_bytes()).unwrap();
        assert_eq!(back.public(), id.public());
        assert!(open_bundle(&kek, "x@b.c", env.as_bytes()).is_err());
        let other = SymmetricKey::generate().unwrap();
        assert!(open_bundle(&other, "a@b.c", env.as_bytes()).is_err());
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(normalize_email(" A@B.c\n").unwrap(), "a@b.c");
        for bad in ["", "a", "@b", "a@", "a b@c", "a@b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
