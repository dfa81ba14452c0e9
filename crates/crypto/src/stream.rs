//! Streamed, chunked AEAD for attachments (DESIGN §2): the STREAM construction of
//! Hoang–Reyhanitabar–Rogaway–Vizár ("Online authenticated-encryption and its nonce-reuse
//! misuse-resistance", CRYPTO 2015) over XChaCha20-Poly1305, in constant memory.
//!
//! This module owns the stream format, its header parser, the chunk-level
//! [`StreamEncryptor`]/[`StreamDecryptor`] and the [`Read`]→[`Write`] drivers
//! [`encrypt_stream`]/[`decrypt_stream`].
//!
//! # Format, version 1 (see `docs/protocol.md`, "Stream")
//!
//! ```text
//! offset  size  field
//! 0       1     version = 0x01
//! 1       1     algorithm = 0x01 (XChaCha20-Poly1305; no other value is defined)
//! 2       4     chunk size, u32 big-endian = 65536 (the only value accepted on read)
//! 6       16    key id of the file key
//! 22      19    nonce prefix, random per stream
//! 41      32    key commitment of the file key (`SymmetricKey::commitment()`)
//! 73            chunks: chunk_0 ‖ chunk_1 ‖ … ‖ chunk_n
//! ```
//!
//! Each chunk is `ciphertext ‖ tag:16`. Every chunk but the last carries exactly 65536 bytes of
//! plaintext (65552 bytes on the wire); the last carries 0..=65536. The encoding is canonical:
//! the last chunk is empty only when the whole plaintext is empty (an empty file is one empty
//! final chunk), so a plaintext whose length is a non-zero multiple of 65536 ends with a *full*
//! final chunk. A stream has at most 2^32 chunks (256 TiB).
//!
//! - **Nonce** of chunk `i` (24 bytes): `nonce_prefix:19 ‖ i:u32 big-endian ‖ last:u8`, with
//!   `last` = `0x01` for the final chunk and `0x00` for every other one.
//! - **Key**: `HKDF-SHA256(salt = "coffer.subkey.v1", ikm = file key, info = 0x0010 ‖
//!   "coffer.stream.v1" ‖ header[0..73])`, i.e. the secret of
//!   `file_key.derive_subkey("coffer.stream.v1", header)`. Each stream therefore has its own
//!   AEAD key (the random prefix is in the info), distinct from every envelope key.
//! - **Associated data** of every chunk: `header[0..73] ‖ Context::encode() ‖ 0x00…`, zero-padded
//!   to the next multiple of 64 bytes, so a chunk cannot move to another stream, header or
//!   context. The context encoding is self-delimiting, so the padding is unambiguous; it exists
//!   because `poly1305` 0.9's AVX2 backend leaves its 4-block fast path for the whole message when
//!   the associated data is not a multiple of 4 blocks (measured: +17 % per chunk).
//!
//! # What opening checks
//!
//! Key id and commitment are compared in constant time with the caller's key; the result is
//! folded into every chunk's tag check, so a wrong key, a wrong commitment, a wrong context,
//! a dropped, reordered or duplicated chunk and any altered byte all give
//! [`CryptoError::OpenFailed`]. The final chunk is the one that ends the input (read with one
//! byte of look-ahead). Framing faults are [`CryptoError::Stream`]: input that ends on a chunk
//! boundary without a final chunk, or after the header, or inside a tag ("truncated"); a full
//! final chunk followed by more bytes ("extended"); a chunk counter that would pass 2^32. A cut
//! inside a chunk, or bytes after a short final chunk, make the last chunk fail its tag:
//! `OpenFailed`. Header faults are `Truncated`, `UnknownVersion`, `UnknownAlgorithm` or
//! `Malformed`.
//!
//! # Plaintext is released chunk by chunk
//!
//! [`decrypt_stream`] writes each chunk's plaintext as soon as that chunk authenticates, before
//! it knows whether the stream as a whole is intact (that is what constant memory costs). A
//! caller must therefore write to a temporary file and keep it (rename it into place) **only
//! when `decrypt_stream` returns `Ok`**; on `Err` the partial output must be deleted unread.

use std::io::{ErrorKind, Read, Write};

use chacha20poly1305::aead::array::Array;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::context::Context;
use crate::error::{CryptoError, Result};
use crate::hkdf::{LABEL_SUBKEY_SALT, hkdf_key};
use crate::key::{KeyId, SymmetricKey};
use crate::secret::random_array;

/// The stream format version this build writes and reads.
pub const STREAM_VERSION: u8 = 1;
/// The algorithm code of XChaCha20-Poly1305 STREAM, the only one defined.
pub const STREAM_ALG_XCHACHA20POLY1305: u8 = 1;
/// Plaintext bytes in every chunk but the last.
pub const CHUNK_SIZE: usize = 65536;
/// Length of each chunk's AEAD tag.
pub const TAG_LEN: usize = 16;
/// Wire length of every chunk but the last: `CHUNK_SIZE + TAG_LEN`.
pub const ENCRYPTED_CHUNK_LEN: usize = CHUNK_SIZE + TAG_LEN;
/// Length of the random nonce prefix in the header.
pub const NONCE_PREFIX_LEN: usize = 19;
/// Length of the header: `1 + 1 + 4 + 16 + 19 + 32`.
pub const HEADER_LEN: usize = 2 + 4 + 16 + NONCE_PREFIX_LEN + COMMIT_LEN;
/// HKDF label of the per-stream AEAD key (with [`LABEL_SUBKEY_SALT`] as salt).
pub const LABEL_STREAM: &str = "coffer.stream.v1";

