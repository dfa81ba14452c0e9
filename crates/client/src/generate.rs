//! Password and passphrase generation (`coffer generate`, `coffer item create --generate`).
//!
//! Pure functions: the only input from outside is the operating system's CSPRNG
//! ([`coffer_crypto::secret::fill_random`]). Every random choice is uniform by rejection sampling
//! (no modulo bias).
//!
//! - [`generate_password`]: a password drawn **uniformly among all strings** of the policy's
//!   length over the chosen character classes that contain at least one character of every
//!   chosen class (draw, reject if a class is missing). Its strength is
//!   [`password_entropy_bits`] = log2 of the number of such strings, computed exactly by
//!   inclusion–exclusion.
//! - [`generate_passphrase`]: words drawn uniformly from the EFF large word list (7776 words,
//!   `data/eff_large_wordlist.txt`, CC BY 3.0 US, see `data/README.md`), optionally capitalised,
//!   with one random digit appended to one random word. Its strength is
//!   [`passphrase_entropy_bits`].
//!
//! Results are [`Zeroizing<String>`] whose buffer is allocated once at its final size, so no
//! copy of the secret is left behind by a reallocation.

use std::sync::LazyLock;

use thiserror::Error;
use zeroize::{Zeroize as _, Zeroizing};

/// Shortest password length accepted (still at least one character per chosen class).
pub const MIN_PASSWORD_LENGTH: usize = 1;
/// Longest password length accepted.
pub const MAX_PASSWORD_LENGTH: usize = 1024;
/// Fewest words in a passphrase.
pub const MIN_WORDS: usize = 3;
/// Most words in a passphrase.
pub const MAX_WORDS: usize = 64;
/// Longest passphrase separator accepted, in characters.
pub const MAX_SEPARATOR_CHARS: usize = 16;
/// Default password length.
pub const DEFAULT_LENGTH: usize = 20;
/// Default number of passphrase words (6 × 12.9 ≈ 77.5 bits).
pub const DEFAULT_WORDS: usize = 6;

/// Lower-case letters.
pub const LOWERCASE: &str = "abcdefghijklmnopqrstuvwxyz";
/// Upper-case letters.
pub const UPPERCASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Digits.
pub const DIGITS: &str = "0123456789";
/// Symbols: printable ASCII punctuation without quotes, backquote, backslash and space, which
/// trouble shells and configuration files.
pub const SYMBOLS: &str = "!#$%&()*+,-./:;<=>?@[]^_{|}~";
/// Characters easily confused with one another in many fonts, left out when
/// [`PasswordPolicy::exclude_lookalikes`] is set.
pub const LOOKALIKES: &str = "Il1|O0o";

/// The EFF large word list, one word per line.
const EFF_LARGE_WORDLIST: &str = include_str!("../data/eff_large_wordlist.txt");

static WORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    EFF_LARGE_WORDLIST
        .lines()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect()
});

/// The passphrase word list (the EFF large word list, 7776 words).
pub fn wordlist() -> &'static [&'static str] {
    WORDS.as_slice()
}

/// Why a password or passphrase could not be generated.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GenerateError {
    /// Every character class was turned off.
    #[error("no character class left: allow at least one of lowercase, uppercase, digits, symbols")]
    NoClass,
    /// The length is outside the accepted range.
    #[error(
        "password length {length} is out of range: it must be between {min} (one character of \
         each chosen class) and {max}"
    )]
    Length {
        /// The length asked for.
        length: usize,
        /// The least length accepted for the chosen classes.
        min: usize,
        /// The greatest length accepted.
        max: usize,
    },
    /// The number of words is outside the accepted range.
    #[error("a passphrase has between {min} and {max} words, not {words}")]
    Words {
        /// The number asked for.
        words: usize,
        /// Fewest words.
        min: usize,
        /// Most words.
        max: usize,
    },
    /// The separator is unusable.
    #[error("passphrase separator rejected: {0}")]
    Separator(&'static str),
    /// The word list is not what it should be (a build problem).
    #[error("the passphrase word list is damaged ({0} words instead of 7776)")]
    WordList(usize),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
    /// Drawing kept missing a class (astronomically unlikely with a working RNG).
    #[error("could not draw a password containing every chosen class; try a longer length")]
    Exhausted,
}

