//! Property tests of the envelope (DESIGN §2): round trip for any plaintext and context under both
//! algorithms; any altered bit, context component, key, key id or truncation is refused with a
//! typed error and never yields plaintext; the text form round-trips; key commitment holds.

// Test and benchmark code: a failed unwrap is a failed run (the rule bars them in library code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffer_crypto::context::{Id16, MAX_FIELD_LEN};
use coffer_crypto::envelope::{Envelope, open, seal_with};
use coffer_crypto::{Algorithm, Context, CryptoError, KeyId, Purpose, SecretBytes, SymmetricKey};
use proptest::prelude::*;

/// Every component of a context, so a test can change exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    purpose: Purpose,
    workspace: Option<Id16>,
    vault: Option<Id16>,
    item: Option<Id16>,
    field: Option<String>,
    epoch: u32,
}

impl Parts {
    fn context(&self) -> Context {
        let mut c = Context::new(self.purpose).with_epoch(self.epoch);
        if let Some(w) = self.workspace {
            c = c.with_workspace(w);
        }
        if let Some(v) = self.vault {
            c = c.with_vault(v);
        }
        if let Some(i) = self.item {
            c = c.with_item(i);
        }
        if let Some(f) = &self.field {
            c = c.with_field(f.clone()).expect("field within bounds");
        }
        c
    }

    /// The same parts with component `which` (0..6) changed; `salt` picks how.
    fn with_one_changed(&self, which: u8, salt: u8) -> Parts {
        let mut p = self.clone();
        let bump = |id: Option<Id16>| match id {
            None => Some([salt; 16]),
            Some(mut id) if !salt.is_multiple_of(3) => {
                id[usize::from(salt) % 16] ^= 1 | salt;
                Some(id)
            }
            Some(_) => None,
        };
        match which % 6 {
            0 => {
                let i = Purpose::ALL
                    .iter()
                    .position(|&q| q == p.purpose)
                    .unwrap_or(0);
                let step = 1 + usize::from(salt) % (Purpose::ALL.len() - 1);
                p.purpose = Purpose::ALL[(i + step) % Purpose::ALL.len()];
            }
            1 => p.workspace = bump(p.workspace),
            2 => p.vault = bump(p.vault),
            3 => p.item = bump(p.item),
            4 => {
                p.field = match p.field.take() {
                    None => Some(String::new()),
                    Some(mut f) if salt.is_multiple_of(2) => {
                        if f.len() < MAX_FIELD_LEN {
                            f.push('x');
                        } else {
                            f.pop();
                        }
                        Some(f)
                    }
                    Some(_) => None,
                }
            }
            _ => p.epoch = p.epoch.wrapping_add(1 + u32::from(salt)),
        }
        assert_ne!(&p, self, "mutation must change something");
        p
    }
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        prop::sample::select(Purpose::ALL.to_vec()),
        prop::option::of(any::<Id16>()),
        prop::option::of(any::<Id16>()),
        prop::option::of(any::<Id16>()),
        prop::option::of(prop_oneof!["\\PC{0,24}", Just("f".repeat(MAX_FIELD_LEN)),]),
        any::<u32>(),
    )
        .prop_map(|(purpose, workspace, vault, item, field, epoch)| Parts {
            purpose,
            workspace,
            vault,
            item,
            field,
            epoch,
        })
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(vec![Algorithm::XChaCha20Poly1305, Algorithm::Aes256Gcm])
}

fn key_from(seed: [u8; 32], id: [u8; 16]) -> SymmetricKey {
    SymmetricKey::from_secret(KeyId(id), SecretBytes::from_array(seed)).expect("key")
}

