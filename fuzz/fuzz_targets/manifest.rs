//! Fuzzes the vault-manifest and sealed-item parsers: never a panic, a parsed value re-encodes to
//! exactly the input (both encodings are canonical), and fuzzer-made bytes never verify or open.
#![no_main]

use coffer_crypto::item::{ItemLocation, SealedItem, open_item};
use coffer_crypto::manifest::{ManifestEntry, check_items, verify_manifest};
use coffer_crypto::{Manifest, SymmetricKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::from_bytes(data) {
        assert_eq!(m.to_bytes().ok().as_deref(), Some(data));
        let signer = *m.signer();
        // A fuzzer cannot forge an Ed25519 signature.
        assert!(verify_manifest(&m, m.workspace(), m.vault(), &[signer], None).is_err());
        assert!(check_items(&m, m.entries()).is_ok());
        let mut fewer: Vec<ManifestEntry> = m.entries().to_vec();
        if fewer.pop().is_some() {
            assert!(check_items(&m, &fewer).is_err());
        }
    }
    if let Ok(item) = SealedItem::from_bytes(data) {
        assert_eq!(item.to_bytes().ok().as_deref(), Some(data));
        if let Ok(vk) = SymmetricKey::generate() {
            let loc = ItemLocation {
                workspace: [0; 16],
                vault: [0; 16],
                item: [0; 16],
                epoch: 0,
                revision: 0,
            };
            assert!(open_item(&vk, &item, &loc).is_err());
        }
    }
});
