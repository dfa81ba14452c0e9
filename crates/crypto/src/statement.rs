//! Identity-signed statements a client acts on instead of a server flag (THREATS (c) 6: "the
//! client never acts on an unsigned server flag"; docs/protocol.md §17.1 and §18.6).
//!
//! **Workspace policy v1**, 146 bytes, signed by an owner's or admin's identity key:
//!
//! ```text
//! offset size  field
//! 0      1     version = 1
//! 1      16    workspace id
//! 17     8     policy version, u64 big-endian (monotonic per workspace, first = 1)
//! 25     8     issued at, unix seconds, big-endian
//! 33     1     settings: bit 0 mfa_required, bit 1 admin_recovery = auto; other bits 0
//! 34     16    signing user id
//! 50     32    signer: the signing user's identity Ed25519 public key
//! 82     64    Ed25519 signature, label "workspace-policy", over bytes 0..82
//! ```
//!
//! **Vault role statement v1**, 218 bytes, signed by a vault manager's identity key (the
//! vault's creator signs one naming itself manager: the vault's root):
//!
//! ```text
//! offset size  field
//! 0      1     version = 1
//! 1      16    vault id
//! 17     16    member user id
//! 33     64    member identity PublicKeys (Ed25519 ‖ X25519)
//! 97     1     role: 1 viewer, 2 editor, 3 manager
//! 98     8     issued at, unix seconds, big-endian
//! 106    16    issuing user id
//! 122    32    issuer: the issuing user's identity Ed25519 public key
//! 154    64    Ed25519 signature, label "vault-role", over bytes 0..154
//! ```
//!
//! Both use the domain-separated signatures of [`crate::identity`]: neither verifies as an
//! attestation, a certificate or any other signed object, nor as each other.

use crate::error::{CryptoError, Result};
use crate::identity::{self, KeyPair, PUBLIC_KEYS_LEN, PublicKeys, SIGNATURE_LEN};

/// Current policy statement version.
pub const POLICY_VERSION: u8 = 1;
/// Length of a policy statement.
pub const POLICY_LEN: usize = 1 + 16 + 8 + 8 + 1 + 16 + 32 + SIGNATURE_LEN;
/// Signature label of policy statements.
pub const SIG_LABEL_POLICY: &str = "workspace-policy";
/// Settings bit: every member must have MFA enabled (enforced by the server).
pub const POLICY_MFA_REQUIRED: u8 = 0b01;
/// Settings bit: members' clients share each vault they create in the workspace with the
/// workspace's trusted owners and admins as managers (enforced by the client).
pub const POLICY_ADMIN_RECOVERY_AUTO: u8 = 0b10;

/// Current role statement version.
pub const ROLE_VERSION: u8 = 1;
/// Length of a role statement.
pub const ROLE_LEN: usize = 1 + 16 + 16 + PUBLIC_KEYS_LEN + 1 + 8 + 16 + 32 + SIGNATURE_LEN;
/// Signature label of role statements.
pub const SIG_LABEL_ROLE: &str = "vault-role";
/// Role code: reads items.
pub const ROLE_VIEWER: u8 = 1;
/// Role code: reads and writes items.
pub const ROLE_EDITOR: u8 = 2;
/// Role code: reads and writes items, shares, rotates.
pub const ROLE_MANAGER: u8 = 3;

const POLICY_WHAT: &str = "workspace policy";
const ROLE_WHAT: &str = "vault role statement";

/// The settings of a workspace policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PolicySettings {
    /// Every member must have MFA enabled.
    pub mfa_required: bool,
    /// Members' clients share their new workspace vaults with the owners and admins.
    pub admin_recovery_auto: bool,
}

impl PolicySettings {
    fn to_byte(self) -> u8 {
        let mut b = 0;
        if self.mfa_required {
            b |= POLICY_MFA_REQUIRED;
        }
        if self.admin_recovery_auto {
            b |= POLICY_ADMIN_RECOVERY_AUTO;
        }
        b
    }

    fn from_byte(b: u8) -> Result<Self> {
        if b & !(POLICY_MFA_REQUIRED | POLICY_ADMIN_RECOVERY_AUTO) != 0 {
            return Err(CryptoError::Malformed {
                what: POLICY_WHAT,
                reason: "unknown settings bits",
            });
        }
        Ok(Self {
            mfa_required: b & POLICY_MFA_REQUIRED != 0,
            admin_recovery_auto: b & POLICY_ADMIN_RECOVERY_AUTO != 0,
        })
    }
}