/// What a generated password is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Number of characters.
    pub length: usize,
    /// Use (and require at least one of) `a`–`z`.
    pub lowercase: bool,
    /// Use (and require at least one of) `A`–`Z`.
    pub uppercase: bool,
    /// Use (and require at least one of) `0`–`9`.
    pub digits: bool,
    /// Use (and require at least one of) [`SYMBOLS`].
    pub symbols: bool,
    /// Leave out the [`LOOKALIKES`] (`I l 1 | O 0 o`).
    pub exclude_lookalikes: bool,
}

impl Default for PasswordPolicy {
    /// 20 characters from all four classes, look-alikes excluded (83 characters, ≈ 127 bits).
    fn default() -> Self {
        Self {
            length: DEFAULT_LENGTH,
            lowercase: true,
            uppercase: true,
            digits: true,
            symbols: true,
            exclude_lookalikes: true,
        }
    }
}

impl PasswordPolicy {
    /// The characters of each chosen class, look-alikes removed if asked (each class non-empty).
    pub fn classes(&self) -> Vec<Vec<u8>> {
        let chosen = [
            (self.lowercase, LOWERCASE),
            (self.uppercase, UPPERCASE),
            (self.digits, DIGITS),
            (self.symbols, SYMBOLS),
        ];
        chosen
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, set)| {
                set.bytes()
                    .filter(|b| !(self.exclude_lookalikes && LOOKALIKES.as_bytes().contains(b)))
                    .collect::<Vec<u8>>()
            })
            .filter(|c| !c.is_empty())
            .collect()
    }

    /// Checks the policy; returns the classes.
    fn check(&self) -> Result<Vec<Vec<u8>>, GenerateError> {
        let classes = self.classes();
        if classes.is_empty() {
            return Err(GenerateError::NoClass);
        }
        let min = classes.len().max(MIN_PASSWORD_LENGTH);
        if self.length < min || self.length > MAX_PASSWORD_LENGTH {
            return Err(GenerateError::Length {
                length: self.length,
                min,
                max: MAX_PASSWORD_LENGTH,
            });
        }
        Ok(classes)
    }
}

/// A buffered reader of the OS CSPRNG giving unbiased integers.
struct OsRandom {
    buf: [u8; 256],
    pos: usize,
}

impl OsRandom {
    fn new() -> Self {
        Self {
            buf: [0; 256],
            pos: 256,
        }
    }

    fn next_u32(&mut self) -> Result<u32, GenerateError> {
        if self.pos + 4 > self.buf.len() {
            coffer_crypto::secret::fill_random(&mut self.buf).map_err(|_| GenerateError::Rng)?;
            self.pos = 0;
        }
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.buf[self.pos..self.pos + 4]);
        self.buf[self.pos..self.pos + 4].zeroize();
        self.pos += 4;
        Ok(u32::from_le_bytes(b))
    }

    /// A uniform integer in `0..n` (`n` ≥ 1), by rejection of the top partial range.
    fn below(&mut self, n: usize) -> Result<usize, GenerateError> {
        let n = u64::try_from(n).map_err(|_| GenerateError::Rng)?;
        if n <= 1 {
            return Ok(0);
        }
        let range = 1u64 << 32;
        // the largest multiple of n that fits in 2^32: values at or above it are rejected
        let limit = range - range % n;
        loop {
            let x = u64::from(self.next_u32()?);
            if x < limit {
                return usize::try_from(x % n).map_err(|_| GenerateError::Rng);
            }
        }
    }
}

