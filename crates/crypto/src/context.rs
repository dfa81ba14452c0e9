//! The context every ciphertext and grant is bound to.
//!
//! A [`Context`] names what a ciphertext is: its purpose, and where it lives (workspace, vault,
//! item, field) at which key epoch. Its canonical encoding goes into the associated data of every
//! envelope and into the HPKE `info` of every grant, so a ciphertext moved to another place, field
//! or epoch no longer opens.
//!
//! **Do not modify the encoding.** It is frozen by `encoding_is_stable` below and specified in
//! `docs/protocol.md` ("Context"). A new need gets a new [`Purpose`] code, never a changed layout.

use crate::error::{CryptoError, Result};

/// Domain tag that starts every encoded context.
pub const CONTEXT_DOMAIN: &[u8; 13] = b"coffer.ctx.v1";

/// Longest field name a context may carry, in bytes.
pub const MAX_FIELD_LEN: usize = 1024;

/// What a ciphertext or grant is for. Codes are stable; retired codes are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// One field of an item (the field name is in [`Context::field`]).
    ItemField,
    /// An item key wrapped by its vault key.
    ItemKey,
    /// An attachment's file key wrapped by its item key.
    AttachmentKey,
    /// An attachment's streamed content.
    Attachment,
    /// A vault key granted to a principal.
    VaultKey,
    /// The user's identity private keys wrapped under the password KEK.
    AccountBundle,
    /// A device's private keys wrapped under the device KEK.
    DeviceKeys,
    /// The client's local encrypted cache.
    LocalCache,
    /// A workspace key wrapped by the KMS.
    WorkspaceKey,
    /// A cloud vault's private key wrapped by the workspace key.
    CloudVaultKey,
    /// The server-side layer over a value-store value.
    ServerLayer,
    /// A server data key wrapped by the KMS master key.
    DataKey,
    /// A vault key granted to a recovery key.
    RecoveryGrant,
    /// An item key granted to a single principal (sharing one item alone).
    ItemGrant,
}

impl Purpose {
    /// The stable wire code.
    pub const fn code(self) -> u16 {
        match self {
            Purpose::ItemField => 0x0001,
            Purpose::ItemKey => 0x0002,
            Purpose::AttachmentKey => 0x0003,
            Purpose::Attachment => 0x0004,
            Purpose::VaultKey => 0x0010,
            Purpose::RecoveryGrant => 0x0011,
            Purpose::ItemGrant => 0x0012,
            Purpose::AccountBundle => 0x0020,
            Purpose::DeviceKeys => 0x0021,
            Purpose::LocalCache => 0x0022,
            Purpose::WorkspaceKey => 0x0030,
            Purpose::CloudVaultKey => 0x0031,
            Purpose::ServerLayer => 0x0040,
            Purpose::DataKey => 0x0041,
        }
    }

    /// Every purpose, for tests and documentation.
    pub const ALL: [Purpose; 14] = [
        Purpose::ItemField,
        Purpose::ItemKey,
        Purpose::AttachmentKey,
        Purpose::Attachment,
        Purpose::VaultKey,
        Purpose::RecoveryGrant,
        Purpose::ItemGrant,
        Purpose::AccountBundle,
        Purpose::DeviceKeys,
        Purpose::LocalCache,
        Purpose::WorkspaceKey,
        Purpose::CloudVaultKey,
        Purpose::ServerLayer,
        Purpose::DataKey,
    ];

    /// The purpose with this wire code.
    pub fn from_code(code: u16) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.code() == code)
            .ok_or(CryptoError::Malformed {
                what: "context",
                reason: "unknown purpose code",
            })
    }
}

/// A 16-byte identifier as the crypto sees it (the typed ids live in `coffer-proto`).
pub type Id16 = [u8; 16];

/// Where a ciphertext lives and what it is. Build with [`Context::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Context {
    purpose: Purpose,
    workspace: Option<Id16>,
    vault: Option<Id16>,
    item: Option<Id16>,
    field: Option<String>,
    epoch: u32,
}

