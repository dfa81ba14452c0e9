//! [`LocalFileKms`]: the default back end, a 256-bit master key in a file readable by its owner
//! only (DESIGN §3).
//!
//! # Key file, version 1
//!
//! ASCII text, exactly 91 bytes:
//!
//! ```text
//! coffer-kms-local-v1\n
//! <70 characters: unpadded base64url (RFC 4648 §5) of key id (16) ‖ key (32) ‖ check (4)>\n
//! ```
//!
//! `check` is the first 4 bytes of `SHA-256("coffer-kms-local-v1" ‖ key id ‖ commitment)`, where
//! `commitment` is the key's public envelope commitment ([`SymmetricKey::commitment`]); it catches
//! a corrupted id or key at load time without hashing key bytes outside `coffer-crypto`. The final
//! newline may be missing; nothing else may differ. A first line `coffer-kms-local-v2` or later is
//! reported as an unknown version.
//!
//! # Creation and loading
//!
//! [`LocalFileKms::open_or_create`] loads the file if it exists. Otherwise it creates the parent
//! directory (and any missing ancestors) with mode 0700, writes the file to a temporary file
//! created with mode 0600 in the same directory, fsyncs it, moves it into place **without
//! replacing** an existing file (`renameat2(RENAME_NOREPLACE)`, or `link` + `unlink` where that is
//! missing), and fsyncs the directory. Two servers starting at once therefore never overwrite each
//! other's key: the loser loads the winner's. A crash can leave a `.coffer-kms-*.tmp` file (mode
//! 0600) beside the key file; it is safe to delete.
//!
//! Loading refuses a file whose permission bits give anything to group or others (`mode & 0o077
//! != 0`), naming the path and the mode found, and refuses a file that is not a regular file, is
//! too long, or is malformed. The mode is read from the opened file handle, not the path.
//!
//! # Wrapping
//!
//! `wrap` returns the [`crate::wrapped`] header (backend `0x01`, master key id = the file's 16-byte
//! key id, the wrapped key's id) followed by one envelope (`coffer_crypto::envelope`, version 1,
//! **XChaCha20-Poly1305**: 192-bit random nonces, so no per-key message limit matters for a master
//! key that lives for years) sealed under the master key with the caller's context. Its plaintext
//! is `header ‖ key (32)`, so every header byte is authenticated as well as the context: a blob
//! moved to another context, altered, or opened under another master key does not unwrap.

use std::fs::{DirBuilder, File, Permissions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use coffer_crypto::envelope::{self, Algorithm, Envelope};
use coffer_crypto::{Context, CryptoError, KeyId, SecretBytes, SymmetricKey};
use data_encoding::BASE64URL_NOPAD;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::backend::{Backend, Kms, KmsDescription, MasterKeyId};
use crate::error::{KmsError, Result};
use crate::wrapped::WrappedKeyHeader;

/// First line of a version-1 key file.
pub const KEY_FILE_HEADER: &str = "coffer-kms-local-v1";
/// Mode of a key file this back end creates.
pub const KEY_FILE_MODE: u32 = 0o600;
/// Mode of a directory this back end creates for a key file.
pub const KEY_DIR_MODE: u32 = 0o700;

const KEY_FILE_PREFIX: &str = "coffer-kms-local-";
const ID_LEN: usize = 16;
const KEY_LEN: usize = 32;
const CHECK_LEN: usize = 4;
const BODY_LEN: usize = ID_LEN + KEY_LEN + CHECK_LEN;
/// 52 bytes of base64url without padding.
const BODY_TEXT_LEN: usize = 70;
/// Header line, body line, and their two newlines.
const FILE_LEN: usize = KEY_FILE_HEADER.len() + 1 + BODY_TEXT_LEN + 1;

/// A master key held in a local file. See the module docs for the file format and the rules.
pub struct LocalFileKms {
    path: PathBuf,
    master: SymmetricKey,
}

impl core::fmt::Debug for LocalFileKms {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalFileKms")
            .field("path", &self.path)
            .field("master_key_id", &self.master.id())
            .finish()
    }
}

