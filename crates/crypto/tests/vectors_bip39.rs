//! BIP39 known answers (Trezor `vectors.json`, English): entropy → mnemonic → seed with the
//! passphrase "TREZOR" for every row through the `bip39` crate, and the 24-word rows also through
//! `RecoveryPhrase`.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test crate: helpers outside #[test] fns fail loudly on bad vector data"
)]

mod common;

use bip39::{Language, Mnemonic};
use coffer_crypto::{CryptoError, RecoveryPhrase, SecretBytes};
use common::{Tally, load_json, unhex};

#[test]
fn trezor_english() {
    let v = load_json("bip39-trezor.json");
    let rows = v["english"].as_array().unwrap();
    let mut tally = Tally::default();
    let mut through_recovery = 0;
    for (i, row) in rows.iter().enumerate() {
        let entropy = unhex(row[0].as_str().unwrap());
        let phrase = row[1].as_str().unwrap();
        let seed = unhex(row[2].as_str().unwrap());

        let m = Mnemonic::from_entropy_in(Language::English, &entropy).unwrap();
        assert_eq!(m.to_string(), phrase, "row {i}: entropy → mnemonic");
        let parsed = Mnemonic::parse_in_normalized(Language::English, phrase).unwrap();
        assert_eq!(parsed.to_entropy(), entropy, "row {i}: mnemonic → entropy");
        assert_eq!(
            parsed.to_seed_normalized("TREZOR").to_vec(),
            seed,
            "row {i}: seed"
        );
        tally.valid_accepted += 1;

        if entropy.len() == 32 {
            let rp = RecoveryPhrase::parse(phrase).unwrap();
            assert_eq!(
                rp.expose_entropy().expose_secret().as_slice(),
                entropy.as_slice(),
                "row {i}"
            );
            assert_eq!(rp.expose_phrase().as_str(), phrase, "row {i}");
            let shouted = phrase.to_uppercase().replace(' ', "  \n");
            let rp2 = RecoveryPhrase::parse(&shouted).unwrap();
            assert_eq!(rp2.expose_phrase().as_str(), phrase, "row {i}: normalised");
            let from =
                RecoveryPhrase::from_entropy(&SecretBytes::from_slice(&entropy).unwrap()).unwrap();
            assert_eq!(
                from.expose_phrase().as_str(),
                phrase,
                "row {i}: from_entropy"
            );
            through_recovery += 1;
        } else {
            // 12- and 18-word phrases are valid BIP39 but not recovery keys.
            assert_eq!(
                RecoveryPhrase::parse(phrase).unwrap_err(),
                CryptoError::WrongWordCount {
                    expected: 24,
                    got: entropy.len() * 3 / 4
                },
                "row {i}"
            );
            tally.invalid_rejected += 1;
        }
    }
    tally.report(
        "bip39 english (rows valid through bip39; 12/18-word rows refused by RecoveryPhrase)",
    );
    println!("bip39 english: {through_recovery} 24-word rows also through RecoveryPhrase");
    assert_eq!(rows.len(), 24);
    assert_eq!(through_recovery, 8);
}
