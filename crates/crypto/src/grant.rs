//! Key grants: a symmetric key sealed to a principal's X25519 key with HPKE **and** signed by the
//! granting device (signcryption; DESIGN §2 "Key grant", §4).
//!
//! HPKE is RFC 9180 base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
//! ChaCha20-Poly1305 (suite 0x01). Binary form (version 1; see `docs/protocol.md`, "Grant"), with
//! `C` the length of the canonical [`Context`] encoding:
//!
//! ```text
//! offset   size  field
//! 0        1     version = 0x01
//! 1        1     suite = 0x01 (HPKE base, KEM 0x0020, KDF 0x0001, AEAD 0x0003; Ed25519 signature)
//! 2        C     context, canonical encoding (self-delimiting)
//! 2+C      16    key id of the granted key
//! 18+C     32    recipient X25519 public key
//! 50+C     32    signer Ed25519 public key
//! 82+C     32    HPKE encapsulated key (enc)
//! 114+C    2     ct_len = 48, u16 big-endian
//! 116+C    48    HPKE ciphertext of the 32-byte key material ‖ 16-byte tag
//! 164+C    64    Ed25519 signature, label "grant", over bytes 0..164+C
//! ```
//!
//! The **header** is bytes `0..82+C`. HPKE `info = "coffer.grant.v1" ‖ header` and
//! `aad = header`, so the context, key id, recipient and signer are bound into the ciphertext as
//! well as into the signature. The signed message is, as for every Coffer signature,
//! `"coffer.sig.v1" ‖ 0x0005 ‖ "grant" ‖ bytes 0..164+C`.
//!
//! [`open_grant`] checks, in this order: the signer is trusted ([`CryptoError::UntrustedSigner`]),
//! the signature ([`CryptoError::BadSignature`]), the context and recipient
//! ([`CryptoError::WrongContext`]), and only then opens the HPKE ciphertext
//! ([`CryptoError::OpenFailed`]).
//!
//! The text form is the binary form in unpadded base64url.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable as _, OpModeR, OpModeS, Serializable as _};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::context::Context;
use crate::error::{CryptoError, Result};
use crate::identity::{self, KeyPair, PublicKeys, SIGNATURE_LEN};
use crate::key::{KeyId, SymmetricKey};
use crate::secret::SecretBytes;

/// The grant format version this build writes.
pub const GRANT_VERSION: u8 = 1;
/// Suite 0x01: HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305;
/// Ed25519 signature.
pub const GRANT_SUITE_X25519_CHACHA20POLY1305: u8 = 1;
/// Prefix of the HPKE `info` of a grant (followed by the header).
pub const LABEL_GRANT_INFO: &[u8] = b"coffer.grant.v1";
/// Signature label of a grant.
pub const SIG_LABEL_GRANT: &str = "grant";
/// Length of the HPKE ciphertext of a 32-byte key (32 + 16-byte tag).
pub const GRANT_CT_LEN: usize = 48;

const WHAT: &str = "grant";
const ENC_LEN: usize = 32;

/// A parsed grant. The bytes are kept as they came; the public header fields are parsed so a
/// server or client can route it without opening it.
#[derive(Clone, PartialEq, Eq)]
pub struct Grant {
    bytes: Vec<u8>,
    context: Context,
    key_id: KeyId,
    recipient: [u8; 32],
    signer: [u8; 32],
    /// Offset of `enc` (= length of the header).
    header_len: usize,
}

impl core::fmt::Debug for Grant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Grant(key {}, {:?}, to {}, by {})",
            self.key_id,
            self.context,
            data_encoding::HEXLOWER.encode(&self.recipient),
            data_encoding::HEXLOWER.encode(&self.signer)
        )
    }
}

