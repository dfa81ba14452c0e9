//! Fuzzes the Argon2id parameter decoder: never a panic, and nothing below the floor decodes.
#![no_main]

use coffer_crypto::Argon2Params;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Argon2Params::from_bytes(data) {
        assert!(p.m_kib() >= 19456 && p.t() >= 2);
        assert_eq!(p.to_bytes().as_slice(), data);
    }
});
