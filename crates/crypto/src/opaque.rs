//! OPAQUE password authentication (RFC 9807) for Coffer (DESIGN §2, "Password authentication").
//!
//! This module owns Coffer's OPAQUE: the cipher suite, the identifiers both sides agree on, the
//! client's key-stretching parameters, the stored forms of the server setup and of the password
//! file, and the keys OPAQUE yields (the session key and the export key, from which the password
//! KEK is derived). It is the only place that touches `opaque-ke`, which is on the previous
//! RustCrypto generation (DEPENDENCIES.md, "Version conflicts" 1): no `opaque-ke` type crosses
//! this module's API. Every message is bytes, every state kept between two steps is a type of
//! ours that zeroizes on drop and prints as `***`.
//!
//! # Cipher suite
//!
//! - OPRF: ristretto255-SHA512 (RFC 9497);
//! - AKE: 3DH over ristretto255 with SHA-512 (RFC 9807 §6.4);
//! - KSF: Argon2id (RFC 9106, version 0x13), 64-byte output, all-zero 16-byte salt (the input
//!   is already a per-user OPRF output), with the [`KsfParams`] the client passes in.
//!
//! # Identifiers
//!
//! The credential identifier and the client identity are both the user's e-mail address,
//! trimmed and lower-cased ([`UserId::from_email`]). The server identity is the constant
//! [`SERVER_IDENTITY`] (`coffer`), not the server's URL: the server's static public key, sealed
//! in the envelope, already authenticates the server, and a deployment that moves to another
//! address must not lock every user out. Changing a user's e-mail address changes both the
//! OPRF key and the envelope, so it needs a new registration (a password re-set with the old
//! password in hand).
//!
//! # Errors
//!
//! A message that is not a well-formed encoding (wrong length, not a valid group element) is
//! [`CryptoError::Malformed`]. Every failure of a login once the messages are decoded — wrong
//! password, unknown user (fake record), tampered message, wrong KSF parameters, wrong context
//! — is the single [`CryptoError::OpenFailed`]. Other protocol failures (registration) are
//! [`CryptoError::Opaque`].
//!
//! # Stored forms
//!
//! [`ServerSetup::to_bytes`] is `0x01 ‖ oprf_seed (64) ‖ server private key (32) ‖ dummy
//! public key (32)`; a password file is `0x01 ‖ RegistrationUpload (192)`. The leading byte is
//! the suite version above.
//!
//! # Labels
//!
//! The password KEK is `HKDF-SHA256(salt = "coffer.opaque.v1", ikm = export key, info =
//! "password-kek")` and its key id the first 16 bytes of `HKDF-SHA256(salt =
//! "coffer.opaque.v1", ikm = export key, info = "password-kek-id")`: the id changes when the
//! password (hence the export key) changes, so a bundle wrapped under an old password is
//! recognisable, and it reveals nothing about the key.

use core::fmt;

use opaque_ke::generic_array::typenum::Unsigned;
use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialFinalization, CredentialFinalizationLen,
    CredentialRequest, CredentialRequestLen, CredentialResponse, CredentialResponseLen,
    Identifiers, RegistrationRequest, RegistrationRequestLen, RegistrationResponse,
    RegistrationResponseLen, RegistrationUpload, RegistrationUploadLen, ServerLogin,
    ServerLoginParameters, ServerRegistration,
};
use rand_core_06::OsRng;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{CryptoError, Result};
use crate::hkdf::{hkdf_key, hkdf_sha256};
use crate::key::{KeyId, SymmetricKey};
use crate::secret::{Password, SecretBytes};

/// Salt of every HKDF derivation from the OPAQUE export key.
pub const LABEL_OPAQUE_SALT: &[u8] = b"coffer.opaque.v1";
/// HKDF info of the password KEK.
pub const LABEL_PASSWORD_KEK: &[u8] = b"password-kek";
/// HKDF info of the password KEK's key id.
pub const LABEL_PASSWORD_KEK_ID: &[u8] = b"password-kek-id";
/// The server identity of every Coffer deployment (RFC 9807 `server_identity`).
pub const SERVER_IDENTITY: &[u8] = b"coffer";

