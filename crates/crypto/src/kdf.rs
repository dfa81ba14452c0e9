//! Password-based key derivation: Argon2id with the client's floor (DESIGN §2, §4), PBKDF2-HMAC-
//! SHA256 for imports only, and HMAC-SHA256 (the PRF under PBKDF2, HKDF and HOTP).
//!
//! The floor lives in the type that accepts parameters: an [`Argon2Params`] exists only if
//! m ≥ 19 MiB and t ≥ 2 (OWASP), and only below a ceiling that stops a server from sending a
//! memory or time bomb. [`derive_key`] takes nothing else, so there is no public way to run
//! Argon2id below the floor. Parameters have a compact encoding ([`Argon2Params::to_bytes`])
//! meant to be **bound into what they protect**: put it in the associated data or context of
//! what the derived key opens, and in the signed account state, so a server cannot lower them
//! without the open or the signature failing.
//!
//! PBKDF2 is accepted only at ≥ 600,000 iterations, for importing other managers' exports.
//!
//! The known-answer vectors use costs far below the floor; they run through the crate-private
//! `dangerous_argon2id_unchecked` and `dangerous_pbkdf2_sha256_unchecked`, in this module's tests.

use argon2::{Algorithm, Argon2, AssociatedData, Params, ParamsBuilder, Version};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::{CryptoError, Result};
use crate::secret::{Password, SecretBytes, SecretVec};
use crate::wire::Reader;

/// Lowest Argon2id memory cost accepted, in KiB (19 MiB, OWASP).
pub const ARGON2_MIN_M_KIB: u32 = 19 * 1024;
/// Lowest Argon2id time cost (passes) accepted.
pub const ARGON2_MIN_T: u32 = 2;
/// Highest Argon2id memory cost accepted, in KiB (4 GiB): more is a memory bomb.
pub const ARGON2_MAX_M_KIB: u32 = 4 * 1024 * 1024;
/// Highest Argon2id time cost accepted: more is a time bomb.
pub const ARGON2_MAX_T: u32 = 64;
/// Highest Argon2id parallelism accepted (the lowest is 1).
pub const ARGON2_MAX_P: u32 = 16;
/// Shortest salt [`derive_key`] accepts, in bytes.
pub const ARGON2_MIN_SALT_LEN: usize = 16;
/// Fewest PBKDF2-HMAC-SHA256 iterations accepted (OWASP 2023).
pub const PBKDF2_MIN_ITERATIONS: u32 = 600_000;
/// Most PBKDF2-HMAC-SHA256 iterations accepted: an import file could otherwise stall the client.
pub const PBKDF2_MAX_ITERATIONS: u32 = 10_000_000;
/// Shortest HMAC-SHA256 tag [`hmac_sha256_verify`] accepts (128 bits).
pub const HMAC_MIN_TAG_LEN: usize = 16;

/// Something a person typed, as the bytes a KDF hashes. Implemented for [`Password`] (its UTF-8
/// bytes), [`SecretVec`], `str`, `[u8]` and `[u8; N]`.
pub trait PasswordInput {
    /// The bytes to hash.
    fn password_bytes(&self) -> &[u8];
}

impl PasswordInput for Password {
    fn password_bytes(&self) -> &[u8] {
        self.expose_secret().as_bytes()
    }
}

impl PasswordInput for SecretVec {
    fn password_bytes(&self) -> &[u8] {
        self.expose_secret()
    }
}

impl PasswordInput for str {
    fn password_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PasswordInput for [u8] {
    fn password_bytes(&self) -> &[u8] {
        self
    }
}

impl<const N: usize> PasswordInput for [u8; N] {
    fn password_bytes(&self) -> &[u8] {
        self
    }
}

/// Argon2id cost parameters that meet the floor and stay below the ceiling.
///
/// Encoded ([`to_bytes`](Self::to_bytes)) as 13 bytes, big-endian:
///
/// ```text
/// version:u8 = 0x01 ‖ m_kib:u32 ‖ t:u32 ‖ p:u32
/// ```
///
/// Version 0x01 means Argon2id, Argon2 version 0x13, 32-byte output. Parsing
/// ([`from_bytes`](Self::from_bytes)) goes through [`new`](Self::new), so a below-floor
/// encoding never becomes a value of this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    m_kib: u32,
    t: u32,
    p: u32,
}

