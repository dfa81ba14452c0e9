//! The unlocked state (protocol.md §14.2): what lets commands use the device and identity keys
//! between a password login (or `coffer unlock`) and its expiry, without asking again.
//!
//! `unlocked.bin` (0600) is an envelope under a random 32-byte **unlock key** `S` (context
//! Purpose `LocalCache`, item = device id, field `unlock`; key id = the device id) of
//!
//! ```text
//! version:u8 = 1 ‖ expires_at:u64 ‖ user id:16 ‖ device id:16 ‖ device seed:32 ‖ identity seed:32
//! ```
//!
//! `S` is kept in the keychain (account `unlock:<device id>`) or in `unlock.key` (0600), unless
//! `coffer unlock --raw` was used: then `S` is printed once as `b64(S)` for `COFFER_SESSION` and
//! not stored. [`Keys`] come from `S` (from `COFFER_SESSION`, else the keychain or file) and
//! `unlocked.bin`; no `S`, a state that does not open or names other ids, or a passed
//! `expires_at` is [`ClientError::Locked`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_crypto::identity::KeyPair;
use coffer_crypto::secret::{SecretBytes, Seed};
use coffer_crypto::{Context, Envelope, KeyId, Purpose, SymmetricKey, envelope};
use coffer_proto::{DeviceId, UserId};
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};
use crate::keystore::{Backend, SecretSlot};
use crate::profile::Profile;

/// Environment variable holding `b64(S)` printed by `coffer unlock --raw`.
pub const SESSION_ENV: &str = "COFFER_SESSION";
/// The sealed unlocked state.
pub const UNLOCKED_FILE: &str = "unlocked.bin";
/// The file fallback of the unlock key.
pub const UNLOCK_KEY_FILE: &str = "unlock.key";
/// Format version of the unlocked state's plaintext.
pub const UNLOCKED_VERSION: u8 = 1;
const PLAIN_LEN: usize = 1 + 8 + 16 + 16 + 32 + 32;

/// The keys of an unlocked profile: its user, its device, the device key pair and the user's
/// identity key pair.
pub struct Keys {
    /// The user.
    pub user_id: UserId,
    /// This install's device.
    pub device_id: DeviceId,
    /// The device key pair.
    pub device: KeyPair,
    /// The user's identity key pair.
    pub identity: KeyPair,
}

impl core::fmt::Debug for Keys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Keys")
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

fn context(device_id: DeviceId) -> Result<Context> {
    Ok(Context::new(Purpose::LocalCache)
        .with_item(*device_id.as_uuid().as_bytes())
        .with_field("unlock")?)
}

fn unlock_key(s: SecretBytes<32>, device_id: DeviceId) -> Result<SymmetricKey> {
    Ok(SymmetricKey::from_secret(
        KeyId(*device_id.as_uuid().as_bytes()),
        s,
    )?)
}

fn slot(profile: &Profile, backend: Backend, device_id: DeviceId) -> SecretSlot<'_> {
    SecretSlot {
        profile,
        backend,
        account: format!("unlock:{device_id}"),
        file: UNLOCK_KEY_FILE,
    }
}

/// Writes the unlocked state of `keys` until `expires_at` under a fresh unlock key. With `raw`,
/// the key is not stored and is returned as `b64(S)`; otherwise it is stored and `None` is
/// returned.
pub(crate) fn write(
    profile: &Profile,
    backend: Backend,
    keys: &Keys,
    expires_at: u64,
    raw: bool,
) -> Result<Option<Zeroizing<String>>> {
    let s = SecretBytes::<32>::random()?;
    let mut plain = Zeroizing::new(Vec::with_capacity(PLAIN_LEN));
    plain.push(UNLOCKED_VERSION);
    plain.extend_from_slice(&expires_at.to_be_bytes());
    plain.extend_from_slice(keys.user_id.as_uuid().as_bytes());
    plain.extend_from_slice(keys.device_id.as_uuid().as_bytes());
    plain.extend_from_slice(keys.device.seed().expose_secret());
    plain.extend_from_slice(keys.identity.seed().expose_secret());
    let key = unlock_key(s.duplicate(), keys.device_id)?;
    let sealed = envelope::seal(&key, &context(keys.device_id)?, &plain)?;
    let slot = slot(profile, backend, keys.device_id);
    // the old S (if any) no longer opens the new state: drop it first
    slot.delete()?;
    profile.write_private(UNLOCKED_FILE, sealed.as_bytes())?;
    if raw {
        return Ok(Some(Zeroizing::new(
            URL_SAFE_NO_PAD.encode(s.expose_secret()),
        )));
    }
    slot.store(&s)?;
    Ok(None)
}