/// Version byte of the stored forms (suite: ristretto255, 3DH/SHA-512, Argon2id KSF).
const STORED_VERSION: u8 = 1;

/// Length of a registration request (client → server), bytes.
pub const REGISTRATION_REQUEST_LEN: usize = 32;
/// Length of a registration response (server → client), bytes.
pub const REGISTRATION_RESPONSE_LEN: usize = 64;
/// Length of a registration upload (client → server), bytes.
pub const REGISTRATION_UPLOAD_LEN: usize = 192;
/// Length of a stored password file, bytes (version byte + registration upload).
pub const PASSWORD_FILE_LEN: usize = 1 + REGISTRATION_UPLOAD_LEN;
/// Length of a credential request, KE1 (client → server), bytes.
pub const CREDENTIAL_REQUEST_LEN: usize = 96;
/// Length of a credential response, KE2 (server → client), bytes.
pub const CREDENTIAL_RESPONSE_LEN: usize = 320;
/// Length of a credential finalization, KE3 (client → server), bytes.
pub const CREDENTIAL_FINALIZATION_LEN: usize = 64;
/// Length of a stored [`ServerSetup`], bytes (version byte + 128).
pub const SERVER_SETUP_LEN: usize = 1 + 128;
/// Length of the session key and of the export key, bytes.
pub const OUTPUT_LEN: usize = 64;

/// Longest accepted e-mail address, bytes.
const MAX_EMAIL_LEN: usize = 320;

/// Coffer's OPAQUE cipher suite.
struct Suite;

impl opaque_ke::CipherSuite for Suite {
    type OprfCs = opaque_ke::Ristretto255;
    type KeyExchange = opaque_ke::TripleDh<opaque_ke::Ristretto255, sha2_010::Sha512>;
    type Ksf = opaque_ke::argon2::Argon2<'static>;
}

// The public length constants must be the suite's (a compile-time check).
const _: () = {
    assert!(REGISTRATION_REQUEST_LEN == RegistrationRequestLen::<Suite>::USIZE);
    assert!(REGISTRATION_RESPONSE_LEN == RegistrationResponseLen::<Suite>::USIZE);
    assert!(REGISTRATION_UPLOAD_LEN == RegistrationUploadLen::<Suite>::USIZE);
    assert!(CREDENTIAL_REQUEST_LEN == CredentialRequestLen::<Suite>::USIZE);
    assert!(CREDENTIAL_RESPONSE_LEN == CredentialResponseLen::<Suite>::USIZE);
    assert!(CREDENTIAL_FINALIZATION_LEN == CredentialFinalizationLen::<Suite>::USIZE);
};

/// Checks that `input` is exactly `len` bytes (`opaque-ke` ignores trailing bytes).
fn expect_len(input: &[u8], len: usize, what: &'static str) -> Result<()> {
    if input.len() < len {
        return Err(CryptoError::Truncated {
            what,
            at: input.len(),
            needed: len,
        });
    }
    if input.len() > len {
        return Err(CryptoError::Malformed {
            what,
            reason: "trailing bytes",
        });
    }
    Ok(())
}

