//! The device key store (protocol.md §14.1): where a device's secrets live at rest.
//!
//! - The **local secret** (32 random bytes made when the device registers) is kept in the OS
//!   keychain through the `keyring` crate (service `coffer`, account `device-secret:<device id>`),
//!   or — where no keychain answers, or with `COFFER_KEYRING=file` — in `device.secret`, a 0600
//!   file of the profile folder holding `b64(secret)`.
//! - The **server share** is fetched after a password login: `POST /v1/devices/{id}/challenge`,
//!   then `POST /v1/devices/{id}/share` with the challenge signed by the user's identity key.
//! - The **device KEK** = HKDF(local secret ‖ share) ([`coffer_crypto::key::device_kek`]) seals
//!   the device seed in `device.key` version 2 (context Purpose `DeviceKeys`, workspace 0,
//!   vault 0, item = device id, epoch 0).
//!
//! Neither the local secret alone (a copied profile folder), nor the share alone (the server),
//! nor a stolen session token (no identity key to sign the share proof) opens the device seed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_crypto::identity::KeyPair;
use coffer_crypto::key::device_kek;
use coffer_crypto::secret::{SecretBytes, Share};
use coffer_crypto::{Context, Envelope, Purpose, envelope};
use coffer_proto::DeviceId;
use coffer_proto::api::{
    B64, DEVICE_SHARE_LABEL, DEVICE_SHARE_PREFIX, DeviceChallenge, DeviceShareRequest,
    DeviceShareResponse,
};
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};
use crate::http::Http;
use crate::profile::{Profile, StoredDeviceKey};

/// The keychain service name of every Coffer entry.
pub const KEYRING_SERVICE: &str = "coffer";
/// Environment variable: `file` keeps every local secret in 0600 files, never in the keychain.
pub const KEYRING_ENV: &str = "COFFER_KEYRING";
/// The file fallback of the local secret.
pub const DEVICE_SECRET_FILE: &str = "device.secret";

/// Where local secrets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The OS keychain, falling back to a 0600 file when it does not answer.
    Keychain,
    /// Only 0600 files in the profile folder.
    File,
}

impl Backend {
    /// [`Backend::File`] when `COFFER_KEYRING=file`, else [`Backend::Keychain`].
    pub fn from_env() -> Self {
        match std::env::var(KEYRING_ENV) {
            Ok(v) if v.trim().eq_ignore_ascii_case("file") => Backend::File,
            _ => Backend::Keychain,
        }
    }
}

/// One 32-byte secret of a profile: a keychain account with a 0600 file as fallback.
pub(crate) struct SecretSlot<'a> {
    pub(crate) profile: &'a Profile,
    pub(crate) backend: Backend,
    pub(crate) account: String,
    pub(crate) file: &'static str,
}

fn keychain_entry(account: &str) -> Option<keyring::Entry> {
    keyring::Entry::new(KEYRING_SERVICE, account).ok()
}

impl SecretSlot<'_> {
    /// Stores the secret: in the keychain when it answers (and then removes any file copy),
    /// else in the 0600 file.
    pub(crate) fn store(&self, secret: &SecretBytes<32>) -> Result<()> {
        let text = Zeroizing::new(URL_SAFE_NO_PAD.encode(secret.expose_secret()));
        if self.backend == Backend::Keychain
            && let Some(entry) = keychain_entry(&self.account)
            && entry.set_password(&text).is_ok()
        {
            return self.profile.remove(self.file);
        }
        self.profile.write_private(self.file, text.as_bytes())
    }

    /// The secret, if stored: the file when it exists (it was written because no keychain
    /// answered, or in file mode), else the keychain.
    pub(crate) fn load(&self) -> Result<Option<SecretBytes<32>>> {
        let path = self.profile.path(self.file);
        let decode = |text: &str| {
            let raw = Zeroizing::new(
                URL_SAFE_NO_PAD
                    .decode(text.trim())
                    .map_err(|_| ClientError::config(&path, "not a base64url secret"))?,
            );
            SecretBytes::<32>::from_slice(&raw)
                .map_err(|_| ClientError::config(&path, "the secret is not 32 bytes"))
        };
        if let Some(bytes) = self.profile.read_optional(self.file)? {
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| ClientError::config(&path, "not a base64url secret"))?;
            return decode(text).map(Some);
        }
        if self.backend == Backend::File {
            return Ok(None);
        }
        let Some(entry) = keychain_entry(&self.account) else {
            return Ok(None);
        };
        match entry.get_password() {
            Ok(text) => {
                let text = Zeroizing::new(text);
                decode(&text).map(Some)
            }
            Err(_) => Ok(None),
        }
    }

    /// Deletes the secret wherever it is (both places; missing is fine).
    pub(crate) fn delete(&self) -> Result<()> {
        if self.backend == Backend::Keychain
            && let Some(entry) = keychain_entry(&self.account)
        {
            let _ = entry.delete_credential();
        }
        self.profile.remove(self.file)
    }
}