impl Grant {
    /// Parses the binary form: version, suite, context, lengths. Does not verify anything
    /// cryptographic (that is [`open_grant`]'s job).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_vec(bytes.to_vec())
    }

    /// Parses the binary form, taking ownership of the bytes.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self> {
        let mut r = crate::wire::Reader::new(WHAT, &bytes);
        let version = r.u8()?;
        if version != GRANT_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: WHAT,
                version,
            });
        }
        let suite = r.u8()?;
        if suite != GRANT_SUITE_X25519_CHACHA20POLY1305 {
            return Err(CryptoError::UnknownAlgorithm {
                what: WHAT,
                alg: suite,
            });
        }
        let ctx_start = r.position();
        let (context, used) = Context::decode_prefix(r.remaining()).map_err(|e| match e {
            // Report truncation at grant offsets.
            CryptoError::Truncated { at, needed, .. } => CryptoError::Truncated {
                what: WHAT,
                at: at.saturating_add(ctx_start),
                needed: needed.saturating_add(ctx_start),
            },
            other => other,
        })?;
        r.take(used)?;
        let key_id = KeyId(r.array::<16>()?);
        let recipient = r.array::<32>()?;
        let signer = r.array::<32>()?;
        let header_len = r.position();
        r.take(ENC_LEN)?;
        let ct_len = usize::from(r.u16()?);
        if ct_len != GRANT_CT_LEN {
            return Err(CryptoError::Malformed {
                what: WHAT,
                reason: "ciphertext length is not 48",
            });
        }
        r.take(ct_len)?;
        r.take(SIGNATURE_LEN)?;
        r.finish()?;
        Ok(Self {
            bytes,
            context,
            key_id,
            recipient,
            signer,
            header_len,
        })
    }

    /// Parses the text form (unpadded base64url).
    pub fn from_text(text: &str) -> Result<Self> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map_err(|_| CryptoError::BadEncoding { what: WHAT })?;
        Self::from_vec(bytes)
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The binary form, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The text form (unpadded base64url).
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.bytes)
    }

    /// The context the grant claims (authenticated only once [`open_grant`] succeeds).
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The id of the granted key.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The recipient's X25519 public key.
    pub fn recipient(&self) -> &[u8; 32] {
        &self.recipient
    }

    /// The signer's Ed25519 public key.
    pub fn signer(&self) -> &[u8; 32] {
        &self.signer
    }

    fn header(&self) -> &[u8] {
        self.bytes.get(..self.header_len).unwrap_or(&[])
    }

    fn enc(&self) -> &[u8] {
        self.bytes
            .get(self.header_len..self.header_len + ENC_LEN)
            .unwrap_or(&[])
    }

    fn ciphertext(&self) -> &[u8] {
        let start = self.header_len + ENC_LEN + 2;
        self.bytes.get(start..start + GRANT_CT_LEN).unwrap_or(&[])
    }

    fn signed_part(&self) -> &[u8] {
        let end = self.bytes.len().saturating_sub(SIGNATURE_LEN);
        self.bytes.get(..end).unwrap_or(&[])
    }

    fn signature(&self) -> Result<[u8; SIGNATURE_LEN]> {
        let start = self.bytes.len().saturating_sub(SIGNATURE_LEN);
        self.bytes
            .get(start..)
            .and_then(|s| <[u8; SIGNATURE_LEN]>::try_from(s).ok())
            .ok_or(CryptoError::Truncated {
                what: WHAT,
                at: self.bytes.len(),
                needed: SIGNATURE_LEN,
            })
    }
}

fn hpke_info(header: &[u8]) -> Vec<u8> {
    let mut info = Vec::with_capacity(LABEL_GRANT_INFO.len() + header.len());
    info.extend_from_slice(LABEL_GRANT_INFO);
    info.extend_from_slice(header);
    info
}

/// Writes the header: version, suite, context, key id, recipient, signer.
fn write_header(ctx: &Context, key_id: KeyId, recipient: &[u8; 32], signer: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        2 + ctx.encoded_len() + 16 + 32 + 32 + ENC_LEN + 2 + GRANT_CT_LEN + SIGNATURE_LEN,
    );
    out.push(GRANT_VERSION);
    out.push(GRANT_SUITE_X25519_CHACHA20POLY1305);
    ctx.encode_into(&mut out);
    out.extend_from_slice(&key_id.0);
    out.extend_from_slice(recipient);
    out.extend_from_slice(signer);
    out
}