/// Reads the unlocked state of `device_id` (of `user_id`) at time `now`. `session` is the value
/// of `COFFER_SESSION` when set; otherwise the stored unlock key is used.
pub(crate) fn read(
    profile: &Profile,
    backend: Backend,
    user_id: UserId,
    device_id: DeviceId,
    session: Option<&str>,
    now: u64,
) -> Result<Keys> {
    let s = match session.map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => {
            let raw = Zeroizing::new(
                URL_SAFE_NO_PAD
                    .decode(text)
                    .map_err(|_| ClientError::Locked)?,
            );
            SecretBytes::<32>::from_slice(&raw).map_err(|_| ClientError::Locked)?
        }
        None => slot(profile, backend, device_id)
            .load()
            .ok()
            .flatten()
            .ok_or(ClientError::Locked)?,
    };
    let bytes = profile
        .read_optional(UNLOCKED_FILE)?
        .ok_or(ClientError::Locked)?;
    let sealed = Envelope::from_bytes(&bytes).map_err(|_| ClientError::Locked)?;
    let key = unlock_key(s, device_id)?;
    let plain =
        envelope::open(&key, &context(device_id)?, &sealed).map_err(|_| ClientError::Locked)?;
    let p = plain.expose_secret();
    if p.len() != PLAIN_LEN || p.first() != Some(&UNLOCKED_VERSION) {
        return Err(ClientError::Locked);
    }
    let field = |from: usize, len: usize| p.get(from..from + len).ok_or(ClientError::Locked);
    let mut exp = [0u8; 8];
    exp.copy_from_slice(field(1, 8)?);
    if u64::from_be_bytes(exp) <= now {
        return Err(ClientError::Locked);
    }
    let id16 = |from: usize| -> Result<uuid::Uuid> {
        let mut b = [0u8; 16];
        b.copy_from_slice(field(from, 16)?);
        Ok(uuid::Uuid::from_bytes(b))
    };
    if UserId::from_uuid(id16(9)?) != user_id || DeviceId::from_uuid(id16(25)?) != device_id {
        return Err(ClientError::Locked);
    }
    let device = KeyPair::from_seed(&Seed::from_slice(field(41, 32)?)?)?;
    let identity = KeyPair::from_seed(&Seed::from_slice(field(73, 32)?)?)?;
    Ok(Keys {
        user_id,
        device_id,
        device,
        identity,
    })
}

/// Deletes the unlocked state and its stored key. Returns whether there was a state.
pub(crate) fn lock(
    profile: &Profile,
    backend: Backend,
    device_id: Option<DeviceId>,
) -> Result<bool> {
    let had = profile.read_optional(UNLOCKED_FILE)?.is_some();
    profile.remove(UNLOCKED_FILE)?;
    match device_id {
        Some(id) => slot(profile, backend, id).delete()?,
        None => profile.remove(UNLOCK_KEY_FILE)?,
    }
    Ok(had)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn keys() -> Keys {
        Keys {
            user_id: UserId::new_random(),
            device_id: DeviceId::new_random(),
            device: KeyPair::generate().unwrap(),
            identity: KeyPair::generate().unwrap(),
        }
    }

    #[test]
    fn stored_key_round_trip_and_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let p = Profile::open_in(tmp.path(), "u").unwrap();
        let k = keys();
        assert!(
            write(&p, Backend::File, &k, 2_000, false)
                .unwrap()
                .is_none()
        );
        for f in [UNLOCKED_FILE, UNLOCK_KEY_FILE] {
            let mode = std::fs::metadata(p.path(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let back = read(&p, Backend::File, k.user_id, k.device_id, None, 1_000).unwrap();
        assert_eq!(back.device.public(), k.device.public());
        assert_eq!(back.identity.public(), k.identity.public());
        let dbg = format!("{back:?}");
        assert!(
            dbg.contains(&k.device_id.to_string()) && !dbg.contains("seed"),
            "{dbg}"
        );
        // other ids than the profile's
        let e = read(
            &p,
            Backend::File,
            UserId::new_random(),
            k.device_id,
            None,
            1_000,
        );
        assert!(matches!(e, Err(ClientError::Locked)));
        assert!(lock(&p, Backend::File, Some(k.device_id)).unwrap());
        assert!(!p.path(UNLOCKED_FILE).exists() && !p.path(UNLOCK_KEY_FILE).exists());
        let e = read(&p, Backend::File, k.user_id, k.device_id, None, 1_000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "locked: run `coffer unlock` (or `coffer login`)"
        );
        assert!(!lock(&p, Backend::File, Some(k.device_id)).unwrap());
    }

    #[test]
    fn expired_state_is_locked() {
        let tmp = tempfile::tempdir().unwrap();
        let p = Profile::open_in(tmp.path(), "u").unwrap();
        let k = keys();
        write(&p, Backend::File, &k, 2_000, false).unwrap();
        read(&p, Backend::File, k.user_id, k.device_id, None, 1_999).unwrap();
        for now in [2_000, 5_000] {
            let e = read(&p, Backend::File, k.user_id, k.device_id, None, now);
            assert!(matches!(e, Err(ClientError::Locked)), "{now}");
        }
    }

    #[test]
    fn raw_key_is_not_stored_and_session_value_must_match() {
        let tmp = tempfile::tempdir().unwrap();
        let p = Profile::open_in(tmp.path(), "u").unwrap();
        let k = keys();
        // a stored key from an earlier unlock is dropped by a raw unlock
        write(&p, Backend::File, &k, 2_000, false).unwrap();
        let s = write(&p, Backend::File, &k, 2_000, true).unwrap().unwrap();
        assert!(!p.path(UNLOCK_KEY_FILE).exists());
        let e = read(&p, Backend::File, k.user_id, k.device_id, None, 1_000);
        assert!(matches!(e, Err(ClientError::Locked)));
        let ok = read(&p, Backend::File, k.user_id, k.device_id, Some(&s), 1_000).unwrap();
        assert_eq!(ok.identity.public(), k.identity.public());
        // a wrong, malformed or short COFFER_SESSION is Locked, never a panic
        let other = URL_SAFE_NO_PAD.encode([9u8; 32]);
        for bad in [other.as_str(), "not base64!", "AAAA", &s[..s.len() - 2]] {
            let e = read(&p, Backend::File, k.user_id, k.device_id, Some(bad), 1_000);
            assert!(matches!(e, Err(ClientError::Locked)), "{bad}");
        }
        // a flipped bit in unlocked.bin
        let mut b = std::fs::read(p.path(UNLOCKED_FILE)).unwrap();
        let last = b.len() - 1;
        b[last] ^= 1;
        std::fs::write(p.path(UNLOCKED_FILE), &b).unwrap();
        let e = read(&p, Backend::File, k.user_id, k.device_id, Some(&s), 1_000);
        assert!(matches!(e, Err(ClientError::Locked)));
    }
}