/// The envelope context of the sealed device seed (protocol.md §14.1).
pub fn device_key_context(device_id: DeviceId) -> Context {
    Context::new(Purpose::DeviceKeys)
        .with_workspace([0; 16])
        .with_vault([0; 16])
        .with_item(*device_id.as_uuid().as_bytes())
        .with_epoch(0)
}

/// Seals the device seed under the device KEK made of `local` and `share`.
pub fn seal_device_seed(
    local: &SecretBytes<32>,
    share: &Share,
    device_id: DeviceId,
    device: &KeyPair,
) -> Result<Envelope> {
    let kek = device_kek(local, share, device_id.as_uuid().as_bytes())?;
    Ok(envelope::seal(
        &kek,
        &device_key_context(device_id),
        device.seed().expose_secret(),
    )?)
}

/// Opens a sealed device seed. Any failure (a wrong local secret, a wrong share, an altered
/// envelope) is one clear error naming `device.key`.
pub fn open_device_seed(
    profile: &Profile,
    local: &SecretBytes<32>,
    share: &Share,
    device_id: DeviceId,
    sealed: &Envelope,
) -> Result<KeyPair> {
    let fail = || {
        ClientError::config(
            profile.path("device.key"),
            "the device key does not open: the local device secret or the server share is \
             wrong, or the file was altered",
        )
    };
    let kek = device_kek(local, share, device_id.as_uuid().as_bytes())?;
    let seed = envelope::open(&kek, &device_key_context(device_id), sealed).map_err(|_| fail())?;
    let seed = SecretBytes::<32>::from_slice(seed.expose_secret()).map_err(|_| fail())?;
    Ok(KeyPair::from_seed(&seed)?)
}

/// The device key store of one profile.
#[derive(Debug, Clone, Copy)]
pub struct Keystore<'a> {
    profile: &'a Profile,
    backend: Backend,
}

impl<'a> Keystore<'a> {
    /// The key store of `profile` with `backend`.
    pub fn new(profile: &'a Profile, backend: Backend) -> Self {
        Self { profile, backend }
    }

