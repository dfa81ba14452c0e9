//! Fuzzes recovery-phrase parsing: never a panic; a phrase that parses round-trips.
#![no_main]

use coffer_crypto::RecoveryPhrase;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = RecoveryPhrase::parse(s) {
            let again = RecoveryPhrase::parse(&p.expose_phrase());
            assert!(again.is_ok());
        }
    }
});
