//! What people compare when they check keys (DESIGN §4): a fingerprint phrase for attesting an
//! identity, and a short numeric code for approving a new device.
//!
//! - [`fingerprint_phrase`]: the first 88 bits of [`PublicKeys::fingerprint`]
//!   (`SHA-256("coffer.pubkeys.fingerprint.v1" ‖ signing ‖ encryption)`), read big-endian as
//!   8 × 11-bit indices into the BIP39 English word list, joined by single spaces.
//! - [`short_code`]: `SHA-256("coffer.shortcode.v1" ‖ min(a, b) ‖ max(a, b))` over the two 64-byte
//!   [`PublicKeys`] encodings in lexicographic order — so it is **order-independent**: both sides
//!   compute the same code without agreeing on roles — then the first 8 bytes as a big-endian
//!   u64, modulo 10^6, printed as `"ddd ddd"`.
//!
//! - [`approval_code`]: the code of a device approval, `SHA-256("coffer.approval-code.v1" ‖
//!   identity ‖ device ‖ nonce:32)` (64-byte [`PublicKeys`] encodings), first 8 bytes as a
//!   big-endian u64, modulo 10^6, printed as `"ddd ddd"`.
//!
//! A 6-digit code carries only ~20 bits. It protects an approval only if no key can be chosen
//! after the code's inputs are known: a server that knows a device's real key could otherwise
//! try a million keys of its own offline until one gives the same code. [`approval_code`] is
//! therefore keyed by a random nonce the **approver** draws only after it has fixed the device
//! keys it will certify, so a substituted key matches with probability 10^-6 per approval.

use sha2::{Digest as _, Sha256};

use crate::identity::PublicKeys;

/// Number of words in a fingerprint phrase (8 × 11 = 88 bits).
pub const FINGERPRINT_WORDS: usize = 8;
/// Domain tag of the short-code hash.
pub const LABEL_SHORT_CODE: &[u8] = b"coffer.shortcode.v1";

/// Domain tag of the approval-code hash.
pub const LABEL_APPROVAL_CODE: &[u8] = b"coffer.approval-code.v1";

/// The 6-digit code `"ddd ddd"` of approving device `device` of the user with identity
/// `identity`, under the approver's random `nonce` (see the module documentation).
pub fn approval_code(identity: &PublicKeys, device: &PublicKeys, nonce: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(LABEL_APPROVAL_CODE);
    h.update(identity.to_bytes());
    h.update(device.to_bytes());
    h.update(nonce);
    let digest: [u8; 32] = h.finalize().into();
    let mut first = [0u8; 8];
    first.copy_from_slice(digest.get(..8).unwrap_or(&[0u8; 8]));
    let n = u64::from_be_bytes(first) % 1_000_000;
    format!("{:03} {:03}", n / 1000, n % 1000)
}

/// The fingerprint phrase of `keys`: 8 BIP39 English words separated by spaces (88 bits).
pub fn fingerprint_phrase(keys: &PublicKeys) -> String {
    let fp = keys.fingerprint();
    let mut first = [0u8; 16];
    first.copy_from_slice(fp.get(..16).unwrap_or(&[0u8; 16]));
    let bits = u128::from_be_bytes(first);
    let list = bip39::Language::English.word_list();
    let words: Vec<&str> = (0..FINGERPRINT_WORDS)
        .map(|i| {
            // 11-bit groups from the most significant end.
            let shift = 128 - 11 * (i + 1);
            let index = usize::try_from((bits >> shift) & 0x7ff).unwrap_or(0);
            list.get(index).copied().unwrap_or("")
        })
        .collect();
    words.join(" ")
}

