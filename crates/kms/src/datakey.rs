//! The server-side data-key layer (DESIGN §3, "Server-side layer"): [`DataKeyring`] seals every
//! value the server writes to the value store under its current data key, opens values under
//! older keys by id, rotates, re-wraps and retires keys.
//!
//! # Formats
//!
//! A sealed value is one `coffer_crypto` envelope, version 1, **AES-256-GCM** (algorithm `0x02`),
//! whose header carries the data key's id, bound to [`value_context`]:
//! `Context::new(Purpose::ServerLayer).with_field(hex(pointer))` — the 32-byte value-store pointer
//! as 64 lower-case hex characters in the context's *field* (the item slot holds only 16 bytes).
//! A value copied to another pointer, or any altered byte, fails to open.
//!
//! A data key is wrapped by the [`Kms`] under [`data_key_context`]:
//! `Context::new(Purpose::DataKey).with_field(hex(key id))`, so a wrapped key stored in another
//! key's row does not unwrap.
//!
//! # Persistence (the server's job)
//!
//! The server keeps one row per data key in its main store: `(id: [u8; 16], wrapped: bytes,
//! state: "current" | "previous" | "retired", created: i64 seconds since the Unix epoch)`.
//! `previous` keys open old values only; `retired` keys are no longer loaded (their row can stay as
//! a record or be deleted). [`DataKeyring::load`] accepts several `current` rows and takes the one
//! created last, so a crash between inserting a new current row and demoting the old one is
//! harmless.
//!
//! Rotation order: [`DataKeyring::prepare_rotation`] (calls the KMS, changes nothing), persist
//! [`DataKeyRotation::row`], then [`DataKeyring::commit_rotation`], then set the old current row
//! to `previous`. [`DataKeyring::rotate`] does the first and third steps at once for callers that
//! persist right after, before sealing anything.
//!
//! AES-256-GCM with random 96-bit nonces allows at most 2^32 envelopes per key; the rotation
//! period must keep each key well below that (the keyring does not count).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_crypto::envelope::{self, Algorithm, Envelope};
use coffer_crypto::{Context, KeyId, Purpose, SecretVec, SymmetricKey};

use crate::backend::Kms;
use crate::error::{KmsError, Result};

/// The lifecycle state of a data key, as the server stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKeyState {
    /// Seals new values. Exactly one key is current in a keyring.
    Current,
    /// Opens values sealed before the last rotation; they await re-wrapping.
    Previous,
    /// No value uses it any more; not loaded.
    Retired,
}

impl DataKeyState {
    /// The stable name stored in the main store.
    pub const fn as_str(self) -> &'static str {
        match self {
            DataKeyState::Current => "current",
            DataKeyState::Previous => "previous",
            DataKeyState::Retired => "retired",
        }
    }

    /// The state with this stored name.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "current" => Ok(DataKeyState::Current),
            "previous" => Ok(DataKeyState::Previous),
            "retired" => Ok(DataKeyState::Retired),
            _ => Err(KmsError::BadKeyring(format!(
                "unknown data key state {name:?}"
            ))),
        }
    }
}

/// One persisted data key: what the server stores, and what [`DataKeyring::load`] reads back.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKeyRow {
    /// The data key's id (also inside `wrapped`, authenticated).
    pub id: KeyId,
    /// The key wrapped by the KMS (see [`crate::wrapped`]).
    pub wrapped: Vec<u8>,
    /// Its lifecycle state.
    pub state: DataKeyState,
    /// Creation time, seconds since the Unix epoch.
    pub created: i64,
}

impl core::fmt::Debug for DataKeyRow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DataKeyRow")
            .field("id", &self.id)
            .field("wrapped_len", &self.wrapped.len())
            .field("state", &self.state)
            .field("created", &self.created)
            .finish()
    }
}

/// A new data key wrapped by the KMS, not yet current: persist [`row`](Self::row), then hand it
/// to [`DataKeyring::commit_rotation`].
pub struct DataKeyRotation {
    key: SymmetricKey,
    row: DataKeyRow,
}

impl DataKeyRotation {
    /// The row to persist (state `current`).
    pub fn row(&self) -> &DataKeyRow {
        &self.row
    }
}

impl core::fmt::Debug for DataKeyRotation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DataKeyRotation")
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}

