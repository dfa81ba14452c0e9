//! Recovery keys (DESIGN §5): 24 BIP39 English words carrying 256 bits of entropy, and the
//! derivation of the recovery seed from the words *and* the server-held share.
//!
//! A [`RecoveryPhrase`] is a secret: it zeroizes on drop, prints as `RecoveryPhrase(***)`, has
//! no `Display`, and gives its words only through [`RecoveryPhrase::expose_phrase`], for showing
//! them once. [`RecoveryPhrase::parse`] normalises case and whitespace and says exactly what is
//! wrong: the unknown word and its 1-based position, the word count, or the checksum.
//!
//! [`recovery_seed`] = HKDF-SHA256(salt = `coffer.recovery.v1`, ikm = entropy ‖ server share,
//! info = `coffer.recovery.v1.seed`, 32 bytes). Neither half alone gives the seed.

use core::fmt;

use bip39::{Language, Mnemonic};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{CryptoError, Result};
use crate::hkdf::hkdf_key;
use crate::secret::SecretBytes;

/// HKDF salt of the recovery seed.
pub const LABEL_RECOVERY_SALT: &[u8] = b"coffer.recovery.v1";
/// HKDF info of the recovery seed.
pub const LABEL_RECOVERY_SEED: &[u8] = b"coffer.recovery.v1.seed";
/// Number of words in a recovery phrase.
pub const RECOVERY_WORDS: usize = 24;

/// A 24-word recovery phrase (256 bits of entropy plus an 8-bit checksum).
pub struct RecoveryPhrase {
    /// Word indices; `bip39::Mnemonic` zeroizes itself on drop.
    mnemonic: Mnemonic,
}

impl RecoveryPhrase {
    /// A fresh phrase from 256 bits of the OS CSPRNG.
    pub fn generate() -> Result<Self> {
        Self::from_entropy(&SecretBytes::<32>::random()?)
    }

    /// The phrase that encodes `entropy`.
    pub fn from_entropy(entropy: &SecretBytes<32>) -> Result<Self> {
        let mnemonic = Mnemonic::from_entropy_in(Language::English, entropy.expose_secret())
            .map_err(|_| CryptoError::Length("recovery entropy"))?;
        Ok(Self { mnemonic })
    }

    /// Parses a phrase typed by a person. Case and whitespace (spaces, tabs, newlines, repeats)
    /// do not matter. Errors, in this order: [`CryptoError::UnknownWord`] naming the first word
    /// not in the BIP39 English list and its 1-based position; [`CryptoError::WrongWordCount`]
    /// unless there are exactly 24 words; [`CryptoError::ChecksumFailed`].
    pub fn parse(phrase: &str) -> Result<Self> {
        let lower = Zeroizing::new(phrase.to_ascii_lowercase());
        let words: Vec<&str> = lower.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            if Language::English.find_word(word).is_none() {
                return Err(CryptoError::UnknownWord {
                    word: (*word).to_owned(),
                    position: i + 1,
                });
            }
        }
        if words.len() != RECOVERY_WORDS {
            return Err(CryptoError::WrongWordCount {
                expected: RECOVERY_WORDS,
                got: words.len(),
            });
        }
        let normalized = Zeroizing::new(words.join(" "));
        let mnemonic =
            Mnemonic::parse_in_normalized(Language::English, &normalized).map_err(|e| match e {
                bip39::Error::InvalidChecksum => CryptoError::ChecksumFailed,
                bip39::Error::BadWordCount(got) => CryptoError::WrongWordCount {
                    expected: RECOVERY_WORDS,
                    got,
                },
                bip39::Error::UnknownWord(i) => CryptoError::UnknownWord {
                    word: words.get(i).map(|w| (*w).to_owned()).unwrap_or_default(),
                    position: i + 1,
                },
                _ => CryptoError::ChecksumFailed,
            })?;
        Ok(Self { mnemonic })
    }

    /// The 24 words, lower case, separated by single spaces: to show once, never to log or send.
    pub fn expose_phrase(&self) -> Zeroizing<String> {
        let words = self.mnemonic.words();
        let len = words.clone().map(|w| w.len() + 1).sum::<usize>();
        // Reserved up front so that no reallocation leaves a copy of the words behind.
        let mut out = Zeroizing::new(String::with_capacity(len));
        for (i, word) in words.enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
        out
    }

    /// The 256 bits of entropy the words encode.
    pub fn expose_entropy(&self) -> SecretBytes<32> {
        let (mut full, _len) = self.mnemonic.to_entropy_array();
        let mut out = SecretBytes::<32>::from_array([0u8; 32]);
        out.expose_secret_mut().copy_from_slice(&full[..32]);
        full.zeroize();
        out
    }
}