/// Opening the bytes (if they still parse) must fail with a typed error, never give plaintext.
fn assert_refused(key: &SymmetricKey, ctx: &Context, bytes: Vec<u8>) -> CryptoError {
    match Envelope::from_vec(bytes) {
        Ok(env) => match open(key, ctx, &env) {
            Ok(_) => panic!("an altered envelope opened"),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trip_any_size_any_context(
        alg in algorithm(),
        p in parts(),
        plaintext in prop::collection::vec(any::<u8>(), 0..=65536),
        seed in any::<[u8; 32]>(),
        id in any::<[u8; 16]>(),
    ) {
        let key = key_from(seed, id);
        let ctx = p.context();
        let env = seal_with(alg, &key, &ctx, &plaintext).unwrap();
        prop_assert_eq!(env.as_bytes().len(), alg.sealed_len(plaintext.len()));
        prop_assert_eq!(env.plaintext_len(), plaintext.len());
        prop_assert_eq!(env.key_id(), key.id());
        let back = Envelope::from_bytes(env.as_bytes()).unwrap();
        let opened = open(&key, &ctx, &back).unwrap();
        prop_assert_eq!(opened.expose_secret(), plaintext.as_slice());
        // The nonce is random: sealing twice never gives the same bytes.
        let again = seal_with(alg, &key, &ctx, &plaintext).unwrap();
        prop_assert_ne!(env.as_bytes(), again.as_bytes());
    }

    #[test]
    fn any_single_bit_flip_is_refused(
        alg in algorithm(),
        p in parts(),
        plaintext in prop::collection::vec(any::<u8>(), 0..300),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let key = SymmetricKey::generate().unwrap();
        let ctx = p.context();
        let mut bytes = seal_with(alg, &key, &ctx, &plaintext).unwrap().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let err = assert_refused(&key, &ctx, bytes);
        match i {
            0 => prop_assert!(matches!(err, CryptoError::UnknownVersion { .. }), "{:?}", err),
            1 => prop_assert!(matches!(err, CryptoError::UnknownAlgorithm { .. }), "{:?}", err),
            _ => prop_assert_eq!(err, CryptoError::OpenFailed),
        }
    }

    #[test]
    fn any_context_change_fails_to_open(
        alg in algorithm(),
        p in parts(),
        which in 0u8..6,
        salt in any::<u8>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let key = SymmetricKey::generate().unwrap();
        let env = seal_with(alg, &key, &p.context(), &plaintext).unwrap();
        let other = p.with_one_changed(which, salt).context();
        prop_assert_eq!(open(&key, &other, &env).unwrap_err(), CryptoError::OpenFailed);
        prop_assert!(open(&key, &p.context(), &env).is_ok());
    }

    #[test]
    fn other_key_or_key_id_fails_to_open(
        alg in algorithm(),
        p in parts(),
        seed in any::<[u8; 32]>(),
        id in any::<[u8; 16]>(),
        flip in any::<prop::sample::Index>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let key = key_from(seed, id);
        let ctx = p.context();
        let env = seal_with(alg, &key, &ctx, &plaintext).unwrap();
        // Same material, another id.
        let mut other_id = id;
        other_id[flip.index(16)] ^= 0x80;
        prop_assert_eq!(
            open(&key_from(seed, other_id), &ctx, &env).unwrap_err(),
            CryptoError::OpenFailed
        );
        // Same id, other material (only the commitment and the tag can tell).
        let mut other_seed = seed;
        other_seed[flip.index(32)] ^= 0x01;
        prop_assert_eq!(
            open(&key_from(other_seed, id), &ctx, &env).unwrap_err(),
            CryptoError::OpenFailed
        );
        // A fresh random key.
        prop_assert_eq!(
            open(&SymmetricKey::generate().unwrap(), &ctx, &env).unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    #[test]
    fn any_truncation_is_refused(
        alg in algorithm(),
        plaintext in prop::collection::vec(any::<u8>(), 0..300),
        cut in any::<prop::sample::Index>(),
    ) {
        let key = SymmetricKey::generate().unwrap();
        let ctx = Context::new(Purpose::ItemField);
        let bytes = seal_with(alg, &key, &ctx, &plaintext).unwrap().into_bytes();
        let len = cut.index(bytes.len());
        let min = alg.sealed_len(0);
        let err = assert_refused(&key, &ctx, bytes[..len].to_vec());
        if len < min {
            let is_truncated = matches!(err, CryptoError::Truncated { at, .. } if at == len);
            prop_assert!(is_truncated, "{:?}", err);
        } else {
            prop_assert_eq!(err, CryptoError::OpenFailed);
        }
    }

    #[test]
    fn text_form_round_trips(
        alg in algorithm(),
        p in parts(),
        plaintext in prop::collection::vec(any::<u8>(), 0..500),
    ) {
        let key = SymmetricKey::generate().unwrap();
        let ctx = p.context();
        let env = seal_with(alg, &key, &ctx, &plaintext).unwrap();
        let text = env.to_text();
        prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let back = Envelope::from_text(&text).unwrap();
        prop_assert_eq!(&back, &env);
        let opened = open(&key, &ctx, &back).unwrap();
        prop_assert_eq!(opened.expose_secret(), plaintext.as_slice());
    }

    /// Key commitment: move a valid envelope to another key by replacing its key id and commitment
    /// with that key's; it opens under neither key.
    #[test]
    fn commitment_swap_opens_under_neither_key(
        alg in algorithm(),
        p in parts(),
        plaintext in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let a = SymmetricKey::generate().unwrap();
        let b = SymmetricKey::generate().unwrap();
        let ctx = p.context();
        let mut bytes = seal_with(alg, &a, &ctx, &plaintext).unwrap().into_bytes();
        let commit_at = 18 + alg.nonce_len();
        prop_assert_eq!(&bytes[2..18], &a.id().0);
        prop_assert_eq!(&bytes[commit_at..commit_at + 32], a.commitment());
        bytes[2..18].copy_from_slice(&b.id().0);
        bytes[commit_at..commit_at + 32].copy_from_slice(b.commitment());
        let env = Envelope::from_vec(bytes).unwrap();
        prop_assert_eq!(open(&a, &ctx, &env).unwrap_err(), CryptoError::OpenFailed);
        prop_assert_eq!(open(&b, &ctx, &env).unwrap_err(), CryptoError::OpenFailed);
    }
}
