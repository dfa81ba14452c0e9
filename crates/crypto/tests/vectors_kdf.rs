//! Known-answer tests for the KDF layer: HKDF-SHA256 and HMAC-SHA256 against every Wycheproof
//! case, PBKDF2-HMAC-SHA256 at the floor, and the Argon2id floor against the reference vectors.
//! (The below-floor Argon2id and PBKDF2 vectors run inside `src/kdf.rs`, whose unchecked path is
//! crate-private.)

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test crate: helpers outside #[test] fns fail loudly on bad vector data"
)]

mod common;

use coffer_crypto::CryptoError;
use coffer_crypto::hkdf::hkdf_sha256;
use coffer_crypto::kdf::{
    ARGON2_MIN_M_KIB, Argon2Params, derive_key, hmac_sha256, hmac_sha256_verify, pbkdf2_sha256,
};
use common::{Tally, load_json, unhex};
use serde_json::Value;

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn n(v: &Value) -> u32 {
    u32::try_from(v.as_u64().unwrap()).unwrap()
}

/// Every Wycheproof HKDF-SHA256 case through `coffer_crypto::hkdf::hkdf_sha256`: valid outputs
/// match, and the invalid ones (output longer than 255 × 32 bytes) are refused.
#[test]
fn hkdf_sha256_wycheproof() {
    let v = load_json("wycheproof/hkdf_sha256_test.json");
    let mut tally = Tally::default();
    for g in v["testGroups"].as_array().unwrap() {
        for t in g["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let mut okm = vec![0u8; t["size"].as_u64().unwrap() as usize];
            let r = hkdf_sha256(
                &unhex(s(&t["salt"])),
                &unhex(s(&t["ikm"])),
                &[&unhex(s(&t["info"]))],
                &mut okm,
            );
            match s(&t["result"]) {
                "valid" => {
                    r.unwrap_or_else(|e| panic!("tcId {id}: {e}"));
                    assert_eq!(okm, unhex(s(&t["okm"])), "tcId {id}");
                    tally.valid_accepted += 1;
                }
                "invalid" => {
                    assert_eq!(r, Err(CryptoError::Length("hkdf output")), "tcId {id}");
                    tally.invalid_rejected += 1;
                }
                other => panic!("tcId {id}: unexpected result {other}"),
            }
        }
    }
    tally.report("hkdf-sha256");
    assert_eq!((tally.valid_accepted, tally.invalid_rejected), (83, 3));
}

/// Every Wycheproof HMAC-SHA256 case: valid tags verify (full and truncated to the group's
/// tagSize, compared as the leading bytes), and every modified tag is refused as `OpenFailed`.
#[test]
fn hmac_sha256_wycheproof() {
    let v = load_json("wycheproof/hmac_sha256_test.json");
    let mut tally = Tally::default();
    for g in v["testGroups"].as_array().unwrap() {
        let tag_len = n(&g["tagSize"]) as usize / 8;
        for t in g["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let key = unhex(s(&t["key"]));
            let msg = unhex(s(&t["msg"]));
            let tag = unhex(s(&t["tag"]));
            assert_eq!(tag.len(), tag_len, "tcId {id}: tag length");
            let full = hmac_sha256(&key, &msg).unwrap();
            let verdict = hmac_sha256_verify(&key, &msg, &tag);
            match s(&t["result"]) {
                "valid" => {
                    assert_eq!(&full[..tag_len], tag.as_slice(), "tcId {id}");
                    verdict.unwrap_or_else(|e| panic!("tcId {id}: {e}"));
                    tally.valid_accepted += 1;
                }
                "invalid" => {
                    assert_ne!(&full[..tag_len], tag.as_slice(), "tcId {id}");
                    assert_eq!(verdict, Err(CryptoError::OpenFailed), "tcId {id}");
                    tally.invalid_rejected += 1;
                }
                other => panic!("tcId {id}: unexpected result {other}"),
            }
        }
    }
    tally.report("hmac-sha256");
    assert_eq!((tally.valid_accepted, tally.invalid_rejected), (66, 108));
}

/// The public PBKDF2 path at exactly the floor, against a value computed by OpenSSL
/// (`hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 600000, 20)`); one below is refused.
#[test]
fn pbkdf2_sha256_at_the_floor() {
    let mut out = [0u8; 20];
    pbkdf2_sha256(b"password", b"salt", 600_000, &mut out).unwrap();
    assert_eq!(
        out.to_vec(),
        unhex("669cfe52482116fda1aa2cbe409b2f56c8e45637")
    );
    assert!(matches!(
        pbkdf2_sha256(b"password", b"salt", 599_999, &mut out),
        Err(CryptoError::KdfBelowFloor { .. })
    ));
}

/// Through the public API, the reference Argon2id cases are reachable only where they meet the
/// floor, and their 8-byte salts are refused: nothing public runs Argon2id below the floor.
#[test]
fn argon2id_public_api_enforces_the_floor() {
    let v = load_json("argon2id.json");
    let mut tally = Tally::default();
    for (i, c) in v["cases"].as_array().unwrap().iter().enumerate() {
        let (m, t, p) = (n(&c["m_kib"]), n(&c["t"]), n(&c["p"]));
        match Argon2Params::new(m, t, p) {
            Ok(params) => {
                assert!(
                    m >= ARGON2_MIN_M_KIB && t >= 2,
                    "case {i} accepted below the floor"
                );
                assert_eq!(
                    Argon2Params::from_bytes(&params.to_bytes()).unwrap(),
                    params
                );
                let salt = s(&c["salt"]).as_bytes();
                assert_eq!(
                    derive_key(s(&c["password"]), salt, params),
                    Err(CryptoError::Length("argon2id salt (at least 16 bytes)")),
                    "case {i}"
                );
                tally.valid_accepted += 1;
            }
            Err(CryptoError::KdfBelowFloor { .. }) => {
                assert!(
                    m < ARGON2_MIN_M_KIB || t < 2,
                    "case {i} refused above the floor"
                );
                tally.invalid_rejected += 1;
            }
            Err(e) => panic!("case {i}: unexpected {e}"),
        }
    }
    let rfc = &v["rfc9106"];
    assert!(matches!(
        Argon2Params::new(n(&rfc["m_kib"]), n(&rfc["t"]), n(&rfc["p"])),
        Err(CryptoError::KdfBelowFloor { .. })
    ));
    tally.report("argon2id floor (public API)");
    assert_eq!((tally.valid_accepted, tally.invalid_rejected), (5, 3));
}
