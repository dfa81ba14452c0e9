//! Fuzzes the envelope parsers (binary and text) and the open path: never a panic, and a parsed
//! envelope re-encodes to the same bytes.
#![no_main]

use coffer_crypto::{Context, Envelope, Purpose, SymmetricKey, envelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::from_bytes(data) {
        assert_eq!(env.as_bytes(), data);
        let text = env.to_text();
        assert_eq!(Envelope::from_text(&text).ok().as_ref(), Some(&env));
        if let Ok(key) = SymmetricKey::generate() {
            // A random key never opens fuzzer-made bytes.
            assert!(envelope::open(&key, &Context::new(Purpose::ItemField), &env).is_err());
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Envelope::from_text(s);
    }
});