impl Argon2Params {
    /// Length of the encoding in bytes.
    pub const ENCODED_LEN: usize = 13;
    /// Version tag of the encoding: Argon2id v0x13, 32-byte output.
    pub const VERSION: u8 = 0x01;
    /// Coffer's default: m = 64 MiB, t = 3, p = 1.
    pub const DEFAULT: Self = Self {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
    /// The floor itself: m = 19 MiB, t = 2, p = 1 (OWASP).
    pub const FLOOR: Self = Self {
        m_kib: ARGON2_MIN_M_KIB,
        t: ARGON2_MIN_T,
        p: 1,
    };

    /// Checks and wraps `m_kib` (memory in KiB), `t` (passes) and `p` (lanes).
    ///
    /// Refuses m < 19456 KiB or t < 2 with [`CryptoError::KdfBelowFloor`], and m > 4 GiB,
    /// t > 64 or p outside 1..=16 with [`CryptoError::KdfOutOfRange`]; the error names the
    /// parameter.
    pub fn new(m_kib: u32, t: u32, p: u32) -> Result<Self> {
        if m_kib < ARGON2_MIN_M_KIB {
            return Err(CryptoError::KdfBelowFloor {
                reason: "argon2id memory m below 19456 KiB (19 MiB)",
            });
        }
        if t < ARGON2_MIN_T {
            return Err(CryptoError::KdfBelowFloor {
                reason: "argon2id time cost t below 2",
            });
        }
        if m_kib > ARGON2_MAX_M_KIB {
            return Err(CryptoError::KdfOutOfRange {
                reason: "argon2id memory m above 4 GiB",
            });
        }
        if t > ARGON2_MAX_T {
            return Err(CryptoError::KdfOutOfRange {
                reason: "argon2id time cost t above 64",
            });
        }
        if p == 0 || p > ARGON2_MAX_P {
            return Err(CryptoError::KdfOutOfRange {
                reason: "argon2id parallelism p outside 1..=16",
            });
        }
        Ok(Self { m_kib, t, p })
    }

    /// Memory cost in KiB.
    pub fn m_kib(&self) -> u32 {
        self.m_kib
    }

    /// Time cost (passes over memory).
    pub fn t(&self) -> u32 {
        self.t
    }

    /// Parallelism (lanes).
    pub fn p(&self) -> u32 {
        self.p
    }

    /// The 13-byte encoding, to be bound into what the derived key protects.
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[0] = Self::VERSION;
        out[1..5].copy_from_slice(&self.m_kib.to_be_bytes());
        out[5..9].copy_from_slice(&self.t.to_be_bytes());
        out[9..13].copy_from_slice(&self.p.to_be_bytes());
        out
    }

    /// Parses the encoding through the same checks as [`new`](Self::new). Errors:
    /// [`CryptoError::Truncated`], [`CryptoError::UnknownVersion`], [`CryptoError::Malformed`]
    /// (trailing bytes), then those of `new`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "argon2id parameters";
        let mut r = Reader::new(WHAT, bytes);
        let version = r.u8()?;
        if version != Self::VERSION {
            return Err(CryptoError::UnknownVersion {
                what: WHAT,
                version,
            });
        }
        let m_kib = r.u32()?;
        let t = r.u32()?;
        let p = r.u32()?;
        r.finish()?;
        Self::new(m_kib, t, p)
    }
}

