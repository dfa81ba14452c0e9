//! # coffer-kms
//!
//! Key management for the Coffer server (DESIGN §3):
//!
//! - [`backend`] holds the [`Kms`] trait every back end implements, and what describes one;
//! - [`wrapped`] holds the versioned wrapped-key blob every back end returns;
//! - [`local`] holds [`LocalFileKms`], a master key in a 0600 file (the default back end);
//! - [`datakey`] holds [`DataKeyring`], the server-side data-key layer over every value-store
//!   value;
//! - [`error`] holds [`KmsError`].
//!
//! PKCS#11 and AWS KMS back ends will implement [`Kms`] beside [`LocalFileKms`].
//!
//! ```no_run
//! use coffer_kms::{DataKeyring, LocalFileKms};
//!
//! # fn main() -> coffer_kms::Result<()> {
//! let kms = LocalFileKms::open_or_create("/var/lib/coffer/master.key")?;
//! let (ring, row) = DataKeyring::create(&kms)?; // persist `row` in the main store
//! let pointer = [7u8; 32];
//! let stored = ring.seal_value(&pointer, b"client ciphertext")?;
//! assert_eq!(ring.open_value(&pointer, &stored)?.expose_secret(), b"client ciphertext");
//! # let _ = row;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod backend;
pub mod datakey;
pub mod error;
pub mod local;
pub mod wrapped;

pub use backend::{Backend, Kms, KmsDescription, MasterKeyId};
pub use datakey::{DataKeyRotation, DataKeyRow, DataKeyState, DataKeyring, rotation_due};
pub use error::{KmsError, Result};
pub use local::LocalFileKms;
pub use wrapped::WrappedKeyHeader;