impl LocalFileKms {
    /// Loads the key file at `path`, or creates it (0600, parent 0700) if it does not exist.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        match Self::load(path) {
            Err(KmsError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                match Self::create(path) {
                    // Another process created it between our two attempts: use theirs.
                    Err(KmsError::Io { source, .. })
                        if source.kind() == io::ErrorKind::AlreadyExists =>
                    {
                        Self::load(path)
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    /// Loads an existing key file; never creates one.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io_err = |action, source| KmsError::Io {
            action,
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(|e| io_err("open master key file", e))?;
        let meta = file
            .metadata()
            .map_err(|e| io_err("read metadata of master key file", e))?;
        if !meta.is_file() {
            return Err(bad_file(path, "not a regular file"));
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KmsError::PermissionsTooOpen {
                path: path.to_owned(),
                mode,
            });
        }
        let mut contents = Zeroizing::new(Vec::with_capacity(FILE_LEN + 1));
        let limit = u64::try_from(FILE_LEN + 1).unwrap_or(u64::MAX);
        file.take(limit)
            .read_to_end(&mut contents)
            .map_err(|e| io_err("read master key file", e))?;
        let master = parse_key_file(&contents).map_err(|reason| bad_file(path, reason))?;
        Ok(Self {
            path: path.to_owned(),
            master,
        })
    }

    /// Creates a new key file at `path` with a fresh random key; fails with an
    /// [`io::ErrorKind::AlreadyExists`] I/O error if a file is already there.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io_err = |action, at: &Path, source| KmsError::Io {
            action,
            path: at.to_owned(),
            source,
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        DirBuilder::new()
            .recursive(true)
            .mode(KEY_DIR_MODE)
            .create(dir)
            .map_err(|e| io_err("create directory", dir, e))?;
        let master = SymmetricKey::generate()?;
        let contents = encode_key_file(&master);
        let mut tmp = tempfile::Builder::new()
            .prefix(".coffer-kms-")
            .suffix(".tmp")
            .permissions(Permissions::from_mode(KEY_FILE_MODE))
            .tempfile_in(dir)
            .map_err(|e| io_err("create temporary key file in", dir, e))?;
        tmp.write_all(&contents)
            .map_err(|e| io_err("write temporary key file", tmp.path(), e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| io_err("fsync temporary key file", tmp.path(), e))?;
        // On error the temporary file is dropped, hence deleted.
        tmp.persist_noclobber(path)
            .map_err(|e| io_err("create master key file", path, e.error))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err("fsync directory", dir, e))?;
        Ok(Self {
            path: path.to_owned(),
            master,
        })
    }

    /// The key file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The master key's public id.
    pub fn master_key_id(&self) -> KeyId {
        self.master.id()
    }
}

impl Kms for LocalFileKms {
    fn describe(&self) -> KmsDescription {
        KmsDescription {
            backend: Backend::LocalFile,
            master_key_id: MasterKeyId::from(self.master.id()),
        }
    }