const COMMIT_LEN: usize = 32;
/// `CHUNK_SIZE` as it appears in the header.
const CHUNK_SIZE_U32: u32 = 65536;
/// The associated data is zero-padded to a multiple of this (4 Poly1305 blocks).
const AAD_ALIGN: usize = 64;
const LAST_CHUNK: u8 = 0x01;
const NOT_LAST_CHUNK: u8 = 0x00;

const WHAT_HEADER: &str = "stream header";
const WHAT_CHUNK: &str = "stream chunk";
const TRUNCATED_NO_FINAL: &str = "truncated: input ends without a final chunk";
const TRUNCATED_NO_CHUNKS: &str = "truncated: no chunk after the header";
const TRUNCATED_SHORT_FINAL: &str = "truncated: final chunk is shorter than its tag";
const EXTENDED: &str = "extended: data follows the final chunk";
const COUNTER_OVERFLOW: &str = "too long: chunk counter would pass 2^32";
const EMPTY_FINAL: &str = "non-canonical: empty final chunk after a full one";
const POISONED: &str = "decryptor used after a failed chunk";

/// The parsed 73-byte stream header (format version 1; see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeader {
    key_id: KeyId,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    commitment: [u8; COMMIT_LEN],
}

impl StreamHeader {
    /// A fresh header for `key`, with a random nonce prefix.
    pub fn generate(key: &SymmetricKey) -> Result<Self> {
        Ok(Self {
            key_id: key.id(),
            nonce_prefix: random_array()?,
            commitment: *key.commitment(),
        })
    }

    /// Parses a header that fills `input` exactly. Never panics; every fault is typed:
    /// `Truncated`, `UnknownVersion`, `UnknownAlgorithm`, `Malformed` (chunk size other than
    /// 65536, trailing bytes).
    pub fn parse(input: &[u8]) -> Result<Self> {
        let (header, used) = Self::parse_prefix(input)?;
        if used != input.len() {
            return Err(CryptoError::Malformed {
                what: WHAT_HEADER,
                reason: "trailing bytes",
            });
        }
        Ok(header)
    }

    /// Parses a header at the start of `input`; returns it and the bytes consumed
    /// ([`HEADER_LEN`]). The version and algorithm are checked before the length, so an unknown
    /// version is reported as such even when the input is short.
    pub fn parse_prefix(input: &[u8]) -> Result<(Self, usize)> {
        let mut r = crate::wire::Reader::new(WHAT_HEADER, input);
        let version = r.u8()?;
        if version != STREAM_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: WHAT_HEADER,
                version,
            });
        }
        let alg = r.u8()?;
        if alg != STREAM_ALG_XCHACHA20POLY1305 {
            return Err(CryptoError::UnknownAlgorithm {
                what: WHAT_HEADER,
                alg,
            });
        }
        if r.u32()? != CHUNK_SIZE_U32 {
            return Err(CryptoError::Malformed {
                what: WHAT_HEADER,
                reason: "unsupported chunk size (only 65536 is defined)",
            });
        }
        let key_id = KeyId(r.array()?);
        let nonce_prefix = r.array()?;
        let commitment = r.array()?;
        Ok((
            Self {
                key_id,
                nonce_prefix,
                commitment,
            },
            r.position(),
        ))
    }

    /// The 73-byte wire form.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let fields: [&[u8]; 6] = [
            &[STREAM_VERSION],
            &[STREAM_ALG_XCHACHA20POLY1305],
            &CHUNK_SIZE_U32.to_be_bytes(),
            &self.key_id.0,
            &self.nonce_prefix,
            &self.commitment,
        ];
        let mut rest = out.as_mut_slice();
        for field in fields {
            let (head, tail) = rest.split_at_mut(field.len());
            head.copy_from_slice(field);
            rest = tail;
        }
        out
    }

    /// The id of the file key.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The random nonce prefix.
    pub fn nonce_prefix(&self) -> &[u8; NONCE_PREFIX_LEN] {
        &self.nonce_prefix
    }

    /// The file key's commitment.
    pub fn commitment(&self) -> &[u8; COMMIT_LEN] {
        &self.commitment
    }
}

/// Wire length of a stream carrying `plaintext_len` bytes, or `None` beyond 2^32 chunks.
pub fn encrypted_len(plaintext_len: u64) -> Option<u64> {
    let chunk = CHUNK_SIZE as u64;
    let chunks = plaintext_len.div_ceil(chunk).max(1);
    if chunks > 1u64 << 32 {
        return None;
    }
    (HEADER_LEN as u64)
        .checked_add(plaintext_len)?
        .checked_add(chunks.checked_mul(TAG_LEN as u64)?)
}