impl Default for Argon2Params {
    /// m = 64 MiB, t = 3, p = 1 (DESIGN §2).
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Argon2id (v0x13) of `password` under `salt` (≥ 16 bytes) and checked `params`, into a
/// 32-byte key.
pub fn derive_key<P: PasswordInput + ?Sized>(
    password: &P,
    salt: &[u8],
    params: Argon2Params,
) -> Result<SecretBytes<32>> {
    if salt.len() < ARGON2_MIN_SALT_LEN {
        return Err(CryptoError::Length("argon2id salt (at least 16 bytes)"));
    }
    let mut out = SecretBytes::<32>::from_array([0u8; 32]);
    dangerous_argon2id_unchecked(
        password.password_bytes(),
        salt,
        (params.m_kib, params.t, params.p),
        &[],
        &[],
        out.expose_secret_mut(),
    )?;
    Ok(out)
}

/// Argon2id v0x13 with any costs the `argon2` crate accepts, an optional secret (key) and
/// associated data: for known-answer vectors and for [`derive_key`] after its checks. Never
/// expose it: it is the way below the floor.
pub(crate) fn dangerous_argon2id_unchecked(
    password: &[u8],
    salt: &[u8],
    (m_kib, t, p): (u32, u32, u32),
    secret: &[u8],
    ad: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let mut builder = ParamsBuilder::new();
    builder
        .m_cost(m_kib)
        .t_cost(t)
        .p_cost(p)
        .output_len(out.len());
    if !ad.is_empty() {
        let ad = AssociatedData::new(ad).map_err(|_| CryptoError::Length("argon2id data"))?;
        builder.data(ad);
    }
    let params: Params = builder.build().map_err(argon2_error)?;
    let argon = if secret.is_empty() {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    } else {
        Argon2::new_with_secret(secret, Algorithm::Argon2id, Version::V0x13, params)
            .map_err(argon2_error)?
    };
    argon
        .hash_password_into(password, salt, out)
        .map_err(argon2_error)
}

fn argon2_error(e: argon2::Error) -> CryptoError {
    match e {
        argon2::Error::SaltTooShort | argon2::Error::SaltTooLong => {
            CryptoError::Length("argon2id salt")
        }
        argon2::Error::PwdTooLong => CryptoError::Length("argon2id password"),
        argon2::Error::SecretTooLong => CryptoError::Length("argon2id secret"),
        argon2::Error::AdTooLong => CryptoError::Length("argon2id data"),
        argon2::Error::OutputTooShort | argon2::Error::OutputTooLong => {
            CryptoError::Length("argon2id output")
        }
        argon2::Error::OutOfMemory => CryptoError::KdfOutOfRange {
            reason: "argon2id memory m could not be allocated",
        },
        _ => CryptoError::KdfOutOfRange {
            reason: "argon2id refused the parameters",
        },
    }
}

/// PBKDF2-HMAC-SHA256 into `out`, for imports only. Refuses fewer than 600,000 iterations
/// ([`CryptoError::KdfBelowFloor`]), more than 10,000,000 ([`CryptoError::KdfOutOfRange`]) and
/// an empty output ([`CryptoError::Length`]).
pub fn pbkdf2_sha256<P: PasswordInput + ?Sized>(
    password: &P,
    salt: &[u8],
    iterations: u32,
    out: &mut [u8],
) -> Result<()> {
    if iterations < PBKDF2_MIN_ITERATIONS {
        return Err(CryptoError::KdfBelowFloor {
            reason: "pbkdf2 iterations below 600,000",
        });
    }
    if iterations > PBKDF2_MAX_ITERATIONS {
        return Err(CryptoError::KdfOutOfRange {
            reason: "pbkdf2 iterations above 10,000,000",
        });
    }
    dangerous_pbkdf2_sha256_unchecked(password.password_bytes(), salt, iterations, out)
}

/// PBKDF2-HMAC-SHA256 with any iteration count ≥ 1: for known-answer vectors and for
/// [`pbkdf2_sha256`] after its checks.
pub(crate) fn dangerous_pbkdf2_sha256_unchecked(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    out: &mut [u8],
) -> Result<()> {
    if iterations == 0 {
        return Err(CryptoError::KdfOutOfRange {
            reason: "pbkdf2 iterations must be at least 1",
        });
    }
    // RFC 8018 §5.2: dkLen ≤ (2^32 − 1) × hLen; the block index is a u32.
    if out.is_empty() || out.len().div_ceil(32) > u32::MAX as usize {
        return Err(CryptoError::Length("pbkdf2 output"));
    }
    pbkdf2::pbkdf2::<Hmac<Sha256>>(password, salt, iterations, out)
        .map_err(|_| CryptoError::Length("pbkdf2 password"))
}

/// HMAC-SHA256 of `msg` under `key` (any length).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Result<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|_| CryptoError::Length("hmac key"))?;
    mac.update(msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    Ok(out)
}

/// Verifies an HMAC-SHA256 `tag` over `msg` in constant time. A tag of 16 to 32 bytes is compared
/// with the same number of leading bytes of the full HMAC (truncation per RFC 2104 §5). A wrong
/// tag is [`CryptoError::OpenFailed`]; a tag shorter than 16 or longer than 32 bytes is
/// [`CryptoError::Length`].
pub fn hmac_sha256_verify(key: &[u8], msg: &[u8], tag: &[u8]) -> Result<()> {
    if tag.len() < HMAC_MIN_TAG_LEN || tag.len() > 32 {
        return Err(CryptoError::Length("hmac tag"));
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|_| CryptoError::Length("hmac key"))?;
    mac.update(msg);
    mac.verify_truncated_left(tag)
        .map_err(|_| CryptoError::OpenFailed)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::*;

    fn vectors_dir() -> PathBuf {
        match std::env::var_os("COFFER_VECTORS") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        }
    }