/// A workspace policy signed by an owner's or admin's identity key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PolicyStatement {
    bytes: Vec<u8>,
    workspace: [u8; 16],
    version: u64,
    issued_at: u64,
    settings: PolicySettings,
    signer_user: [u8; 16],
    signer: [u8; 32],
    signature: [u8; SIGNATURE_LEN],
}

impl PolicyStatement {
    /// Issues policy `version` of `workspace` with `settings`, signed by `signer`, the identity
    /// key pair of user `signer_user`.
    pub fn issue(
        signer: &KeyPair,
        signer_user: [u8; 16],
        workspace: [u8; 16],
        version: u64,
        settings: PolicySettings,
        issued_at: u64,
    ) -> Result<Self> {
        let key = *signer.public().signing();
        let mut bytes = Vec::with_capacity(POLICY_LEN);
        bytes.push(POLICY_VERSION);
        bytes.extend_from_slice(&workspace);
        bytes.extend_from_slice(&version.to_be_bytes());
        bytes.extend_from_slice(&issued_at.to_be_bytes());
        bytes.push(settings.to_byte());
        bytes.extend_from_slice(&signer_user);
        bytes.extend_from_slice(&key);
        let signature = signer.sign(SIG_LABEL_POLICY, &bytes)?;
        bytes.extend_from_slice(&signature);
        Ok(Self {
            bytes,
            workspace,
            version,
            issued_at,
            settings,
            signer_user,
            signer: key,
            signature,
        })
    }

    /// Parses the binary form (version, length, settings bits; not the signature).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = crate::wire::Reader::new(POLICY_WHAT, bytes);
        let v = r.u8()?;
        if v != POLICY_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: POLICY_WHAT,
                version: v,
            });
        }
        let workspace = r.array::<16>()?;
        let version = r.u64()?;
        let issued_at = r.u64()?;
        let settings = PolicySettings::from_byte(r.u8()?)?;
        let signer_user = r.array::<16>()?;
        let signer = r.array::<32>()?;
        let signature = r.array::<SIGNATURE_LEN>()?;
        r.finish()?;
        Ok(Self {
            bytes: bytes.to_vec(),
            workspace,
            version,
            issued_at,
            settings,
            signer_user,
            signer,
            signature,
        })
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Checks that `signer` (an identity the verifier trusts) signed this statement.
    pub fn verify(&self, signer: &PublicKeys) -> Result<()> {
        if self.signer != *signer.signing() {
            return Err(CryptoError::UntrustedSigner { what: POLICY_WHAT });
        }
        let signed = self.bytes.get(..POLICY_LEN - SIGNATURE_LEN).unwrap_or(&[]);
        identity::verify(&self.signer, SIG_LABEL_POLICY, signed, &self.signature)
            .map_err(|_| CryptoError::BadSignature { what: POLICY_WHAT })
    }

    /// The workspace.
    pub fn workspace(&self) -> &[u8; 16] {
        &self.workspace
    }

    /// The policy version (monotonic per workspace).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Issue time, unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// The settings.
    pub fn settings(&self) -> PolicySettings {
        self.settings
    }

    /// The signing user.
    pub fn signer_user(&self) -> &[u8; 16] {
        &self.signer_user
    }

    /// The signer's Ed25519 key (authenticated only by [`verify`](Self::verify)).
    pub fn signer(&self) -> &[u8; 32] {
        &self.signer
    }
}

/// A member's role in a vault, signed by a manager's identity key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RoleStatement {
    bytes: Vec<u8>,
    vault: [u8; 16],
    member: [u8; 16],
    identity: PublicKeys,
    role: u8,
    issued_at: u64,
    issuer_user: [u8; 16],
    issuer: [u8; 32],
    signature: [u8; SIGNATURE_LEN],
}

impl RoleStatement {
    /// Issues a statement that `member` (identity `identity`) holds `role` (a `ROLE_*` code) in
    /// `vault`, signed by `issuer`, the identity key pair of user `issuer_user`.
    pub fn issue(
        issuer: &KeyPair,
        issuer_user: [u8; 16],
        vault: [u8; 16],
        member: [u8; 16],
        identity: &PublicKeys,
        role: u8,
        issued_at: u64,
    ) -> Result<Self> {
        check_role(role)?;
        let key = *issuer.public().signing();
        let mut bytes = Vec::with_capacity(ROLE_LEN);
        bytes.push(ROLE_VERSION);
        bytes.extend_from_slice(&vault);
        bytes.extend_from_slice(&member);
        bytes.extend_from_slice(&identity.to_bytes());
        bytes.push(role);
        bytes.extend_from_slice(&issued_at.to_be_bytes());
        bytes.extend_from_slice(&issuer_user);
        bytes.extend_from_slice(&key);
        let signature = issuer.sign(SIG_LABEL_ROLE, &bytes)?;
        bytes.extend_from_slice(&signature);
        Ok(Self {
            bytes,
            vault,
            member,
            identity: *identity,
            role,
            issued_at,
            issuer_user,
            issuer: key,
            signature,
        })
    }