/// Seals `key` to `recipient`'s X25519 key, bound to `ctx`, and signs the grant with `granter`'s
/// signing key.
pub fn seal_grant(
    key: &SymmetricKey,
    ctx: &Context,
    recipient: &PublicKeys,
    granter: &KeyPair,
) -> Result<Grant> {
    let signer = *granter.public().signing();
    let mut bytes = write_header(ctx, key.id(), recipient.encryption(), &signer);
    let header_len = bytes.len();
    let info = hpke_info(&bytes);
    let pk = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(recipient.encryption())
        .map_err(|_| CryptoError::BadPublicKey { what: "x25519" })?;
    let (enc, mut sender) = hpke::setup_sender_with_rng::<
        ChaCha20Poly1305,
        HkdfSha256,
        X25519HkdfSha256,
    >(&OpModeS::Base, &pk, &info, &mut rand::rng())
    .map_err(|_| CryptoError::BadPublicKey { what: "x25519" })?;
    let ct = sender
        .seal(key.expose_secret(), &bytes)
        .map_err(|_| CryptoError::Length("grant plaintext"))?;
    bytes.extend_from_slice(&enc.to_bytes());
    let ct_len = u16::try_from(ct.len()).map_err(|_| CryptoError::Length("grant ciphertext"))?;
    bytes.extend_from_slice(&ct_len.to_be_bytes());
    bytes.extend_from_slice(&ct);
    let sig = granter.sign(SIG_LABEL_GRANT, &bytes)?;
    bytes.extend_from_slice(&sig);
    Ok(Grant {
        bytes,
        context: ctx.clone(),
        key_id: key.id(),
        recipient: *recipient.encryption(),
        signer,
        header_len,
    })
}

/// Opens a grant addressed to `recipient`, accepting only signers in `trusted_signers`
/// (Ed25519 public keys) and only the context `expected`. See [`open_grant_with`].
pub fn open_grant(
    grant: &Grant,
    recipient: &KeyPair,
    trusted_signers: &[[u8; 32]],
    expected: &Context,
) -> Result<SymmetricKey> {
    open_grant_with(
        grant,
        recipient,
        |signer| trusted_signers.iter().any(|t| t == signer),
        expected,
    )
}