const HAS_WORKSPACE: u8 = 0b0001;
const HAS_VAULT: u8 = 0b0010;
const HAS_ITEM: u8 = 0b0100;
const HAS_FIELD: u8 = 0b1000;

impl Context {
    /// A context with only a purpose, epoch 0.
    pub fn new(purpose: Purpose) -> Self {
        Self {
            purpose,
            workspace: None,
            vault: None,
            item: None,
            field: None,
            epoch: 0,
        }
    }

    /// Sets the workspace.
    pub fn with_workspace(mut self, id: Id16) -> Self {
        self.workspace = Some(id);
        self
    }

    /// Sets the vault.
    pub fn with_vault(mut self, id: Id16) -> Self {
        self.vault = Some(id);
        self
    }

    /// Sets the item.
    pub fn with_item(mut self, id: Id16) -> Self {
        self.item = Some(id);
        self
    }

    /// Sets the field name (or sub-purpose label). At most [`MAX_FIELD_LEN`] bytes.
    pub fn with_field(mut self, field: impl Into<String>) -> Result<Self> {
        let field = field.into();
        if field.len() > MAX_FIELD_LEN {
            return Err(CryptoError::Length("context field"));
        }
        self.field = Some(field);
        Ok(self)
    }

    /// Sets the key epoch.
    pub fn with_epoch(mut self, epoch: u32) -> Self {
        self.epoch = epoch;
        self
    }

    /// The purpose.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The workspace, if any.
    pub fn workspace(&self) -> Option<&Id16> {
        self.workspace.as_ref()
    }

    /// The vault, if any.
    pub fn vault(&self) -> Option<&Id16> {
        self.vault.as_ref()
    }

    /// The item, if any.
    pub fn item(&self) -> Option<&Id16> {
        self.item.as_ref()
    }

    /// The field, if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The key epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The canonical encoding (see `docs/protocol.md`, "Context"):
    /// `"coffer.ctx.v1" ‖ purpose:u16 ‖ presence:u8 ‖ [workspace:16] ‖ [vault:16] ‖ [item:16] ‖
    /// [field_len:u16 ‖ field] ‖ epoch:u32`, integers big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Length of [`encode`](Self::encode)'s output.
    pub fn encoded_len(&self) -> usize {
        CONTEXT_DOMAIN.len()
            + 2
            + 1
            + 16 * (usize::from(self.workspace.is_some())
                + usize::from(self.vault.is_some())
                + usize::from(self.item.is_some()))
            + self.field.as_ref().map_or(0, |f| 2 + f.len())
            + 4
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(CONTEXT_DOMAIN);
        out.extend_from_slice(&self.purpose.code().to_be_bytes());
        let mut presence = 0u8;
        if self.workspace.is_some() {
            presence |= HAS_WORKSPACE;
        }
        if self.vault.is_some() {
            presence |= HAS_VAULT;
        }
        if self.item.is_some() {
            presence |= HAS_ITEM;
        }
        if self.field.is_some() {
            presence |= HAS_FIELD;
        }
        out.push(presence);
        for id in [&self.workspace, &self.vault, &self.item]
            .into_iter()
            .flatten()
        {
            out.extend_from_slice(id);
        }
        if let Some(field) = &self.field {
            // Length is bounded by MAX_FIELD_LEN (checked in with_field and decode).
            let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&self.epoch.to_be_bytes());
    }