    fn wrap(&self, key: &SymmetricKey, context: &Context) -> Result<Vec<u8>> {
        let header = WrappedKeyHeader {
            backend: Backend::LocalFile,
            master_key_id: MasterKeyId::from(self.master.id()),
            key_id: key.id(),
        };
        let mut out = header.encode();
        let mut plaintext = Zeroizing::new(Vec::with_capacity(out.len() + KEY_LEN));
        plaintext.extend_from_slice(&out);
        plaintext.extend_from_slice(key.expose_secret());
        let sealed = envelope::seal_with(
            Algorithm::XChaCha20Poly1305,
            &self.master,
            context,
            &plaintext,
        )?;
        out.extend_from_slice(sealed.as_bytes());
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8], context: &Context) -> Result<SymmetricKey> {
        let (header, header_bytes, payload) = WrappedKeyHeader::split(wrapped)?;
        if header.backend != Backend::LocalFile {
            return Err(KmsError::WrongBackend {
                expected: Backend::LocalFile,
                found: header.backend,
            });
        }
        let mine = MasterKeyId::from(self.master.id());
        if header.master_key_id != mine {
            return Err(KmsError::WrongMasterKey {
                expected: mine,
                found: header.master_key_id,
            });
        }
        let sealed = Envelope::from_bytes(payload)?;
        let plaintext = envelope::open(&self.master, context, &sealed)?;
        let (inner_header, key) = plaintext
            .expose_secret()
            .split_at_checked(header_bytes.len())
            .ok_or(CryptoError::OpenFailed)?;
        if inner_header != header_bytes || key.len() != KEY_LEN {
            return Err(CryptoError::OpenFailed.into());
        }
        let secret = SecretBytes::<KEY_LEN>::from_slice(key)?;
        Ok(SymmetricKey::from_secret(header.key_id, secret)?)
    }
}