    fn slot(&self, device_id: DeviceId) -> SecretSlot<'a> {
        SecretSlot {
            profile: self.profile,
            backend: self.backend,
            account: format!("device-secret:{device_id}"),
            file: DEVICE_SECRET_FILE,
        }
    }

    /// Makes and stores a new local secret for `device_id`.
    pub fn new_local_secret(&self, device_id: DeviceId) -> Result<SecretBytes<32>> {
        let secret = SecretBytes::<32>::random()?;
        self.slot(device_id).store(&secret)?;
        Ok(secret)
    }

    /// The stored local secret of `device_id`.
    pub fn local_secret(&self, device_id: DeviceId) -> Result<SecretBytes<32>> {
        self.slot(device_id).load()?.ok_or_else(|| {
            ClientError::config(
                self.profile.path(DEVICE_SECRET_FILE),
                format!(
                    "the local device secret is missing (keychain entry {KEYRING_SERVICE}/\
                     device-secret:{device_id}, or this file): the device keys cannot be opened"
                ),
            )
        })
    }

    /// Deletes the local secret of `device_id` (keychain and file).
    pub fn delete_local_secret(&self, device_id: DeviceId) -> Result<()> {
        self.slot(device_id).delete()
    }

    /// Seals `device` under a new local secret and `share`, and writes `device.key` version 2.
    pub fn store_device_key(
        &self,
        device_id: DeviceId,
        share: &Share,
        device: &KeyPair,
    ) -> Result<()> {
        let local = self.new_local_secret(device_id)?;
        let sealed = seal_device_seed(&local, share, device_id, device)?;
        self.profile.save_sealed_device_key(device_id, &sealed)
    }

    /// Opens the device key pair of `device_id` with the server `share`. A version-1 file (the
    /// plain seed) is migrated to version 2 here.
    pub fn open_device_key(&self, device_id: DeviceId, share: &Share) -> Result<KeyPair> {
        let path = self.profile.path("device.key");
        match self.profile.device_key()? {
            Some(StoredDeviceKey::Sealed {
                device_id: id,
                sealed,
            }) if id == device_id => {
                let local = self.local_secret(device_id)?;
                open_device_seed(self.profile, &local, share, device_id, &sealed)
            }
            Some(StoredDeviceKey::Plain {
                device_id: id,
                keys,
            }) if id == device_id => {
                self.store_device_key(device_id, share, &keys)?;
                Ok(*keys)
            }
            Some(_) => Err(ClientError::config(
                path,
                "the device key names another device than the profile",
            )),
            None => Err(ClientError::config(path, "no device key")),
        }
    }
}

/// The bytes the identity key signs to receive the share of `device_id` (protocol.md §8.3).
pub fn share_message(challenge: &[u8; 32], device_id: DeviceId) -> Vec<u8> {
    let mut m = Vec::with_capacity(DEVICE_SHARE_PREFIX.len() + 32 + 16);
    m.extend_from_slice(DEVICE_SHARE_PREFIX);
    m.extend_from_slice(challenge);
    m.extend_from_slice(device_id.as_uuid().as_bytes());
    m
}

