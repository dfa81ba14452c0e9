//! Fuzzes the grant parsers (binary and text) and the open path: never a panic, a parsed grant
//! re-encodes to the same bytes, and fuzzer-made bytes never open.
#![no_main]

use coffer_crypto::{Context, Grant, KeyPair, Purpose, open_grant};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(grant) = Grant::from_bytes(data) {
        assert_eq!(grant.as_bytes(), data);
        if let Ok(me) = KeyPair::generate() {
            let signer = *grant.signer();
            let expected = grant.context().clone();
            assert!(open_grant(&grant, &me, &[signer], &expected).is_err());
            assert!(open_grant(&grant, &me, &[], &Context::new(Purpose::VaultKey)).is_err());
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Grant::from_text(s);
    }
});