/// Plaintext length of a stream whose wire length is `encrypted_len`, or `None` when no
/// well-formed stream has that length (lets a server check an upload's size without the key).
pub fn plaintext_len(encrypted_len: u64) -> Option<u64> {
    let body = encrypted_len.checked_sub(HEADER_LEN as u64)?;
    let full = body / ENCRYPTED_CHUNK_LEN as u64;
    let rem = body % ENCRYPTED_CHUNK_LEN as u64;
    let (chunks, len) = if rem == 0 {
        // The last chunk is full (a non-empty multiple of the chunk size).
        (full, full.checked_mul(CHUNK_SIZE as u64)?)
    } else if rem < TAG_LEN as u64 || (rem == TAG_LEN as u64 && full > 0) {
        return None;
    } else {
        (
            full.checked_add(1)?,
            full.checked_mul(CHUNK_SIZE as u64)?
                .checked_add(rem - TAG_LEN as u64)?,
        )
    };
    if chunks == 0 || chunks > 1u64 << 32 {
        return None;
    }
    Some(len)
}

/// The per-stream AEAD state shared by both directions: the cipher under the stream key, the
/// associated data, and the chunk counter.
struct ChunkCipher {
    cipher: XChaCha20Poly1305,
    aad: Vec<u8>,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    counter: u32,
}

impl ChunkCipher {
    fn new(key: &SymmetricKey, ctx: &Context, header: &StreamHeader) -> Result<Self> {
        let header_bytes = header.to_bytes();
        let label_len = u16::try_from(LABEL_STREAM.len())
            .map_err(|_| CryptoError::Length("stream label"))?
            .to_be_bytes();
        let stream_key = hkdf_key(
            LABEL_SUBKEY_SALT,
            key.expose_secret(),
            &[&label_len, LABEL_STREAM.as_bytes(), &header_bytes],
        )?;
        let cipher = XChaCha20Poly1305::new_from_slice(stream_key.expose_secret())
            .map_err(|_| CryptoError::Length("stream key"))?;
        let aad_len = (HEADER_LEN + ctx.encoded_len()).next_multiple_of(AAD_ALIGN);
        let mut aad = Vec::with_capacity(aad_len);
        aad.extend_from_slice(&header_bytes);
        ctx.encode_into(&mut aad);
        aad.resize(aad_len, 0);
        Ok(Self {
            cipher,
            aad,
            nonce_prefix: header.nonce_prefix,
            counter: 0,
        })
    }

    fn nonce(&self, last: bool) -> XNonce {
        let mut n = [0u8; 24];
        let (prefix, rest) = n.split_at_mut(NONCE_PREFIX_LEN);
        prefix.copy_from_slice(&self.nonce_prefix);
        let (counter, flag) = rest.split_at_mut(4);
        counter.copy_from_slice(&self.counter.to_be_bytes());
        flag.fill(if last { LAST_CHUNK } else { NOT_LAST_CHUNK });
        Array::from(n)
    }

    /// Encrypts `plaintext` in place under the current counter; returns the tag.
    fn seal(&self, plaintext: &mut [u8], last: bool) -> Result<Tag> {
        self.cipher
            .encrypt_inout_detached(&self.nonce(last), &self.aad, plaintext.into())
            .map_err(|_| CryptoError::Length(WHAT_CHUNK))
    }

    /// Verifies and decrypts `chunk` (`ciphertext ‖ tag`) in place; on success returns the
    /// plaintext length. On failure the buffer still holds the ciphertext (the tag is checked
    /// before any byte is decrypted).
    fn open(&self, chunk: &mut [u8], last: bool) -> Option<usize> {
        let ct_len = chunk.len().checked_sub(TAG_LEN)?;
        let (ct, tag) = chunk.split_at_mut(ct_len);
        let tag = Tag::try_from(&*tag).ok()?;
        self.cipher
            .decrypt_inout_detached(&self.nonce(last), &self.aad, ct.into(), &tag)
            .ok()
            .map(|()| ct_len)
    }
}

/// Encrypts a stream chunk by chunk, for a caller that pushes chunks itself (an upload that
/// stores each chunk separately). [`encrypt_stream`] drives it from a [`Read`].
///
/// Send [`header_bytes`](Self::header_bytes) first, then each chunk as sealed in place by
/// [`encrypt_chunk`](Self::encrypt_chunk) (exactly [`CHUNK_SIZE`] bytes of plaintext), and
/// finish with [`encrypt_last`](Self::encrypt_last), which consumes the encryptor. A caller must
/// know which chunk is last before sealing it: hold one chunk back.
pub struct StreamEncryptor {
    header: StreamHeader,
    chunks: ChunkCipher,
}

impl core::fmt::Debug for StreamEncryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "StreamEncryptor(key {}, chunk {}, ***)",
            self.header.key_id, self.chunks.counter
        )
    }
}

impl StreamEncryptor {
    /// A new stream under `key`, bound to `ctx`, with a random nonce prefix.
    pub fn new(key: &SymmetricKey, ctx: &Context) -> Result<Self> {
        let header = StreamHeader::generate(key)?;
        let chunks = ChunkCipher::new(key, ctx, &header)?;
        Ok(Self { header, chunks })
    }

    /// The header of this stream.
    pub fn header(&self) -> &StreamHeader {
        &self.header
    }