/// The server's data keys: the current one and older ones by id. Keys zeroize on drop.
pub struct DataKeyring {
    current: KeyId,
    current_created: i64,
    keys: BTreeMap<KeyId, SymmetricKey>,
}

impl core::fmt::Debug for DataKeyring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DataKeyring")
            .field("current", &self.current)
            .field("current_created", &self.current_created)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The context a value-store value is sealed under (see the module docs).
pub fn value_context(pointer: &[u8; 32]) -> Result<Context> {
    Ok(Context::new(Purpose::ServerLayer).with_field(data_encoding::HEXLOWER.encode(pointer))?)
}

/// The context a data key is wrapped under by the KMS (see the module docs).
pub fn data_key_context(id: KeyId) -> Result<Context> {
    Ok(Context::new(Purpose::DataKey).with_field(id.to_hex())?)
}

/// Whether a key created at `created_at` is due for rotation at `now` (both seconds since the
/// Unix epoch) with the given rotation `period`. A clock that went backwards is never due.
pub fn rotation_due(created_at: i64, now: i64, period: Duration) -> bool {
    let period = i64::try_from(period.as_secs()).unwrap_or(i64::MAX);
    now.checked_sub(created_at).is_some_and(|age| age >= period)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl DataKeyring {
    /// A keyring with one fresh current key, and its row to persist.
    pub fn create(kms: &dyn Kms) -> Result<(Self, DataKeyRow)> {
        let DataKeyRotation { key, row } = new_data_key(kms, unix_now())?;
        let ring = Self {
            current: key.id(),
            current_created: row.created,
            keys: BTreeMap::from([(key.id(), key)]),
        };
        Ok((ring, row))
    }

    /// Rebuilds the keyring from persisted rows: unwraps every `current` and `previous` key with
    /// the KMS and skips `retired` rows. Of several `current` rows, the one created last is
    /// current and the others are treated as `previous`.
    pub fn load(kms: &dyn Kms, rows: &[DataKeyRow]) -> Result<Self> {
        let mut keys = BTreeMap::new();
        let mut current: Option<(i64, KeyId)> = None;
        for row in rows {
            if row.state == DataKeyState::Retired {
                continue;
            }
            let key = unwrap_row(kms, row).map_err(|source| KmsError::LoadDataKey {
                id: row.id,
                source: Box::new(source),
            })?;
            if keys.insert(row.id, key).is_some() {
                return Err(KmsError::BadKeyring(format!(
                    "data key {} appears twice",
                    row.id
                )));
            }
            if row.state == DataKeyState::Current {
                current = match current {
                    Some((created, _)) if created == row.created => {
                        return Err(KmsError::BadKeyring(format!(
                            "two current data keys created at the same second ({created})"
                        )));
                    }
                    Some((created, id)) if created > row.created => Some((created, id)),
                    _ => Some((row.created, row.id)),
                };
            }
        }
        let (current_created, current) =
            current.ok_or_else(|| KmsError::BadKeyring("no current data key".to_owned()))?;
        Ok(Self {
            current,
            current_created,
            keys,
        })
    }

    /// The id of the key new values are sealed under.
    pub fn current_key_id(&self) -> KeyId {
        self.current
    }

    /// When the current key was created (seconds since the Unix epoch).
    pub fn current_created(&self) -> i64 {
        self.current_created
    }

    /// Whether the current key is due for rotation at `now` (see [`rotation_due`]).
    pub fn rotation_due(&self, now: i64, period: Duration) -> bool {
        rotation_due(self.current_created, now, period)
    }

    /// The ids of every loaded key, current included, in order.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.keys.keys().copied().collect()
    }

    /// Whether the keyring holds the key with this id.
    pub fn contains(&self, id: KeyId) -> bool {
        self.keys.contains_key(&id)
    }

    /// Seals a value for the value store under the current key, bound to its pointer.
    pub fn seal_value(&self, pointer: &[u8; 32], bytes: &[u8]) -> Result<Vec<u8>> {
        let key = self
            .keys
            .get(&self.current)
            .ok_or(KmsError::UnknownDataKey(self.current))?;
        let sealed =
            envelope::seal_with(Algorithm::Aes256Gcm, key, &value_context(pointer)?, bytes)?;
        Ok(sealed.into_bytes())
    }

    /// Opens a value read from the value store at `pointer`, with the key its envelope names.
    pub fn open_value(&self, pointer: &[u8; 32], bytes: &[u8]) -> Result<SecretVec> {
        let sealed = Envelope::from_bytes(bytes)?;
        let key = self
            .keys
            .get(&sealed.key_id())
            .ok_or(KmsError::UnknownDataKey(sealed.key_id()))?;
        Ok(envelope::open(key, &value_context(pointer)?, &sealed)?)
    }

    /// The id of the data key a sealed value names (from its header; nothing is decrypted). Lets
    /// the server count the values still using each key.
    pub fn sealed_key_id(bytes: &[u8]) -> Result<KeyId> {
        Ok(Envelope::from_bytes(bytes)?.key_id())
    }

    /// Whether a sealed value is under a key other than the current one. A value whose header
    /// cannot be parsed is reported as not needing a re-wrap: [`open_value`](Self::open_value)
    /// reports what is wrong with it.
    pub fn needs_rewrap(&self, bytes: &[u8]) -> bool {
        Self::sealed_key_id(bytes).is_ok_and(|id| id != self.current)
    }

    /// Opens a value and seals it again under the current key (always a fresh envelope).
    pub fn rewrap(&self, pointer: &[u8; 32], bytes: &[u8]) -> Result<Vec<u8>> {
        let plaintext = self.open_value(pointer, bytes)?;
        self.seal_value(pointer, plaintext.expose_secret())
    }

    /// Makes a new data key wrapped by `kms` without changing the keyring.
    pub fn prepare_rotation(&self, kms: &dyn Kms) -> Result<DataKeyRotation> {
        new_data_key(kms, unix_now())
    }

    /// Makes a prepared key current; the old current key stays, for opening old values. Returns
    /// the id of the key that was current.
    pub fn commit_rotation(&mut self, rotation: DataKeyRotation) -> KeyId {
        let DataKeyRotation { key, row } = rotation;
        let previous = self.current;
        self.current = key.id();
        self.current_created = row.created;
        self.keys.insert(key.id(), key);
        previous
    }

    /// Makes a new current data key wrapped by `kms` and returns its row, which the caller must
    /// persist before sealing anything under it (see the module docs for the safe order).
    pub fn rotate(&mut self, kms: &dyn Kms) -> Result<DataKeyRow> {
        let rotation = self.prepare_rotation(kms)?;
        let row = rotation.row.clone();
        self.commit_rotation(rotation);
        Ok(row)
    }

    /// Drops a non-current key that no value uses any more (`values_still_using` is the server's
    /// count of values sealed under it). The server then marks its row `retired`.
    pub fn retire(&mut self, key_id: KeyId, values_still_using: u64) -> Result<()> {
        if key_id == self.current {
            return Err(KmsError::RetireCurrent(key_id));
        }
        if !self.keys.contains_key(&key_id) {
            return Err(KmsError::UnknownDataKey(key_id));
        }
        if values_still_using > 0 {
            return Err(KmsError::KeyInUse {
                id: key_id,
                values: values_still_using,
            });
        }
        self.keys.remove(&key_id);
        Ok(())
    }
}

