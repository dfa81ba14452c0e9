//! Temporary stand-in for `crate::unlock::Keys` (owned by the keystore work); removed when that
//! module is merged.

use coffer_crypto::KeyPair;
use coffer_proto::{DeviceId, UserId};

use crate::Client;
use crate::error::{ClientError, Result};

/// The unlocked keys of a profile.
pub struct Keys {
    /// The user.
    pub user_id: UserId,
    /// This device.
    pub device_id: DeviceId,
    /// This device's key pair.
    pub device: KeyPair,
    /// The user's identity key pair.
    pub identity: KeyPair,
}

impl Client {
    /// The unlocked keys (stand-in: always locked).
    pub fn keys(&self) -> Result<Keys> {
        Err(ClientError::Invalid("locked: run `coffer unlock`".into()))
    }
}
