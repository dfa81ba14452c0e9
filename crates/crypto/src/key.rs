//! Symmetric keys and key ids.
//!
//! A [`SymmetricKey`] is 256 random bits plus a public [`KeyId`]. On construction it derives, with
//! HKDF-SHA256, one encryption subkey per AEAD algorithm and a 32-byte **key commitment**; the
//! envelope carries the commitment and checks it before decrypting, which makes envelopes
//! key-committing (no ciphertext opens under two keys: partitioning-oracle defence).

use core::fmt;
use std::sync::OnceLock;

use hkdf::Hkdf;
use sha2::Sha256;

use crate::error::{CryptoError, Result};
use crate::hkdf::{
    LABEL_ENVELOPE_AESGCM, LABEL_ENVELOPE_COMMIT, LABEL_ENVELOPE_SALT, LABEL_ENVELOPE_XCHACHA,
    LABEL_SUBKEY_SALT, hkdf_key,
};
use crate::secret::{SecretBytes, random_array};

/// A public 16-byte key identifier, carried in envelopes so a reader knows which key to use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    /// A fresh random id.
    pub fn random() -> Result<Self> {
        Ok(Self(random_array()?))
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A 256-bit symmetric key with its id, commitment and per-algorithm subkeys.
pub struct SymmetricKey {
    id: KeyId,
    secret: SecretBytes<32>,
    commitment: [u8; 32],
    xchacha: SecretBytes<32>,
    aesgcm: OnceLock<SecretBytes<32>>,
}

impl SymmetricKey {
    /// A fresh random key with a fresh random id.
    pub fn generate() -> Result<Self> {
        Self::from_secret(KeyId::random()?, SecretBytes::random()?)
    }

    /// A key from existing material.
    pub fn from_secret(id: KeyId, secret: SecretBytes<32>) -> Result<Self> {
        // One HKDF-Extract, then the two expansions every key needs; the AES-GCM subkey is
        // derived on first use (most keys never seal with AES-GCM).
        let prk = Hkdf::<Sha256>::new(Some(LABEL_ENVELOPE_SALT), secret.expose_secret());
        let mut commitment = [0u8; 32];
        prk.expand(LABEL_ENVELOPE_COMMIT, &mut commitment)
            .map_err(|_| CryptoError::Length("hkdf output"))?;
        let mut xchacha = SecretBytes::<32>::from_array([0u8; 32]);
        prk.expand(LABEL_ENVELOPE_XCHACHA, xchacha.expose_secret_mut())
            .map_err(|_| CryptoError::Length("hkdf output"))?;
        Ok(Self {
            id,
            secret,
            commitment,
            xchacha,
            aesgcm: OnceLock::new(),
        })
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key commitment (public; it identifies the key, it does not reveal it).
    pub fn commitment(&self) -> &[u8; 32] {
        &self.commitment
    }

    /// The raw key material, for wrapping it in a grant or under another key.
    pub fn expose_secret(&self) -> &[u8; 32] {
        self.secret.expose_secret()
    }

    /// An independent copy.
    pub fn duplicate(&self) -> Self {
        Self {
            id: self.id,
            secret: self.secret.duplicate(),
            commitment: self.commitment,
            xchacha: self.xchacha.duplicate(),
            aesgcm: OnceLock::new(),
        }
    }

    /// A subkey for one purpose: `HKDF-SHA256(salt = "coffer.subkey.v1", ikm = key,
    /// info = len(label):u16 ‖ label ‖ info)`. The subkey keeps the parent's id. Per-item and
    /// per-field keys are made this way, each with its own label.
    pub fn derive_subkey(&self, label: &str, info: &[u8]) -> Result<Self> {
        let len = u16::try_from(label.len())
            .map_err(|_| crate::error::CryptoError::Length("subkey label"))?
            .to_be_bytes();
        let secret = hkdf_key(
            LABEL_SUBKEY_SALT,
            self.secret.expose_secret(),
            &[&len, label.as_bytes(), info],
        )?;
        Self::from_secret(self.id, secret)
    }

    pub(crate) fn xchacha_subkey(&self) -> &[u8; 32] {
        self.xchacha.expose_secret()
    }

    pub(crate) fn aesgcm_subkey(&self) -> Result<&[u8; 32]> {
        if self.aesgcm.get().is_none() {
            let derived = hkdf_key(
                LABEL_ENVELOPE_SALT,
                self.secret.expose_secret(),
                &[LABEL_ENVELOPE_AESGCM],
            )?;
            // Another thread may have won the race; both derived the same bytes.
            let _ = self.aesgcm.set(derived);
        }
        self.aesgcm
            .get()
            .map(SecretBytes::expose_secret)
            .ok_or(CryptoError::Length("aes-gcm subkey"))
    }
}

/// HKDF info prefix of the device KEK (protocol.md §14.1).
pub const LABEL_DEVICE_KEK: &[u8] = b"coffer.device-kek.v1";
/// SHA-256 domain of the device KEK's key id (protocol.md §14.1).
pub const LABEL_DEVICE_KEK_ID: &[u8] = b"coffer.device-kek.id.v1";

/// The **device KEK** (protocol.md §14.1): `HKDF-SHA256(salt = none, ikm = local secret ‖
/// server share, info = "coffer.device-kek.v1" ‖ device id)`, with key id the first 16 bytes of
/// `SHA-256("coffer.device-kek.id.v1" ‖ device id)`. Neither half alone gives the key.
pub fn device_kek(
    local_secret: &SecretBytes<32>,
    share: &SecretBytes<32>,
    device_id: &[u8; 16],
) -> Result<SymmetricKey> {
    use sha2::Digest as _;
    let mut ikm = SecretBytes::<64>::from_array([0u8; 64]);
    let (a, b) = ikm.expose_secret_mut().split_at_mut(32);
    a.copy_from_slice(local_secret.expose_secret());
    b.copy_from_slice(share.expose_secret());
    let mut out = SecretBytes::<32>::from_array([0u8; 32]);
    Hkdf::<Sha256>::new(None, ikm.expose_secret())
        .expand_multi_info(&[LABEL_DEVICE_KEK, device_id], out.expose_secret_mut())
        .map_err(|_| CryptoError::Length("device kek"))?;
    let digest = Sha256::new()
        .chain_update(LABEL_DEVICE_KEK_ID)
        .chain_update(device_id)
        .finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(
        digest
            .get(..16)
            .ok_or(CryptoError::Length("device kek id"))?,
    );
    SymmetricKey::from_secret(KeyId(id), out)
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SymmetricKey({:?}, ***)", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answer computed independently (Python hmac/hashlib, RFC 5869 with a zero salt).
    #[test]
    fn device_kek_known_answer() {
        let local = SecretBytes::from_array([1; 32]);
        let share = SecretBytes::from_array([2; 32]);
        let dev: [u8; 16] = core::array::from_fn(|i| i as u8);
        let k = device_kek(&local, &share, &dev).unwrap();
        assert_eq!(
            hex::encode(k.expose_secret()),
            "e05eeeb150f7ab14050e66ed21dddcc83703b224f721a1b5ae60de3401fd12c5"
        );
        assert_eq!(k.id().to_hex(), "fe650c79b04885692c3649db433dd829");
        // each input matters
        let other_share = device_kek(&local, &SecretBytes::from_array([3; 32]), &dev).unwrap();
        assert_ne!(other_share.expose_secret(), k.expose_secret());
        let other_local = device_kek(&SecretBytes::from_array([3; 32]), &share, &dev).unwrap();
        assert_ne!(other_local.expose_secret(), k.expose_secret());
        let other_dev = device_kek(&local, &share, &[0; 16]).unwrap();
        assert_ne!(other_dev.expose_secret(), k.expose_secret());
        assert_ne!(other_dev.id(), k.id());
    }

    #[test]
    fn debug_shows_id_only() {
        let k = SymmetricKey::from_secret(KeyId([0xab; 16]), SecretBytes::from_array([0x42; 32]))
            .unwrap();
        let s = format!("{k:?}");
        assert!(s.starts_with("SymmetricKey(KeyId(abab"));
        assert!(!s.contains("4242"));
    }

    #[test]
    fn subkeys_are_separated_by_label_and_info() {
        let k = SymmetricKey::generate().unwrap();
        let a = k.derive_subkey("field", b"password").unwrap();
        let b = k.derive_subkey("field", b"username").unwrap();
        let c = k.derive_subkey("fiel", b"dpassword").unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(a.expose_secret(), c.expose_secret());
        assert_ne!(a.expose_secret(), k.expose_secret());
        assert_eq!(a.id(), k.id());
        let again = k.derive_subkey("field", b"password").unwrap();
        assert_eq!(a.expose_secret(), again.expose_secret());
    }

    #[test]
    fn commitment_differs_from_key_and_subkeys() {
        let k = SymmetricKey::generate().unwrap();
        assert_ne!(k.commitment(), k.expose_secret());
        assert_ne!(k.xchacha_subkey(), k.aesgcm_subkey().unwrap());
    }
}
