//! Fuzzes the canonical context decoder: never a panic, and decode∘encode is the identity.
#![no_main]

use coffer_crypto::Context;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ctx) = Context::decode(data) {
        assert_eq!(ctx.encode(), data);
    }
});