fn bad_file(path: &Path, reason: impl Into<String>) -> KmsError {
    KmsError::BadKeyFile {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn check(id: &KeyId, commitment: &[u8; 32]) -> [u8; CHECK_LEN] {
    let digest = Sha256::new()
        .chain_update(KEY_FILE_HEADER.as_bytes())
        .chain_update(id.0)
        .chain_update(commitment)
        .finalize();
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&digest[..CHECK_LEN]);
    out
}

/// The whole key file for `key`, in a zeroizing buffer.
fn encode_key_file(key: &SymmetricKey) -> Zeroizing<Vec<u8>> {
    let mut body = Zeroizing::new([0u8; BODY_LEN]);
    body[..ID_LEN].copy_from_slice(&key.id().0);
    body[ID_LEN..ID_LEN + KEY_LEN].copy_from_slice(key.expose_secret());
    body[ID_LEN + KEY_LEN..].copy_from_slice(&check(&key.id(), key.commitment()));
    let mut out = Zeroizing::new(vec![0u8; FILE_LEN]);
    let (head, rest) = out.split_at_mut(KEY_FILE_HEADER.len() + 1);
    head[..KEY_FILE_HEADER.len()].copy_from_slice(KEY_FILE_HEADER.as_bytes());
    head[KEY_FILE_HEADER.len()] = b'\n';
    let (text, newline) = rest.split_at_mut(BODY_TEXT_LEN);
    BASE64URL_NOPAD.encode_mut(body.as_slice(), text);
    newline[0] = b'\n';
    out
}

/// Parses a key file; the error is a reason that never quotes the file.
fn parse_key_file(contents: &[u8]) -> core::result::Result<SymmetricKey, String> {
    if contents.len() > FILE_LEN {
        return Err(format!(
            "longer than the {FILE_LEN} bytes of a key file: not a key file, or corrupted"
        ));
    }
    let (first, rest) = match contents.iter().position(|&b| b == b'\n') {
        Some(i) => (&contents[..i], &contents[i + 1..]),
        None => (contents, &[][..]),
    };
    if first != KEY_FILE_HEADER.as_bytes() {
        return Err(if first.starts_with(KEY_FILE_PREFIX.as_bytes()) {
            "unknown key file version (this build reads coffer-kms-local-v1)".to_owned()
        } else {
            format!("not a Coffer key file: the first line must be {KEY_FILE_HEADER}")
        });
    }
    let body = rest.strip_suffix(b"\n").unwrap_or(rest);
    if body.contains(&b'\n') {
        return Err("unexpected lines after the key line".to_owned());
    }
    if body.len() != BODY_TEXT_LEN {
        return Err(format!(
            "the key line has {} characters, a key line has {BODY_TEXT_LEN}: truncated or \
             corrupted",
            body.len()
        ));
    }
    let mut raw = Zeroizing::new([0u8; BODY_LEN]);
    BASE64URL_NOPAD
        .decode_mut(body, raw.as_mut_slice())
        .map_err(|_| "the key line is not unpadded base64url: corrupted".to_owned())?;
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(&raw[..ID_LEN]);
    let id = KeyId(id);
    let secret = SecretBytes::<KEY_LEN>::from_slice(&raw[ID_LEN..ID_LEN + KEY_LEN])
        .map_err(|e| e.to_string())?;
    let key = SymmetricKey::from_secret(id, secret).map_err(|e| e.to_string())?;
    if raw[ID_LEN + KEY_LEN..] != check(&id, key.commitment()) {
        return Err("checksum mismatch: the key line is corrupted".to_owned());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use coffer_crypto::Purpose;

    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn ctx() -> Context {
        Context::new(Purpose::WorkspaceKey).with_workspace([7; 16])
    }

    fn new_kms() -> (tempfile::TempDir, LocalFileKms) {
        let dir = tempfile::tempdir().unwrap();
        let kms = LocalFileKms::open_or_create(dir.path().join("master.key")).unwrap();
        (dir, kms)
    }

    fn expect_bad_file(path: &Path, needle: &str) {
        match LocalFileKms::load(path) {
            Err(e @ KmsError::BadKeyFile { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&path.display().to_string()), "{msg}");
                assert!(msg.contains(needle), "{msg} lacks {needle:?}");
            }
            other => panic!("expected BadKeyFile, got {other:?}"),
        }
    }

    #[test]
    fn created_file_is_0600_in_a_0700_directory_and_well_formed() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("a").join("b").join("master.key");
        let kms = LocalFileKms::open_or_create(&path).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(&root.path().join("a")), 0o700);
        assert_eq!(mode_of(&root.path().join("a").join("b")), 0o700);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), FILE_LEN);
        assert!(text.starts_with("coffer-kms-local-v1\n"));
        assert!(text.ends_with('\n'));
        let body = BASE64URL_NOPAD
            .decode(text.lines().nth(1).unwrap().as_bytes())
            .unwrap();
        assert_eq!(body.len(), 52);
        assert_eq!(&body[..16], &kms.master_key_id().0);
        // No temporary file is left behind.
        let entries: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn reopening_loads_the_same_key() {
        let (dir, first) = new_kms();
        let key = SymmetricKey::generate().unwrap();
        let wrapped = first.wrap(&key, &ctx()).unwrap();
        drop(first);
        let second = LocalFileKms::open_or_create(dir.path().join("master.key")).unwrap();
        let back = second.unwrap(&wrapped, &ctx()).unwrap();
        assert_eq!(back.id(), key.id());
        assert_eq!(back.expose_secret(), key.expose_secret());
        let third = LocalFileKms::load(dir.path().join("master.key")).unwrap();
        assert_eq!(third.master_key_id(), second.master_key_id());
    }

    #[test]
    fn create_never_replaces_an_existing_key() {
        let (dir, kms) = new_kms();
        let before = fs::read(kms.path()).unwrap();
        match LocalFileKms::create(kms.path()) {
            Err(KmsError::Io { source, .. }) => {
                assert_eq!(source.kind(), io::ErrorKind::AlreadyExists);
            }
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        assert_eq!(fs::read(kms.path()).unwrap(), before);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn load_does_not_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.key");
        assert!(matches!(
            LocalFileKms::load(&path),
            Err(KmsError::Io { ref source, .. }) if source.kind() == io::ErrorKind::NotFound
        ));
        assert!(!path.exists());
    }

    #[test]
    fn wider_permissions_are_refused_with_the_mode_in_the_message() {
        let (_dir, kms) = new_kms();
        let path = kms.path().to_owned();
        for (mode, shown) in [
            (0o640, "0640"),
            (0o604, "0604"),
            (0o660, "0660"),
            (0o610, "0610"),
        ] {
            fs::set_permissions(&path, Permissions::from_mode(mode)).unwrap();
            match LocalFileKms::open_or_create(&path) {
                Err(e @ KmsError::PermissionsTooOpen { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(shown), "{msg}");
                    assert!(msg.contains(&path.display().to_string()), "{msg}");
                }
                other => panic!("mode {mode:o} accepted: {other:?}"),
            }
        }
        // Narrower than 0600 is fine.
        fs::set_permissions(&path, Permissions::from_mode(0o400)).unwrap();
        assert_eq!(
            LocalFileKms::load(&path).unwrap().master_key_id(),
            kms.master_key_id()
        );
    }

    #[test]
    fn malformed_files_are_refused_clearly() {
        let (dir, kms) = new_kms();
        let good = fs::read(kms.path()).unwrap();
        let path = dir.path().join("bad.key");
        let write = |bytes: &[u8]| {
            fs::write(&path, bytes).unwrap();
            fs::set_permissions(&path, Permissions::from_mode(0o600)).unwrap();
        };

        // Truncated: every proper prefix is refused.
        for len in 0..good.len() - 1 {
            write(&good[..len]);
            assert!(
                matches!(LocalFileKms::load(&path), Err(KmsError::BadKeyFile { .. })),
                "prefix of {len} bytes accepted"
            );
        }
        write(&good[..good.len() - 1]); // only the final newline missing: accepted
        assert_eq!(
            LocalFileKms::load(&path).unwrap().master_key_id(),
            kms.master_key_id()
        );
        write(&good[..60]);
        expect_bad_file(&path, "truncated");

        // One character of the key line changed: the check catches it.
        for i in KEY_FILE_HEADER.len() + 1..good.len() - 1 {
            let mut bad = good.clone();
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            write(&bad);
            assert!(
                matches!(LocalFileKms::load(&path), Err(KmsError::BadKeyFile { .. })),
                "corruption at {i} accepted"
            );
        }
        let mut bad = good.clone();
        let i = KEY_FILE_HEADER.len() + 30;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        write(&bad);
        expect_bad_file(&path, "checksum mismatch");

        let mut bad = good.clone();
        bad[KEY_FILE_HEADER.len() + 5] = b'+';
        write(&bad);
        expect_bad_file(&path, "base64url");

        let mut v2 = good.clone();
        v2[KEY_FILE_HEADER.len() - 1] = b'2';
        write(&v2);
        expect_bad_file(&path, "unknown key file version");

        write(b"-----BEGIN PRIVATE KEY-----\n");
        expect_bad_file(&path, "not a Coffer key file");

        let mut long = good.clone();
        long.extend_from_slice(b"x\n");
        write(&long);
        expect_bad_file(&path, "longer than");

        let mut extra = good[..good.len() - 2].to_vec();
        extra.extend_from_slice(b"\n\n");
        write(&extra);
        assert!(matches!(
            LocalFileKms::load(&path),
            Err(KmsError::BadKeyFile { .. })
        ));

        fs::create_dir(dir.path().join("dir.key")).unwrap();
        fs::set_permissions(dir.path().join("dir.key"), Permissions::from_mode(0o700)).unwrap();
        expect_bad_file(&dir.path().join("dir.key"), "not a regular file");
    }

    #[test]
    fn messages_and_debug_never_show_key_bytes() {
        let (dir, kms) = new_kms();
        let text = fs::read_to_string(kms.path()).unwrap();
        let line = text.lines().nth(1).unwrap().to_owned();
        let shown = format!("{kms:?} {} {:?}", kms.describe(), kms.describe());
        assert!(!shown.contains(&line[20..40]), "{shown}");
        assert!(shown.contains(&kms.master_key_id().to_hex()));
        // A corrupted file's error does not quote its contents.
        let path = dir.path().join("bad.key");
        fs::write(&path, format!("{KEY_FILE_HEADER}\n{}x\n", &line[..69])).unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o600)).unwrap();
        let msg = LocalFileKms::load(&path).unwrap_err().to_string();
        assert!(!msg.contains(&line[20..40]), "{msg}");
    }

    #[test]
    fn wrap_unwrap_round_trip_keeps_the_id() {
        let (_dir, kms) = new_kms();
        let key = SymmetricKey::generate().unwrap();
        let wrapped = kms.wrap(&key, &ctx()).unwrap();
        let header = WrappedKeyHeader::peek(&wrapped).unwrap();
        assert_eq!(header.backend, Backend::LocalFile);
        assert_eq!(header.key_id, key.id());
        assert_eq!(header.master_key_id, MasterKeyId::from(kms.master_key_id()));
        // header (36) ‖ XChaCha envelope of header ‖ key: 2+16+24+32 + 36+32 + 16.
        assert_eq!(
            wrapped.len(),
            36 + Algorithm::XChaCha20Poly1305.sealed_len(36 + 32)
        );
        assert_eq!(
            Envelope::from_bytes(&wrapped[36..]).unwrap().algorithm(),
            Algorithm::XChaCha20Poly1305
        );
        let back = kms.unwrap(&wrapped, &ctx()).unwrap();
        assert_eq!(back.id(), key.id());
        assert_eq!(back.expose_secret(), key.expose_secret());
        assert_eq!(back.commitment(), key.commitment());
        assert!(!wrapped.windows(32).any(|w| w == key.expose_secret()));
    }

    #[test]
    fn unwrap_fails_in_another_context() {
        let (_dir, kms) = new_kms();
        let key = SymmetricKey::generate().unwrap();
        let wrapped = kms.wrap(&key, &ctx()).unwrap();
        for other in [
            Context::new(Purpose::WorkspaceKey).with_workspace([8; 16]),
            Context::new(Purpose::DataKey).with_workspace([7; 16]),
            ctx().with_epoch(1),
        ] {
            assert!(matches!(
                kms.unwrap(&wrapped, &other),
                Err(KmsError::Crypto(CryptoError::OpenFailed))
            ));
        }
    }

    #[test]
    fn unwrap_fails_under_another_master_key() {
        let (_d1, one) = new_kms();
        let (_d2, two) = new_kms();
        let key = SymmetricKey::generate().unwrap();
        let wrapped = one.wrap(&key, &ctx()).unwrap();
        match two.unwrap(&wrapped, &ctx()) {
            Err(e @ KmsError::WrongMasterKey { .. }) => {
                assert!(e.to_string().contains(&one.master_key_id().to_hex()));
            }
            other => panic!("expected WrongMasterKey, got {other:?}"),
        }
        // Even with the header rewritten to name the second master key, it does not open.
        let mut forged = wrapped.clone();
        forged[4..20].copy_from_slice(&two.master_key_id().0);
        assert!(matches!(
            two.unwrap(&forged, &ctx()),
            Err(KmsError::Crypto(CryptoError::OpenFailed))
        ));
    }

    #[test]
    fn every_altered_byte_fails_and_the_key_id_is_authenticated() {
        let (_dir, kms) = new_kms();
        let key = SymmetricKey::generate().unwrap();
        let wrapped = kms.wrap(&key, &ctx()).unwrap();
        for i in 0..wrapped.len() {
            let mut bad = wrapped.clone();
            bad[i] ^= 0x01;
            assert!(kms.unwrap(&bad, &ctx()).is_err(), "flip at {i} accepted");
        }
        // Renaming the wrapped key (header bytes 20..36) is an authentication failure.
        let mut renamed = wrapped.clone();
        renamed[20..36].copy_from_slice(&[0x55; 16]);
        assert!(matches!(
            kms.unwrap(&renamed, &ctx()),
            Err(KmsError::Crypto(CryptoError::OpenFailed))
        ));
        let mut other_backend = wrapped;
        other_backend[1] = Backend::Pkcs11.code();
        assert!(matches!(
            kms.unwrap(&other_backend, &ctx()),
            Err(KmsError::WrongBackend { .. })
        ));
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k").join("master.key");
        let ids: Vec<KeyId> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| LocalFileKms::open_or_create(&path).unwrap().master_key_id()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert_eq!(LocalFileKms::load(&path).unwrap().master_key_id(), ids[0]);
    }
}
