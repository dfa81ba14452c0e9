//! The key-stretching parameters (Argon2id) of OPAQUE, and the floor this client enforces
//! whatever a server says (DESIGN §2: m ≥ 19 MiB, t ≥ 2).
//!
//! New accounts use [`KSF_DEFAULT`] (m = 64 MiB, t = 3, p = 1). For test suites the hidden
//! environment knob `COFFER_TEST_KSF=floor` makes *signup* use exactly [`KSF_FLOOR`]; no value of
//! the knob can go below the floor (any other value is an error), and logins always take the
//! parameters the account was made with, checked against the floor.

use coffer_proto::api::KsfParams;

use crate::error::{ClientError, Result};

/// The lowest parameters this client accepts: m = 19456 KiB (19 MiB), t = 2, p = 1 (OWASP).
pub const KSF_FLOOR: KsfParams = KsfParams {
    m_kib: 19_456,
    t: 2,
    p: 1,
};

/// The parameters of a new account: m = 64 MiB, t = 3, p = 1.
pub const KSF_DEFAULT: KsfParams = KsfParams {
    m_kib: 65_536,
    t: 3,
    p: 1,
};

/// The highest memory cost accepted (4 GiB), so a server cannot make the client exhaust memory.
pub const KSF_MAX_M_KIB: u32 = 4 * 1024 * 1024;
/// The highest pass count accepted.
pub const KSF_MAX_T: u32 = 64;
/// The highest lane count accepted.
pub const KSF_MAX_P: u32 = 16;

/// The environment variable of the test knob (see the module documentation).
pub const TEST_KSF_ENV: &str = "COFFER_TEST_KSF";

/// Checks parameters against the floor and the upper bounds. Called before any password-derived
/// value is computed with them.
pub fn check(ksf: &KsfParams) -> Result<()> {
    if ksf.m_kib < KSF_FLOOR.m_kib || ksf.t < KSF_FLOOR.t {
        return Err(ClientError::KsfBelowFloor {
            m_kib: ksf.m_kib,
            t: ksf.t,
        });
    }
    if ksf.p < 1 || ksf.m_kib > KSF_MAX_M_KIB || ksf.t > KSF_MAX_T || ksf.p > KSF_MAX_P {
        return Err(ClientError::Invalid(format!(
            "password hashing parameters out of range (m = {} KiB, t = {}, p = {}): refusing",
            ksf.m_kib, ksf.t, ksf.p
        )));
    }
    Ok(())
}

/// The parameters for a new account: [`KSF_DEFAULT`], or [`KSF_FLOOR`] when the test knob says
/// `floor`. The result is always checked against the floor.
pub fn for_new_account() -> Result<KsfParams> {
    let chosen = match std::env::var(TEST_KSF_ENV) {
        Err(_) => KSF_DEFAULT,
        Ok(v) if v.is_empty() || v == "default" => KSF_DEFAULT,
        Ok(v) if v == "floor" => KSF_FLOOR,
        Ok(_) => {
            return Err(ClientError::Invalid(format!(
                "{TEST_KSF_ENV} accepts only \"floor\" or \"default\""
            )));
        }
    };
    check(&chosen)?;
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_is_enforced() {
        check(&KSF_FLOOR).unwrap();
        check(&KSF_DEFAULT).unwrap();
        for (m_kib, t) in [(19_455, 2), (19_456, 1), (8, 1), (0, 0)] {
            let e = check(&KsfParams { m_kib, t, p: 1 }).unwrap_err();
            assert!(
                matches!(e, ClientError::KsfBelowFloor { .. }),
                "{m_kib} {t}"
            );
        }
        assert!(
            check(&KsfParams {
                m_kib: 19_456,
                t: 2,
                p: 0
            })
            .is_err()
        );
        assert!(
            check(&KsfParams {
                m_kib: KSF_MAX_M_KIB + 1,
                t: 2,
                p: 1
            })
            .is_err()
        );
    }
}