fn invalid(what: &'static str) -> CryptoError {
    CryptoError::Malformed {
        what,
        reason: "not a valid encoding",
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters and identifiers
// ---------------------------------------------------------------------------------------------

/// Argon2id parameters of OPAQUE's key-stretching function, which runs on the client: the one
/// parameter type of [`crate::kdf`], so the floor (m ≥ 19 MiB, t ≥ 2) and ceiling live in one
/// place. A server cannot weaken an existing account by sending other values: the envelope then
/// fails to open and the login fails.
pub use crate::kdf::Argon2Params as KsfParams;

/// The Argon2id instance for `opaque-ke` (argon2 0.5, the previous generation).
fn ksf_argon2(params: &KsfParams) -> Result<opaque_ke::argon2::Argon2<'static>> {
    // Re-checked: the fields are private, but this is the last gate before the work.
    let checked = KsfParams::new(params.m_kib(), params.t(), params.p())?;
    let params = opaque_ke::argon2::Params::new(checked.m_kib(), checked.t(), checked.p(), None)
        .map_err(|_| CryptoError::KdfOutOfRange {
            reason: "Argon2id parameters rejected",
        })?;
    Ok(opaque_ke::argon2::Argon2::new(
        opaque_ke::argon2::Algorithm::Argon2id,
        opaque_ke::argon2::Version::V0x13,
        params,
    ))
}

/// A user as OPAQUE names them: the e-mail address, trimmed and lower-cased. It is both the
/// credential identifier (which selects the per-user OPRF key) and the client identity bound
/// into the envelope and the key exchange, so client and server must build it the same way —
/// with [`UserId::from_email`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    /// Normalises an e-mail address: surrounding white space removed, Unicode lower case. It
    /// must be 1 to 320 bytes, contain `@`, and contain no white space or control character.
    pub fn from_email(email: &str) -> Result<Self> {
        let normalised = email.trim().to_lowercase();
        let malformed = |reason| CryptoError::Malformed {
            what: "e-mail address",
            reason,
        };
        if normalised.is_empty() {
            return Err(malformed("empty"));
        }
        if normalised.len() > MAX_EMAIL_LEN {
            return Err(malformed("longer than 320 bytes"));
        }
        if !normalised.contains('@') {
            return Err(malformed("no @"));
        }
        if normalised
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(malformed("white space or control character"));
        }
        Ok(Self(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    fn identifiers(&self) -> Identifiers<'_> {
        Identifiers {
            client: Some(self.as_bytes()),
            server: Some(SERVER_IDENTITY),
        }
    }
}

/// The password as OPAQUE's input: its UTF-8 bytes as typed (no Unicode normalisation), 1 to
/// 65,535 bytes (the OPRF's limits).
fn password_bytes(password: &Password) -> Result<&[u8]> {
    let bytes = password.expose_secret().as_bytes();
    if bytes.is_empty() || bytes.len() > usize::from(u16::MAX) {
        return Err(CryptoError::Length("password"));
    }
    Ok(bytes)
}

fn check_context(context: &[u8]) -> Result<()> {
    if context.len() > usize::from(u16::MAX) {
        return Err(CryptoError::Length("opaque context"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// Copies a 64-byte `opaque-ke` output into a secret and wipes the original.
fn take_output(output: &mut [u8]) -> Result<SecretBytes<OUTPUT_LEN>> {
    let secret = SecretBytes::from_slice(output);
    output.zeroize();
    secret
}

/// The OPAQUE export key (64 bytes): known to the client only, the same at registration and at
/// every login with the same password. Zeroizes on drop; compared in constant time.
#[derive(PartialEq, Eq)]
pub struct ExportKey(SecretBytes<OUTPUT_LEN>);

impl ExportKey {
    /// The password KEK, which wraps the user's identity private keys (the account key bundle).
    /// Key: `HKDF-SHA256(salt = "coffer.opaque.v1", ikm = export key, info = "password-kek")`;
    /// key id: the first 16 bytes of the same with `info = "password-kek-id"`.
    pub fn password_kek(&self) -> Result<SymmetricKey> {
        let ikm = self.0.expose_secret();
        let secret = hkdf_key(LABEL_OPAQUE_SALT, ikm, &[LABEL_PASSWORD_KEK])?;
        let mut id = [0u8; 16];
        hkdf_sha256(LABEL_OPAQUE_SALT, ikm, &[LABEL_PASSWORD_KEK_ID], &mut id)?;
        SymmetricKey::from_secret(KeyId(id), secret)
    }
}

impl fmt::Debug for ExportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExportKey(***)")
    }
}

/// The OPAQUE session key (64 bytes), equal on both sides of a successful login. Zeroizes on
/// drop; compared in constant time.
#[derive(PartialEq, Eq)]
pub struct SessionKey(SecretBytes<OUTPUT_LEN>);

impl SessionKey {
    /// The key bytes.
    pub fn expose_secret(&self) -> &[u8; OUTPUT_LEN] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(***)")
    }
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

/// The server's long-term OPAQUE secret: the OPRF seed, the static key pair and the public key
/// used for fake records. Losing it invalidates every password file; leaking it allows offline
/// guessing against stolen password files. Zeroizes on drop, prints as `ServerSetup(***)`.
pub struct ServerSetup(opaque_ke::ServerSetup<Suite>);

impl ServerSetup {
    /// A fresh setup from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(opaque_ke::ServerSetup::<Suite>::new(&mut OsRng))
    }

    /// The stored form (secret): `0x01 ‖ oprf_seed (64) ‖ private key (32) ‖ dummy public
    /// key (32)`.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut inner = self.0.serialize();
        let mut out = Zeroizing::new(Vec::with_capacity(SERVER_SETUP_LEN));
        out.push(STORED_VERSION);
        out.extend_from_slice(&inner);
        inner.as_mut_slice().zeroize();
        out
    }

    /// Reads the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "opaque server setup";
        expect_len(bytes, SERVER_SETUP_LEN, WHAT)?;
        match bytes.first() {
            Some(&STORED_VERSION) => {}
            Some(&version) => {
                return Err(CryptoError::UnknownVersion {
                    what: WHAT,
                    version,
                });
            }
            None => return Err(invalid(WHAT)),
        }
        let inner = opaque_ke::ServerSetup::<Suite>::deserialize(bytes.get(1..).unwrap_or(&[]))
            .map_err(|_| invalid(WHAT))?;
        Ok(Self(inner))
    }
}