impl Drop for OsRandom {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// A random password following `policy`, drawn uniformly among the strings of `policy.length`
/// characters over the chosen classes that contain every chosen class.
pub fn generate_password(policy: &PasswordPolicy) -> Result<Zeroizing<String>, GenerateError> {
    let classes = policy.check()?;
    let pool: Vec<u8> = classes.iter().flatten().copied().collect();
    let mut rng = OsRandom::new();
    let mut out = Zeroizing::new(vec![0u8; policy.length]);
    // Acceptance is ≥ 6% in the worst case (length = number of classes), ~1 for usual lengths.
    for _ in 0..10_000 {
        for slot in out.iter_mut() {
            *slot = pool[rng.below(pool.len())?];
        }
        if classes
            .iter()
            .all(|class| out.iter().any(|c| class.contains(c)))
        {
            let mut s = Zeroizing::new(String::with_capacity(policy.length));
            s.extend(out.iter().map(|&b| char::from(b)));
            return Ok(s);
        }
    }
    Err(GenerateError::Exhausted)
}

/// The strength of a password made by [`generate_password`] with `policy`: log2 of the number
/// of strings it is drawn from (every chosen class present), exactly, by inclusion–exclusion.
pub fn password_entropy_bits(policy: &PasswordPolicy) -> Result<f64, GenerateError> {
    let classes = policy.check()?;
    let sizes: Vec<f64> = classes.iter().map(|c| c.len() as f64).collect();
    let n: f64 = sizes.iter().sum();
    let len = i32::try_from(policy.length).map_err(|_| GenerateError::Length {
        length: policy.length,
        min: classes.len(),
        max: MAX_PASSWORD_LENGTH,
    })?;
    // count = N^L · Σ_{S ⊆ classes} (−1)^{|S|} (1 − |S-chars|/N)^L
    let mut fraction = 0.0f64;
    for mask in 0u32..(1u32 << sizes.len()) {
        let missing: f64 = sizes
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, s)| s)
            .sum();
        let term = ((n - missing) / n).powi(len);
        if mask.count_ones() % 2 == 0 {
            fraction += term;
        } else {
            fraction -= term;
        }
    }
    Ok(f64::from(len) * n.log2() + fraction.log2())
}

/// Checks the passphrase parameters.
fn check_passphrase(words: usize, separator: &str) -> Result<(), GenerateError> {
    if !(MIN_WORDS..=MAX_WORDS).contains(&words) {
        return Err(GenerateError::Words {
            words,
            min: MIN_WORDS,
            max: MAX_WORDS,
        });
    }
    if separator.chars().count() > MAX_SEPARATOR_CHARS {
        return Err(GenerateError::Separator("longer than 16 characters"));
    }
    if separator.chars().any(char::is_control) {
        return Err(GenerateError::Separator("contains a control character"));
    }
    let list = wordlist().len();
    if list != 7776 {
        return Err(GenerateError::WordList(list));
    }
    Ok(())
}

/// A passphrase of `words` words of the EFF large list joined by `separator`; `capitalize`
/// upper-cases each word's first letter; `number` appends one random digit to one random word.
pub fn generate_passphrase(
    words: usize,
    separator: &str,
    capitalize: bool,
    number: bool,
) -> Result<Zeroizing<String>, GenerateError> {
    check_passphrase(words, separator)?;
    let list = wordlist();
    let mut rng = OsRandom::new();
    let chosen: Vec<&str> = (0..words)
        .map(|_| rng.below(list.len()).map(|i| list[i]))
        .collect::<Result<_, _>>()?;
    let digit_at = if number {
        Some((rng.below(words)?, rng.below(10)?))
    } else {
        None
    };
    let capacity = chosen.iter().map(|w| w.len()).sum::<usize>()
        + separator.len() * (words - 1)
        + usize::from(number);
    let mut out = Zeroizing::new(String::with_capacity(capacity));
    for (i, word) in chosen.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        let mut chars = word.chars();
        if capitalize && let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.push_str(chars.as_str());
        } else {
            out.push_str(word);
        }
        if let Some((at, digit)) = digit_at
            && at == i
        {
            out.push(char::from(
                b'0' + u8::try_from(digit).map_err(|_| GenerateError::Rng)?,
            ));
        }
    }
    Ok(out)
}