    /// The header's wire form: the first [`HEADER_LEN`] bytes of the stream.
    pub fn header_bytes(&self) -> [u8; HEADER_LEN] {
        self.header.to_bytes()
    }

    /// Index of the next chunk to seal.
    pub fn chunk_index(&self) -> u32 {
        self.chunks.counter
    }

    /// Seals a chunk that is not the last, in place. `buf` is [`ENCRYPTED_CHUNK_LEN`] bytes:
    /// [`CHUNK_SIZE`] bytes of plaintext followed by [`TAG_LEN`] bytes of room; on return it
    /// holds the chunk as it goes on the wire.
    pub fn encrypt_chunk(&mut self, buf: &mut [u8]) -> Result<()> {
        if buf.len() != ENCRYPTED_CHUNK_LEN {
            return Err(CryptoError::Length(
                "stream chunk buffer (must be CHUNK_SIZE + TAG_LEN)",
            ));
        }
        if self.chunks.counter == u32::MAX {
            return Err(CryptoError::Stream {
                reason: COUNTER_OVERFLOW,
            });
        }
        let (plaintext, tag_room) = buf.split_at_mut(CHUNK_SIZE);
        let tag = self.chunks.seal(plaintext, false)?;
        tag_room.copy_from_slice(&tag);
        self.chunks.counter += 1;
        Ok(())
    }

    /// Seals the final chunk in place and ends the stream. `buf` is 0..=[`CHUNK_SIZE`] bytes of
    /// plaintext followed by [`TAG_LEN`] bytes of room. An empty final chunk is allowed only as
    /// the first chunk (the empty stream); after a full chunk, seal that one as the last instead.
    pub fn encrypt_last(self, buf: &mut [u8]) -> Result<()> {
        let pt_len = buf
            .len()
            .checked_sub(TAG_LEN)
            .filter(|&n| n <= CHUNK_SIZE)
            .ok_or(CryptoError::Length(
                "final stream chunk buffer (must be 0..=CHUNK_SIZE + TAG_LEN)",
            ))?;
        if pt_len == 0 && self.chunks.counter > 0 {
            return Err(CryptoError::Stream {
                reason: EMPTY_FINAL,
            });
        }
        let (plaintext, tag_room) = buf.split_at_mut(pt_len);
        let tag = self.chunks.seal(plaintext, true)?;
        tag_room.copy_from_slice(&tag);
        Ok(())
    }

    #[cfg(test)]
    fn set_counter(&mut self, counter: u32) {
        self.chunks.counter = counter;
    }
}

/// Decrypts a stream chunk by chunk, for a caller that fetches chunks itself.
/// [`decrypt_stream`] drives it from a [`Read`].
///
/// Parse the header with [`StreamHeader::parse`], then pass each chunk to
/// [`decrypt_chunk`](Self::decrypt_chunk) and the final one to
/// [`decrypt_last`](Self::decrypt_last). After any error the decryptor refuses further chunks.
/// As with [`decrypt_stream`], plaintext returned before `decrypt_last` succeeds is not yet known
/// to be complete.
pub struct StreamDecryptor {
    chunks: ChunkCipher,
    key_id: KeyId,
    /// Key id and commitment match the caller's key (checked in constant time, enforced with
    /// every chunk's tag check so that a wrong key fails exactly like a bad tag).
    header_ok: bool,
    failed: bool,
}

impl core::fmt::Debug for StreamDecryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "StreamDecryptor(key {}, chunk {}, ***)",
            self.key_id, self.chunks.counter
        )
    }
}

impl StreamDecryptor {
    /// Prepares to decrypt the stream with this header under `key`, expecting context `ctx`. A
    /// wrong key or context is reported by the first chunk, as [`CryptoError::OpenFailed`].
    pub fn new(key: &SymmetricKey, ctx: &Context, header: &StreamHeader) -> Result<Self> {
        let id_ok = header.key_id.0.ct_eq(&key.id().0);
        let commit_ok = header.commitment.ct_eq(key.commitment());
        let chunks = ChunkCipher::new(key, ctx, header)?;
        Ok(Self {
            chunks,
            key_id: header.key_id,
            header_ok: bool::from(id_ok & commit_ok),
            failed: false,
        })
    }

    /// Index of the next chunk expected.
    pub fn chunk_index(&self) -> u32 {
        self.chunks.counter
    }