impl fmt::Debug for RecoveryPhrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryPhrase(***)")
    }
}

/// The 32-byte recovery seed: HKDF-SHA256 with salt [`LABEL_RECOVERY_SALT`], ikm = the phrase's
/// 32 bytes of entropy ‖ the 32-byte `server_share`, info [`LABEL_RECOVERY_SEED`]. The recovery
/// key pair is derived from this seed.
pub fn recovery_seed(
    phrase: &RecoveryPhrase,
    server_share: &SecretBytes<32>,
) -> Result<SecretBytes<32>> {
    let entropy = phrase.expose_entropy();
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(entropy.expose_secret());
    ikm[32..].copy_from_slice(server_share.expose_secret());
    hkdf_key(LABEL_RECOVERY_SALT, ikm.as_slice(), &[LABEL_RECOVERY_SEED])
}

/// The recovery key pair of DESIGN §5: derived from both halves — the words and the server's
/// share — so that neither alone recovers anything.
pub fn recovery_key_pair(
    phrase: &RecoveryPhrase,
    server_share: &SecretBytes<32>,
) -> Result<crate::identity::KeyPair> {
    crate::identity::KeyPair::from_seed(&recovery_seed(phrase, server_share)?)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn recovery_key_pair_needs_both_halves() {
        let phrase = RecoveryPhrase::generate().unwrap();
        let share = SecretBytes::<32>::random().unwrap();
        let a = recovery_key_pair(&phrase, &share).unwrap().public();
        assert_eq!(a, recovery_key_pair(&phrase, &share).unwrap().public());
        let other_share = SecretBytes::<32>::random().unwrap();
        assert_ne!(
            a,
            recovery_key_pair(&phrase, &other_share).unwrap().public()
        );
        let other_phrase = RecoveryPhrase::generate().unwrap();
        assert_ne!(
            a,
            recovery_key_pair(&other_phrase, &share).unwrap().public()
        );
    }

    /// Trezor vector: entropy 0x80 × 32.
    const PHRASE_80: &str = "letter advice cage absurd amount doctor acoustic avoid letter advice \
        cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic \
        bless";

    fn words(p: &str) -> Vec<String> {
        p.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parse_matches_entropy_and_round_trips() {
        let p = RecoveryPhrase::parse(PHRASE_80).unwrap();
        assert_eq!(p.expose_entropy().expose_secret(), &[0x80; 32]);
        assert_eq!(p.expose_phrase().as_str(), words(PHRASE_80).join(" "));
        let q = RecoveryPhrase::from_entropy(&SecretBytes::from_array([0x80; 32])).unwrap();
        assert_eq!(q.expose_phrase(), p.expose_phrase());
    }

    #[test]
    fn parse_normalises_case_and_whitespace() {
        let messy = format!("  {}\n", words(PHRASE_80).join(" \t\n ").to_uppercase());
        let p = RecoveryPhrase::parse(&messy).unwrap();
        assert_eq!(p.expose_entropy().expose_secret(), &[0x80; 32]);
    }

    #[test]
    fn unknown_word_is_named_with_its_position() {
        let mut w = words(PHRASE_80);
        w[16] = "Absurdd".into();
        assert_eq!(
            RecoveryPhrase::parse(&w.join(" ")).unwrap_err(),
            CryptoError::UnknownWord {
                word: "absurdd".into(),
                position: 17
            }
        );
        // The first unknown word is reported, even when the count is also wrong.
        let r = RecoveryPhrase::parse("abandon zzz ability qqq");
        assert_eq!(
            r.unwrap_err(),
            CryptoError::UnknownWord {
                word: "zzz".into(),
                position: 2
            }
        );
    }

    #[test]
    fn wrong_word_count() {
        let w = words(PHRASE_80);
        assert_eq!(
            RecoveryPhrase::parse(&w[..23].join(" ")).unwrap_err(),
            CryptoError::WrongWordCount {
                expected: 24,
                got: 23
            }
        );
        let mut w25 = w.clone();
        w25.push("abandon".into());
        assert_eq!(
            RecoveryPhrase::parse(&w25.join(" ")).unwrap_err(),
            CryptoError::WrongWordCount {
                expected: 24,
                got: 25
            }
        );
        // A valid 12-word BIP39 phrase is still not a recovery key.
        let twelve = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                      abandon abandon about";
        assert_eq!(
            RecoveryPhrase::parse(twelve).unwrap_err(),
            CryptoError::WrongWordCount {
                expected: 24,
                got: 12
            }
        );
        assert_eq!(
            RecoveryPhrase::parse("   ").unwrap_err(),
            CryptoError::WrongWordCount {
                expected: 24,
                got: 0
            }
        );
    }

    #[test]
    fn swapped_words_fail_the_checksum() {
        let mut w = words(PHRASE_80);
        w.swap(0, 1);
        assert_eq!(
            RecoveryPhrase::parse(&w.join(" ")).unwrap_err(),
            CryptoError::ChecksumFailed
        );
        let mut w = words(PHRASE_80);
        w.swap(22, 23);
        assert_eq!(
            RecoveryPhrase::parse(&w.join(" ")).unwrap_err(),
            CryptoError::ChecksumFailed
        );
    }

    #[test]
    fn debug_is_redacted() {
        let p = RecoveryPhrase::parse(PHRASE_80).unwrap();
        assert_eq!(format!("{p:?}"), "RecoveryPhrase(***)");
    }

    #[test]
    fn generated_phrases_are_24_words_and_differ() {
        let a = RecoveryPhrase::generate().unwrap();
        let b = RecoveryPhrase::generate().unwrap();
        assert_eq!(a.expose_phrase().split(' ').count(), 24);
        assert_ne!(a.expose_entropy(), b.expose_entropy());
        let back = RecoveryPhrase::parse(&a.expose_phrase()).unwrap();
        assert_eq!(back.expose_entropy(), a.expose_entropy());
    }

    #[test]
    fn seed_is_deterministic_and_needs_both_halves() {
        let phrase = RecoveryPhrase::parse(PHRASE_80).unwrap();
        let share = SecretBytes::<32>::from_array([0x11; 32]);
        let seed = recovery_seed(&phrase, &share).unwrap();
        let again = recovery_seed(&RecoveryPhrase::parse(PHRASE_80).unwrap(), &share).unwrap();
        assert_eq!(seed, again);
        let other_share = SecretBytes::<32>::from_array([0x12; 32]);
        assert_ne!(seed, recovery_seed(&phrase, &other_share).unwrap());
        let other_phrase =
            RecoveryPhrase::from_entropy(&SecretBytes::from_array([0x7f; 32])).unwrap();
        assert_ne!(seed, recovery_seed(&other_phrase, &share).unwrap());
        // Pinned: the derivation is HKDF-SHA256(salt, entropy ‖ share, info).
        let mut ikm = [0x80u8; 64];
        ikm[32..].fill(0x11);
        let expected =
            hkdf_key(b"coffer.recovery.v1", &ikm, &[b"coffer.recovery.v1.seed"]).unwrap();
        assert_eq!(seed, expected);
        assert_ne!(seed.expose_secret(), &[0x80; 32]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn entropy_round_trips(bytes in any::<[u8; 32]>()) {
            let p = RecoveryPhrase::from_entropy(&SecretBytes::from_array(bytes)).unwrap();
            let q = RecoveryPhrase::parse(&p.expose_phrase()).unwrap();
            let entropy = q.expose_entropy();
            prop_assert_eq!(entropy.expose_secret(), &bytes);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let _ = RecoveryPhrase::parse(&s);
        }
    }
}
