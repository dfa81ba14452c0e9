//! Profiles: one client install's view of one account on one server.
//!
//! A profile (named `default` unless chosen otherwise) lives in its own folder:
//!
//! ```text
//! $COFFER_CONFIG_DIR/                  (tests), else
//! $XDG_CONFIG_HOME/coffer/             else ~/.config/coffer/
//!   profiles/NAME/                     mode 0700
//!     profile.json                     0600  server URL, email, user id, device id, pins
//!     session.json                     0600  the session token (never printed)
//!     device.key                       0600  the device key pair seed
//! ```
//!
//! `profile.json` holds no secret: the server URL, the email, the user and device ids, the
//! device's name, the identity public keys pinned at the last verified login, the KSF parameters
//! and the highest account-state format version seen (no downgrade below it).
//!
//! **Device keys** (protocol.md §14.1). `device.key` (0600) is
//! `{"version":2,"device_id":…,"sealed":"<b64 envelope>"}`: the device key pair seed sealed under
//! the device KEK, which needs the device's local secret (OS keychain, or `device.secret`) and the
//! server share (released only after a password login), see [`crate::keystore`]. A version-1 file
//! (`"seed":"<hex>"`, the plain seed written by earlier releases) is still read and is rewritten
//! as version 2 at the next login. The unlocked state (`unlocked.bin`, `unlock.key`) is described
//! in [`crate::unlock`].
//!
//! Every file is written to a temporary file created 0600 in the same folder, synced, then
//! renamed over the old one, so a crash leaves the old or the new file, never a torn one.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_crypto::Envelope;
use coffer_crypto::identity::KeyPair;
use coffer_crypto::secret::Seed;
use coffer_proto::api::KsfParams;
use coffer_proto::{DeviceId, SessionId, UserId};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};

/// Environment variable that overrides the configuration folder (tests, portable installs).
pub const CONFIG_DIR_ENV: &str = "COFFER_CONFIG_DIR";
/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

const PROFILE_FILE: &str = "profile.json";
const SESSION_FILE: &str = "session.json";
const DEVICE_KEY_FILE: &str = "device.key";

/// The configuration folder: `$COFFER_CONFIG_DIR`, else `$XDG_CONFIG_HOME/coffer`, else
/// `~/.config/coffer`.
pub fn config_root() -> Result<PathBuf> {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty(CONFIG_DIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = non_empty("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(dir).join("coffer"));
    }
    if let Some(home) = non_empty("HOME") {
        return Ok(PathBuf::from(home).join(".config").join("coffer"));
    }
    Err(ClientError::Invalid(format!(
        "cannot find a configuration folder: set {CONFIG_DIR_ENV}, XDG_CONFIG_HOME or HOME"
    )))
}

/// Checks a profile name: 1–64 characters of `[A-Za-z0-9._-]`, not starting with a dot.
pub fn check_profile_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ClientError::Invalid(format!(
            "invalid profile name {name:?}: use letters, digits, '.', '_' or '-'"
        )))
    }
}

/// What `profile.json` holds (no secrets).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileConfig {
    /// Format version of this file.
    pub version: u32,
    /// The server's base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The account's email (normalised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The account's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// This install's device id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    /// This install's device name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The identity public keys (64 bytes, hex) pinned at the last verified login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_public: Option<String>,
    /// The account's KSF parameters as last verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ksf: Option<KsfParams>,
    /// The highest account-state format version this profile has seen (0: none yet).
    #[serde(default)]
    pub account_state_version: u8,
}

/// The session of a profile, as stored in `session.json`.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredSession {
    /// The session's id.
    pub session_id: SessionId,
    /// The bearer token (secret).
    pub token: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

impl core::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoredSession")
            .field("session_id", &self.session_id)
            .field("token", &"***")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct DeviceKeyFile {
    version: u32,
    device_id: DeviceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
}

/// What `device.key` holds.
pub enum StoredDeviceKey {
    /// Version 1 (earlier releases): the plain seed. Rewritten as version 2 at the next login.
    Plain {
        /// The device.
        device_id: DeviceId,
        /// Its key pair (boxed: it dwarfs the other variant).
        keys: Box<KeyPair>,
    },
    /// Version 2: the seed sealed under the device KEK (protocol.md §14.1).
    Sealed {
        /// The device.
        device_id: DeviceId,
        /// The envelope sealing the seed.
        sealed: Envelope,
    },
}