impl fmt::Debug for ServerSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerSetup(***)")
    }
}

/// The server's state between [`server_login_start`] and [`server_login_finish`]: the expected
/// client MAC and the session key. Zeroizes on drop, prints as `ServerLoginState(***)`.
pub struct ServerLoginState {
    inner: ServerLogin<Suite>,
    user: UserId,
    context: Vec<u8>,
}

impl fmt::Debug for ServerLoginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerLoginState(***)")
    }
}

/// Registration, server step 1: evaluates the client's blinded password under this user's OPRF
/// key and returns the registration response for the client.
pub fn server_register_start(
    setup: &ServerSetup,
    registration_request: &[u8],
    user: &UserId,
) -> Result<Vec<u8>> {
    const WHAT: &str = "opaque registration request";
    expect_len(registration_request, REGISTRATION_REQUEST_LEN, WHAT)?;
    let request = RegistrationRequest::<Suite>::deserialize(registration_request)
        .map_err(|_| invalid(WHAT))?;
    let result = ServerRegistration::<Suite>::start(&setup.0, request, user.as_bytes())
        .map_err(|_| CryptoError::Opaque("registration start failed"))?;
    Ok(result.message.serialize().to_vec())
}

/// Registration, server step 2: checks the client's upload and returns the password file to
/// store for this user (`0x01 ‖ upload`, [`PASSWORD_FILE_LEN`] bytes; not secret on its own, but
/// with the [`ServerSetup`] it allows offline guessing, so keep it as private as the setup).
pub fn server_register_finish(upload: &[u8]) -> Result<Vec<u8>> {
    const WHAT: &str = "opaque registration upload";
    expect_len(upload, REGISTRATION_UPLOAD_LEN, WHAT)?;
    let upload = RegistrationUpload::<Suite>::deserialize(upload).map_err(|_| invalid(WHAT))?;
    let file = ServerRegistration::<Suite>::finish(upload);
    let mut out = Vec::with_capacity(PASSWORD_FILE_LEN);
    out.push(STORED_VERSION);
    out.extend_from_slice(&file.serialize());
    Ok(out)
}

fn read_password_file(bytes: &[u8]) -> Result<ServerRegistration<Suite>> {
    const WHAT: &str = "opaque password file";
    expect_len(bytes, PASSWORD_FILE_LEN, WHAT)?;
    match bytes.first() {
        Some(&STORED_VERSION) => {}
        Some(&version) => {
            return Err(CryptoError::UnknownVersion {
                what: WHAT,
                version,
            });
        }
        None => return Err(invalid(WHAT)),
    }
    ServerRegistration::<Suite>::deserialize(bytes.get(1..).unwrap_or(&[]))
        .map_err(|_| invalid(WHAT))
}