/// Fetches the server share of `device_id` over an authenticated `http`: a challenge, then the
/// share against the identity key's signature over it.
pub(crate) async fn fetch_share(
    http: &Http,
    device_id: DeviceId,
    identity: &KeyPair,
) -> Result<Share> {
    let c: DeviceChallenge = http
        .post_empty(&format!("v1/devices/{device_id}/challenge"))
        .await?;
    let challenge: [u8; 32] = c
        .challenge
        .0
        .as_slice()
        .try_into()
        .map_err(|_| ClientError::Protocol("the device challenge is not 32 bytes".into()))?;
    let signature = identity.sign(DEVICE_SHARE_LABEL, &share_message(&challenge, device_id))?;
    let r: DeviceShareResponse = http
        .post(
            &format!("v1/devices/{device_id}/share"),
            &DeviceShareRequest {
                challenge: B64(challenge.to_vec()),
                signature: B64(signature.to_vec()),
            },
        )
        .await?;
    let raw = Zeroizing::new(r.share.0);
    Share::from_slice(&raw)
        .map_err(|_| ClientError::Protocol("the device share is not 32 bytes".into()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn setup() -> (tempfile::TempDir, Profile, DeviceId, KeyPair, Share) {
        let tmp = tempfile::tempdir().unwrap();
        let p = Profile::open_in(tmp.path(), "ks").unwrap();
        (
            tmp,
            p,
            DeviceId::new_random(),
            KeyPair::generate().unwrap(),
            Share::random().unwrap(),
        )
    }

    #[test]
    fn file_fallback_is_private_and_round_trips() {
        let (_t, p, id, kp, share) = setup();
        let ks = Keystore::new(&p, Backend::File);
        ks.store_device_key(id, &share, &kp).unwrap();
        let mode = std::fs::metadata(p.path(DEVICE_SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(p.path("device.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = ks.open_device_key(id, &share).unwrap();
        assert_eq!(back.public(), kp.public());
        // device.key holds neither the seed in hex nor in base64
        let text = std::fs::read_to_string(p.path("device.key")).unwrap();
        assert!(text.contains("\"version\":2"), "{text}");
        assert!(!text.contains(&hex::encode(kp.seed().expose_secret())));
        assert!(!text.contains(&URL_SAFE_NO_PAD.encode(kp.seed().expose_secret())));
        ks.delete_local_secret(id).unwrap();
        assert!(!p.path(DEVICE_SECRET_FILE).exists());
        let e = ks.open_device_key(id, &share).unwrap_err();
        assert!(
            e.to_string().contains("local device secret is missing"),
            "{e}"
        );
    }

    #[test]
    fn wrong_share_wrong_secret_or_flipped_bit_fail_clearly() {
        let (_t, p, id, kp, share) = setup();
        let ks = Keystore::new(&p, Backend::File);
        ks.store_device_key(id, &share, &kp).unwrap();
        let msg = "the device key does not open";
        // a wrong share
        let e = ks
            .open_device_key(id, &Share::random().unwrap())
            .unwrap_err();
        assert!(e.to_string().contains(msg), "{e}");
        // a wrong local secret
        let good_secret = std::fs::read(p.path(DEVICE_SECRET_FILE)).unwrap();
        ks.new_local_secret(id).unwrap();
        let e = ks.open_device_key(id, &share).unwrap_err();
        assert!(e.to_string().contains(msg), "{e}");
        std::fs::write(p.path(DEVICE_SECRET_FILE), &good_secret).unwrap();
        ks.open_device_key(id, &share).unwrap();
        // one flipped bit in the sealed seed
        let Some(StoredDeviceKey::Sealed { sealed, .. }) = p.device_key().unwrap() else {
            panic!("not sealed");
        };
        let mut bytes = sealed.as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        p.save_sealed_device_key(id, &Envelope::from_vec(bytes).unwrap())
            .unwrap();
        let e = ks.open_device_key(id, &share).unwrap_err();
        assert!(e.to_string().contains(msg), "{e}");
        // a corrupt local secret file
        std::fs::write(p.path(DEVICE_SECRET_FILE), "!!!").unwrap();
        let e = ks.open_device_key(id, &share).unwrap_err();
        assert!(e.to_string().contains("not a base64url secret"), "{e}");
    }

    #[test]
    fn version_1_is_migrated() {
        let (_t, p, id, kp, share) = setup();
        p.save_legacy_device_key(id, &kp).unwrap();
        let ks = Keystore::new(&p, Backend::File);
        let back = ks.open_device_key(id, &share).unwrap();
        assert_eq!(back.public(), kp.public());
        assert!(matches!(
            p.device_key().unwrap(),
            Some(StoredDeviceKey::Sealed { .. })
        ));
        assert_eq!(
            ks.open_device_key(id, &share).unwrap().public(),
            kp.public()
        );
        // another device's id is refused
        let e = ks
            .open_device_key(DeviceId::new_random(), &share)
            .unwrap_err();
        assert!(e.to_string().contains("another device"), "{e}");
    }

    #[test]
    fn sealed_seed_is_bound_to_the_device_id() {
        let (_t, p, id, kp, share) = setup();
        let local = SecretBytes::<32>::random().unwrap();
        let sealed = seal_device_seed(&local, &share, id, &kp).unwrap();
        let ok = open_device_seed(&p, &local, &share, id, &sealed).unwrap();
        assert_eq!(ok.public(), kp.public());
        assert!(open_device_seed(&p, &local, &share, DeviceId::new_random(), &sealed).is_err());
    }

    #[test]
    fn share_message_layout() {
        let id = DeviceId::new_random();
        let m = share_message(&[7; 32], id);
        assert_eq!(&m[..22], b"coffer.device-share.v1");
        assert_eq!(&m[22..54], &[7; 32]);
        assert_eq!(&m[54..], id.as_uuid().as_bytes());
    }
}
