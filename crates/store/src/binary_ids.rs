//! Binary identifiers shared by the two stores: [`ValuePointer`] (the random 32-byte key of a
//! value, the only link between the main store and the value store) and [`DataKeyId`] (the
//! 16-byte id of a server data key).

use std::fmt;

use rand::Rng as _;

use crate::StoreError;

/// Writes bytes as lowercase hex.
fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// Parses exactly `N` bytes of hex.
fn parse_hex<const N: usize>(s: &str, what: &str) -> Result<[u8; N], StoreError> {
    let bad = || StoreError::Invalid(format!("{what} must be {} hex digits", N * 2));
    if s.len() != N * 2 || !s.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// The random key of a stored value. It appears in the main store (in item metadata) and in
/// the value store, and says nothing about the value or its owner.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValuePointer([u8; 32]);

impl ValuePointer {
    /// A fresh pointer from the operating system's random generator.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps existing bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex digits (the `Display` form).
    pub fn from_hex(s: &str) -> Result<Self, StoreError> {
        parse_hex(s, "value pointer").map(Self)
    }
}

impl fmt::Display for ValuePointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for ValuePointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ValuePointer(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

/// The id of a server data key (DESIGN §3, server-side layer). Every stored value records the
/// data key it is encrypted under, so values can be re-wrapped and keys retired.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataKeyId([u8; 16]);

impl DataKeyId {
    /// A fresh random id.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps existing bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses 32 hex digits (the `Display` form).
    pub fn from_hex(s: &str) -> Result<Self, StoreError> {
        parse_hex(s, "data key id").map(Self)
    }
}

impl fmt::Display for DataKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for DataKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKeyId(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let p = ValuePointer::random();
        let s = p.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(ValuePointer::from_hex(&s).unwrap(), p);
        let k = DataKeyId::from_bytes([0xab; 16]);
        assert_eq!(k.to_string(), "ab".repeat(16));
        assert_eq!(DataKeyId::from_hex(&k.to_string()).unwrap(), k);
        assert!(DataKeyId::from_hex("zz").is_err());
        assert!(DataKeyId::from_hex(&"g".repeat(32)).is_err());
    }

    #[test]
    fn random_values_differ() {
        assert_ne!(ValuePointer::random(), ValuePointer::random());
        assert_ne!(DataKeyId::random(), DataKeyId::random());
    }
}