    /// Loads a vector file; a missing file fails the test.
    fn load_json(relative: &str) -> serde_json::Value {
        let path = vectors_dir().join(relative);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("vector file {} is missing: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    fn unhex(s: &serde_json::Value) -> Vec<u8> {
        hex::decode(s.as_str().unwrap()).unwrap()
    }

    fn num(v: &serde_json::Value) -> u32 {
        u32::try_from(v.as_u64().unwrap()).unwrap()
    }

    fn floor_reason(r: Result<Argon2Params>) -> &'static str {
        match r {
            Err(CryptoError::KdfBelowFloor { reason }) => reason,
            other => panic!("expected KdfBelowFloor, got {other:?}"),
        }
    }

    fn range_reason(r: Result<Argon2Params>) -> &'static str {
        match r {
            Err(CryptoError::KdfOutOfRange { reason }) => reason,
            other => panic!("expected KdfOutOfRange, got {other:?}"),
        }
    }

    /// RFC 9106 §5.3 (with secret and associated data) and every reference Argon2id case, through
    /// the same function `derive_key` calls.
    #[test]
    fn argon2id_known_answers() {
        let v = load_json("argon2id.json");
        let rfc = &v["rfc9106"];
        let mut tag = vec![0u8; usize::try_from(num(&rfc["tag_len"])).unwrap()];
        dangerous_argon2id_unchecked(
            &unhex(&rfc["password_hex"]),
            &unhex(&rfc["salt_hex"]),
            (num(&rfc["m_kib"]), num(&rfc["t"]), num(&rfc["p"])),
            &unhex(&rfc["secret_hex"]),
            &unhex(&rfc["ad_hex"]),
            &mut tag,
        )
        .unwrap();
        assert_eq!(tag, unhex(&rfc["tag_hex"]), "RFC 9106 §5.3");

        let cases = v["cases"].as_array().unwrap();
        assert!(cases.len() >= 8, "expected the reference cases");
        for (i, c) in cases.iter().enumerate() {
            let mut tag = [0u8; 32];
            dangerous_argon2id_unchecked(
                c["password"].as_str().unwrap().as_bytes(),
                c["salt"].as_str().unwrap().as_bytes(),
                (num(&c["m_kib"]), num(&c["t"]), num(&c["p"])),
                &[],
                &[],
                &mut tag,
            )
            .unwrap();
            assert_eq!(tag.to_vec(), unhex(&c["tag_hex"]), "reference case {i}");
            // The public type accepts exactly the cases that meet the floor.
            let m = num(&c["m_kib"]);
            let t = num(&c["t"]);
            let accepted = Argon2Params::new(m, t, num(&c["p"])).is_ok();
            assert_eq!(accepted, m >= ARGON2_MIN_M_KIB && t >= 2, "case {i} floor");
        }
        println!(
            "argon2id: 1 RFC 9106 case and {} reference cases matched",
            cases.len()
        );
    }

    /// Every Wycheproof PBKDF2-HMAC-SHA256 case (all below the floor, so through the unchecked
    /// path that `pbkdf2_sha256` calls); each is also refused by the public function.
    #[test]
    fn pbkdf2_wycheproof() {
        let v = load_json("wycheproof/pbkdf2_hmacsha256_test.json");
        let mut valid = 0;
        for g in v["testGroups"].as_array().unwrap() {
            for t in g["tests"].as_array().unwrap() {
                assert_eq!(t["result"], "valid", "only valid cases are expected");
                let pw = unhex(&t["password"]);
                let salt = unhex(&t["salt"]);
                let iters = num(&t["iterationCount"]);
                let mut out = vec![0u8; usize::try_from(num(&t["dkLen"])).unwrap()];
                dangerous_pbkdf2_sha256_unchecked(&pw, &salt, iters, &mut out).unwrap();
                assert_eq!(out, unhex(&t["dk"]), "tcId {}", t["tcId"]);
                assert!(matches!(
                    pbkdf2_sha256(pw.as_slice(), &salt, iters, &mut out),
                    Err(CryptoError::KdfBelowFloor { .. })
                ));
                valid += 1;
            }
        }
        assert_eq!(valid, 60);
        println!("pbkdf2-hmac-sha256: {valid} valid cases verified");
    }

    #[test]
    fn floor_names_each_parameter() {
        assert!(floor_reason(Argon2Params::new(ARGON2_MIN_M_KIB - 1, 3, 1)).contains("memory m"));
        assert!(floor_reason(Argon2Params::new(65536, 1, 1)).contains("time cost t"));
        assert!(floor_reason(Argon2Params::new(65536, 0, 1)).contains("time cost t"));
        assert!(range_reason(Argon2Params::new(ARGON2_MAX_M_KIB + 1, 3, 1)).contains("memory m"));
        assert!(range_reason(Argon2Params::new(u32::MAX, 3, 1)).contains("memory m"));
        assert!(range_reason(Argon2Params::new(65536, 65, 1)).contains("time cost t"));
        assert!(range_reason(Argon2Params::new(65536, 3, 0)).contains("parallelism p"));
        assert!(range_reason(Argon2Params::new(65536, 3, 17)).contains("parallelism p"));
        // The edges themselves are accepted.
        let lo = Argon2Params::new(ARGON2_MIN_M_KIB, ARGON2_MIN_T, 1).unwrap();
        assert_eq!((lo.m_kib(), lo.t(), lo.p()), (19456, 2, 1));
        assert!(Argon2Params::new(ARGON2_MAX_M_KIB, ARGON2_MAX_T, ARGON2_MAX_P).is_ok());
    }

    #[test]
    fn default_is_64mib_t3_p1_and_valid() {
        let d = Argon2Params::default();
        assert_eq!((d.m_kib(), d.t(), d.p()), (65536, 3, 1));
        assert_eq!(Argon2Params::new(65536, 3, 1).unwrap(), d);
    }

    #[test]
    fn encoding_is_pinned() {
        // Do not change: this encoding is bound into ciphertexts and signed account state.
        assert_eq!(
            hex::encode(Argon2Params::default().to_bytes()),
            "01000100000000000300000001"
        );
        let p = Argon2Params::new(0x0001_2345, 7, 4).unwrap();
        assert_eq!(hex::encode(p.to_bytes()), "01000123450000000700000004");
        assert_eq!(Argon2Params::from_bytes(&p.to_bytes()).unwrap(), p);
    }

    #[test]
    fn encoding_rejects_below_floor_and_bad_framing() {
        // m = 19455 KiB: one below the floor.
        let low_m = hex::decode("0100004bff0000000300000001").unwrap();
        assert!(matches!(
            Argon2Params::from_bytes(&low_m),
            Err(CryptoError::KdfBelowFloor { .. })
        ));
        let low_t = hex::decode("01000100000000000100000001").unwrap();
        assert!(matches!(
            Argon2Params::from_bytes(&low_t),
            Err(CryptoError::KdfBelowFloor { .. })
        ));
        let bomb = hex::decode("01ffffffff0000000300000001").unwrap();
        assert!(matches!(
            Argon2Params::from_bytes(&bomb),
            Err(CryptoError::KdfOutOfRange { .. })
        ));
        let good = Argon2Params::default().to_bytes();
        let mut v2 = good;
        v2[0] = 0x02;
        assert_eq!(
            Argon2Params::from_bytes(&v2),
            Err(CryptoError::UnknownVersion {
                what: "argon2id parameters",
                version: 2
            })
        );
        assert!(matches!(
            Argon2Params::from_bytes(&good[..12]),
            Err(CryptoError::Truncated { .. })
        ));
        assert!(matches!(
            Argon2Params::from_bytes(&[]),
            Err(CryptoError::Truncated { .. })
        ));
        let mut long = good.to_vec();
        long.push(0);
        assert!(matches!(
            Argon2Params::from_bytes(&long),
            Err(CryptoError::Malformed { .. })
        ));
    }

    /// One Argon2id run at the floor: deterministic, and every input changes the key.
    #[test]
    fn derive_key_depends_on_every_input() {
        let floor = Argon2Params::new(ARGON2_MIN_M_KIB, 2, 1).unwrap();
        let salt = [7u8; 16];
        let pw = Password::new("correct horse battery staple".into());
        let k = derive_key(&pw, &salt, floor).unwrap();
        assert_eq!(
            k,
            derive_key(b"correct horse battery staple", &salt, floor).unwrap()
        );
        assert_ne!(
            k,
            derive_key(b"correct horse battery stapler", &salt, floor).unwrap()
        );
        assert_ne!(k, derive_key(&pw, &[8u8; 16], floor).unwrap());
        let floor_p2 = Argon2Params::new(ARGON2_MIN_M_KIB, 2, 2).unwrap();
        assert_ne!(k, derive_key(&pw, &salt, floor_p2).unwrap());
        // The public path is the unchecked path with no secret and no data.
        let mut raw = [0u8; 32];
        dangerous_argon2id_unchecked(
            pw.password_bytes(),
            &salt,
            (19456, 2, 1),
            &[],
            &[],
            &mut raw,
        )
        .unwrap();
        assert_eq!(k.expose_secret(), &raw);
    }

    #[test]
    fn derive_key_refuses_short_salt() {
        let r = derive_key(b"pw", &[0u8; 15], Argon2Params::default());
        assert_eq!(
            r,
            Err(CryptoError::Length("argon2id salt (at least 16 bytes)"))
        );
    }

    #[test]
    fn pbkdf2_floor_and_ceiling() {
        let mut out = [0u8; 32];
        assert_eq!(
            pbkdf2_sha256(b"pw", b"salt", 599_999, &mut out),
            Err(CryptoError::KdfBelowFloor {
                reason: "pbkdf2 iterations below 600,000"
            })
        );
        assert!(matches!(
            pbkdf2_sha256(b"pw", b"salt", PBKDF2_MAX_ITERATIONS + 1, &mut out),
            Err(CryptoError::KdfOutOfRange { .. })
        ));
        assert!(matches!(
            dangerous_pbkdf2_sha256_unchecked(b"pw", b"salt", 0, &mut out),
            Err(CryptoError::KdfOutOfRange { .. })
        ));
        assert_eq!(
            dangerous_pbkdf2_sha256_unchecked(b"pw", b"salt", 1, &mut []),
            Err(CryptoError::Length("pbkdf2 output"))
        );
        assert_eq!(out, [0u8; 32], "refusals must not write output");
    }

    #[test]
    fn hmac_rejects_short_and_long_tags() {
        let tag = hmac_sha256(b"k", b"m").unwrap();
        hmac_sha256_verify(b"k", b"m", &tag).unwrap();
        hmac_sha256_verify(b"k", b"m", &tag[..16]).unwrap();
        assert_eq!(
            hmac_sha256_verify(b"k", b"m", &tag[..15]),
            Err(CryptoError::Length("hmac tag"))
        );
        let mut long = tag.to_vec();
        long.push(0);
        assert_eq!(
            hmac_sha256_verify(b"k", b"m", &long),
            Err(CryptoError::Length("hmac tag"))
        );
        // A tag compared from the wrong end fails.
        assert_eq!(
            hmac_sha256_verify(b"k", b"m", &tag[16..]),
            Err(CryptoError::OpenFailed)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn encoding_round_trips(
            m in ARGON2_MIN_M_KIB..=ARGON2_MAX_M_KIB,
            t in ARGON2_MIN_T..=ARGON2_MAX_T,
            p in 1u32..=ARGON2_MAX_P,
        ) {
            let params = Argon2Params::new(m, t, p).unwrap();
            prop_assert_eq!(Argon2Params::from_bytes(&params.to_bytes()).unwrap(), params);
        }

        #[test]
        fn decoding_never_panics_and_agrees_with_new(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            let parsed = Argon2Params::from_bytes(&bytes);
            if bytes.len() == Argon2Params::ENCODED_LEN && bytes[0] == Argon2Params::VERSION {
                let field = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
                prop_assert_eq!(parsed, Argon2Params::new(field(1), field(5), field(9)));
            } else {
                prop_assert!(parsed.is_err());
            }
        }
    }
}