/// Login, server step 1 (KE1 → KE2). `password_file` is `None` for an unknown user: the server
/// then answers from a fake record, a response of the same length and form that no password
/// opens, so accounts cannot be enumerated. `context` is bound into the key exchange; the client
/// must pass the same bytes (at most 65,535).
pub fn server_login_start(
    setup: &ServerSetup,
    password_file: Option<&[u8]>,
    credential_request: &[u8],
    user: &UserId,
    context: &[u8],
) -> Result<(ServerLoginState, Vec<u8>)> {
    const WHAT: &str = "opaque credential request";
    check_context(context)?;
    let record = password_file.map(read_password_file).transpose()?;
    expect_len(credential_request, CREDENTIAL_REQUEST_LEN, WHAT)?;
    let request =
        CredentialRequest::<Suite>::deserialize(credential_request).map_err(|_| invalid(WHAT))?;
    let params = ServerLoginParameters {
        context: Some(context),
        identifiers: user.identifiers(),
    };
    let result = ServerLogin::start(
        &mut OsRng,
        &setup.0,
        record,
        request,
        user.as_bytes(),
        params,
    )
    .map_err(|_| CryptoError::Opaque("login start failed"))?;
    let state = ServerLoginState {
        inner: result.state,
        user: user.clone(),
        context: context.to_vec(),
    };
    Ok((state, result.message.serialize().to_vec()))
}

/// Login, server step 2 (KE3): checks the client's MAC and returns the session key. Any failure
/// — wrong password, unknown user, tampering — is [`CryptoError::OpenFailed`].
pub fn server_login_finish(state: ServerLoginState, finalization: &[u8]) -> Result<SessionKey> {
    const WHAT: &str = "opaque credential finalization";
    expect_len(finalization, CREDENTIAL_FINALIZATION_LEN, WHAT)?;
    let message =
        CredentialFinalization::<Suite>::deserialize(finalization).map_err(|_| invalid(WHAT))?;
    let params = ServerLoginParameters {
        context: Some(&state.context),
        identifiers: state.user.identifiers(),
    };
    let mut result = state
        .inner
        .finish(message, params)
        .map_err(|_| CryptoError::OpenFailed)?;
    Ok(SessionKey(take_output(&mut result.session_key)?))
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// The client's state between [`client_register_start`] and [`client_register_finish`] (the
/// OPRF blind). Zeroizes on drop, prints as `ClientRegistrationState(***)`.
pub struct ClientRegistrationState(ClientRegistration<Suite>);

impl fmt::Debug for ClientRegistrationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientRegistrationState(***)")
    }
}

/// The client's state between [`client_login_start`] and [`client_login_finish`] (the OPRF
/// blind and the ephemeral key). Zeroizes on drop, prints as `ClientLoginState(***)`.
pub struct ClientLoginState(ClientLogin<Suite>);

impl fmt::Debug for ClientLoginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientLoginState(***)")
    }
}

/// Registration, client step 1: blinds the password (its UTF-8 bytes as typed, 1 to 65,535
/// bytes; else [`CryptoError::Length`]) and returns the registration request.
pub fn client_register_start(password: &Password) -> Result<(ClientRegistrationState, Vec<u8>)> {
    let result = ClientRegistration::<Suite>::start(&mut OsRng, password_bytes(password)?)
        .map_err(|_| CryptoError::Opaque("registration start failed"))?;
    Ok((
        ClientRegistrationState(result.state),
        result.message.serialize().to_vec(),
    ))
}

