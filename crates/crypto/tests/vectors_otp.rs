//! RFC 6238 appendix B (TOTP, SHA-1/256/512) and RFC 4226 appendix D (HOTP): every row, through
//! the direct API and through a parsed `otpauth://` URI.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test crate: helpers outside #[test] fns fail loudly on bad vector data"
)]

mod common;

use coffer_crypto::SecretVec;
use coffer_crypto::otp::{Hotp, OtpAlgorithm, Totp, hotp};
use common::{Tally, load_json};
use serde_json::Value;

fn alg(v: &Value) -> OtpAlgorithm {
    OtpAlgorithm::from_uri_name(v.as_str().unwrap()).unwrap()
}

fn b32(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

#[test]
fn rfc6238_totp() {
    let v = load_json("otp-rfc6238-rfc4226.json");
    let rows = v["totp"].as_array().unwrap();
    let mut tally = Tally::default();
    for (i, r) in rows.iter().enumerate() {
        let secret = r["secret_ascii"].as_str().unwrap().as_bytes();
        let time = r["time"].as_u64().unwrap();
        let period = r["period"].as_u64().unwrap();
        let digits = u8::try_from(r["digits"].as_u64().unwrap()).unwrap();
        let code = r["code"].as_str().unwrap();
        let t = Totp::new(
            SecretVec::from_slice(secret),
            alg(&r["algorithm"]),
            digits,
            period,
        )
        .unwrap();
        assert_eq!(t.code_at(time).unwrap(), code, "row {i}");
        let uri = format!(
            "otpauth://totp/RFC:6238?secret={}&algorithm={}&digits={digits}&period={period}",
            b32(secret),
            r["algorithm"].as_str().unwrap()
        );
        assert_eq!(
            Totp::from_uri(&uri).unwrap().code_at(time).unwrap(),
            code,
            "row {i} via URI"
        );
        tally.valid_accepted += 1;
    }
    tally.report("rfc6238 totp");
    assert_eq!(rows.len(), 18);
}

#[test]
fn rfc4226_hotp() {
    let v = load_json("otp-rfc6238-rfc4226.json");
    let rows = v["hotp"].as_array().unwrap();
    let mut tally = Tally::default();
    for (i, r) in rows.iter().enumerate() {
        let secret = r["secret_ascii"].as_str().unwrap().as_bytes();
        let counter = r["counter"].as_u64().unwrap();
        let digits = u8::try_from(r["digits"].as_u64().unwrap()).unwrap();
        let code = r["code"].as_str().unwrap();
        assert_eq!(
            hotp(secret, counter, digits, alg(&r["algorithm"])).unwrap(),
            code,
            "row {i}"
        );
        let uri = format!(
            "otpauth://hotp/rfc4226?secret={}&counter={counter}&digits={digits}",
            b32(secret)
        );
        let h = Hotp::from_uri(&uri).unwrap();
        assert_eq!(h.code(h.counter()).unwrap(), code, "row {i} via URI");
        tally.valid_accepted += 1;
    }
    tally.report("rfc4226 hotp");
    assert_eq!(rows.len(), 10);
}
