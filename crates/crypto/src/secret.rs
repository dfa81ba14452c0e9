//! Secret types: key material, seeds, passwords and shares.
//!
//! Every type here zeroizes on drop, is neither `Clone` nor `Copy` nor `Serialize`, and prints as
//! `Name(***)` in `Debug`. Bytes leave only through [`expose_secret`](SecretBytes::expose_secret),
//! whose name shows at the call site.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{CryptoError, Result};

/// Fills `buf` from the operating system's CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| CryptoError::Rng)
}

/// Returns `N` random bytes (not secret; use [`SecretBytes::random`] for key material).
pub fn random_array<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    fill_random(&mut out)?;
    Ok(out)
}

/// A fixed-size secret: a key, a seed, a share.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes<const N: usize>(Box<[u8; N]>);

impl<const N: usize> SecretBytes<N> {
    /// Wraps existing bytes; the caller's copy should be zeroized by the caller.
    pub fn from_array(bytes: [u8; N]) -> Self {
        let mut b = bytes;
        let out = Self(Box::new(b));
        b.zeroize();
        out
    }

    /// Copies from a slice of exactly `N` bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != N {
            return Err(CryptoError::Length("secret"));
        }
        let mut out = Self(Box::new([0u8; N]));
        out.0.copy_from_slice(bytes);
        Ok(out)
    }

    /// Fresh random bytes from the OS CSPRNG.
    pub fn random() -> Result<Self> {
        let mut out = Self(Box::new([0u8; N]));
        fill_random(out.0.as_mut_slice())?;
        Ok(out)
    }

    /// The secret bytes. The name is loud on purpose.
    pub fn expose_secret(&self) -> &[u8; N] {
        &self.0
    }

    /// Mutable access, for filling in place without stack copies.
    pub fn expose_secret_mut(&mut self) -> &mut [u8; N] {
        &mut self.0
    }

    /// A second, independent copy (explicit: secret types are not `Clone`).
    pub fn duplicate(&self) -> Self {
        Self(Box::new(*self.0))
    }
}

impl<const N: usize> ConstantTimeEq for SecretBytes<N> {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.as_slice().ct_eq(other.0.as_slice())
    }
}

impl<const N: usize> PartialEq for SecretBytes<N> {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.ct_eq(other))
    }
}
impl<const N: usize> Eq for SecretBytes<N> {}

impl<const N: usize> fmt::Debug for SecretBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes<{N}>(***)")
    }
}

/// A variable-length secret: decrypted plaintext, a password, an export key.
#[derive(Zeroize, ZeroizeOnDrop, Default)]
pub struct SecretVec(Vec<u8>);

impl SecretVec {
    /// Takes ownership of bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies from a slice.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The secret bytes.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes the bytes out in a zeroizing wrapper.
    pub fn into_zeroizing(mut self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(core::mem::take(&mut self.0))
    }

    /// A second, independent copy.
    pub fn duplicate(&self) -> Self {
        Self(self.0.clone())
    }
}

impl PartialEq for SecretVec {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.as_slice().ct_eq(other.0.as_slice()))
    }
}
impl Eq for SecretVec {}

impl fmt::Debug for SecretVec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretVec(***)")
    }
}

/// A password or passphrase typed by a person, kept as UTF-8.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Password(String);

impl Password {
    /// Takes ownership of the string.
    pub fn new(s: String) -> Self {
        Self(s)
    }

    /// The password.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// 32 bytes of secret input keying material: a device local secret, a server share.
pub type Share = SecretBytes<32>;
/// A 32-byte seed from which key pairs are derived.
pub type Seed = SecretBytes<32>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let k = SecretBytes::<32>::from_array([0x41; 32]);
        let s = format!("{k:?}");
        assert_eq!(s, "SecretBytes<32>(***)");
        let v = SecretVec::from_slice(b"hunter2");
        assert!(!format!("{v:?}").contains("hunter2"));
        let p = Password::new("correct horse".into());
        assert!(!format!("{p:?}{p}").contains("horse"));
    }

    #[test]
    fn equality_is_by_value() {
        let a = SecretBytes::<32>::from_array([7; 32]);
        assert_eq!(a, a.duplicate());
        assert_ne!(a, SecretBytes::<32>::from_array([8; 32]));
        assert!(SecretBytes::<32>::from_slice(&[0; 31]).is_err());
    }

    #[test]
    fn random_keys_differ() {
        let a = SecretBytes::<32>::random().unwrap();
        let b = SecretBytes::<32>::random().unwrap();
        assert_ne!(a, b);
    }
}
