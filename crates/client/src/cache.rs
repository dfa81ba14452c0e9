//! The encrypted local cache (`docs/protocol.md` §14.3): `cache.bin` in the profile folder.
//!
//! It holds everything the last sync verified: per vault its id, workspace, role, epoch, the
//! opened vault keys by epoch, the last verified compact manifest and its head, the decrypted
//! vault record, and per item its id, revision, epoch, counter, sealed bytes, content hash and
//! decrypted overview (for search). The whole file is one stream (§7) under the **cache key** =
//! HKDF(device seed, `coffer.cache.v1`) with context (Purpose `LocalCache`, item = device id),
//! written to a 0600 temporary file and renamed over the old one.
//!
//! The plaintext is a compact binary form (big-endian integers, `u32` length prefixes), parsed
//! with bounds checks: a malformed or altered file is a clear error, never a panic.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use coffer_crypto::context::{Context, Purpose};
use coffer_crypto::hkdf::hkdf_sha256;
use coffer_crypto::manifest::ManifestHead;
use coffer_crypto::secret::SecretBytes;
use coffer_crypto::{KeyId, KeyPair, SymmetricKey, decrypt_stream, encrypt_stream};
use coffer_proto::vault::VaultRole;
use coffer_proto::{DeviceId, UserId, VaultId, WorkspaceId};
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};
use crate::model::{ItemType, Overview, VaultRecord};

/// File name of the cache in the profile folder.
pub const CACHE_FILE: &str = "cache.bin";

const MAGIC: &[u8; 4] = b"CFC1";
const VERSION: u8 = 1;
const CACHE_LABEL: &[u8] = b"coffer.cache.v1";
const CACHE_ID_LABEL: &[u8] = b"coffer.cache.id.v1";

/// One item as the cache keeps it.
#[derive(Clone)]
pub(crate) struct CachedItem {
    /// Item revision.
    pub(crate) revision: u64,
    /// Key epoch.
    pub(crate) epoch: u32,
    /// Manifest counter of the write that made this revision.
    pub(crate) counter: u64,
    /// SHA-256 of the sealed bytes (computed by this client).
    pub(crate) hash: [u8; 32],
    /// The sealed item.
    pub(crate) sealed: Vec<u8>,
    /// The decrypted overview (none for the vault record).
    pub(crate) overview: Option<Overview>,
}

/// One vault as the cache keeps it.
pub(crate) struct CachedVault {
    pub(crate) id: VaultId,
    pub(crate) workspace: Option<WorkspaceId>,
    pub(crate) role: VaultRole,
    pub(crate) epoch: u32,
    pub(crate) counter: u64,
    /// The last verified manifest, compact form.
    pub(crate) manifest: Vec<u8>,
    pub(crate) head: ManifestHead,
    pub(crate) record: VaultRecord,
    /// Opened vault keys by epoch.
    pub(crate) keys: BTreeMap<u32, SymmetricKey>,
    pub(crate) items: BTreeMap<[u8; 16], CachedItem>,
}

impl Clone for CachedVault {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            workspace: self.workspace,
            role: self.role,
            epoch: self.epoch,
            counter: self.counter,
            manifest: self.manifest.clone(),
            head: self.head,
            record: self.record.clone(),
            keys: self.keys.iter().map(|(e, k)| (*e, k.duplicate())).collect(),
            items: self.items.clone(),
        }
    }
}

impl CachedVault {
    /// The workspace id as used in contexts (zeros for a personal vault).
    pub(crate) fn workspace_bytes(&self) -> [u8; 16] {
        self.workspace
            .map(|w| *w.as_uuid().as_bytes())
            .unwrap_or([0; 16])
    }

    /// The vault id's bytes.
    pub(crate) fn id_bytes(&self) -> [u8; 16] {
        *self.id.as_uuid().as_bytes()
    }
}

/// Everything the cache holds.
#[derive(Clone)]
pub(crate) struct CacheState {
    /// Unix seconds of the last successful sync.
    pub(crate) synced_at: i64,
    pub(crate) user_id: UserId,
    pub(crate) device_id: DeviceId,
    pub(crate) vaults: BTreeMap<[u8; 16], CachedVault>,
}

impl CacheState {
    /// An empty cache for a user's device.
    pub(crate) fn empty(user_id: UserId, device_id: DeviceId) -> Self {
        Self {
            synced_at: 0,
            user_id,
            device_id,
            vaults: BTreeMap::new(),
        }
    }
}