    /// Parses the binary form (version, length, role code, the member's keys; not the
    /// signature).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = crate::wire::Reader::new(ROLE_WHAT, bytes);
        let v = r.u8()?;
        if v != ROLE_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: ROLE_WHAT,
                version: v,
            });
        }
        let vault = r.array::<16>()?;
        let member = r.array::<16>()?;
        let identity = r.take(PUBLIC_KEYS_LEN)?;
        let role = r.u8()?;
        let issued_at = r.u64()?;
        let issuer_user = r.array::<16>()?;
        let issuer = r.array::<32>()?;
        let signature = r.array::<SIGNATURE_LEN>()?;
        r.finish()?;
        check_role(role)?;
        let identity = PublicKeys::from_bytes(identity)?;
        Ok(Self {
            bytes: bytes.to_vec(),
            vault,
            member,
            identity,
            role,
            issued_at,
            issuer_user,
            issuer,
            signature,
        })
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Checks that `issuer` (an identity the verifier trusts) signed this statement.
    pub fn verify(&self, issuer: &PublicKeys) -> Result<()> {
        if self.issuer != *issuer.signing() {
            return Err(CryptoError::UntrustedSigner { what: ROLE_WHAT });
        }
        let signed = self.bytes.get(..ROLE_LEN - SIGNATURE_LEN).unwrap_or(&[]);
        identity::verify(&self.issuer, SIG_LABEL_ROLE, signed, &self.signature)
            .map_err(|_| CryptoError::BadSignature { what: ROLE_WHAT })
    }

    /// The vault.
    pub fn vault(&self) -> &[u8; 16] {
        &self.vault
    }

    /// The member's user id.
    pub fn member(&self) -> &[u8; 16] {
        &self.member
    }

    /// The member's identity keys.
    pub fn identity(&self) -> &PublicKeys {
        &self.identity
    }

    /// The role code (`ROLE_VIEWER`, `ROLE_EDITOR` or `ROLE_MANAGER`).
    pub fn role(&self) -> u8 {
        self.role
    }

    /// Issue time, unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// The issuing user.
    pub fn issuer_user(&self) -> &[u8; 16] {
        &self.issuer_user
    }

    /// The issuer's Ed25519 key (authenticated only by [`verify`](Self::verify)).
    pub fn issuer(&self) -> &[u8; 32] {
        &self.issuer
    }

    /// Whether the issuer named itself (the vault creator's root statement).
    pub fn is_self_issued(&self) -> bool {
        self.issuer_user == self.member && self.issuer == *self.identity.signing()
    }
}

