//! A bounds-checked reader for the binary formats of this crate. Every read either returns the
//! bytes or a [`CryptoError::Truncated`] naming the offset; nothing here can panic.

use crate::error::{CryptoError, Result};

/// Reads a byte slice front to back.
pub(crate) struct Reader<'a> {
    what: &'static str,
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `input`, naming `what` in its errors.
    pub(crate) fn new(what: &'static str, input: &'a [u8]) -> Self {
        Self {
            what,
            input,
            pos: 0,
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or(&[])
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(CryptoError::Truncated {
            what: self.what,
            at: self.input.len(),
            needed: usize::MAX,
        })?;
        match self.input.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(CryptoError::Truncated {
                what: self.what,
                at: self.input.len(),
                needed: end,
            }),
        }
    }

    /// Takes a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Takes one byte.
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// Takes a big-endian u16.
    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Takes a big-endian u32.
    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Takes a big-endian u64.
    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.pos == self.input.len() {
            Ok(())
        } else {
            Err(CryptoError::Malformed {
                what: self.what,
                reason: "trailing bytes",
            })
        }
    }
}