/// Opens a grant addressed to `recipient`. In order: the signer must satisfy `is_trusted`
/// ([`CryptoError::UntrustedSigner`]); the signature must verify
/// ([`CryptoError::BadSignature`]); the grant's context must equal `expected` and its recipient
/// must be `recipient`'s own X25519 key ([`CryptoError::WrongContext`]); then the HPKE ciphertext
/// is opened ([`CryptoError::OpenFailed`]).
pub fn open_grant_with(
    grant: &Grant,
    recipient: &KeyPair,
    is_trusted: impl Fn(&[u8; 32]) -> bool,
    expected: &Context,
) -> Result<SymmetricKey> {
    if !is_trusted(&grant.signer) {
        return Err(CryptoError::UntrustedSigner { what: WHAT });
    }
    identity::verify(
        &grant.signer,
        SIG_LABEL_GRANT,
        grant.signed_part(),
        &grant.signature()?,
    )
    .map_err(|_| CryptoError::BadSignature { what: WHAT })?;
    let own = recipient.public();
    if grant.context != *expected || !bool::from(grant.recipient.ct_eq(own.encryption())) {
        return Err(CryptoError::WrongContext { what: WHAT });
    }
    let header = grant.header();
    let info = hpke_info(header);
    let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(grant.enc())
        .map_err(|_| CryptoError::OpenFailed)?;
    let mut receiver = hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        recipient.hpke_private(),
        &enc,
        &info,
    )
    .map_err(|_| CryptoError::OpenFailed)?;
    let pt = Zeroizing::new(
        receiver
            .open(grant.ciphertext(), header)
            .map_err(|_| CryptoError::OpenFailed)?,
    );
    let secret = SecretBytes::<32>::from_slice(&pt).map_err(|_| CryptoError::OpenFailed)?;
    SymmetricKey::from_secret(grant.key_id, secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Purpose;

    fn ctx() -> Context {
        Context::new(Purpose::VaultKey)
            .with_workspace([1; 16])
            .with_vault([2; 16])
            .with_epoch(3)
    }

    struct Fixture {
        key: SymmetricKey,
        granter: KeyPair,
        alice: KeyPair,
        grant: Grant,
    }

    fn fixture() -> Fixture {
        let key = SymmetricKey::generate().unwrap();
        let granter = KeyPair::generate().unwrap();
        let alice = KeyPair::generate().unwrap();
        let grant = seal_grant(&key, &ctx(), &alice.public(), &granter).unwrap();
        Fixture {
            key,
            granter,
            alice,
            grant,
        }
    }

    fn trusted(f: &Fixture) -> [[u8; 32]; 1] {
        [*f.granter.public().signing()]
    }

    /// Re-signs modified grant bytes with `signer` (a trusted but malicious granter).
    fn resign(bytes: &[u8], signer: &KeyPair) -> Grant {
        let mut b = bytes[..bytes.len() - SIGNATURE_LEN].to_vec();
        let sig = signer.sign(SIG_LABEL_GRANT, &b).unwrap();
        b.extend_from_slice(&sig);
        Grant::from_vec(b).unwrap()
    }

    #[test]
    fn round_trip_binary_and_text() {
        let f = fixture();
        let c = ctx();
        assert_eq!(f.grant.as_bytes().len(), 228 + c.encoded_len());
        assert_eq!(f.grant.context(), &c);
        assert_eq!(f.grant.key_id(), f.key.id());
        assert_eq!(f.grant.recipient(), f.alice.public().encryption());
        assert_eq!(f.grant.signer(), f.granter.public().signing());
        let back = Grant::from_text(&f.grant.to_text()).unwrap();
        assert_eq!(back, f.grant);
        let opened = open_grant(&back, &f.alice, &trusted(&f), &c).unwrap();
        assert_eq!(opened.id(), f.key.id());
        assert_eq!(opened.expose_secret(), f.key.expose_secret());
        assert_eq!(opened.commitment(), f.key.commitment());
    }

    #[test]
    fn layout_is_as_documented() {
        let f = fixture();
        let b = f.grant.as_bytes();
        let c = ctx().encode();
        let n = c.len();
        assert_eq!(b[0], 1);
        assert_eq!(b[1], 1);
        assert_eq!(&b[2..2 + n], &c[..]);
        assert_eq!(&b[2 + n..18 + n], &f.key.id().0);
        assert_eq!(&b[18 + n..50 + n], f.alice.public().encryption());
        assert_eq!(&b[50 + n..82 + n], f.granter.public().signing());
        assert_eq!(&b[114 + n..116 + n], &[0, 48]);
        let sig: [u8; 64] = b[164 + n..].try_into().unwrap();
        f.granter
            .public()
            .verify("grant", &b[..164 + n], &sig)
            .unwrap();
        // Two grants of the same key differ (fresh HPKE ephemeral key).
        let again = seal_grant(&f.key, &ctx(), &f.alice.public(), &f.granter).unwrap();
        assert_ne!(again.as_bytes()[82 + n..114 + n], b[82 + n..114 + n]);
    }

    #[test]
    fn untrusted_signer_is_refused_first() {
        let f = fixture();
        let stranger = [*KeyPair::generate().unwrap().public().signing()];
        assert_eq!(
            open_grant(&f.grant, &f.alice, &stranger, &ctx()).unwrap_err(),
            CryptoError::UntrustedSigner { what: "grant" }
        );
        assert_eq!(
            open_grant(&f.grant, &f.alice, &[], &ctx()).unwrap_err(),
            CryptoError::UntrustedSigner { what: "grant" }
        );
        // Even with a wrong context, the signer is checked first.
        assert_eq!(
            open_grant(
                &f.grant,
                &f.alice,
                &stranger,
                &Context::new(Purpose::ItemKey)
            )
            .unwrap_err(),
            CryptoError::UntrustedSigner { what: "grant" }
        );
    }

    #[test]
    fn a_substituted_signer_field_fails_the_signature() {
        // The server swaps in another trusted signer's key: the signature no longer verifies.
        let f = fixture();
        let other = KeyPair::generate().unwrap();
        let n = ctx().encoded_len();
        let mut b = f.grant.as_bytes().to_vec();
        b[50 + n..82 + n].copy_from_slice(other.public().signing());
        let g = Grant::from_vec(b).unwrap();
        let both = [*f.granter.public().signing(), *other.public().signing()];
        assert_eq!(
            open_grant(&g, &f.alice, &both, &ctx()).unwrap_err(),
            CryptoError::BadSignature { what: "grant" }
        );
    }

    #[test]
    fn wrong_context_or_recipient_is_refused() {
        let f = fixture();
        for other in [
            ctx().with_epoch(4),
            ctx().with_vault([9; 16]),
            ctx().with_item([3; 16]),
            Context::new(Purpose::ItemGrant)
                .with_workspace([1; 16])
                .with_vault([2; 16])
                .with_epoch(3),
        ] {
            assert_eq!(
                open_grant(&f.grant, &f.alice, &trusted(&f), &other).unwrap_err(),
                CryptoError::WrongContext { what: "grant" }
            );
        }
        // A grant for Alice opened by Bob.
        let bob = KeyPair::generate().unwrap();
        assert_eq!(
            open_grant(&f.grant, &bob, &trusted(&f), &ctx()).unwrap_err(),
            CryptoError::WrongContext { what: "grant" }
        );
    }

    #[test]
    fn hpke_binds_the_header_even_under_a_valid_signature() {
        // A trusted but malicious signer edits header fields and re-signs: HPKE info/aad still
        // refuse, so a key sealed for one context, key id or recipient never opens as another.
        let f = fixture();
        let n = ctx().encoded_len();
        let b = f.grant.as_bytes();

        // Context changed (epoch 3 → 4) and re-signed.
        let mut moved = b.to_vec();
        moved[2 + n - 1] ^= 0x07;
        let g = resign(&moved, &f.granter);
        assert_eq!(g.context(), &ctx().with_epoch(4));
        assert_eq!(
            open_grant(&g, &f.alice, &trusted(&f), &ctx().with_epoch(4)).unwrap_err(),
            CryptoError::OpenFailed
        );

        // Key id changed and re-signed.
        let mut renamed = b.to_vec();
        renamed[2 + n] ^= 0x01;
        let g = resign(&renamed, &f.granter);
        assert_eq!(
            open_grant(&g, &f.alice, &trusted(&f), &ctx()).unwrap_err(),
            CryptoError::OpenFailed
        );

        // Ciphertext and enc altered and re-signed.
        for pos in [82 + n, 100 + n, 116 + n, 163 + n] {
            let mut t = b.to_vec();
            t[pos] ^= 0x80;
            let g = resign(&t, &f.granter);
            assert_eq!(
                open_grant(&g, &f.alice, &trusted(&f), &ctx()).unwrap_err(),
                CryptoError::OpenFailed
            );
        }

        // The signer field changed to a second trusted key that re-signs: still bound by HPKE.
        let other = KeyPair::generate().unwrap();
        let mut t = b.to_vec();
        t[50 + n..82 + n].copy_from_slice(other.public().signing());
        let g = resign(&t, &other);
        assert_eq!(
            open_grant(&g, &f.alice, &[*other.public().signing()], &ctx()).unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    #[test]
    fn every_bit_flip_is_a_typed_error_never_a_key() {
        let f = fixture();
        let t = trusted(&f);
        let bytes = f.grant.as_bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.to_vec();
                b[i] ^= 1 << bit;
                match Grant::from_vec(b) {
                    Ok(g) => match open_grant(&g, &f.alice, &t, &ctx()) {
                        Ok(_) => panic!("flipped bit {bit} of byte {i} still opened"),
                        Err(
                            CryptoError::UntrustedSigner { .. }
                            | CryptoError::BadSignature { .. }
                            | CryptoError::WrongContext { .. }
                            | CryptoError::OpenFailed,
                        ) => {}
                        Err(e) => panic!("byte {i} bit {bit}: unexpected {e:?}"),
                    },
                    Err(
                        CryptoError::UnknownVersion { .. }
                        | CryptoError::UnknownAlgorithm { .. }
                        | CryptoError::Malformed { .. }
                        | CryptoError::Truncated { .. },
                    ) => {}
                    Err(e) => panic!("byte {i} bit {bit}: unexpected {e:?}"),
                }
            }
        }
    }

    #[test]
    fn truncation_at_every_length_is_a_typed_error() {
        let f = fixture();
        let bytes = f.grant.as_bytes();
        for len in 0..bytes.len() {
            match Grant::from_bytes(&bytes[..len]) {
                Err(CryptoError::Truncated { at, .. }) => assert_eq!(at, len),
                other => panic!("length {len}: {other:?}"),
            }
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(matches!(
            Grant::from_vec(long),
            Err(CryptoError::Malformed { .. })
        ));
    }

    #[test]
    fn decode_errors_are_typed() {
        assert!(matches!(
            Grant::from_bytes(&[2, 1]),
            Err(CryptoError::UnknownVersion { version: 2, .. })
        ));
        assert!(matches!(
            Grant::from_bytes(&[1, 2]),
            Err(CryptoError::UnknownAlgorithm { alg: 2, .. })
        ));
        assert!(matches!(
            Grant::from_text("not base64!"),
            Err(CryptoError::BadEncoding { what: "grant" })
        ));
        let f = fixture();
        let n = ctx().encoded_len();
        let mut b = f.grant.as_bytes().to_vec();
        b[115 + n] = 47;
        assert!(matches!(
            Grant::from_vec(b),
            Err(CryptoError::Malformed { .. })
        ));
    }
}