/// Registration, client step 2: runs the KSF (Argon2id with `ksf`), seals the envelope to the
/// server's public key and returns the upload for the server and the export key. The same
/// `password`, `ksf` and `user` must be given at every login.
pub fn client_register_finish(
    state: ClientRegistrationState,
    password: &Password,
    response: &[u8],
    ksf: &KsfParams,
    user: &UserId,
) -> Result<(Vec<u8>, ExportKey)> {
    const WHAT: &str = "opaque registration response";
    let argon2 = ksf_argon2(ksf)?;
    expect_len(response, REGISTRATION_RESPONSE_LEN, WHAT)?;
    let response =
        RegistrationResponse::<Suite>::deserialize(response).map_err(|_| invalid(WHAT))?;
    let params = ClientRegistrationFinishParameters::new(user.identifiers(), Some(&argon2));
    let mut result = state
        .0
        .finish(&mut OsRng, password_bytes(password)?, response, params)
        .map_err(|_| CryptoError::Opaque("registration response rejected"))?;
    let export_key = ExportKey(take_output(&mut result.export_key)?);
    Ok((result.message.serialize().to_vec(), export_key))
}

/// Login, client step 1: blinds the password (as in [`client_register_start`]) and returns the
/// credential request (KE1).
pub fn client_login_start(password: &Password) -> Result<(ClientLoginState, Vec<u8>)> {
    let result = ClientLogin::<Suite>::start(&mut OsRng, password_bytes(password)?)
        .map_err(|_| CryptoError::Opaque("login start failed"))?;
    Ok((
        ClientLoginState(result.state),
        result.message.serialize().to_vec(),
    ))
}

