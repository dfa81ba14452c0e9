//! Shared helpers for the known-answer tests: where the vectors are and how to load them.
//! A missing vector file fails the test; it never skips it.

#![allow(dead_code, unreachable_pub, clippy::panic)]

use std::path::PathBuf;

/// `$COFFER_VECTORS`, or `../shared/vectors` relative to the project root.
pub fn vectors_dir() -> PathBuf {
    match std::env::var_os("COFFER_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
    }
}

/// Loads and parses one vector file (path relative to the vectors folder); panics with the path
/// when it is missing, so a missing file is a failure.
pub fn load_json(relative: &str) -> serde_json::Value {
    let path = vectors_dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "vector file {} is missing or unreadable: {e}",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("vector file {}: {e}", path.display()))
}

/// Decodes hex, panicking with context on bad vector data.
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex in vector {s:?}: {e}"))
}

/// Counts of a vector run, printed so the log shows how many cases ran.
#[derive(Default, Debug)]
pub struct Tally {
    pub valid_accepted: usize,
    pub invalid_rejected: usize,
    pub acceptable: usize,
}

impl Tally {
    pub fn report(&self, name: &str) {
        println!(
            "{name}: {} valid cases verified, {} invalid cases rejected, {} acceptable cases run",
            self.valid_accepted, self.invalid_rejected, self.acceptable
        );
        assert!(
            self.valid_accepted + self.invalid_rejected > 0,
            "{name}: no cases ran"
        );
    }
}