    /// Decodes a canonical encoding; returns the context and the bytes consumed.
    pub fn decode_prefix(input: &[u8]) -> Result<(Self, usize)> {
        let mut r = crate::wire::Reader::new("context", input);
        let domain = r.take(CONTEXT_DOMAIN.len())?;
        if domain != CONTEXT_DOMAIN {
            return Err(CryptoError::Malformed {
                what: "context",
                reason: "bad domain tag",
            });
        }
        let purpose = Purpose::from_code(r.u16()?)?;
        let presence = r.u8()?;
        if presence & !(HAS_WORKSPACE | HAS_VAULT | HAS_ITEM | HAS_FIELD) != 0 {
            return Err(CryptoError::Malformed {
                what: "context",
                reason: "unknown presence bits",
            });
        }
        let mut ctx = Context::new(purpose);
        if presence & HAS_WORKSPACE != 0 {
            ctx.workspace = Some(r.array::<16>()?);
        }
        if presence & HAS_VAULT != 0 {
            ctx.vault = Some(r.array::<16>()?);
        }
        if presence & HAS_ITEM != 0 {
            ctx.item = Some(r.array::<16>()?);
        }
        if presence & HAS_FIELD != 0 {
            let len = usize::from(r.u16()?);
            if len > MAX_FIELD_LEN {
                return Err(CryptoError::Malformed {
                    what: "context",
                    reason: "field name too long",
                });
            }
            let bytes = r.take(len)?;
            let s = core::str::from_utf8(bytes).map_err(|_| CryptoError::Malformed {
                what: "context",
                reason: "field name is not UTF-8",
            })?;
            ctx.field = Some(s.to_owned());
        }
        ctx.epoch = r.u32()?;
        Ok((ctx, r.position()))
    }

    /// Decodes a canonical encoding that must fill `input` exactly.
    pub fn decode(input: &[u8]) -> Result<Self> {
        let (ctx, used) = Self::decode_prefix(input)?;
        if used != input.len() {
            return Err(CryptoError::Malformed {
                what: "context",
                reason: "trailing bytes",
            });
        }
        Ok(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Do not modify this test if it fails: the encoding is frozen (docs/protocol.md).
    #[test]
    fn encoding_is_stable() {
        let ctx = Context::new(Purpose::ItemField)
            .with_workspace([1; 16])
            .with_vault([2; 16])
            .with_item([3; 16])
            .with_field("password")
            .unwrap()
            .with_epoch(7);
        let mut expected = b"coffer.ctx.v1".to_vec();
        expected.extend_from_slice(&[0x00, 0x01, 0x0f]);
        expected.extend_from_slice(&[1; 16]);
        expected.extend_from_slice(&[2; 16]);
        expected.extend_from_slice(&[3; 16]);
        expected.extend_from_slice(&[0x00, 0x08]);
        expected.extend_from_slice(b"password");
        expected.extend_from_slice(&[0, 0, 0, 7]);
        assert_eq!(ctx.encode(), expected);
        assert_eq!(ctx.encoded_len(), expected.len());
        assert_eq!(Context::decode(&expected).unwrap(), ctx);
    }

    #[test]
    fn minimal_context() {
        let ctx = Context::new(Purpose::DataKey);
        assert_eq!(
            ctx.encode(),
            b"coffer.ctx.v1\x00\x41\x00\x00\x00\x00\x00".to_vec()
        );
    }

    #[test]
    fn distinct_contexts_encode_differently() {
        let a = Context::new(Purpose::ItemField).with_vault([1; 16]);
        let b = Context::new(Purpose::ItemField).with_item([1; 16]);
        assert_ne!(a.encode(), b.encode());
        let c = Context::new(Purpose::ItemField).with_field("a").unwrap();
        let d = Context::new(Purpose::ItemField).with_field("b").unwrap();
        assert_ne!(c.encode(), d.encode());
    }

    #[test]
    fn decode_rejects_bad_input() {
        assert!(matches!(
            Context::decode(b"coffer.ctx.v1"),
            Err(CryptoError::Truncated { at: 13, .. })
        ));
        assert!(Context::decode(b"coffer.ctx.v2\x00\x01\x00\x00\x00\x00\x00").is_err());
        assert!(Context::decode(b"coffer.ctx.v1\xff\xff\x00\x00\x00\x00\x00").is_err());
        assert!(Context::decode(b"coffer.ctx.v1\x00\x01\x10\x00\x00\x00\x00").is_err());
        assert!(Context::decode(b"coffer.ctx.v1\x00\x01\x00\x00\x00\x00\x00\x00").is_err());
        assert!(Context::with_field(Context::new(Purpose::ItemField), "x".repeat(2000)).is_err());
    }
}