/// The 6-digit code `"ddd ddd"` both sides of a device approval show; the same for `(a, b)` and
/// `(b, a)`.
pub fn short_code(a: &PublicKeys, b: &PublicKeys) -> String {
    let (a, b) = (a.to_bytes(), b.to_bytes());
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut h = Sha256::new();
    h.update(LABEL_SHORT_CODE);
    h.update(lo);
    h.update(hi);
    let digest: [u8; 32] = h.finalize().into();
    let mut first = [0u8; 8];
    first.copy_from_slice(digest.get(..8).unwrap_or(&[0u8; 8]));
    let n = u64::from_be_bytes(first) % 1_000_000;
    format!("{:03} {:03}", n / 1000, n % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::KeyPair;
    use crate::secret::Seed;

    fn keys(b: u8) -> PublicKeys {
        KeyPair::from_seed(&Seed::from_array([b; 32]))
            .unwrap()
            .public()
    }

    #[test]
    fn phrase_matches_an_independent_bit_reading() {
        let k = keys(1);
        let fp = k.fingerprint();
        // Read the bits one by one as a string of '0'/'1'.
        let bitstring: String = fp.iter().map(|b| format!("{b:08b}")).collect();
        let list = bip39::Language::English.word_list();
        let expected: Vec<&str> = (0..8)
            .map(|i| list[usize::from_str_radix(&bitstring[i * 11..i * 11 + 11], 2).unwrap()])
            .collect();
        let phrase = fingerprint_phrase(&k);
        assert_eq!(phrase, expected.join(" "));
        assert_eq!(phrase.split(' ').count(), FINGERPRINT_WORDS);
        assert!(phrase.split(' ').all(|w| list.contains(&w)));
        assert_eq!(fingerprint_phrase(&k), phrase);
    }

    #[test]
    fn different_keys_give_different_phrases() {
        let phrases: Vec<String> = (0..64).map(|b| fingerprint_phrase(&keys(b))).collect();
        for (i, a) in phrases.iter().enumerate() {
            for b in &phrases[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Changing only the encryption half changes the phrase.
        let (a, b) = (keys(1), keys(2));
        let mixed = PublicKeys::from_parts(*a.signing(), *b.encryption()).unwrap();
        assert_ne!(fingerprint_phrase(&mixed), fingerprint_phrase(&a));
    }

    #[test]
    fn approval_code_binds_identity_device_and_nonce() {
        let (id, dev) = (keys(1), keys(2));
        let nonce = [7u8; 32];
        let code = approval_code(&id, &dev, &nonce);
        // independent computation
        let mut input = b"coffer.approval-code.v1".to_vec();
        input.extend_from_slice(&id.to_bytes());
        input.extend_from_slice(&dev.to_bytes());
        input.extend_from_slice(&nonce);
        let d = Sha256::digest(&input);
        let n = u64::from_be_bytes(d[..8].try_into().unwrap()) % 1_000_000;
        assert_eq!(code, format!("{:03} {:03}", n / 1000, n % 1000));
        // every input moves it (these fixed inputs were checked to differ)
        assert_ne!(code, approval_code(&id, &keys(3), &nonce));
        assert_ne!(code, approval_code(&keys(4), &dev, &nonce));
        assert_ne!(code, approval_code(&id, &dev, &[8u8; 32]));
        assert_ne!(code, approval_code(&dev, &id, &nonce));
    }

    #[test]
    fn short_code_is_order_independent_and_formatted() {
        let (a, b) = (keys(1), keys(2));
        let code = short_code(&a, &b);
        assert_eq!(code, short_code(&b, &a));
        assert_eq!(code.len(), 7);
        assert_eq!(code.as_bytes()[3], b' ');
        assert!(
            code.chars()
                .filter(|c| *c != ' ')
                .all(|c| c.is_ascii_digit())
        );
        // Known answer from an independent computation.
        let (lo, hi) = if a.to_bytes() < b.to_bytes() {
            (a, b)
        } else {
            (b, a)
        };
        let mut input = b"coffer.shortcode.v1".to_vec();
        input.extend_from_slice(&lo.to_bytes());
        input.extend_from_slice(&hi.to_bytes());
        let d = Sha256::digest(&input);
        let n = u64::from_be_bytes(d[..8].try_into().unwrap()) % 1_000_000;
        assert_eq!(code.replace(' ', ""), format!("{n:06}"));
    }

    #[test]
    fn short_codes_differ_between_pairs() {
        let (a, b, c) = (keys(1), keys(2), keys(3));
        let codes = [short_code(&a, &b), short_code(&a, &c), short_code(&b, &c)];
        assert_ne!(codes[0], codes[1]);
        assert_ne!(codes[0], codes[2]);
        assert_ne!(codes[1], codes[2]);
    }
}
