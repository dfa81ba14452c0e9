//! Fuzzes `otpauth://` URI and bare base32 secret parsing: never a panic; a parsed TOTP URI
//! re-parses from its own `to_uri()` to the same codes.
#![no_main]

use coffer_crypto::{OtpUri, Totp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(OtpUri::Totp(t)) = OtpUri::parse(s) {
            let again = Totp::from_uri(&t.to_uri());
            assert!(again.is_ok());
            if let Ok(again) = again {
                assert_eq!(t.code_at(59).ok(), again.code_at(59).ok());
            }
        }
        let _ = Totp::from_secret_base32(s);
    }
});