/// Login, client step 2 (KE2 → KE3): runs the KSF, opens the envelope, authenticates the server
/// and returns the finalization (KE3) for the server, the session key and the export key. Any
/// failure once the response is decoded — wrong password, unknown user, other KSF parameters
/// than at registration, other `context`, tampering — is [`CryptoError::OpenFailed`].
pub fn client_login_finish(
    state: ClientLoginState,
    password: &Password,
    response: &[u8],
    ksf: &KsfParams,
    user: &UserId,
    context: &[u8],
) -> Result<(Vec<u8>, SessionKey, ExportKey)> {
    const WHAT: &str = "opaque credential response";
    let argon2 = ksf_argon2(ksf)?;
    check_context(context)?;
    expect_len(response, CREDENTIAL_RESPONSE_LEN, WHAT)?;
    let response = CredentialResponse::<Suite>::deserialize(response).map_err(|_| invalid(WHAT))?;
    let params = ClientLoginFinishParameters::new(Some(context), user.identifiers(), Some(&argon2));
    let mut result = state
        .0
        .finish(&mut OsRng, password_bytes(password)?, response, params)
        .map_err(|_| CryptoError::OpenFailed)?;
    let session_key = SessionKey(take_output(&mut result.session_key)?);
    let export_key = ExportKey(take_output(&mut result.export_key)?);
    Ok((result.message.serialize().to_vec(), session_key, export_key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::ZeroizeOnDrop;

    fn zeroizes_on_drop<T: ZeroizeOnDrop>() {}

    #[test]
    fn states_and_secrets_zeroize_on_drop() {
        // Our wrappers hold these; each wipes itself when dropped.
        zeroizes_on_drop::<ClientRegistration<Suite>>();
        zeroizes_on_drop::<ClientLogin<Suite>>();
        zeroizes_on_drop::<ServerLogin<Suite>>();
        zeroizes_on_drop::<opaque_ke::keypair::OprfSeed<sha2_010::Sha512>>();
        zeroizes_on_drop::<opaque_ke::keypair::PrivateKey<opaque_ke::Ristretto255>>();
        zeroizes_on_drop::<SecretBytes<OUTPUT_LEN>>();
    }

    #[test]
    fn debug_is_redacted() {
        let setup = ServerSetup::generate();
        assert_eq!(format!("{setup:?}"), "ServerSetup(***)");
        let password = Password::new("hunter2".into());
        let (reg, _) = client_register_start(&password).unwrap();
        assert_eq!(format!("{reg:?}"), "ClientRegistrationState(***)");
        let (login, _) = client_login_start(&password).unwrap();
        assert_eq!(format!("{login:?}"), "ClientLoginState(***)");
        let ek = ExportKey(SecretBytes::from_array([0x42; OUTPUT_LEN]));
        assert_eq!(format!("{ek:?}"), "ExportKey(***)");
        let sk = SessionKey(SecretBytes::from_array([0x42; OUTPUT_LEN]));
        assert_eq!(format!("{sk:?}"), "SessionKey(***)");
    }

    #[test]
    fn empty_or_huge_password_is_refused() {
        for bad in [String::new(), "x".repeat(65_536)] {
            let password = Password::new(bad);
            assert_eq!(
                client_register_start(&password).err(),
                Some(CryptoError::Length("password"))
            );
            assert_eq!(
                client_login_start(&password).err(),
                Some(CryptoError::Length("password"))
            );
        }
        assert!(client_login_start(&Password::new("x".repeat(65_535))).is_ok());
    }

    #[test]
    fn ksf_params_floor_and_ceiling() {
        assert_eq!(KsfParams::default(), KsfParams::new(65536, 3, 1).unwrap());
        assert_eq!(KsfParams::FLOOR, KsfParams::new(19456, 2, 1).unwrap());
        for (m, t, p) in [(19455, 2, 1), (19456, 1, 1), (0, 0, 0)] {
            assert!(
                matches!(
                    KsfParams::new(m, t, p),
                    Err(CryptoError::KdfBelowFloor { .. })
                ),
                "({m}, {t}, {p}) accepted"
            );
        }
        for (m, t, p) in [
            (4 * 1024 * 1024 + 1, 2, 1),
            (19456, 65, 1),
            (19456, 2, 17),
            (19456, 2, 0),
        ] {
            assert!(
                matches!(
                    KsfParams::new(m, t, p),
                    Err(CryptoError::KdfOutOfRange { .. })
                ),
                "({m}, {t}, {p}) accepted"
            );
        }
        assert!(KsfParams::new(4 * 1024 * 1024, 64, 16).is_ok());
        assert!(ksf_argon2(&KsfParams::FLOOR).is_ok());
    }

    #[test]
    fn user_id_normalises_and_validates() {
        let a = UserId::from_email("  Alice@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "alice@example.com");
        assert_eq!(a, UserId::from_email("alice@example.com").unwrap());
        assert_eq!(
            UserId::from_email("ÉLODIE@exemple.fr").unwrap().as_str(),
            "élodie@exemple.fr"
        );
        for bad in ["", "   ", "no-at-sign", "a b@example.com", "a\u{0}@x"] {
            assert!(UserId::from_email(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@x.y", "a".repeat(320));
        assert!(UserId::from_email(&long).is_err());
    }

    #[test]
    fn server_setup_round_trip_and_length() {
        let setup = ServerSetup::generate();
        let bytes = setup.to_bytes();
        assert_eq!(bytes.len(), SERVER_SETUP_LEN);
        assert_eq!(bytes[0], STORED_VERSION);
        let again = ServerSetup::from_bytes(&bytes).unwrap();
        assert_eq!(*again.to_bytes(), *bytes);
        assert_eq!(again.0, setup.0);
        // Two setups differ.
        assert_ne!(*ServerSetup::generate().to_bytes(), *bytes);
    }

    #[test]
    fn password_kek_is_labelled_and_deterministic() {
        let ek = ExportKey(SecretBytes::from_array([7; OUTPUT_LEN]));
        let a = ek.password_kek().unwrap();
        let b = ek.password_kek().unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.id(), b.id());
        let mut expect = [0u8; 32];
        hkdf_sha256(
            b"coffer.opaque.v1",
            &[7; 64],
            &[b"password-kek"],
            &mut expect,
        )
        .unwrap();
        assert_eq!(a.expose_secret(), &expect);
        let mut id = [0u8; 16];
        hkdf_sha256(
            b"coffer.opaque.v1",
            &[7; 64],
            &[b"password-kek-id"],
            &mut id,
        )
        .unwrap();
        assert_eq!(a.id(), KeyId(id));
        let other = ExportKey(SecretBytes::from_array([8; OUTPUT_LEN]))
            .password_kek()
            .unwrap();
        assert_ne!(other.expose_secret(), a.expose_secret());
        assert_ne!(other.id(), a.id());
    }
}
