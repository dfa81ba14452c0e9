//! Fuzzes the stream header parser and the stream decryptor: never a panic, parse∘encode is the
//! identity, and fuzzer-made streams never decrypt under a fresh key.
#![no_main]

use coffer_crypto::stream::{StreamHeader, decrypt_stream};
use coffer_crypto::{Context, Purpose, SymmetricKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = StreamHeader::parse(data) {
        assert_eq!(h.to_bytes().as_slice(), data);
    }
    if let Ok(key) = SymmetricKey::generate() {
        let mut out = Vec::new();
        let ctx = Context::new(Purpose::Attachment);
        assert!(decrypt_stream(&key, &ctx, data, &mut out).is_err());
    }
});
