//! Device chains (docs/protocol.md §14.5): each user's append-only chain of signed links that
//! add or revoke a device (`coffer_crypto::chain`), and admin endorsements of pending devices
//! (§14.6, `coffer_crypto::endorse`).
//!
//! The store appends a link only in the transaction that changes the device's state, after
//! checking, with the user's registered identity key, that the stored chain followed by the new
//! link verifies ([`coffer_crypto::verify_chain`]: seq = head + 1, previous hash, a signer
//! trusted at that point, the device rules) and that the link does what the change needs (adds
//! exactly that device with its registered keys, or revokes exactly it). On any refusal nothing
//! is written: a link whose seq is not the next one is [`StoreError::Conflict`] (the chain moved
//! under the writer); any other bad link is [`StoreError::Invalid`].

use coffer_crypto::chain::{ChainLink, ChainOp, TrustedDevices};
use coffer_crypto::{CryptoError, PublicKeys};
use coffer_proto::{DeviceId, UserId, VaultId, WorkspaceId};
use sqlx::AnyConnection;

use super::MainStore;
use super::devices::device_on;
use super::vaults::NewGrant;
use crate::StoreError;
use crate::audit::AuditEvent;
use crate::db::now;
use crate::rows;

/// What the link appended with a device change must do.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LinkMust<'a> {
    /// Add this device with these registered public keys.
    Add {
        device: DeviceId,
        public_keys: &'a [u8],
    },
    /// Revoke this device.
    Revoke { device: DeviceId },
}

fn bad(why: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("chain link: {why}"))
}