fn check_role(role: u8) -> Result<()> {
    if (ROLE_VIEWER..=ROLE_MANAGER).contains(&role) {
        Ok(())
    } else {
        Err(CryptoError::Malformed {
            what: ROLE_WHAT,
            reason: "unknown role code",
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::attest::Attestation;
    use crate::secret::Seed;

    fn kp(b: u8) -> KeyPair {
        KeyPair::from_seed(&Seed::from_array([b; 32])).unwrap()
    }

    fn policy() -> (KeyPair, PolicyStatement) {
        let admin = kp(1);
        let s = PolicySettings {
            mfa_required: false,
            admin_recovery_auto: true,
        };
        let p = PolicyStatement::issue(&admin, [3; 16], [4; 16], 5, s, 7).unwrap();
        (admin, p)
    }

    fn role() -> (KeyPair, KeyPair, RoleStatement) {
        let (mgr, member) = (kp(1), kp(2));
        let r = RoleStatement::issue(
            &mgr,
            [3; 16],
            [4; 16],
            [5; 16],
            &member.public(),
            ROLE_EDITOR,
            7,
        )
        .unwrap();
        (mgr, member, r)
    }

    #[test]
    fn policy_round_trip_and_layout() {
        let (admin, p) = policy();
        assert_eq!(POLICY_LEN, 146);
        let b = p.as_bytes();
        assert_eq!(b.len(), POLICY_LEN);
        let q = PolicyStatement::from_bytes(b).unwrap();
        assert_eq!(p, q);
        q.verify(&admin.public()).unwrap();
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..17], &[4; 16]);
        assert_eq!(&b[17..25], &5u64.to_be_bytes());
        assert_eq!(&b[25..33], &7u64.to_be_bytes());
        assert_eq!(b[33], POLICY_ADMIN_RECOVERY_AUTO);
        assert_eq!(&b[34..50], &[3; 16]);
        assert_eq!(&b[50..82], admin.public().signing());
        assert!(q.settings().admin_recovery_auto && !q.settings().mfa_required);
        assert_eq!((q.version(), q.issued_at()), (5, 7));
        assert_eq!(q.workspace(), &[4; 16]);
        assert_eq!(q.signer_user(), &[3; 16]);
    }

    #[test]
    fn role_round_trip_and_layout() {
        let (mgr, member, r) = role();
        assert_eq!(ROLE_LEN, 218);
        let b = r.as_bytes();
        assert_eq!(b.len(), ROLE_LEN);
        let q = RoleStatement::from_bytes(b).unwrap();
        assert_eq!(r, q);
        q.verify(&mgr.public()).unwrap();
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..17], &[4; 16]);
        assert_eq!(&b[17..33], &[5; 16]);
        assert_eq!(&b[33..97], &member.public().to_bytes());
        assert_eq!(b[97], ROLE_EDITOR);
        assert_eq!(&b[98..106], &7u64.to_be_bytes());
        assert_eq!(&b[106..122], &[3; 16]);
        assert_eq!(&b[122..154], mgr.public().signing());
        assert!(!q.is_self_issued());
        let root = RoleStatement::issue(
            &mgr,
            [3; 16],
            [4; 16],
            [3; 16],
            &mgr.public(),
            ROLE_MANAGER,
            1,
        )
        .unwrap();
        assert!(root.is_self_issued());
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let (admin, p) = policy();
        let (mgr, _, r) = role();
        for (bytes, key, is_policy) in [
            (p.as_bytes().to_vec(), admin.public(), true),
            (r.as_bytes().to_vec(), mgr.public(), false),
        ] {
            for i in 0..bytes.len() {
                for bit in 0..8 {
                    let mut t = bytes.clone();
                    t[i] ^= 1 << bit;
                    let refused = if is_policy {
                        PolicyStatement::from_bytes(&t).is_err()
                            || PolicyStatement::from_bytes(&t)
                                .is_ok_and(|s| s.verify(&key).is_err())
                    } else {
                        RoleStatement::from_bytes(&t).is_err()
                            || RoleStatement::from_bytes(&t).is_ok_and(|s| s.verify(&key).is_err())
                    };
                    assert!(refused, "policy {is_policy} byte {i} bit {bit}");
                }
            }
        }
    }

    #[test]
    fn bad_version_bits_role_length_and_foreign_signatures_are_refused() {
        let (_, p) = policy();
        let (mgr, member, r) = role();
        let mut t = p.as_bytes().to_vec();
        t[0] = 2;
        assert!(matches!(
            PolicyStatement::from_bytes(&t),
            Err(CryptoError::UnknownVersion { .. })
        ));
        let mut t = p.as_bytes().to_vec();
        t[33] = 0b100;
        assert!(matches!(
            PolicyStatement::from_bytes(&t),
            Err(CryptoError::Malformed { .. })
        ));
        let mut t = r.as_bytes().to_vec();
        t[97] = 4;
        assert!(RoleStatement::from_bytes(&t).is_err());
        assert!(RoleStatement::from_bytes(&r.as_bytes()[..100]).is_err());
        assert!(PolicyStatement::from_bytes(&p.as_bytes()[..100]).is_err());
        assert!(
            RoleStatement::issue(&mgr, [0; 16], [0; 16], [0; 16], &member.public(), 0, 0).is_err()
        );
        // another signer
        assert!(matches!(
            p.verify(&kp(9).public()),
            Err(CryptoError::UntrustedSigner { .. })
        ));
        assert!(matches!(
            r.verify(&kp(9).public()),
            Err(CryptoError::UntrustedSigner { .. })
        ));
        // an attestation's signature over the same signer never verifies as a role statement
        let att = Attestation::issue(&mgr, [3; 16], [4; 16], [5; 16], &member.public(), 7).unwrap();
        let mut forged = r.as_bytes()[..ROLE_LEN - SIGNATURE_LEN].to_vec();
        forged.extend_from_slice(&att.as_bytes()[att.as_bytes().len() - SIGNATURE_LEN..]);
        assert!(matches!(
            RoleStatement::from_bytes(&forged)
                .unwrap()
                .verify(&mgr.public()),
            Err(CryptoError::BadSignature { .. })
        ));
    }
}
