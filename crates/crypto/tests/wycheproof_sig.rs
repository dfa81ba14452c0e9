//! Wycheproof Ed25519 and X25519 vectors, every case.
//!
//! - `ed25519_test.json`: every `valid` signature verifies with `verify_strict` (what
//!   `coffer_crypto::identity::verify` uses) and every `invalid` one (bad encodings,
//!   malleable `S`, small-order `R`, truncated or padded signatures) is rejected; every group's
//!   public key is accepted by [`PublicKeys`] parsing.
//! - `x25519_test.json`: for every `valid` and `acceptable` case, X25519(private, public) equals
//!   `shared`. Our [`PublicKeys`] parsing accepts a public key exactly when it is canonical
//!   (bit 255 clear and `u < 2^255 − 19`) and not of low order (its shared secret is not all
//!   zeros). So every `valid` case's key is accepted; among `acceptable` ones, `LowOrderPublic` /
//!   `ZeroSharedSecret` keys and `NonCanonicalPublic` keys (or any with bit 255 set) are rejected,
//!   and twist / edge-case keys of full order are accepted (X25519 on the twist is safe with
//!   clamped scalars, RFC 7748 §5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is a failed test"
)]

mod common;

use coffer_crypto::CryptoError;
use coffer_crypto::identity::{KeyPair, PublicKeys};
use coffer_crypto::secret::Seed;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::Value;

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {name} missing"))
}

fn groups(file: &Value) -> &Vec<Value> {
    file["testGroups"].as_array().expect("testGroups")
}

fn tests(group: &Value) -> &Vec<Value> {
    group["tests"].as_array().expect("tests")
}

#[test]
fn wycheproof_ed25519_verify_strict() {
    let file = common::load_json("wycheproof/ed25519_test.json");
    let x25519_ok = *KeyPair::from_seed(&Seed::from_array([9; 32]))
        .unwrap()
        .public()
        .encryption();
    let mut tally = common::Tally::default();
    let mut total = 0;
    for group in groups(&file) {
        let pk: [u8; 32] = common::unhex(field(&group["publicKey"], "pk"))
            .try_into()
            .expect("32-byte key");
        PublicKeys::from_parts(pk, x25519_ok).expect("every Wycheproof Ed25519 key is valid");
        let vk = VerifyingKey::from_bytes(&pk).expect("decompresses");
        for t in tests(group) {
            total += 1;
            let id = &t["tcId"];
            let msg = common::unhex(field(t, "msg"));
            let sig = common::unhex(field(t, "sig"));
            let verified = Signature::from_slice(&sig)
                .map(|s| vk.verify_strict(&msg, &s).is_ok())
                .unwrap_or(false);
            match field(t, "result") {
                "valid" => {
                    assert!(verified, "tcId {id}: valid signature rejected");
                    tally.valid_accepted += 1;
                }
                "invalid" => {
                    assert!(!verified, "tcId {id}: invalid signature accepted");
                    tally.invalid_rejected += 1;
                }
                other => panic!("tcId {id}: unexpected result {other}"),
            }
        }
    }
    assert_eq!(total, file["numberOfTests"].as_u64().unwrap() as usize);
    tally.report("Wycheproof Ed25519 (verify_strict)");
}

/// `u` (little-endian) is below p = 2^255 − 19, with bit 255 clear.
fn is_canonical(u: &[u8; 32]) -> bool {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    // Compare as big-endian numbers.
    let be = |x: &[u8; 32]| {
        let mut r = *x;
        r.reverse();
        r
    };
    be(u) < be(&p)
}

#[test]
fn wycheproof_x25519_shared_secrets_and_public_key_policy() {
    let file = common::load_json("wycheproof/x25519_test.json");
    let ed_ok = *KeyPair::from_seed(&Seed::from_array([9; 32]))
        .unwrap()
        .public()
        .signing();
    let mut tally = common::Tally::default();
    let (mut accepted, mut rejected_low_order, mut rejected_non_canonical) = (0, 0, 0);
    let mut total = 0;
    for group in groups(&file) {
        assert_eq!(field(group, "curve"), "curve25519");
        for t in tests(group) {
            total += 1;
            let id = &t["tcId"];
            let public: [u8; 32] = common::unhex(field(t, "public")).try_into().unwrap();
            let private: [u8; 32] = common::unhex(field(t, "private")).try_into().unwrap();
            let shared: [u8; 32] = common::unhex(field(t, "shared")).try_into().unwrap();
            let result = field(t, "result");
            let flags: Vec<&str> = t["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();

            // The primitive computes the RFC 7748 function for every case.
            assert_eq!(
                x25519_dalek::x25519(private, public),
                shared,
                "tcId {id}: shared secret"
            );

            // Our public-key policy.
            let low_order = shared == [0u8; 32];
            let canonical = is_canonical(&public);
            let parsed = PublicKeys::from_parts(ed_ok, public);
            if canonical && !low_order {
                assert!(parsed.is_ok(), "tcId {id} ({flags:?}): key rejected");
                accepted += 1;
            } else {
                assert_eq!(
                    parsed.unwrap_err(),
                    CryptoError::BadPublicKey { what: "x25519" },
                    "tcId {id}"
                );
                if low_order {
                    rejected_low_order += 1;
                } else {
                    rejected_non_canonical += 1;
                }
            }
            if flags.contains(&"LowOrderPublic") || flags.contains(&"ZeroSharedSecret") {
                assert!(low_order, "tcId {id}: flagged low order");
            }
            if flags.contains(&"NonCanonicalPublic") {
                assert!(!canonical, "tcId {id}: flagged non-canonical");
            }

            match result {
                "valid" => {
                    assert!(canonical && !low_order, "tcId {id}");
                    tally.valid_accepted += 1;
                }
                "acceptable" => tally.acceptable += 1,
                "invalid" => tally.invalid_rejected += 1,
                other => panic!("tcId {id}: unexpected result {other}"),
            }
        }
    }
    assert_eq!(total, file["numberOfTests"].as_u64().unwrap() as usize);
    println!(
        "X25519 public-key policy: {accepted} accepted, {rejected_low_order} rejected as low order, \
         {rejected_non_canonical} rejected as non-canonical"
    );
    assert!(rejected_low_order > 0 && rejected_non_canonical > 0);
    tally.report("Wycheproof X25519");
}
