//! Property tests of key grants (and of the other parsers of identity.rs and chain.rs):
//!
//! - any context and any key round-trip through seal → text → parse → open, and the grant opens
//!   under no other context;
//! - arbitrary byte flips, truncations, splices and random inputs never panic, and never yield a
//!   key: they are either a decode error or a refusal by `open_grant`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is a failed test"
)]

use coffer_crypto::chain::{ChainLink, DeviceCertificate};
use coffer_crypto::context::{MAX_FIELD_LEN, Purpose};
use coffer_crypto::grant::{Grant, open_grant, seal_grant};
use coffer_crypto::identity::{KeyPair, PublicKeys};
use coffer_crypto::{Context, CryptoError, KeyId, SecretBytes, SymmetricKey};
use proptest::prelude::*;

fn context() -> impl Strategy<Value = Context> {
    (
        0..Purpose::ALL.len(),
        proptest::option::of(any::<[u8; 16]>()),
        proptest::option::of(any::<[u8; 16]>()),
        proptest::option::of(any::<[u8; 16]>()),
        proptest::option::of("\\PC{0,40}"),
        any::<u32>(),
    )
        .prop_map(|(p, ws, vault, item, field, epoch)| {
            let mut c = Context::new(Purpose::ALL[p]).with_epoch(epoch);
            if let Some(id) = ws {
                c = c.with_workspace(id);
            }
            if let Some(id) = vault {
                c = c.with_vault(id);
            }
            if let Some(id) = item {
                c = c.with_item(id);
            }
            if let Some(f) = field {
                assert!(f.len() <= MAX_FIELD_LEN);
                c = c.with_field(f).unwrap();
            }
            c
        })
}

fn key() -> impl Strategy<Value = ([u8; 16], [u8; 32])> {
    (any::<[u8; 16]>(), any::<[u8; 32]>())
}

struct Setup {
    key: SymmetricKey,
    granter: KeyPair,
    recipient: KeyPair,
    grant: Grant,
}

fn setup(ctx: &Context, (id, material): ([u8; 16], [u8; 32])) -> Setup {
    let key = SymmetricKey::from_secret(KeyId(id), SecretBytes::from_array(material)).unwrap();
    let granter = KeyPair::generate().unwrap();
    let recipient = KeyPair::generate().unwrap();
    let grant = seal_grant(&key, ctx, &recipient.public(), &granter).unwrap();
    Setup {
        key,
        granter,
        recipient,
        grant,
    }
}

/// Opens mutated bytes: must never yield a key, and every error must be a typed refusal.
fn assert_never_opens(bytes: Vec<u8>, s: &Setup, ctx: &Context) -> Result<(), TestCaseError> {
    let trusted = [*s.granter.public().signing()];
    match Grant::from_vec(bytes) {
        Ok(g) => match open_grant(&g, &s.recipient, &trusted, ctx) {
            Ok(k) => Err(TestCaseError::fail(format!(
                "a mutated grant opened to key {:?}",
                k.id()
            ))),
            Err(
                CryptoError::UntrustedSigner { .. }
                | CryptoError::BadSignature { .. }
                | CryptoError::WrongContext { .. }
                | CryptoError::OpenFailed,
            ) => Ok(()),
            Err(e) => Err(TestCaseError::fail(format!("unexpected open error {e:?}"))),
        },
        Err(
            CryptoError::Truncated { .. }
            | CryptoError::UnknownVersion { .. }
            | CryptoError::UnknownAlgorithm { .. }
            | CryptoError::Malformed { .. },
        ) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!(
            "unexpected decode error {e:?}"
        ))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn grants_round_trip(ctx in context(), k in key(), other in context()) {
        let s = setup(&ctx, k);
        let back = Grant::from_text(&s.grant.to_text()).unwrap();
        prop_assert_eq!(&back, &s.grant);
        prop_assert_eq!(back.context(), &ctx);
        prop_assert_eq!(back.key_id(), s.key.id());
        prop_assert_eq!(*back.recipient(), *s.recipient.public().encryption());
        prop_assert_eq!(*back.signer(), *s.granter.public().signing());
        let trusted = [*s.granter.public().signing()];
        let opened = open_grant(&back, &s.recipient, &trusted, &ctx).unwrap();
        prop_assert_eq!(opened.id(), s.key.id());
        prop_assert_eq!(opened.expose_secret(), s.key.expose_secret());
        if other != ctx {
            prop_assert_eq!(
                open_grant(&back, &s.recipient, &trusted, &other).unwrap_err(),
                CryptoError::WrongContext { what: "grant" }
            );
        }
    }

    #[test]
    fn flipped_grants_never_open(
        ctx in context(),
        k in key(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let s = setup(&ctx, k);
        let mut bytes = s.grant.as_bytes().to_vec();
        for (at, x) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        assert_never_opens(bytes, &s, &ctx)?;
    }

    #[test]
    fn truncated_or_spliced_grants_never_open(
        ctx in context(),
        k in key(),
        cut in any::<prop::sample::Index>(),
        tail in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let s = setup(&ctx, k);
        let full = s.grant.as_bytes();
        let n = cut.index(full.len());
        // Truncation: always a Truncated error at the cut.
        let truncated = Grant::from_bytes(&full[..n]);
        prop_assert!(
            matches!(truncated, Err(CryptoError::Truncated { at, .. }) if at == n),
            "cut at {}: {:?}", n, truncated
        );
        // Splice: a valid prefix and arbitrary bytes.
        let mut spliced = full[..n].to_vec();
        spliced.extend_from_slice(&tail);
        if spliced != full {
            assert_never_opens(spliced, &s, &ctx)?;
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Grant::from_bytes(&bytes);
        let _ = Grant::from_text(&String::from_utf8_lossy(&bytes));
        let _ = ChainLink::from_bytes(&bytes);
        let _ = DeviceCertificate::from_bytes(&bytes);
        let _ = PublicKeys::from_bytes(&bytes);
        // With a valid-looking prefix the parser goes deeper.
        let mut prefixed = vec![1u8, 1];
        prefixed.extend_from_slice(b"coffer.ctx.v1");
        prefixed.extend_from_slice(&bytes);
        let _ = Grant::from_bytes(&prefixed);
    }
}