fn cache_key(device: &KeyPair, device_id: &DeviceId) -> Result<SymmetricKey> {
    let seed = device.seed().expose_secret();
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf_sha256(&[], seed, &[CACHE_LABEL], key.as_mut())?;
    let mut id = [0u8; 16];
    hkdf_sha256(
        &[],
        seed,
        &[CACHE_ID_LABEL, device_id.as_uuid().as_bytes()],
        &mut id,
    )?;
    Ok(SymmetricKey::from_secret(
        KeyId(id),
        SecretBytes::from_array(*key),
    )?)
}

fn cache_context(device_id: &DeviceId) -> Context {
    Context::new(Purpose::LocalCache).with_item(*device_id.as_uuid().as_bytes())
}

/// Path of the cache of a profile folder.
pub(crate) fn cache_path(dir: &Path) -> PathBuf {
    dir.join(CACHE_FILE)
}

/// Loads the cache (`None` when there is none yet). A file that does not decrypt or parse is
/// a clear error naming the file.
pub(crate) fn load(
    path: &Path,
    device: &KeyPair,
    device_id: &DeviceId,
) -> Result<Option<CacheState>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClientError::io(path, e)),
    };
    let key = cache_key(device, device_id)?;
    let mut plain = Zeroizing::new(Vec::with_capacity(bytes.len()));
    decrypt_stream(&key, &cache_context(device_id), &bytes[..], &mut *plain).map_err(|e| {
        ClientError::config(
            path,
            format!(
                "the local cache does not decrypt ({e}): it was altered or written by another \
                 device; delete it and run `coffer sync` to rebuild it"
            ),
        )
    })?;
    let state = decode(&plain).map_err(|reason| {
        ClientError::config(
            path,
            format!("the local cache is malformed ({reason}); delete it and run `coffer sync`"),
        )
    })?;
    if state.device_id != *device_id {
        return Err(ClientError::config(
            path,
            "the local cache belongs to another device; delete it and run `coffer sync`",
        ));
    }
    Ok(Some(state))
}

