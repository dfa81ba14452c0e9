//! The wrapped-key blob: the bytes every [`Kms`](crate::Kms) back end returns from `wrap`.
//!
//! Version 1, integers big-endian:
//!
//! ```text
//! offset  size  field
//! 0       1     version = 0x01
//! 1       1     backend: 0x01 local file, 0x02 PKCS#11, 0x03 AWS KMS
//! 2       2     M = length of the master key id, 1..=2048
//! 4       M     master key id (local file: its 16-byte KeyId)
//! 4+M     16    key id of the wrapped key
//! 20+M    P     payload, P ≥ 1, back-end specific
//! ```
//!
//! Bytes `0..20+M` are the *header*. A back end's payload must authenticate the whole header
//! together with the caller's [`Context`](coffer_crypto::Context), so that no header byte can be
//! changed without the unwrap failing (the local back end seals `header ‖ key` in an envelope; see
//! [`crate::local`]). The header alone tells an operator which back end and master key a stored
//! blob needs, without any key.
//!
//! **Do not modify this layout**: it is frozen by `header_bytes_are_stable` below. A change is a
//! new version byte; retired codes are never reused.

use coffer_crypto::KeyId;

use crate::backend::{Backend, MAX_MASTER_KEY_ID_LEN, MasterKeyId};
use crate::error::{KmsError, Result};

/// The wrapped-key format version this build writes and reads.
pub const WRAPPED_VERSION: u8 = 1;

/// The public header of a wrapped key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKeyHeader {
    /// The back end that wrapped it.
    pub backend: Backend,
    /// The master key it was wrapped under.
    pub master_key_id: MasterKeyId,
    /// The id of the key inside.
    pub key_id: KeyId,
}

impl WrappedKeyHeader {
    /// Length of [`encode`](Self::encode)'s output.
    pub fn encoded_len(&self) -> usize {
        1 + 1 + 2 + self.master_key_id.as_bytes().len() + 16
    }

    /// The header bytes (a back end appends its payload).
    pub fn encode(&self) -> Vec<u8> {
        let id = self.master_key_id.as_bytes();
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(WRAPPED_VERSION);
        out.push(self.backend.code());
        // MasterKeyId::new bounds the length by MAX_MASTER_KEY_ID_LEN, which fits in a u16.
        let len = u16::try_from(id.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(id);
        out.extend_from_slice(&self.key_id.0);
        out
    }

    /// Splits a blob into its parsed header, the header bytes and the (non-empty) payload.
    pub fn split(blob: &[u8]) -> Result<(Self, &[u8], &[u8])> {
        let (&version, rest) = blob.split_first().ok_or(KmsError::BadWrappedKey("empty"))?;
        if version != WRAPPED_VERSION {
            return Err(KmsError::UnknownVersion(version));
        }
        let (&backend, rest) = rest
            .split_first()
            .ok_or(KmsError::BadWrappedKey("truncated in the backend code"))?;
        let backend = Backend::from_code(backend)?;
        let (len, rest) = rest
            .split_first_chunk::<2>()
            .ok_or(KmsError::BadWrappedKey(
                "truncated in the master key id length",
            ))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if len == 0 || len > MAX_MASTER_KEY_ID_LEN {
            return Err(KmsError::BadWrappedKey("master key id length out of range"));
        }
        let (master, rest) = rest
            .split_at_checked(len)
            .ok_or(KmsError::BadWrappedKey("truncated in the master key id"))?;
        let (key_id, payload) = rest
            .split_first_chunk::<16>()
            .ok_or(KmsError::BadWrappedKey("truncated in the key id"))?;
        if payload.is_empty() {
            return Err(KmsError::BadWrappedKey("no payload"));
        }
        let header = Self {
            backend,
            master_key_id: MasterKeyId::new(master.to_vec())?,
            key_id: KeyId(*key_id),
        };
        let header_bytes = blob
            .get(..blob.len() - payload.len())
            .ok_or(KmsError::BadWrappedKey("header length"))?;
        Ok((header, header_bytes, payload))
    }

    /// Reads only the header of a blob: which back end and master key it needs, which key is
    /// inside.
    pub fn peek(blob: &[u8]) -> Result<Self> {
        Self::split(blob).map(|(header, _, _)| header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> WrappedKeyHeader {
        WrappedKeyHeader {
            backend: Backend::LocalFile,
            master_key_id: MasterKeyId::from(KeyId([0xaa; 16])),
            key_id: KeyId([0xbb; 16]),
        }
    }

    /// Do not modify this test if it fails: the layout is frozen (see the module docs).
    #[test]
    fn header_bytes_are_stable() {
        let mut expected = vec![0x01, 0x01, 0x00, 0x10];
        expected.extend_from_slice(&[0xaa; 16]);
        expected.extend_from_slice(&[0xbb; 16]);
        let h = header();
        assert_eq!(h.encode(), expected);
        assert_eq!(h.encoded_len(), 36);
        let mut blob = expected.clone();
        blob.extend_from_slice(b"payload");
        let (parsed, header_bytes, payload) = WrappedKeyHeader::split(&blob).unwrap();
        assert_eq!(parsed, h);
        assert_eq!(header_bytes, expected.as_slice());
        assert_eq!(payload, b"payload");
    }

    #[test]
    fn every_truncation_is_refused() {
        let mut blob = header().encode();
        blob.push(0);
        for len in 0..blob.len() {
            assert!(
                WrappedKeyHeader::split(&blob[..len]).is_err(),
                "accepted {len} bytes"
            );
        }
        assert!(WrappedKeyHeader::split(&blob).is_ok());
    }

    #[test]
    fn unknown_version_backend_and_bad_lengths_are_typed() {
        let mut blob = header().encode();
        blob.push(0);
        let mut v2 = blob.clone();
        v2[0] = 2;
        assert!(matches!(
            WrappedKeyHeader::split(&v2),
            Err(KmsError::UnknownVersion(2))
        ));
        let mut b9 = blob.clone();
        b9[1] = 9;
        assert!(matches!(
            WrappedKeyHeader::split(&b9),
            Err(KmsError::UnknownBackend(9))
        ));
        let mut zero = blob.clone();
        zero[2..4].copy_from_slice(&[0, 0]);
        assert!(matches!(
            WrappedKeyHeader::split(&zero),
            Err(KmsError::BadWrappedKey(_))
        ));
        let mut huge = blob;
        huge[2..4].copy_from_slice(&[0xff, 0xff]);
        assert!(matches!(
            WrappedKeyHeader::split(&huge),
            Err(KmsError::BadWrappedKey(_))
        ));
        assert!(MasterKeyId::new(Vec::new()).is_err());
        assert!(MasterKeyId::new(vec![0; MAX_MASTER_KEY_ID_LEN + 1]).is_err());
    }
}