/// The user's registered identity keys, read on `conn`.
async fn identity_on(conn: &mut AnyConnection, user: UserId) -> Result<PublicKeys, StoreError> {
    let row = sqlx::query("SELECT identity_public_keys FROM users WHERE id = $1")
        .bind(user.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    PublicKeys::from_bytes(&rows::bytes(&row, "identity_public_keys")?)
        .map_err(|_| StoreError::Backend("stored identity keys do not parse".into()))
}

/// The user's stored links in order, read on `conn`.
pub(crate) async fn links_on(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let found = sqlx::query("SELECT link FROM device_chain_links WHERE user_id = $1 ORDER BY seq")
        .bind(user.to_string())
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(|r| rows::bytes(r, "link")).collect()
}

fn parse_stored(links: &[Vec<u8>]) -> Result<Vec<ChainLink>, StoreError> {
    links
        .iter()
        .map(|l| {
            ChainLink::from_bytes(l)
                .map_err(|_| StoreError::Backend("a stored chain link does not parse".into()))
        })
        .collect()
}

/// The devices the user's stored chain trusts now, verified under the registered identity.
pub(crate) async fn trusted_on(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<TrustedDevices, StoreError> {
    let identity = identity_on(conn, user).await?;
    let stored = parse_stored(&links_on(conn, user).await?)?;
    coffer_crypto::verify_chain(&identity, &stored, None).map_err(|_| {
        StoreError::Conflict(
            "the stored device chain does not verify under the user's identity key".into(),
        )
    })
}

/// Checks that `link` extends `user`'s stored chain and does what `must` says, then stores it;
/// inside the caller's write transaction (see the module documentation).
pub(crate) async fn append_link_on(
    conn: &mut AnyConnection,
    user: UserId,
    link: &[u8],
    must: LinkMust<'_>,
) -> Result<(), StoreError> {
    let parsed = ChainLink::from_bytes(link).map_err(|e| bad(format!("malformed: {e}")))?;
    let identity = identity_on(conn, user).await?;
    let mut all = parse_stored(&links_on(conn, user).await?)?;
    let next = all.len() as u64;
    if parsed.seq() != next {
        return Err(StoreError::Conflict(format!(
            "chain link: seq {} does not extend the device chain, whose next seq is {next}: \
             fetch the chain again",
            parsed.seq()
        )));
    }
    match must {
        LinkMust::Add {
            device,
            public_keys,
        } => {
            if parsed.op() != ChainOp::AddDevice {
                return Err(bad("this change needs a link that adds the device"));
            }
            if parsed.device_id() != device.as_uuid().as_bytes() {
                return Err(bad("adds another device"));
            }
            if parsed.device_keys().to_bytes().as_slice() != public_keys {
                return Err(bad("adds other public keys than the device's"));
            }
        }
        LinkMust::Revoke { device } => {
            if parsed.op() != ChainOp::RevokeDevice {
                return Err(bad("this change needs a link that revokes the device"));
            }
            if parsed.device_id() != device.as_uuid().as_bytes() {
                return Err(bad("revokes another device"));
            }
        }
    }
    all.push(parsed);
    match coffer_crypto::verify_chain(&identity, &all, None) {
        Ok(_) => {}
        Err(CryptoError::BadChain { index, reason }) if index as u64 == next => {
            return Err(bad(reason));
        }
        Err(_) => {
            return Err(StoreError::Conflict(
                "the stored device chain does not verify under the user's identity key".into(),
            ));
        }
    }
    sqlx::query(
        "INSERT INTO device_chain_links (user_id, seq, link, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user.to_string())
    .bind(i64::try_from(next).map_err(|_| bad("seq out of range"))?)
    .bind(link.to_vec())
    .bind(now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A stored admin endorsement of a pending device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEndorsementRow {
    /// The endorsed device.
    pub device_id: DeviceId,
    /// Its user.
    pub user_id: UserId,
    /// The workspace in which the endorser is an owner or admin.
    pub workspace_id: WorkspaceId,
    /// The endorsing user.
    pub endorser_id: UserId,
    /// The signed endorsement (protocol.md §14.6).
    pub endorsement: Vec<u8>,
    /// When it was stored (unix seconds).
    pub created_at: i64,
}

fn endorsement_from_row(row: &sqlx::any::AnyRow) -> Result<DeviceEndorsementRow, StoreError> {
    Ok(DeviceEndorsementRow {
        device_id: rows::parsed(row, "device_id")?,
        user_id: rows::parsed(row, "user_id")?,
        workspace_id: rows::parsed(row, "workspace_id")?,
        endorser_id: rows::parsed(row, "endorser_id")?,
        endorsement: rows::bytes(row, "endorsement")?,
        created_at: rows::int(row, "created_at")?,
    })
}

impl MainStore {
    /// The user's device chain: every link in seq order (empty for a user without one).
    pub async fn device_chain(&self, user: UserId) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        links_on(&mut conn, user).await
    }

    /// Approves a pending device like [`MainStore::approve_device`] and, in the same
    /// transaction, appends `link`, which must add exactly this device with its registered keys
    /// and extend the user's chain (module documentation). Nothing is written on a refusal.
    pub async fn approve_device_chained(
        &self,
        id: DeviceId,
        certificate: &[u8],
        link: &[u8],
        grants: &[(VaultId, NewGrant)],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let device = device_on(&mut tx, id).await?;
        if device.state != coffer_proto::DeviceState::Pending {
            return Err(StoreError::Conflict("device is not pending".into()));
        }
        append_link_on(
            &mut tx,
            device.user_id,
            link,
            LinkMust::Add {
                device: id,
                public_keys: &device.public_keys,
            },
        )
        .await?;
        super::devices::approve_on(&mut tx, id, certificate, grants).await?;
        self.finish(tx, audit).await
    }

    /// Revokes a device like [`MainStore::revoke_device`] and, in the same transaction, appends
    /// `link`, which must revoke exactly this device and extend the user's chain. A device the
    /// chain trusts cannot be revoked without a link (`Invalid`); a device the chain never
    /// added (pending) is revoked without one. Returns how many sessions were revoked.
    pub async fn revoke_device_chained(
        &self,
        id: DeviceId,
        link: Option<&[u8]>,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let device = device_on(&mut tx, id).await?;
        match link {
            Some(link) => {
                append_link_on(
                    &mut tx,
                    device.user_id,
                    link,
                    LinkMust::Revoke { device: id },
                )
                .await?;
            }
            None => {
                let trusted = trusted_on(&mut tx, device.user_id).await?;
                if trusted.is_trusted_device(id.as_uuid().as_bytes()) {
                    return Err(StoreError::Invalid(
                        "chain_link: the device chain trusts this device; revoking it needs a \
                         signed revoke link"
                            .into(),
                    ));
                }
            }
        }
        let n = super::devices::revoke_on(&mut tx, id).await?;
        self.finish(tx, audit).await?;
        Ok(n)
    }

    /// Stores an admin's endorsement of pending device `row.device_id` with the vault-key
    /// grants the admin issues to it, in one transaction. `Conflict` if the device is not
    /// pending; it replaces an earlier endorsement of the same device.
    pub async fn put_device_endorsement(
        &self,
        row: &DeviceEndorsementRow,
        grants: &[(VaultId, NewGrant)],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let device = device_on(&mut tx, row.device_id).await?;
        if device.user_id != row.user_id {
            return Err(StoreError::Invalid(
                "the endorsement names another user than the device's".into(),
            ));
        }
        if device.state != coffer_proto::DeviceState::Pending {
            return Err(StoreError::Conflict("device is not pending".into()));
        }
        sqlx::query("DELETE FROM device_endorsements WHERE device_id = $1")
            .bind(row.device_id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO device_endorsements (device_id, user_id, workspace_id, endorser_id, \
             endorsement, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.device_id.to_string())
        .bind(row.user_id.to_string())
        .bind(row.workspace_id.to_string())
        .bind(row.endorser_id.to_string())
        .bind(row.endorsement.clone())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let t = now();
        for (vault, g) in grants {
            super::vaults::insert_grant(&mut tx, *vault, g, t).await?;
        }
        self.finish(tx, audit).await
    }

    /// The endorsement of `device`, if an admin endorsed it.
    pub async fn device_endorsement(
        &self,
        device: DeviceId,
    ) -> Result<Option<DeviceEndorsementRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM device_endorsements WHERE device_id = $1")
            .bind(device.to_string())
            .fetch_optional(&self.db.pool)
            .await?;
        row.as_ref().map(endorsement_from_row).transpose()
    }

    /// Every endorsement of the user's devices, oldest first.
    pub async fn device_endorsements_of_user(
        &self,
        user: UserId,
    ) -> Result<Vec<DeviceEndorsementRow>, StoreError> {
        let found = sqlx::query(
            "SELECT * FROM device_endorsements WHERE user_id = $1 ORDER BY created_at, device_id",
        )
        .bind(user.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        found.iter().map(endorsement_from_row).collect()
    }
}
