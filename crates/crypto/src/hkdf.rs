//! HKDF-SHA256 (RFC 5869), the one derivation function of Coffer. Every derivation has its own
//! label; the labels of this module are listed here and, with every other label, in
//! `docs/protocol.md` ("HKDF labels").

use hkdf::Hkdf;
use sha2::Sha256;

use crate::error::{CryptoError, Result};
use crate::secret::SecretBytes;

/// Salt of the envelope key schedule.
pub const LABEL_ENVELOPE_SALT: &[u8] = b"coffer.envelope.v1";
/// Info for the key-commitment value of an envelope key.
pub const LABEL_ENVELOPE_COMMIT: &[u8] = b"coffer.envelope.v1.commit";
/// Info for the XChaCha20-Poly1305 encryption subkey.
pub const LABEL_ENVELOPE_XCHACHA: &[u8] = b"coffer.envelope.v1.enc.xchacha20poly1305";
/// Info for the AES-256-GCM encryption subkey.
pub const LABEL_ENVELOPE_AESGCM: &[u8] = b"coffer.envelope.v1.enc.aes256gcm";
/// Salt of purpose subkeys derived from a parent key (per-item, per-field keys).
pub const LABEL_SUBKEY_SALT: &[u8] = b"coffer.subkey.v1";

/// HKDF-SHA256 extract-and-expand into `out` (at most 255 × 32 bytes).
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) -> Result<()> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand_multi_info(info, out)
        .map_err(|_| CryptoError::Length("hkdf output"))
}

/// HKDF-SHA256 into a fresh 32-byte secret.
pub fn hkdf_key(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Result<SecretBytes<32>> {
    let mut out = SecretBytes::<32>::from_array([0u8; 32]);
    hkdf_sha256(salt, ikm, info, out.expose_secret_mut())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5869 appendix A.1.
    #[test]
    fn rfc5869_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let mut okm = [0u8; 42];
        hkdf_sha256(&salt, &ikm, &[&info], &mut okm).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn multi_info_is_concatenation() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        hkdf_sha256(b"s", b"k", &[b"ab", b"cd"], &mut a).unwrap();
        hkdf_sha256(b"s", b"k", &[b"abcd"], &mut b).unwrap();
        assert_eq!(a, b);
        assert!(hkdf_sha256(b"s", b"k", &[], &mut [0u8; 255 * 32 + 1]).is_err());
    }
}