    /// Opens a chunk that is not the last, in place. `chunk` is the wire chunk, exactly
    /// [`ENCRYPTED_CHUNK_LEN`] bytes; returns its plaintext (a prefix of `chunk`).
    ///
    /// A chunk that authenticates only as the *final* one means the stream goes on after its
    /// end: `Stream { reason: "extended: …" }`.
    pub fn decrypt_chunk<'b>(&mut self, chunk: &'b mut [u8]) -> Result<&'b [u8]> {
        let result = self.decrypt_chunk_inner(chunk);
        if result.is_err() {
            self.failed = true;
        }
        let len = result?;
        self.chunks.counter += 1;
        let chunk: &'b [u8] = chunk;
        Ok(chunk.get(..len).unwrap_or_default())
    }

    fn decrypt_chunk_inner(&mut self, chunk: &mut [u8]) -> Result<usize> {
        if self.failed {
            return Err(CryptoError::Stream { reason: POISONED });
        }
        if chunk.len() != ENCRYPTED_CHUNK_LEN {
            return Err(CryptoError::Malformed {
                what: WHAT_CHUNK,
                reason: "a chunk before the last must be 65552 bytes",
            });
        }
        if self.chunks.counter == u32::MAX {
            return Err(CryptoError::Stream {
                reason: COUNTER_OVERFLOW,
            });
        }
        match self.chunks.open(chunk, false) {
            Some(len) if self.header_ok => Ok(len),
            Some(_) => {
                chunk.zeroize();
                Err(CryptoError::OpenFailed)
            }
            None if self.header_ok && self.chunks.open(chunk, true).is_some() => {
                chunk.zeroize();
                Err(CryptoError::Stream { reason: EXTENDED })
            }
            None => Err(CryptoError::OpenFailed),
        }
    }

    /// Opens the final chunk in place and ends the stream. `chunk` is the wire chunk,
    /// [`TAG_LEN`]..=[`ENCRYPTED_CHUNK_LEN`] bytes; returns its plaintext (a prefix of `chunk`).
    ///
    /// A full chunk that authenticates only as a *non-final* one means the stream was cut at a
    /// chunk boundary: `Stream { reason: "truncated: …" }`.
    pub fn decrypt_last(self, chunk: &mut [u8]) -> Result<&[u8]> {
        if self.failed {
            return Err(CryptoError::Stream { reason: POISONED });
        }
        if chunk.len() < TAG_LEN {
            return Err(CryptoError::Stream {
                reason: TRUNCATED_SHORT_FINAL,
            });
        }
        if chunk.len() > ENCRYPTED_CHUNK_LEN {
            return Err(CryptoError::Malformed {
                what: WHAT_CHUNK,
                reason: "final chunk is longer than a chunk",
            });
        }
        let len = match self.chunks.open(chunk, true) {
            Some(len) if self.header_ok => len,
            Some(_) => {
                chunk.zeroize();
                return Err(CryptoError::OpenFailed);
            }
            None if self.header_ok
                && chunk.len() == ENCRYPTED_CHUNK_LEN
                && self.chunks.counter < u32::MAX
                && self.chunks.open(chunk, false).is_some() =>
            {
                chunk.zeroize();
                return Err(CryptoError::Stream {
                    reason: TRUNCATED_NO_FINAL,
                });
            }
            None => return Err(CryptoError::OpenFailed),
        };
        if len == 0 && self.chunks.counter > 0 {
            // Only a holder of the key can make this; the encoder never does.
            return Err(CryptoError::Stream {
                reason: EMPTY_FINAL,
            });
        }
        let chunk: &[u8] = chunk;
        Ok(chunk.get(..len).unwrap_or_default())
    }

    #[cfg(test)]
    fn set_counter(&mut self, counter: u32) {
        self.chunks.counter = counter;
    }
}

fn io_error(e: &std::io::Error) -> CryptoError {
    CryptoError::Io(format!("{}: {e}", e.kind()))
}

/// Reads until `buf` is full or the reader is at its end; returns the bytes read. Short reads
/// and `Interrupted` are retried.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) if n <= rest.len() => filled += n,
            Ok(_) => {
                return Err(CryptoError::Io(
                    "reader reported more bytes than it was given room for".into(),
                ));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(&e)),
        }
    }
    Ok(filled)
}

fn write_all(writer: &mut impl Write, bytes: &[u8]) -> Result<()> {
    writer.write_all(bytes).map_err(|e| io_error(&e))
}

/// Encrypts everything `reader` yields under `key`, bound to `ctx`, writing the stream to
/// `writer`; returns the plaintext length. Memory is constant: one reused chunk buffer, zeroized
/// when done. Short reads are handled; each chunk is filled before it is sealed, with one byte of
/// look-ahead to know whether it is the last.
pub fn encrypt_stream(
    key: &SymmetricKey,
    ctx: &Context,
    mut reader: impl Read,
    mut writer: impl Write,
) -> Result<u64> {
    let mut enc = StreamEncryptor::new(key, ctx)?;
    write_all(&mut writer, &enc.header_bytes())?;
    // plaintext (CHUNK_SIZE) ‖ tag room (TAG_LEN) ‖ one spare byte to keep the look-ahead byte.
    let mut buf = Zeroizing::new(vec![0u8; ENCRYPTED_CHUNK_LEN + 1]);
    let mut filled = 0usize;
    let mut total = 0u64;
    loop {
        let window = buf
            .get_mut(filled..=CHUNK_SIZE)
            .ok_or(CryptoError::Length(WHAT_CHUNK))?;
        filled += read_full(&mut reader, window)?;
        if filled > CHUNK_SIZE {
            // A full chunk and at least one byte more: this chunk is not the last. Park the
            // look-ahead byte (at CHUNK_SIZE, where the tag goes) in the spare byte.
            // (Constant offsets into a buffer of constant length: these copies cannot fail.)
            buf.copy_within(CHUNK_SIZE..=CHUNK_SIZE, ENCRYPTED_CHUNK_LEN);
            let (wire, _spare) = buf.split_at_mut(ENCRYPTED_CHUNK_LEN);
            enc.encrypt_chunk(wire)?;
            write_all(&mut writer, wire)?;
            buf.copy_within(ENCRYPTED_CHUNK_LEN.., 0);
            total += CHUNK_SIZE as u64;
            filled = 1;
        } else {
            let wire = buf
                .get_mut(..filled + TAG_LEN)
                .ok_or(CryptoError::Length(WHAT_CHUNK))?;
            enc.encrypt_last(wire)?;
            write_all(&mut writer, wire)?;
            total += filled as u64;
            writer.flush().map_err(|e| io_error(&e))?;
            return Ok(total);
        }
    }
}