/// The strength of a passphrase of `words` words: `words` × log2(7776) ≈ 12.925 bits each, plus
/// log2(10) for the digit when `number` is set (its position is not counted, a conservative
/// figure). Capitalisation adds nothing: it is not random.
pub fn passphrase_entropy_bits(words: usize, number: bool) -> f64 {
    let per_word = (wordlist().len().max(1) as f64).log2();
    let digit = if number { 10f64.log2() } else { 0.0 };
    words as f64 * per_word + digit
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::{HashMap, HashSet};

    use proptest::prelude::*;

    use super::*;

    fn class_of(c: char) -> usize {
        if c.is_ascii_lowercase() {
            0
        } else if c.is_ascii_uppercase() {
            1
        } else if c.is_ascii_digit() {
            2
        } else {
            3
        }
    }

    #[test]
    fn wordlist_is_the_eff_large_list() {
        let list = wordlist();
        assert_eq!(list.len(), 7776);
        let unique: HashSet<&str> = list.iter().copied().collect();
        assert_eq!(unique.len(), 7776);
        assert_eq!(list[0], "abacus");
        assert_eq!(list[7775], "zoom");
        assert!(list.iter().all(|w| (3..=9).contains(&w.len())
            && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')));
        assert!(list.windows(2).all(|w| w[0] < w[1]), "sorted");
    }

    #[test]
    fn default_policy() {
        let p = PasswordPolicy::default();
        assert_eq!(p.length, 20);
        assert!(p.lowercase && p.uppercase && p.digits && p.symbols && p.exclude_lookalikes);
        let pw = generate_password(&p).unwrap();
        assert_eq!(pw.len(), 20);
        let bits = password_entropy_bits(&p).unwrap();
        // 24 + 24 + 8 + 27 = 83 characters: 20 · log2(83) ≈ 127.5, minus a little for the
        // every-class rule
        let pool: usize = p.classes().iter().map(Vec::len).sum();
        assert_eq!(pool, 83);
        let max = 20.0 * 83f64.log2();
        assert!(bits > max - 1.0 && bits < max, "{bits}");
    }

    #[test]
    fn errors_are_clear() {
        let none = PasswordPolicy {
            lowercase: false,
            uppercase: false,
            digits: false,
            symbols: false,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            generate_password(&none).unwrap_err(),
            GenerateError::NoClass
        );
        let short = PasswordPolicy {
            length: 3,
            ..PasswordPolicy::default()
        };
        let e = generate_password(&short).unwrap_err();
        assert_eq!(
            e,
            GenerateError::Length {
                length: 3,
                min: 4,
                max: 1024
            }
        );
        assert!(e.to_string().contains("between 4"), "{e}");
        let long = PasswordPolicy {
            length: 1025,
            ..PasswordPolicy::default()
        };
        assert!(matches!(
            generate_password(&long),
            Err(GenerateError::Length { length: 1025, .. })
        ));
        assert!(password_entropy_bits(&long).is_err());
        assert!(matches!(
            generate_passphrase(2, "-", false, false),
            Err(GenerateError::Words { words: 2, .. })
        ));
        assert!(matches!(
            generate_passphrase(65, "-", false, false),
            Err(GenerateError::Words { .. })
        ));
        assert!(matches!(
            generate_passphrase(5, "\n", false, false),
            Err(GenerateError::Separator(_))
        ));
        assert!(matches!(
            generate_passphrase(5, &"x".repeat(17), false, false),
            Err(GenerateError::Separator(_))
        ));
    }

    #[test]
    fn shortest_password_has_one_of_each_class() {
        let p = PasswordPolicy {
            length: 4,
            ..PasswordPolicy::default()
        };
        for _ in 0..200 {
            let pw = generate_password(&p).unwrap();
            let mut seen: Vec<usize> = pw.chars().map(class_of).collect();
            seen.sort_unstable();
            assert_eq!(seen, vec![0, 1, 2, 3], "{}", pw.as_str());
        }
    }

    #[test]
    fn entropy_matches_a_brute_force_count() {
        // digits and symbols only, length 3: count strings with at least one of each by hand
        let p = PasswordPolicy {
            length: 3,
            lowercase: false,
            uppercase: false,
            digits: true,
            symbols: true,
            exclude_lookalikes: true,
        };
        let classes = p.classes();
        let d = classes[0].len() as f64; // 8
        let s = classes[1].len() as f64; // 27
        assert_eq!(d, 8.0);
        assert_eq!(s, 27.0);
        let count = (d + s).powi(3) - d.powi(3) - s.powi(3);
        let bits = password_entropy_bits(&p).unwrap();
        assert!(
            (bits - count.log2()).abs() < 1e-9,
            "{bits} vs {}",
            count.log2()
        );
        // one class: exactly L · log2(n)
        let lower = PasswordPolicy {
            length: 10,
            lowercase: true,
            uppercase: false,
            digits: false,
            symbols: false,
            exclude_lookalikes: false,
        };
        let bits = password_entropy_bits(&lower).unwrap();
        assert!((bits - 10.0 * 26f64.log2()).abs() < 1e-9);
    }

    #[test]
    fn passphrase_shape_and_entropy() {
        let list: HashSet<&str> = wordlist().iter().copied().collect();
        let p = generate_passphrase(6, " ", false, false).unwrap();
        let words: Vec<&str> = p.split(' ').collect();
        assert_eq!(words.len(), 6);
        assert!(words.iter().all(|w| list.contains(w)), "{}", p.as_str());
        assert!((passphrase_entropy_bits(6, false) - 77.549).abs() < 0.01);
        assert!((passphrase_entropy_bits(6, true) - 80.871).abs() < 0.01);

        for _ in 0..50 {
            let p = generate_passphrase(4, ".", true, true).unwrap();
            let words: Vec<&str> = p.split('.').collect();
            assert_eq!(words.len(), 4);
            let digits: usize = p.chars().filter(char::is_ascii_digit).count();
            assert_eq!(digits, 1, "{}", p.as_str());
            for w in words {
                assert!(w.chars().next().unwrap().is_ascii_uppercase());
                let bare = w
                    .trim_end_matches(|c: char| c.is_ascii_digit())
                    .to_lowercase();
                assert!(list.contains(bare.as_str()), "{w}");
            }
        }
        // the empty separator is allowed
        let p = generate_passphrase(3, "", false, false).unwrap();
        assert!(p.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
    }

    /// Pearson's chi-square over the pool, summed over many passwords: a grossly biased draw
    /// (modulo bias on a small range, a stuck character, a skipped one) fails.
    #[test]
    fn character_distribution_is_not_grossly_biased() {
        let p = PasswordPolicy {
            length: 64,
            lowercase: true,
            uppercase: true,
            digits: true,
            symbols: true,
            exclude_lookalikes: false,
        };
        let pool: Vec<u8> = p.classes().concat();
        let mut counts: HashMap<u8, u64> = HashMap::new();
        let n_pw = 2000;
        for _ in 0..n_pw {
            for b in generate_password(&p).unwrap().bytes() {
                *counts.entry(b).or_default() += 1;
            }
        }
        assert_eq!(counts.len(), pool.len(), "every character appears");
        let total = (n_pw * 64) as f64;
        let expected = total / pool.len() as f64;
        let chi2: f64 = pool
            .iter()
            .map(|c| {
                let o = *counts.get(c).unwrap_or(&0) as f64;
                (o - expected).powi(2) / expected
            })
            .sum();
        // 89 degrees of freedom: mean 89, sd ≈ 13.3; 200 is beyond 8 sd
        assert!(chi2 < 200.0, "chi-square {chi2}");
    }

    #[test]
    fn passphrase_words_are_not_grossly_biased() {
        // bucket word indices into 16 bins
        let index: HashMap<&str, usize> = wordlist()
            .iter()
            .enumerate()
            .map(|(i, w)| (*w, i))
            .collect();
        let mut bins = [0u64; 16];
        let n = 1000;
        for _ in 0..n {
            let p = generate_passphrase(8, " ", false, false).unwrap();
            for w in p.split(' ') {
                bins[index[w] * 16 / 7776] += 1;
            }
        }
        let expected = (n * 8) as f64 / 16.0;
        let chi2: f64 = bins
            .iter()
            .map(|&o| (o as f64 - expected).powi(2) / expected)
            .sum();
        // 15 degrees of freedom: mean 15; 60 is far in the tail
        assert!(chi2 < 60.0, "chi-square {chi2}");
    }

    #[test]
    fn below_is_in_range_and_covers_small_ranges() {
        let mut rng = OsRandom::new();
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            seen[rng.below(3).unwrap()] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        assert_eq!(rng.below(1).unwrap(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn every_class_appears_lookalikes_never(
            length in 4usize..200,
            lowercase: bool,
            uppercase: bool,
            digits: bool,
            symbols: bool,
            exclude_lookalikes: bool,
        ) {
            let p = PasswordPolicy { length, lowercase, uppercase, digits, symbols, exclude_lookalikes };
            let chosen = [lowercase, uppercase, digits, symbols];
            if !chosen.iter().any(|c| *c) {
                prop_assert_eq!(generate_password(&p).unwrap_err(), GenerateError::NoClass);
                return Ok(());
            }
            let pw = generate_password(&p).unwrap();
            prop_assert_eq!(pw.len(), length);
            prop_assert_eq!(pw.chars().count(), length);
            let present: HashSet<usize> = pw.chars().map(class_of).collect();
            for (i, on) in chosen.iter().enumerate() {
                prop_assert_eq!(present.contains(&i), *on, "class {} in {:?}", i, pw.as_str());
            }
            for c in pw.chars() {
                let allowed = match class_of(c) {
                    0 => LOWERCASE.contains(c),
                    1 => UPPERCASE.contains(c),
                    2 => DIGITS.contains(c),
                    _ => SYMBOLS.contains(c),
                };
                prop_assert!(allowed, "unexpected {:?}", c);
                if exclude_lookalikes {
                    prop_assert!(!LOOKALIKES.contains(c), "look-alike {:?}", c);
                }
            }
            let bits = password_entropy_bits(&p).unwrap();
            let pool: usize = p.classes().iter().map(Vec::len).sum();
            prop_assert!(bits <= length as f64 * (pool as f64).log2() + 1e-9);
            prop_assert!(bits > 0.0);
        }

        #[test]
        fn lengths_below_the_classes_are_refused(length in 0usize..4) {
            let p = PasswordPolicy { length, ..PasswordPolicy::default() };
            let refused = matches!(generate_password(&p), Err(GenerateError::Length { .. }));
            prop_assert!(refused);
        }

        #[test]
        fn passphrases_have_the_asked_words(words in 3usize..20, capitalize: bool, number: bool) {
            let p = generate_passphrase(words, "-", capitalize, number).unwrap();
            // hyphenated list words (t-shirt…) add parts, never remove them
            prop_assert!(p.split('-').count() >= words);
            prop_assert_eq!(p.chars().filter(char::is_ascii_digit).count(), usize::from(number));
        }
    }
}