impl StoredDeviceKey {
    /// The device id the file names.
    pub fn device_id(&self) -> DeviceId {
        match self {
            StoredDeviceKey::Plain { device_id, .. }
            | StoredDeviceKey::Sealed { device_id, .. } => *device_id,
        }
    }
}

impl core::fmt::Debug for StoredDeviceKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let version = match self {
            StoredDeviceKey::Plain { .. } => 1,
            StoredDeviceKey::Sealed { .. } => 2,
        };
        f.debug_struct("StoredDeviceKey")
            .field("version", &version)
            .field("device_id", &self.device_id())
            .finish_non_exhaustive()
    }
}

/// One profile folder.
#[derive(Debug, Clone)]
pub struct Profile {
    name: String,
    dir: PathBuf,
}

impl Profile {
    /// The profile `name` under the configuration root (nothing is created yet).
    pub fn open(name: &str) -> Result<Self> {
        Self::open_in(&config_root()?, name)
    }

    /// The profile `name` under `root`.
    pub fn open_in(root: &Path, name: &str) -> Result<Self> {
        check_profile_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            dir: root.join("profiles").join(name),
        })
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The profile's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn ensure_dir(&self) -> Result<()> {
        if !self.dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| ClientError::io(&self.dir, e))?;
        }
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| ClientError::io(&self.dir, e))
    }

    /// The path of `file` in the profile folder.
    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Writes `bytes` to `file` atomically with mode 0600.
    pub(crate) fn write_private(&self, file: &str, bytes: &[u8]) -> Result<()> {
        self.ensure_dir()?;
        let path = self.dir.join(file);
        let tmp = self.dir.join(format!(".{file}.tmp"));
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| ClientError::io(&tmp, e))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| ClientError::io(&tmp, e))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(|e| ClientError::io(&path, e))?;
        Ok(())
    }

    pub(crate) fn read_optional(&self, file: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let path = self.dir.join(file);
        match fs::read(&path) {
            Ok(b) => Ok(Some(Zeroizing::new(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClientError::io(path, e)),
        }
    }

    pub(crate) fn remove(&self, file: &str) -> Result<()> {
        let path = self.dir.join(file);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ClientError::io(path, e)),
        }
    }

    /// The profile's configuration (empty if the profile is new).
    pub fn config(&self) -> Result<ProfileConfig> {
        match self.read_optional(PROFILE_FILE)? {
            None => Ok(ProfileConfig {
                version: 1,
                ..ProfileConfig::default()
            }),
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| ClientError::config(self.dir.join(PROFILE_FILE), e.to_string())),
        }
    }

    /// Saves the configuration.
    pub fn save_config(&self, cfg: &ProfileConfig) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(cfg)
            .map_err(|e| ClientError::config(self.dir.join(PROFILE_FILE), e.to_string()))?;
        self.write_private(PROFILE_FILE, &bytes)
    }

    /// The stored session, if any.
    pub fn session(&self) -> Result<Option<StoredSession>> {
        match self.read_optional(SESSION_FILE)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|_| ClientError::config(self.dir.join(SESSION_FILE), "corrupt session")),
        }
    }

    /// Stores the session (0600).
    pub fn save_session(&self, s: &StoredSession) -> Result<()> {
        let bytes = Zeroizing::new(
            serde_json::to_vec(s)
                .map_err(|_| ClientError::config(self.dir.join(SESSION_FILE), "encode"))?,
        );
        self.write_private(SESSION_FILE, &bytes)
    }

    /// Forgets the session.
    pub fn clear_session(&self) -> Result<()> {
        self.remove(SESSION_FILE)
    }

    /// What `device.key` holds, if this profile has one. A malformed file is a clear error.
    pub fn device_key(&self) -> Result<Option<StoredDeviceKey>> {
        let path = self.dir.join(DEVICE_KEY_FILE);
        let Some(b) = self.read_optional(DEVICE_KEY_FILE)? else {
            return Ok(None);
        };
        let file: DeviceKeyFile = serde_json::from_slice(&b)
            .map_err(|_| ClientError::config(&path, "corrupt device key file"))?;
        let DeviceKeyFile {
            version,
            device_id,
            seed,
            sealed,
        } = file;
        let seed = seed.map(Zeroizing::new);
        match (version, seed, sealed) {
            (1, Some(seed), None) => {
                let raw = Zeroizing::new(
                    hex::decode(seed.trim())
                        .map_err(|_| ClientError::config(&path, "corrupt seed"))?,
                );
                let seed =
                    Seed::from_slice(&raw).map_err(|_| ClientError::config(&path, "bad seed"))?;
                Ok(Some(StoredDeviceKey::Plain {
                    device_id,
                    keys: Box::new(KeyPair::from_seed(&seed)?),
                }))
            }
            (2, None, Some(sealed)) => {
                let bytes = URL_SAFE_NO_PAD
                    .decode(sealed.trim())
                    .map_err(|_| ClientError::config(&path, "corrupt sealed device key"))?;
                let sealed = Envelope::from_vec(bytes).map_err(|e| {
                    ClientError::config(&path, format!("corrupt sealed device key: {e}"))
                })?;
                Ok(Some(StoredDeviceKey::Sealed { device_id, sealed }))
            }
            (1 | 2, _, _) => Err(ClientError::config(&path, "corrupt device key file")),
            (v, _, _) => Err(ClientError::config(
                &path,
                format!("unknown device key file version {v}"),
            )),
        }
    }

    /// Stores the device seed sealed under the device KEK (version 2, 0600).
    pub fn save_sealed_device_key(&self, device_id: DeviceId, sealed: &Envelope) -> Result<()> {
        let file = DeviceKeyFile {
            version: 2,
            device_id,
            seed: None,
            sealed: Some(URL_SAFE_NO_PAD.encode(sealed.as_bytes())),
        };
        let bytes = serde_json::to_vec(&file)
            .map_err(|_| ClientError::config(self.dir.join(DEVICE_KEY_FILE), "encode"))?;
        self.write_private(DEVICE_KEY_FILE, &bytes)
    }

    /// Stores the plain seed in the legacy version-1 form. Nothing in the client writes it any
    /// more; it exists to test the migration to version 2.
    #[doc(hidden)]
    pub fn save_legacy_device_key(&self, device_id: DeviceId, keys: &KeyPair) -> Result<()> {
        let file = DeviceKeyFile {
            version: 1,
            device_id,
            seed: Some(hex::encode(keys.seed().expose_secret())),
            sealed: None,
        };
        let bytes = Zeroizing::new(
            serde_json::to_vec(&file)
                .map_err(|_| ClientError::config(self.dir.join(DEVICE_KEY_FILE), "encode"))?,
        );
        let DeviceKeyFile { seed, .. } = file;
        drop(seed.map(Zeroizing::new));
        self.write_private(DEVICE_KEY_FILE, &bytes)
    }

    /// Deletes the device key (after the device was revoked, or to start over).
    pub fn clear_device_key(&self) -> Result<()> {
        self.remove(DEVICE_KEY_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_private_and_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let p = Profile::open_in(tmp.path(), "work").unwrap();
        assert_eq!(p.config().unwrap().server, None);
        let cfg = ProfileConfig {
            version: 1,
            server: Some("http://127.0.0.1:1/".into()),
            email: Some("a@b.c".into()),
            account_state_version: 1,
            ..ProfileConfig::default()
        };
        p.save_config(&cfg).unwrap();
        assert_eq!(p.config().unwrap(), cfg);
        let s = StoredSession {
            session_id: SessionId::new_random(),
            token: "tok".into(),
            expires_at: 5,
        };
        p.save_session(&s).unwrap();
        assert_eq!(p.session().unwrap().unwrap().token, "tok");
        assert!(!format!("{s:?}").contains("tok\""));
        let kp = KeyPair::generate().unwrap();
        let id = DeviceId::new_random();
        p.save_legacy_device_key(id, &kp).unwrap();
        match p.device_key().unwrap().unwrap() {
            StoredDeviceKey::Plain { device_id, keys } => {
                assert_eq!(device_id, id);
                assert_eq!(keys.public(), kp.public());
            }
            other => panic!("{other:?}"),
        }
        for f in [PROFILE_FILE, SESSION_FILE, DEVICE_KEY_FILE] {
            let mode = fs::metadata(p.dir().join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let mode = fs::metadata(p.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        p.clear_session().unwrap();
        assert!(p.session().unwrap().is_none());
    }

    #[test]
    fn profile_names_are_checked() {
        for bad in ["", "..", "a/b", ".x", "a b"] {
            assert!(check_profile_name(bad).is_err(), "{bad}");
        }
        check_profile_name("ci-runner_2.x").unwrap();
    }
}