/// Decrypts a stream from `reader` under `key`, expecting context `ctx`, writing the plaintext to
/// `writer`; returns the plaintext length. Memory is constant: one reused chunk buffer, zeroized
/// when done.
///
/// **Plaintext is written chunk by chunk** as each chunk authenticates, so on `Err` the writer
/// has received a prefix of the plaintext that must not be used: write to a temporary file and
/// keep it only when this returns `Ok`.
///
/// Errors: header faults (`Truncated`, `UnknownVersion`, `UnknownAlgorithm`, `Malformed`);
/// [`CryptoError::OpenFailed`] for a wrong key, commitment or context, or any altered, dropped,
/// reordered or duplicated chunk; [`CryptoError::Stream`] for input that ends without a final
/// chunk, continues after it, or overflows the counter; [`CryptoError::Io`] from the reader or
/// writer.
pub fn decrypt_stream(
    key: &SymmetricKey,
    ctx: &Context,
    mut reader: impl Read,
    mut writer: impl Write,
) -> Result<u64> {
    let mut header_buf = [0u8; HEADER_LEN];
    let got = read_full(&mut reader, &mut header_buf)?;
    let header = StreamHeader::parse(header_buf.get(..got).unwrap_or_default())?;
    let mut dec = StreamDecryptor::new(key, ctx, &header)?;
    // wire chunk (ENCRYPTED_CHUNK_LEN) ‖ one byte of look-ahead.
    let mut buf = Zeroizing::new(vec![0u8; ENCRYPTED_CHUNK_LEN + 1]);
    let mut filled = 0usize;
    let mut total = 0u64;
    loop {
        let window = buf
            .get_mut(filled..)
            .ok_or(CryptoError::Length(WHAT_CHUNK))?;
        filled += read_full(&mut reader, window)?;
        if filled > ENCRYPTED_CHUNK_LEN {
            // A whole chunk and more: it is not the last.
            let (wire, _lookahead) = buf.split_at_mut(ENCRYPTED_CHUNK_LEN);
            let plaintext = dec.decrypt_chunk(wire)?;
            write_all(&mut writer, plaintext)?;
            total += plaintext.len() as u64;
            // Carry the look-ahead byte to the front (constant offsets, cannot fail).
            buf.copy_within(ENCRYPTED_CHUNK_LEN.., 0);
            filled = 1;
        } else if filled == 0 {
            return Err(CryptoError::Stream {
                reason: TRUNCATED_NO_CHUNKS,
            });
        } else {
            let wire = buf
                .get_mut(..filled)
                .ok_or(CryptoError::Length(WHAT_CHUNK))?;
            let plaintext = dec.decrypt_last(wire)?;
            write_all(&mut writer, plaintext)?;
            total += plaintext.len() as u64;
            writer.flush().map_err(|e| io_error(&e))?;
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Purpose;
    use crate::secret::SecretBytes;

    fn ctx() -> Context {
        Context::new(Purpose::Attachment)
            .with_vault([1; 16])
            .with_item([2; 16])
            .with_epoch(5)
    }

    fn key() -> SymmetricKey {
        SymmetricKey::from_secret(KeyId([0x11; 16]), SecretBytes::from_array([0x22; 32])).unwrap()
    }

    fn encrypt(key: &SymmetricKey, pt: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let n = encrypt_stream(key, &ctx(), pt, &mut out).unwrap();
        assert_eq!(n, pt.len() as u64);
        out
    }

    fn decrypt(key: &SymmetricKey, ct: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        decrypt_stream(key, &ctx(), ct, &mut out).map(|n| {
            assert_eq!(n, out.len() as u64);
            out
        })
    }

    /// Do not modify this test if it fails: the header layout is frozen (docs/protocol.md).
    #[test]
    fn header_layout_is_stable() {
        let h = StreamHeader {
            key_id: KeyId([0xaa; 16]),
            nonce_prefix: [0xbb; 19],
            commitment: [0xcc; 32],
        };
        let mut expected = vec![0x01, 0x01, 0x00, 0x01, 0x00, 0x00];
        expected.extend_from_slice(&[0xaa; 16]);
        expected.extend_from_slice(&[0xbb; 19]);
        expected.extend_from_slice(&[0xcc; 32]);
        assert_eq!(h.to_bytes().to_vec(), expected);
        assert_eq!(HEADER_LEN, 73);
        assert_eq!(StreamHeader::parse(&expected).unwrap(), h);
        assert_eq!(
            StreamHeader::parse_prefix(&[expected.as_slice(), b"chunk"].concat()).unwrap(),
            (h, 73)
        );
    }

    /// Pins the nonce layout, the key derivation and the associated data by recomputing the
    /// first and only chunk of a one-byte stream with the raw AEAD.
    #[test]
    fn chunk_is_the_documented_aead_call() {
        let key = key();
        let ct = encrypt(&key, b"x");
        assert_eq!(ct.len(), HEADER_LEN + 1 + TAG_LEN);
        let (header, body) = ct.split_at(HEADER_LEN);
        let stream_key = key.derive_subkey(LABEL_STREAM, header).unwrap();
        let cipher = XChaCha20Poly1305::new(&Array::from(*stream_key.expose_secret()));
        let mut nonce = header[22..41].to_vec();
        nonce.extend_from_slice(&[0, 0, 0, 0, 1]);
        let mut aad = header.to_vec();
        aad.extend_from_slice(&ctx().encode());
        assert_eq!(aad.len(), 73 + 52);
        aad.resize(128, 0);
        let mut buf = *b"x";
        let tag = cipher
            .encrypt_inout_detached(
                &XNonce::try_from(nonce.as_slice()).unwrap(),
                &aad,
                buf.as_mut_slice().into(),
            )
            .unwrap();
        assert_eq!(body, [buf.as_slice(), tag.as_slice()].concat());
    }

    #[test]
    fn sizes_match_the_formula() {
        let key = key();
        for len in [
            0,
            1,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            2 * CHUNK_SIZE,
        ] {
            let pt = vec![7u8; len];
            let ct = encrypt(&key, &pt);
            assert_eq!(Some(ct.len() as u64), encrypted_len(len as u64), "{len}");
            assert_eq!(plaintext_len(ct.len() as u64), Some(len as u64), "{len}");
            assert_eq!(decrypt(&key, &ct).unwrap(), pt);
        }
        // Non-canonical or impossible wire lengths.
        assert_eq!(plaintext_len(HEADER_LEN as u64), None);
        assert_eq!(plaintext_len(HEADER_LEN as u64 + 15), None);
        assert_eq!(
            plaintext_len((HEADER_LEN + ENCRYPTED_CHUNK_LEN + TAG_LEN) as u64),
            None
        );
        assert_eq!(encrypted_len((1u64 << 48) + 1), None);
        assert_eq!(
            encrypted_len(1u64 << 48),
            Some(HEADER_LEN as u64 + (1u64 << 48) + (1u64 << 32) * 16)
        );
    }

    #[test]
    fn header_parse_errors_are_typed() {
        assert_eq!(
            StreamHeader::parse(&[]).unwrap_err(),
            CryptoError::Truncated {
                what: WHAT_HEADER,
                at: 0,
                needed: 1
            }
        );
        assert!(matches!(
            StreamHeader::parse(&[2]),
            Err(CryptoError::UnknownVersion { version: 2, .. })
        ));
        assert!(matches!(
            StreamHeader::parse(&[1, 2]),
            Err(CryptoError::UnknownAlgorithm { alg: 2, .. })
        ));
        let good = StreamHeader::generate(&key()).unwrap().to_bytes();
        for cut in 2..HEADER_LEN {
            assert!(matches!(
                StreamHeader::parse(&good[..cut]),
                Err(CryptoError::Truncated { at, .. }) if at == cut
            ));
        }
        let mut bad_size = good;
        bad_size[4] = 0x02;
        assert!(matches!(
            StreamHeader::parse(&bad_size),
            Err(CryptoError::Malformed { .. })
        ));
        assert!(matches!(
            StreamHeader::parse(&[good.as_slice(), &[0]].concat()),
            Err(CryptoError::Malformed {
                reason: "trailing bytes",
                ..
            })
        ));
    }

    #[test]
    fn truncation_and_extension_at_boundaries_are_named() {
        let key = key();
        let pt = vec![3u8; 2 * CHUNK_SIZE];
        let ct = encrypt(&key, &pt);
        // Drop the final (full) chunk: the remaining one authenticates only as non-final.
        let cut = &ct[..HEADER_LEN + ENCRYPTED_CHUNK_LEN];
        assert_eq!(
            decrypt(&key, cut).unwrap_err(),
            CryptoError::Stream {
                reason: TRUNCATED_NO_FINAL
            }
        );
        assert_eq!(
            decrypt(&key, &ct[..HEADER_LEN]).unwrap_err(),
            CryptoError::Stream {
                reason: TRUNCATED_NO_CHUNKS
            }
        );
        assert_eq!(
            decrypt(&key, &ct[..HEADER_LEN + 5]).unwrap_err(),
            CryptoError::Stream {
                reason: TRUNCATED_SHORT_FINAL
            }
        );
        // Append a byte after a full final chunk: that chunk now looks non-final.
        let mut ext = ct.clone();
        ext.push(0);
        assert_eq!(
            decrypt(&key, &ext).unwrap_err(),
            CryptoError::Stream { reason: EXTENDED }
        );
        // Wrong key: never the diagnostic, always OpenFailed.
        let other = SymmetricKey::generate().unwrap();
        assert_eq!(decrypt(&other, cut).unwrap_err(), CryptoError::OpenFailed);
    }

    #[test]
    fn commitment_is_enforced_even_if_the_tag_verifies() {
        // A key with the same secret but another commitment cannot exist; simulate a header
        // whose commitment was replaced *and* whose chunks were re-sealed to match (what a holder
        // of the key could do to make one stream open under two keys): the decryptor must refuse.
        let key = key();
        let mut header = StreamHeader::generate(&key).unwrap();
        header.commitment = [0u8; 32];
        let chunks = ChunkCipher::new(&key, &ctx(), &header).unwrap();
        let mut buf = *b"abc\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        let (pt, room) = buf.split_at_mut(3);
        let tag = chunks.seal(pt, true).unwrap();
        room.copy_from_slice(&tag);
        let dec = StreamDecryptor::new(&key, &ctx(), &header).unwrap();
        assert_eq!(
            dec.decrypt_last(&mut buf).unwrap_err(),
            CryptoError::OpenFailed
        );
        assert_eq!(buf, [0u8; 19], "released bytes must be wiped");
    }

    #[test]
    fn counter_overflow_is_refused_both_ways() {
        let key = key();
        let mut enc = StreamEncryptor::new(&key, &ctx()).unwrap();
        let header = *enc.header();
        enc.set_counter(u32::MAX - 1);
        let mut a = vec![1u8; ENCRYPTED_CHUNK_LEN];
        enc.encrypt_chunk(&mut a).unwrap();
        assert_eq!(enc.chunk_index(), u32::MAX);
        let mut b = vec![2u8; ENCRYPTED_CHUNK_LEN];
        assert_eq!(
            enc.encrypt_chunk(&mut b).unwrap_err(),
            CryptoError::Stream {
                reason: COUNTER_OVERFLOW
            }
        );
        // The chunk at index 2^32 - 1 may only be the last.
        let mut last = vec![2u8; ENCRYPTED_CHUNK_LEN];
        enc.encrypt_last(&mut last).unwrap();

        let mut dec = StreamDecryptor::new(&key, &ctx(), &header).unwrap();
        dec.set_counter(u32::MAX - 1);
        assert_eq!(dec.decrypt_chunk(&mut a).unwrap(), &[1u8; CHUNK_SIZE][..]);
        let mut last2 = last.clone();
        assert_eq!(
            dec.decrypt_chunk(&mut last2).unwrap_err(),
            CryptoError::Stream {
                reason: COUNTER_OVERFLOW
            }
        );
        let mut dec = StreamDecryptor::new(&key, &ctx(), &header).unwrap();
        dec.set_counter(u32::MAX);
        assert_eq!(dec.decrypt_last(&mut last).unwrap(), &[2u8; CHUNK_SIZE][..]);
    }

    #[test]
    fn chunk_api_rules() {
        let key = key();
        let mut enc = StreamEncryptor::new(&key, &ctx()).unwrap();
        let header = *enc.header();
        assert!(matches!(
            enc.encrypt_chunk(&mut [0u8; 100]),
            Err(CryptoError::Length(_))
        ));
        let mut full = vec![9u8; ENCRYPTED_CHUNK_LEN];
        enc.encrypt_chunk(&mut full).unwrap();
        // An empty final chunk after a full one is not canonical.
        let mut enc2 = StreamEncryptor::new(&key, &ctx()).unwrap();
        enc2.encrypt_chunk(&mut vec![0u8; ENCRYPTED_CHUNK_LEN])
            .unwrap();
        assert_eq!(
            enc2.encrypt_last(&mut [0u8; TAG_LEN]).unwrap_err(),
            CryptoError::Stream {
                reason: EMPTY_FINAL
            }
        );
        let mut last = *b"tail\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        enc.encrypt_last(&mut last).unwrap();

        // A failed chunk poisons the decryptor.
        let mut dec = StreamDecryptor::new(&key, &ctx(), &header).unwrap();
        let mut bad = full.clone();
        bad[0] ^= 1;
        assert_eq!(
            dec.decrypt_chunk(&mut bad).unwrap_err(),
            CryptoError::OpenFailed
        );
        assert_eq!(
            dec.decrypt_chunk(&mut full.clone()).unwrap_err(),
            CryptoError::Stream { reason: POISONED }
        );
        let mut dec = StreamDecryptor::new(&key, &ctx(), &header).unwrap();
        assert_eq!(
            dec.decrypt_chunk(&mut full).unwrap(),
            &[9u8; CHUNK_SIZE][..]
        );
        assert_eq!(dec.decrypt_last(&mut last).unwrap(), b"tail");
    }

    #[test]
    fn io_errors_are_mapped() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::new(ErrorKind::PermissionDenied, "nope"))
            }
        }
        let err = encrypt_stream(&key(), &ctx(), Broken, Vec::new()).unwrap_err();
        assert!(
            matches!(err, CryptoError::Io(ref m) if m.contains("nope")),
            "{err:?}"
        );
    }

    #[test]
    fn debug_is_redacted() {
        let enc = StreamEncryptor::new(&key(), &ctx()).unwrap();
        let s = format!("{enc:?}");
        assert!(s.contains("1111") && s.ends_with("***)"), "{s}");
    }
}