/// Writes the cache: encrypted to a 0600 temporary file in the same folder, then renamed.
pub(crate) fn save(path: &Path, state: &CacheState, device: &KeyPair) -> Result<()> {
    let plain = encode(state);
    let key = cache_key(device, &state.device_id)?;
    let mut out = Vec::with_capacity(plain.len() + plain.len() / 4096 * 16 + 128);
    encrypt_stream(&key, &cache_context(&state.device_id), &plain[..], &mut out)?;
    let tmp = path.with_extension("bin.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(&out)?;
        f.sync_all()?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(ClientError::io(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| ClientError::io(path, e))
}

// ---- binary form ----

struct W(Zeroizing<Vec<u8>>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn raw(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    fn bytes(&mut self, v: &[u8]) {
        // Lengths in the cache are bounded far below 4 GiB (frames are ≤ 16 MiB).
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.raw(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn opt_str(&mut self, v: &Option<String>) {
        match v {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }
    fn strs(&mut self, v: &[String]) {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        for s in v {
            self.str(s);
        }
    }
}

fn role_code(r: VaultRole) -> u8 {
    match r {
        VaultRole::Viewer => 1,
        VaultRole::Editor => 2,
        VaultRole::Manager => 3,
    }
}

fn type_code(t: ItemType) -> u8 {
    match t {
        ItemType::Login => 1,
        ItemType::Note => 2,
        ItemType::Secret => 3,
        ItemType::Card => 4,
        ItemType::Identity => 5,
    }
}

pub(crate) fn encode(s: &CacheState) -> Zeroizing<Vec<u8>> {
    let size: usize = s
        .vaults
        .values()
        .map(|v| {
            512 + v
                .items
                .values()
                .map(|i| i.sealed.len() + 256)
                .sum::<usize>()
        })
        .sum();
    let mut w = W(Zeroizing::new(Vec::with_capacity(size + 64)));
    w.raw(MAGIC);
    w.u8(VERSION);
    w.u64(s.synced_at as u64);
    w.raw(s.user_id.as_uuid().as_bytes());
    w.raw(s.device_id.as_uuid().as_bytes());
    w.u32(u32::try_from(s.vaults.len()).unwrap_or(u32::MAX));
    for v in s.vaults.values() {
        w.raw(v.id.as_uuid().as_bytes());
        match v.workspace {
            Some(ws) => {
                w.u8(1);
                w.raw(ws.as_uuid().as_bytes());
            }
            None => w.u8(0),
        }
        w.u8(role_code(v.role));
        w.u32(v.epoch);
        w.u64(v.counter);
        w.bytes(&v.manifest);
        w.u64(v.head.counter);
        w.u32(v.head.epoch);
        w.raw(&v.head.root);
        w.str(&v.record.name);
        w.opt_str(&v.record.description);
        w.u32(u32::try_from(v.keys.len()).unwrap_or(u32::MAX));
        for (epoch, k) in &v.keys {
            w.u32(*epoch);
            w.raw(&k.id().0);
            w.raw(k.expose_secret());
        }
        w.u32(u32::try_from(v.items.len()).unwrap_or(u32::MAX));
        for (id, it) in &v.items {
            w.raw(id);
            w.u64(it.revision);
            w.u32(it.epoch);
            w.u64(it.counter);
            w.raw(&it.hash);
            w.bytes(&it.sealed);
            match &it.overview {
                Some(o) => {
                    w.u8(type_code(o.item_type));
                    w.str(&o.name);
                    w.opt_str(&o.username);
                    w.strs(&o.urls);
                    w.strs(&o.tags);
                    w.u64(o.created_at as u64);
                    w.u64(o.updated_at as u64);
                }
                None => w.u8(0),
            }
        }
    }
    w.0
}

struct R<'a> {
    b: &'a [u8],
    at: usize,
}

type DResult<T> = core::result::Result<T, String>;

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> DResult<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> DResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> DResult<u8> {
        Ok(self.arr::<1>()?[0])
    }
    fn u32(&mut self) -> DResult<u32> {
        Ok(u32::from_be_bytes(self.arr()?))
    }
    fn u64(&mut self) -> DResult<u64> {
        Ok(u64::from_be_bytes(self.arr()?))
    }
    fn len(&mut self) -> DResult<usize> {
        let n = self.u32()? as usize;
        if n > self.b.len() - self.at {
            return Err(format!("length {n} past the end at byte {}", self.at));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> DResult<Vec<u8>> {
        let n = self.len()?;
        Ok(self.take(n)?.to_vec())
    }
    fn str(&mut self) -> DResult<String> {
        let at = self.at;
        String::from_utf8(self.bytes()?).map_err(|_| format!("invalid UTF-8 at byte {at}"))
    }
    fn opt_str(&mut self) -> DResult<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            t => Err(format!("bad option tag {t} at byte {}", self.at - 1)),
        }
    }
    fn strs(&mut self) -> DResult<Vec<String>> {
        let n = self.len()?;
        (0..n).map(|_| self.str()).collect()
    }
    fn uuid(&mut self) -> DResult<uuid::Uuid> {
        Ok(uuid::Uuid::from_bytes(self.arr()?))
    }
}

pub(crate) fn decode(b: &[u8]) -> DResult<CacheState> {
    let mut r = R { b, at: 0 };
    if r.take(4)? != MAGIC {
        return Err("not a Coffer cache".into());
    }
    let v = r.u8()?;
    if v != VERSION {
        return Err(format!("unknown cache version {v}"));
    }
    let synced_at = r.u64()? as i64;
    let user_id = UserId::from_uuid(r.uuid()?);
    let device_id = DeviceId::from_uuid(r.uuid()?);
    let nv = r.len()?;
    let mut vaults = BTreeMap::new();
    for _ in 0..nv {
        let id = VaultId::from_uuid(r.uuid()?);
        let workspace = match r.u8()? {
            0 => None,
            1 => Some(WorkspaceId::from_uuid(r.uuid()?)),
            t => return Err(format!("bad workspace tag {t}")),
        };
        let role = match r.u8()? {
            1 => VaultRole::Viewer,
            2 => VaultRole::Editor,
            3 => VaultRole::Manager,
            t => return Err(format!("bad role {t}")),
        };
        let epoch = r.u32()?;
        let counter = r.u64()?;
        let manifest = r.bytes()?;
        let head = ManifestHead {
            counter: r.u64()?,
            epoch: r.u32()?,
            root: r.arr()?,
        };
        let record = VaultRecord {
            name: r.str()?,
            description: r.opt_str()?,
        };
        let nk = r.len()?;
        let mut keys = BTreeMap::new();
        for _ in 0..nk {
            let e = r.u32()?;
            let kid = KeyId(r.arr()?);
            let secret = SecretBytes::<32>::from_slice(r.take(32)?)
                .map_err(|e| format!("bad vault key: {e}"))?;
            let key = SymmetricKey::from_secret(kid, secret)
                .map_err(|e| format!("bad vault key: {e}"))?;
            keys.insert(e, key);
        }
        let ni = r.len()?;
        let mut items = BTreeMap::new();
        for _ in 0..ni {
            let iid: [u8; 16] = r.arr()?;
            let revision = r.u64()?;
            let epoch = r.u32()?;
            let counter = r.u64()?;
            let hash = r.arr()?;
            let sealed = r.bytes()?;
            let overview = match r.u8()? {
                0 => None,
                t => {
                    let item_type = match t {
                        1 => ItemType::Login,
                        2 => ItemType::Note,
                        3 => ItemType::Secret,
                        4 => ItemType::Card,
                        5 => ItemType::Identity,
                        _ => return Err(format!("bad item type {t}")),
                    };
                    Some(Overview {
                        item_type,
                        name: r.str()?,
                        username: r.opt_str()?,
                        urls: r.strs()?,
                        tags: r.strs()?,
                        created_at: r.u64()? as i64,
                        updated_at: r.u64()? as i64,
                    })
                }
            };
            items.insert(
                iid,
                CachedItem {
                    revision,
                    epoch,
                    counter,
                    hash,
                    sealed,
                    overview,
                },
            );
        }
        vaults.insert(
            *id.as_uuid().as_bytes(),
            CachedVault {
                id,
                workspace,
                role,
                epoch,
                counter,
                manifest,
                head,
                record,
                keys,
                items,
            },
        );
    }
    if r.at != b.len() {
        return Err(format!("{} trailing bytes", b.len() - r.at));
    }
    Ok(CacheState {
        synced_at,
        user_id,
        device_id,
        vaults,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> CacheState {
        let mut s = CacheState::empty(UserId::new_random(), DeviceId::new_random());
        s.synced_at = 1_700_000_000;
        let id = VaultId::new_random();
        let mut keys = BTreeMap::new();
        keys.insert(1, SymmetricKey::generate().unwrap());
        let mut items = BTreeMap::new();
        for i in 0..n {
            let mut iid = [0u8; 16];
            iid[..8].copy_from_slice(&(i as u64).to_be_bytes());
            items.insert(
                iid,
                CachedItem {
                    revision: 3,
                    epoch: 1,
                    counter: i as u64,
                    hash: [7; 32],
                    sealed: vec![0xAB; 1200],
                    overview: Some(Overview {
                        item_type: ItemType::Login,
                        name: format!("item {i}"),
                        username: Some("me@example.com".into()),
                        urls: vec!["https://example.com".into()],
                        tags: vec!["work".into()],
                        created_at: 1,
                        updated_at: 2,
                    }),
                },
            );
        }
        s.vaults.insert(
            *id.as_uuid().as_bytes(),
            CachedVault {
                id,
                workspace: Some(WorkspaceId::new_random()),
                role: VaultRole::Manager,
                epoch: 1,
                counter: 9,
                manifest: vec![1; 177],
                head: ManifestHead {
                    counter: 9,
                    epoch: 1,
                    root: [3; 32],
                },
                record: VaultRecord {
                    name: "Personal".into(),
                    description: None,
                },
                keys,
                items,
            },
        );
        s
    }

    fn same(a: &CacheState, b: &CacheState) {
        assert_eq!(encode(a), encode(b));
    }

    #[test]
    fn round_trip_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_path(dir.path());
        let device = KeyPair::generate().unwrap();
        let s = sample(5);
        assert!(load(&path, &device, &s.device_id).unwrap().is_none());
        save(&path, &s, &device).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back = load(&path, &device, &s.device_id).unwrap().unwrap();
        same(&s, &back);
        let vault = back.vaults.values().next().unwrap();
        assert_eq!(
            vault.keys[&1].expose_secret(),
            s.vaults.values().next().unwrap().keys[&1].expose_secret()
        );
        // Another device cannot read it.
        let other = KeyPair::generate().unwrap();
        let err = load(&path, &other, &s.device_id).err().unwrap().to_string();
        assert!(err.contains("does not decrypt"), "{err}");
        // Flip one byte anywhere after the header: a clear error.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&path, &device, &s.device_id)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("cache.bin") && err.contains("does not decrypt"),
            "{err}"
        );
        // No plaintext in the file.
        assert!(!bytes.windows(8).any(|w| w == b"Personal"));
    }

    #[test]
    fn malformed_plaintext_is_rejected() {
        let s = sample(2);
        let enc = encode(&s);
        for cut in [0, 3, 5, 40, enc.len() / 2, enc.len() - 1] {
            assert!(decode(&enc[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = enc.to_vec();
        longer.push(0);
        assert!(decode(&longer).err().unwrap().contains("trailing"));
    }

    #[test]
    fn ten_thousand_items_load_fast() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_path(dir.path());
        let device = KeyPair::generate().unwrap();
        let s = sample(10_000);
        save(&path, &s, &device).unwrap();
        let mut best = std::time::Duration::MAX;
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let back = load(&path, &device, &s.device_id).unwrap().unwrap();
            best = best.min(t.elapsed());
            assert_eq!(back.vaults.values().next().unwrap().items.len(), 10_000);
        }
        eprintln!("load of 10k items: {best:?}");
        // Generous bound for debug builds on a shared machine; release is well under 20 ms.
        assert!(best < std::time::Duration::from_millis(500), "{best:?}");
    }
}