fn new_data_key(kms: &dyn Kms, created: i64) -> Result<DataKeyRotation> {
    let key = SymmetricKey::generate()?;
    let wrapped = kms.wrap(&key, &data_key_context(key.id())?)?;
    let row = DataKeyRow {
        id: key.id(),
        wrapped,
        state: DataKeyState::Current,
        created,
    };
    Ok(DataKeyRotation { key, row })
}

fn unwrap_row(kms: &dyn Kms, row: &DataKeyRow) -> Result<SymmetricKey> {
    let inside = crate::wrapped::WrappedKeyHeader::peek(&row.wrapped)?.key_id;
    if inside != row.id {
        return Err(KmsError::BadKeyring(format!(
            "the row holds wrapped key {inside}"
        )));
    }
    let key = kms.unwrap(&row.wrapped, &data_key_context(row.id)?)?;
    if key.id() != row.id {
        return Err(KmsError::BadKeyring(format!(
            "the row's wrapped key has id {}",
            key.id()
        )));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use coffer_crypto::CryptoError;

    use super::*;
    use crate::LocalFileKms;

    const P1: [u8; 32] = [0x11; 32];
    const P2: [u8; 32] = [0x22; 32];

    fn kms() -> (tempfile::TempDir, LocalFileKms) {
        let dir = tempfile::tempdir().unwrap();
        let kms = LocalFileKms::open_or_create(dir.path().join("master.key")).unwrap();
        (dir, kms)
    }

    fn demote(rows: &mut [DataKeyRow], id: KeyId) {
        for r in rows.iter_mut().filter(|r| r.id == id) {
            r.state = DataKeyState::Previous;
        }
    }

    #[test]
    fn value_context_encoding_is_stable() {
        // Do not modify if it fails: stored values depend on it.
        let mut expected = b"coffer.ctx.v1\x00\x40\x08\x00\x40".to_vec();
        expected.extend_from_slice("11".repeat(32).as_bytes());
        expected.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(value_context(&P1).unwrap().encode(), expected);
        let mut expected = b"coffer.ctx.v1\x00\x41\x08\x00\x20".to_vec();
        expected.extend_from_slice("ab".repeat(16).as_bytes());
        expected.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            data_key_context(KeyId([0xab; 16])).unwrap().encode(),
            expected
        );
    }

    #[test]
    fn seal_open_round_trip_with_aes_gcm_and_key_id_in_header() {
        let (_d, kms) = kms();
        let (ring, row) = DataKeyring::create(&kms).unwrap();
        assert_eq!(row.state, DataKeyState::Current);
        assert_eq!(row.id, ring.current_key_id());
        let sealed = ring.seal_value(&P1, b"value bytes").unwrap();
        let env = Envelope::from_bytes(&sealed).unwrap();
        assert_eq!(env.algorithm(), Algorithm::Aes256Gcm);
        assert_eq!(env.key_id(), ring.current_key_id());
        assert_eq!(DataKeyring::sealed_key_id(&sealed).unwrap(), row.id);
        assert_eq!(sealed.len(), Algorithm::Aes256Gcm.sealed_len(11));
        assert!(!sealed.windows(11).any(|w| w == b"value bytes"));
        assert_eq!(
            ring.open_value(&P1, &sealed).unwrap().expose_secret(),
            b"value bytes"
        );
        let empty = ring.seal_value(&P1, b"").unwrap();
        assert!(ring.open_value(&P1, &empty).unwrap().is_empty());
    }

    #[test]
    fn a_value_moved_to_another_pointer_fails() {
        let (_d, kms) = kms();
        let (ring, _) = DataKeyring::create(&kms).unwrap();
        let sealed = ring.seal_value(&P1, b"value").unwrap();
        assert!(matches!(
            ring.open_value(&P2, &sealed),
            Err(KmsError::Crypto(CryptoError::OpenFailed))
        ));
        let mut near = P1;
        near[31] ^= 1;
        assert!(ring.open_value(&near, &sealed).is_err());
    }

    #[test]
    fn every_bit_flip_fails() {
        let (_d, kms) = kms();
        let (ring, _) = DataKeyring::create(&kms).unwrap();
        let sealed = ring.seal_value(&P1, b"some value").unwrap();
        for i in 0..sealed.len() {
            for bit in [0x01, 0x80] {
                let mut bad = sealed.clone();
                bad[i] ^= bit;
                let err = ring.open_value(&P1, &bad).unwrap_err();
                if (2..18).contains(&i) {
                    assert!(matches!(err, KmsError::UnknownDataKey(_)), "{i}: {err:?}");
                } else if i >= 18 {
                    assert!(
                        matches!(err, KmsError::Crypto(CryptoError::OpenFailed)),
                        "{i}: {err:?}"
                    );
                }
            }
        }
        // Truncated values fail too.
        assert!(ring.open_value(&P1, &sealed[..sealed.len() - 1]).is_err());
        assert!(ring.open_value(&P1, &[]).is_err());
    }

    #[test]
    fn rotate_rewrap_and_retire() {
        let (_d, kms) = kms();
        let (mut ring, first) = DataKeyring::create(&kms).unwrap();
        let old = ring.seal_value(&P1, b"old value").unwrap();
        assert!(!ring.needs_rewrap(&old));

        let second = ring.rotate(&kms).unwrap();
        assert_ne!(second.id, first.id);
        assert_eq!(second.state, DataKeyState::Current);
        assert_eq!(ring.current_key_id(), second.id);
        assert_eq!(ring.key_ids().len(), 2);

        // New writes use the new key; old values still open.
        let new = ring.seal_value(&P2, b"new value").unwrap();
        assert_eq!(DataKeyring::sealed_key_id(&new).unwrap(), second.id);
        assert!(!ring.needs_rewrap(&new));
        assert_eq!(
            ring.open_value(&P1, &old).unwrap().expose_secret(),
            b"old value"
        );
        assert!(ring.needs_rewrap(&old));
        assert!(!ring.needs_rewrap(b"not an envelope"));

        // Retiring: refused for the current key, refused while in use, allowed after re-wrap.
        assert!(matches!(
            ring.retire(second.id, 0),
            Err(KmsError::RetireCurrent(id)) if id == second.id
        ));
        match ring.retire(first.id, 1) {
            Err(e @ KmsError::KeyInUse { values: 1, .. }) => {
                assert!(e.to_string().contains(&first.id.to_hex()));
            }
            other => panic!("expected KeyInUse, got {other:?}"),
        }
        assert!(ring.contains(first.id));

        let moved = ring.rewrap(&P1, &old).unwrap();
        assert_eq!(DataKeyring::sealed_key_id(&moved).unwrap(), second.id);
        assert!(!ring.needs_rewrap(&moved));
        assert!(
            ring.rewrap(&P2, &old).is_err(),
            "rewrap must check the pointer"
        );

        ring.retire(first.id, 0).unwrap();
        assert!(!ring.contains(first.id));
        assert_eq!(
            ring.open_value(&P1, &moved).unwrap().expose_secret(),
            b"old value"
        );
        assert!(matches!(
            ring.open_value(&P1, &old),
            Err(KmsError::UnknownDataKey(id)) if id == first.id
        ));
        assert!(matches!(
            ring.retire(first.id, 0),
            Err(KmsError::UnknownDataKey(_))
        ));
    }

    #[test]
    fn load_from_rows_reproduces_the_keyring() {
        let (dir, kms) = kms();
        let (mut ring, first) = DataKeyring::create(&kms).unwrap();
        let old = ring.seal_value(&P1, b"old").unwrap();
        let mut rotation = ring.prepare_rotation(&kms).unwrap();
        rotation.row.created = first.created + 10;
        let second = rotation.row().clone();
        assert_eq!(ring.current_key_id(), first.id, "prepare changes nothing");
        assert_eq!(ring.commit_rotation(rotation), first.id);
        let new = ring.seal_value(&P2, b"new").unwrap();
        let mut rows = vec![first.clone(), second.clone()];
        demote(&mut rows, first.id);

        // Another process, same key file: a fresh KMS instance.
        let kms2 = LocalFileKms::load(dir.path().join("master.key")).unwrap();
        let loaded = DataKeyring::load(&kms2, &rows).unwrap();
        assert_eq!(loaded.current_key_id(), second.id);
        assert_eq!(loaded.current_created(), second.created);
        assert_eq!(loaded.key_ids(), ring.key_ids());
        assert_eq!(
            loaded.open_value(&P1, &old).unwrap().expose_secret(),
            b"old"
        );
        assert_eq!(
            loaded.open_value(&P2, &new).unwrap().expose_secret(),
            b"new"
        );
        let fresh = loaded.seal_value(&P1, b"x").unwrap();
        assert_eq!(ring.open_value(&P1, &fresh).unwrap().expose_secret(), b"x");

        // A crash before demoting the old row: the newest current row wins.
        let both_current = vec![second.clone(), first.clone()];
        let loaded = DataKeyring::load(&kms2, &both_current).unwrap();
        assert_eq!(loaded.current_key_id(), second.id);
        assert!(loaded.contains(first.id));
        let loaded = DataKeyring::load(&kms2, &[first.clone(), second.clone()]).unwrap();
        assert_eq!(loaded.current_key_id(), second.id);

        // Retired rows are not loaded (and need not unwrap).
        let mut retired = rows.clone();
        retired[0].state = DataKeyState::Retired;
        retired[0].wrapped = vec![0xff];
        let loaded = DataKeyring::load(&kms2, &retired).unwrap();
        assert!(!loaded.contains(first.id));
        assert!(matches!(
            loaded.open_value(&P1, &old),
            Err(KmsError::UnknownDataKey(_))
        ));
    }

    #[test]
    fn load_refuses_inconsistent_rows() {
        let (_d, kms) = kms();
        let (_, first) = DataKeyring::create(&kms).unwrap();
        let (_, other) = DataKeyring::create(&kms).unwrap();

        let mut none = vec![first.clone()];
        demote(&mut none, first.id);
        assert!(matches!(
            DataKeyring::load(&kms, &none),
            Err(KmsError::BadKeyring(_))
        ));
        assert!(matches!(
            DataKeyring::load(&kms, &[]),
            Err(KmsError::BadKeyring(_))
        ));
        assert!(matches!(
            DataKeyring::load(&kms, &[first.clone(), first.clone()]),
            Err(KmsError::BadKeyring(_))
        ));
        let mut tie = other.clone();
        tie.created = first.created;
        assert!(matches!(
            DataKeyring::load(&kms, &[first.clone(), tie]),
            Err(KmsError::BadKeyring(_))
        ));

        // A row holding another key's wrapped blob, under either id.
        let swapped = DataKeyRow {
            id: first.id,
            wrapped: other.wrapped.clone(),
            ..first.clone()
        };
        match DataKeyring::load(&kms, &[swapped]) {
            Err(e @ KmsError::LoadDataKey { .. }) => {
                assert!(e.to_string().contains(&first.id.to_hex()), "{e}");
            }
            other => panic!("expected LoadDataKey, got {other:?}"),
        }
        // Header rewritten to match the row: the KMS refuses (the id is authenticated).
        let mut forged = other.wrapped.clone();
        forged[20..36].copy_from_slice(&first.id.0);
        let forged = DataKeyRow {
            wrapped: forged,
            ..first.clone()
        };
        assert!(matches!(
            DataKeyring::load(&kms, &[forged]),
            Err(KmsError::LoadDataKey { ref source, .. })
                if matches!(**source, KmsError::Crypto(CryptoError::OpenFailed))
        ));

        // A data key wrapped under another context (not DataKey for its id) does not load.
        let key = SymmetricKey::generate().unwrap();
        let wrong_ctx = DataKeyRow {
            id: key.id(),
            wrapped: kms
                .wrap(&key, &Context::new(Purpose::WorkspaceKey))
                .unwrap(),
            state: DataKeyState::Current,
            created: 0,
        };
        assert!(DataKeyring::load(&kms, &[wrong_ctx]).is_err());

        // Rows from another master key.
        let (_d2, kms2) = self::kms();
        assert!(matches!(
            DataKeyring::load(&kms2, &[first]),
            Err(KmsError::LoadDataKey { ref source, .. })
                if matches!(**source, KmsError::WrongMasterKey { .. })
        ));
    }

    #[test]
    fn rotation_schedule() {
        let day = Duration::from_secs(86_400);
        assert!(!rotation_due(1_000, 1_000, day));
        assert!(!rotation_due(1_000, 1_000 + 86_399, day));
        assert!(rotation_due(1_000, 1_000 + 86_400, day));
        assert!(!rotation_due(1_000, 999, day), "clock went backwards");
        assert!(!rotation_due(i64::MAX, i64::MIN, day));
        assert!(!rotation_due(0, i64::MAX - 1, Duration::MAX));
        assert!(rotation_due(5, 5, Duration::ZERO));

        let (_d, kms) = kms();
        let (ring, row) = DataKeyring::create(&kms).unwrap();
        assert!((unix_now() - row.created).abs() < 5);
        assert!(!ring.rotation_due(row.created + 10, day));
        assert!(ring.rotation_due(row.created + 86_400, day));
    }

    #[test]
    fn states_round_trip_and_debug_hides_keys() {
        for s in [
            DataKeyState::Current,
            DataKeyState::Previous,
            DataKeyState::Retired,
        ] {
            assert_eq!(DataKeyState::from_name(s.as_str()).unwrap(), s);
        }
        assert!(DataKeyState::from_name("active").is_err());

        let (_d, kms) = kms();
        let (ring, row) = DataKeyring::create(&kms).unwrap();
        let key = kms
            .unwrap(&row.wrapped, &data_key_context(row.id).unwrap())
            .unwrap();
        let hex = data_encoding::HEXLOWER.encode(key.expose_secret());
        let shown = format!("{ring:?} {row:?}");
        assert!(shown.contains(&row.id.to_hex()));
        assert!(!shown.contains(&hex[..16]), "{shown}");
    }
}
