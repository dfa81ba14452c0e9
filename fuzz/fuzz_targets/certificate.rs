//! Fuzzes device certificates, chain links and public keys: never a panic, parse∘encode is the
//! identity, and chains of fuzzer-made links never verify under a fresh identity.
#![no_main]

use coffer_crypto::{ChainLink, DeviceCertificate, KeyPair, PublicKeys, verify_chain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = DeviceCertificate::from_bytes(data) {
        assert_eq!(cert.as_bytes(), data);
    }
    let _ = PublicKeys::from_bytes(data);
    let links: Vec<ChainLink> = data
        .chunks(226)
        .filter_map(|c| ChainLink::from_bytes(c).ok())
        .collect();
    if !links.is_empty() {
        if let Ok(identity) = KeyPair::generate() {
            assert!(verify_chain(&identity.public(), &links, None).is_err());
        }
    }
});
