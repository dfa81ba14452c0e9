//! The audit log (DESIGN §7): events, the hash chain, appending, listing and verification.
//!
//! All events form **one global chain**. Entry `seq` (1, 2, 3, … with no gaps) stores
//! `prev_hash` (the hash of entry `seq - 1`; 32 zero bytes for entry 1) and
//! `hash = SHA-256(canonical encoding)`, where the canonical encoding is, in order:
//!
//! | field | encoding |
//! |---|---|
//! | domain | `str("coffer/audit/v1")` |
//! | seq | `u64` big-endian, 8 bytes |
//! | at | `i64` big-endian two's complement, 8 bytes (unix seconds) |
//! | workspace_id | `opt(str)` |
//! | actor_user_id | `opt(str)` |
//! | actor_device_id | `opt(str)` |
//! | action | `str` |
//! | target | `str` |
//! | details | `str` (the JSON text exactly as stored) |
//! | remote_addr | `opt(str)` |
//! | prev_hash | 32 raw bytes |
//!
//! with `str(s) = u64_be(byte length of s) || UTF-8 bytes of s`, `opt(None) = 0x00` and
//! `opt(Some(s)) = 0x01 || str(s)`. Ids are hashed in their stored text form (lowercase
//! hyphenated UUIDs). **Do not change this encoding**: a new one needs a new domain string.
//!
//! An event is appended in the same transaction as the change it records, as the last step
//! before commit. The append reads the chain head (`audit_head`, one row) under the write
//! lock — `BEGIN IMMEDIATE` on SQLite, `SELECT … FOR UPDATE` on PostgreSQL — so concurrent
//! writers queue and the chain never forks; a rolled-back change leaves no event and no gap.
//! The table also refuses `UPDATE` and `DELETE` through triggers; the chain catches an editor
//! who drops them.

use std::fmt;

use coffer_proto::{DeviceId, UserId, WorkspaceId};
use sha2::{Digest as _, Sha256};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::db::{Db, check_text, now};
use crate::rows;
use crate::{MainStore, StoreError};

/// The domain string that starts every audit hash input (version 1 of the encoding).
pub const AUDIT_HASH_DOMAIN: &str = "coffer/audit/v1";

/// Most entries one [`MainStore::list_audit`] call returns.
pub const AUDIT_PAGE_MAX: u32 = 1000;

/// An event to record. The store adds `seq`, the time and the hashes when it appends it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// The workspace the event belongs to, if any (a login belongs to none).
    pub workspace_id: Option<WorkspaceId>,
    /// Who acted, if known.
    pub actor_user_id: Option<UserId>,
    /// From which device, if known.
    pub actor_device_id: Option<DeviceId>,
    /// What happened, a stable dotted name such as `user.create` or `login.failed`. Not empty.
    pub action: String,
    /// What it happened to, e.g. an id. May be empty.
    pub target: String,
    /// Further facts as JSON (never secrets). Stored as `details.to_string()`.
    pub details: serde_json::Value,
    /// The client's network address, if known.
    pub remote_addr: Option<String>,
}

impl AuditEvent {
    /// An event with `action` and `target` and nothing else (details `{}`).
    pub fn new(action: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            workspace_id: None,
            actor_user_id: None,
            actor_device_id: None,
            action: action.into(),
            target: target.into(),
            details: serde_json::Value::Object(serde_json::Map::new()),
            remote_addr: None,
        }
    }

    /// Sets the workspace.
    #[must_use]
    pub fn workspace(mut self, id: WorkspaceId) -> Self {
        self.workspace_id = Some(id);
        self
    }

    /// Sets the acting user and, if known, their device.
    #[must_use]
    pub fn actor(mut self, user: UserId, device: Option<DeviceId>) -> Self {
        self.actor_user_id = Some(user);
        self.actor_device_id = device;
        self
    }

    /// Sets the details.
    #[must_use]
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// Sets the client's address.
    #[must_use]
    pub fn remote_addr(mut self, addr: impl Into<String>) -> Self {
        self.remote_addr = Some(addr.into());
        self
    }

    fn validate(&self) -> Result<(), StoreError> {
        check_text("audit action", &self.action, false)?;
        check_text("audit target", &self.target, true)?;
        if let Some(a) = &self.remote_addr {
            check_text("audit remote address", a, true)?;
        }
        Ok(())
    }
}

/// One entry of the audit log, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When it was appended (unix seconds).
    pub at: i64,
    /// See [`AuditEvent::workspace_id`].
    pub workspace_id: Option<WorkspaceId>,
    /// See [`AuditEvent::actor_user_id`].
    pub actor_user_id: Option<UserId>,
    /// See [`AuditEvent::actor_device_id`].
    pub actor_device_id: Option<DeviceId>,
    /// See [`AuditEvent::action`].
    pub action: String,
    /// See [`AuditEvent::target`].
    pub target: String,
    /// The details as the JSON text that was stored and hashed.
    pub details: String,
    /// See [`AuditEvent::remote_addr`].
    pub remote_addr: Option<String>,
    /// The hash of the entry before (zeros for entry 1).
    pub prev_hash: [u8; 32],
    /// This entry's hash.
    pub hash: [u8; 32],
}

impl AuditEntry {
    /// Recomputes this entry's hash from its fields (see the module docs for the encoding).
    pub fn computed_hash(&self) -> [u8; 32] {
        let ws = self.workspace_id.map(|i| i.to_string());
        let user = self.actor_user_id.map(|i| i.to_string());
        let device = self.actor_device_id.map(|i| i.to_string());
        Fields {
            seq: self.seq,
            at: self.at,
            workspace_id: ws.as_deref(),
            actor_user_id: user.as_deref(),
            actor_device_id: device.as_deref(),
            action: &self.action,
            target: &self.target,
            details: &self.details,
            remote_addr: self.remote_addr.as_deref(),
            prev_hash: &self.prev_hash,
        }
        .hash()
    }
}

/// The outcome of [`MainStore::verify_audit_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerdict {
    /// Every entry from 1 to the head is present and its hashes check out.
    Intact {
        /// How many entries were checked (the head's seq).
        entries: u64,
        /// The head's hash (zeros for an empty log).
        head_hash: [u8; 32],
    },
    /// The chain is broken; `seq` is the first broken link.
    Broken {
        /// The first entry that fails (or is missing).
        seq: u64,
        /// How it fails.
        reason: AuditBreak,
    },
}

/// How an audit chain link is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditBreak {
    /// The entry is missing (deleted, or the log is shorter than its head says).
    Missing,
    /// The entry's `prev_hash` is not the hash of the entry before.
    PrevHashMismatch,
    /// The entry's fields do not hash to its `hash` (a field was edited).
    HashMismatch,
    /// The entry cannot be read (a hash of the wrong length, a field of the wrong type).
    Unreadable,
    /// The last entry's hash differs from the chain head's.
    HeadMismatch,
}

impl fmt::Display for AuditBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuditBreak::Missing => "entry missing",
            AuditBreak::PrevHashMismatch => "previous hash does not match the entry before",
            AuditBreak::HashMismatch => "fields do not match the entry's hash",
            AuditBreak::Unreadable => "entry cannot be read",
            AuditBreak::HeadMismatch => "last entry does not match the chain head",
        })
    }
}

/// The hashed fields, borrowed, in their stored text form.
struct Fields<'a> {
    seq: u64,
    at: i64,
    workspace_id: Option<&'a str>,
    actor_user_id: Option<&'a str>,
    actor_device_id: Option<&'a str>,
    action: &'a str,
    target: &'a str,
    details: &'a str,
    remote_addr: Option<&'a str>,
    prev_hash: &'a [u8; 32],
}

impl Fields<'_> {
    /// The canonical encoding (module docs).
    fn encode(&self) -> Vec<u8> {
        fn put_str(out: &mut Vec<u8>, s: &str) {
            let len = u64::try_from(s.len()).unwrap_or(u64::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
            match s {
                None => out.push(0),
                Some(s) => {
                    out.push(1);
                    put_str(out, s);
                }
            }
        }
        let mut out = Vec::with_capacity(256 + self.details.len());
        put_str(&mut out, AUDIT_HASH_DOMAIN);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at.to_be_bytes());
        put_opt(&mut out, self.workspace_id);
        put_opt(&mut out, self.actor_user_id);
        put_opt(&mut out, self.actor_device_id);
        put_str(&mut out, self.action);
        put_str(&mut out, self.target);
        put_str(&mut out, self.details);
        put_opt(&mut out, self.remote_addr);
        out.extend_from_slice(self.prev_hash);
        out
    }

    fn hash(&self) -> [u8; 32] {
        let digest = Sha256::digest(self.encode());
        let mut out = [0u8; 32];
        out.copy_from_slice(&digest);
        out
    }
}

const HEAD_SQLITE: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";
const HEAD_POSTGRES: &str = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";

/// Appends `event` inside the caller's write transaction (call it last, just before commit).
pub(crate) async fn append(
    conn: &mut AnyConnection,
    db: &Db,
    event: &AuditEvent,
) -> Result<AuditEntry, StoreError> {
    event.validate()?;
    let head = sqlx::query(db.pick(HEAD_SQLITE, HEAD_POSTGRES))
        .fetch_one(&mut *conn)
        .await?;
    let last_seq = rows::int(&head, "seq")?;
    let prev_hash: [u8; 32] = rows::array(&head, "hash")?;
    let seq = u64::try_from(last_seq)
        .ok()
        .and_then(|s| s.checked_add(1))
        .ok_or_else(|| StoreError::Backend("corrupt audit chain head".into()))?;
    let seq_db = i64::try_from(seq).map_err(|_| StoreError::Backend("audit log full".into()))?;
    let entry = AuditEntry {
        seq,
        at: now(),
        workspace_id: event.workspace_id,
        actor_user_id: event.actor_user_id,
        actor_device_id: event.actor_device_id,
        action: event.action.clone(),
        target: event.target.clone(),
        details: event.details.to_string(),
        remote_addr: event.remote_addr.clone(),
        prev_hash,
        hash: [0; 32],
    };
    let hash = entry.computed_hash();
    sqlx::query(
        "INSERT INTO audit_log (seq, at, workspace_id, actor_user_id, actor_device_id, action, \
         target, details, remote_addr, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(seq_db)
    .bind(entry.at)
    .bind(entry.workspace_id.map(|i| i.to_string()))
    .bind(entry.actor_user_id.map(|i| i.to_string()))
    .bind(entry.actor_device_id.map(|i| i.to_string()))
    .bind(entry.action.clone())
    .bind(entry.target.clone())
    .bind(entry.details.clone())
    .bind(entry.remote_addr.clone())
    .bind(prev_hash.to_vec())
    .bind(hash.to_vec())
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq_db)
        .bind(hash.to_vec())
        .execute(&mut *conn)
        .await?;
    Ok(AuditEntry { hash, ..entry })
}

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: rows::count(rows::int(row, "seq")?),
        at: rows::int(row, "at")?,
        workspace_id: rows::opt_parsed(row, "workspace_id")?,
        actor_user_id: rows::opt_parsed(row, "actor_user_id")?,
        actor_device_id: rows::opt_parsed(row, "actor_device_id")?,
        action: rows::text(row, "action")?,
        target: rows::text(row, "target")?,
        details: rows::text(row, "details")?,
        remote_addr: rows::opt_text(row, "remote_addr")?,
        prev_hash: rows::array(row, "prev_hash")?,
        hash: rows::array(row, "hash")?,
    })
}

/// Checks one raw row against the expected seq and previous hash; returns its stored hash.
fn check_row(row: &AnyRow, prev: &[u8; 32]) -> Result<[u8; 32], AuditBreak> {
    let read = || -> Result<_, StoreError> {
        Ok((
            rows::int(row, "seq")?,
            rows::int(row, "at")?,
            rows::opt_text(row, "workspace_id")?,
            rows::opt_text(row, "actor_user_id")?,
            rows::opt_text(row, "actor_device_id")?,
            rows::text(row, "action")?,
            rows::text(row, "target")?,
            rows::text(row, "details")?,
            rows::opt_text(row, "remote_addr")?,
            rows::array::<32>(row, "prev_hash")?,
            rows::array::<32>(row, "hash")?,
        ))
    };
    let (seq, at, ws, user, device, action, target, details, addr, prev_hash, hash) =
        read().map_err(|_| AuditBreak::Unreadable)?;
    if &prev_hash != prev {
        return Err(AuditBreak::PrevHashMismatch);
    }
    let computed = Fields {
        seq: u64::try_from(seq).map_err(|_| AuditBreak::Unreadable)?,
        at,
        workspace_id: ws.as_deref(),
        actor_user_id: user.as_deref(),
        actor_device_id: device.as_deref(),
        action: &action,
        target: &target,
        details: &details,
        remote_addr: addr.as_deref(),
        prev_hash: &prev_hash,
    }
    .hash();
    if computed != hash {
        return Err(AuditBreak::HashMismatch);
    }
    Ok(hash)
}

impl MainStore {
    /// Appends an event that records no other change (a failed login, an export, a cloud
    /// decryption), in its own transaction. Returns the stored entry.
    pub async fn append_audit(&self, event: &AuditEvent) -> Result<AuditEntry, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let entry = append(&mut tx, &self.db, event).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Entries with `seq > after_seq`, oldest first, at most `limit` (capped at
    /// [`AUDIT_PAGE_MAX`]); only those of `workspace` when given.
    pub async fn list_audit(
        &self,
        workspace: Option<WorkspaceId>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let limit = i64::from(limit.min(AUDIT_PAGE_MAX));
        let found = match workspace {
            Some(ws) => {
                sqlx::query(
                    "SELECT * FROM audit_log WHERE workspace_id = $1 AND seq > $2 \
                     ORDER BY seq LIMIT $3",
                )
                .bind(ws.to_string())
                .bind(after)
                .bind(limit)
                .fetch_all(&self.db.pool)
                .await?
            }
            None => {
                sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.db.pool)
                    .await?
            }
        };
        found.iter().map(entry_from_row).collect()
    }

    /// The chain head: the last entry's seq and hash (0 and zeros for an empty log).
    pub async fn audit_head(&self) -> Result<(u64, [u8; 32]), StoreError> {
        let head = sqlx::query(HEAD_SQLITE).fetch_one(&self.db.pool).await?;
        Ok((
            rows::count(rows::int(&head, "seq")?),
            rows::array(&head, "hash")?,
        ))
    }

    /// Recomputes the whole chain, from entry 1 to the head as it was when the check started,
    /// and names the first broken link. Reads in pages; entries appended meanwhile are not
    /// checked.
    pub async fn verify_audit_chain(&self) -> Result<AuditVerdict, StoreError> {
        const PAGE: i64 = 500;
        let head = sqlx::query(HEAD_SQLITE).fetch_one(&self.db.pool).await?;
        let head_seq = rows::int(&head, "seq")?;
        let head_hash: [u8; 32] = rows::array(&head, "hash")?;
        let mut expected: i64 = 1;
        let mut prev = [0u8; 32];
        while expected <= head_seq {
            let page = sqlx::query(
                "SELECT * FROM audit_log WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3",
            )
            .bind(expected)
            .bind(head_seq)
            .bind(PAGE)
            .fetch_all(&self.db.pool)
            .await?;
            if page.is_empty() {
                break;
            }
            for row in &page {
                let seq = rows::int(row, "seq")?;
                if seq != expected {
                    return Ok(broken(expected, AuditBreak::Missing));
                }
                match check_row(row, &prev) {
                    Ok(hash) => prev = hash,
                    Err(reason) => return Ok(broken(seq, reason)),
                }
                expected += 1;
            }
        }
        if expected <= head_seq {
            return Ok(broken(expected, AuditBreak::Missing));
        }
        if prev != head_hash {
            return Ok(broken(head_seq, AuditBreak::HeadMismatch));
        }
        Ok(AuditVerdict::Intact {
            entries: rows::count(head_seq),
            head_hash,
        })
    }
}

fn broken(seq: i64, reason: AuditBreak) -> AuditVerdict {
    AuditVerdict::Broken {
        seq: rows::count(seq),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AuditEntry {
        AuditEntry {
            seq: 7,
            at: 1_700_000_000,
            workspace_id: Some("67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap()),
            actor_user_id: Some("0b5b8c5e-3d5f-4c3e-9f7a-1c2d3e4f5a6b".parse().unwrap()),
            actor_device_id: None,
            action: "member.role".into(),
            target: "user:0b5b8c5e".into(),
            details: r#"{"role":"admin"}"#.into(),
            remote_addr: Some("127.0.0.1".into()),
            prev_hash: [0x11; 32],
            hash: [0; 32],
        }
    }

    /// Pins the canonical encoding byte for byte. Do not modify this test if it fails: the
    /// encoding is frozen (a change needs a new domain string and a migration of verifiers).
    #[test]
    fn canonical_encoding_is_stable() {
        let e = sample();
        let ws = e.workspace_id.map(|i| i.to_string());
        let user = e.actor_user_id.map(|i| i.to_string());
        let bytes = Fields {
            seq: e.seq,
            at: e.at,
            workspace_id: ws.as_deref(),
            actor_user_id: user.as_deref(),
            actor_device_id: None,
            action: &e.action,
            target: &e.target,
            details: &e.details,
            remote_addr: e.remote_addr.as_deref(),
            prev_hash: &e.prev_hash,
        }
        .encode();
        let mut expected = Vec::new();
        expected.extend_from_slice(&15u64.to_be_bytes());
        expected.extend_from_slice(b"coffer/audit/v1");
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
        expected.extend_from_slice(&1_700_000_000i64.to_be_bytes());
        expected.push(1);
        expected.extend_from_slice(&36u64.to_be_bytes());
        expected.extend_from_slice(b"67e55044-10b1-426f-9247-bb680e5fe0c8");
        expected.push(1);
        expected.extend_from_slice(&36u64.to_be_bytes());
        expected.extend_from_slice(b"0b5b8c5e-3d5f-4c3e-9f7a-1c2d3e4f5a6b");
        expected.push(0);
        expected.extend_from_slice(&11u64.to_be_bytes());
        expected.extend_from_slice(b"member.role");
        expected.extend_from_slice(&13u64.to_be_bytes());
        expected.extend_from_slice(b"user:0b5b8c5e");
        expected.extend_from_slice(&16u64.to_be_bytes());
        expected.extend_from_slice(br#"{"role":"admin"}"#);
        expected.push(1);
        expected.extend_from_slice(&9u64.to_be_bytes());
        expected.extend_from_slice(b"127.0.0.1");
        expected.extend_from_slice(&[0x11; 32]);
        assert_eq!(bytes, expected);
        let digest = Sha256::digest(&expected);
        assert_eq!(e.computed_hash().as_slice(), digest.as_slice());
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = sample().computed_hash();
        let mut variants = Vec::new();
        let mut e = sample();
        e.seq = 8;
        variants.push(e);
        let mut e = sample();
        e.at += 1;
        variants.push(e);
        let mut e = sample();
        e.workspace_id = None;
        variants.push(e);
        let mut e = sample();
        e.actor_user_id = None;
        variants.push(e);
        let mut e = sample();
        e.actor_device_id = Some(DeviceId::new_random());
        variants.push(e);
        let mut e = sample();
        e.action = "member.rolf".into();
        variants.push(e);
        let mut e = sample();
        e.target.push('x');
        variants.push(e);
        let mut e = sample();
        e.details = r#"{"role":"owner"}"#.into();
        variants.push(e);
        let mut e = sample();
        e.remote_addr = None;
        variants.push(e);
        let mut e = sample();
        e.prev_hash[31] ^= 1;
        variants.push(e);
        for v in variants {
            assert_ne!(v.computed_hash(), base, "{v:?}");
        }
    }

    #[test]
    fn length_prefixes_separate_fields() {
        let mut a = sample();
        a.action = "ab".into();
        a.target = "c".into();
        let mut b = sample();
        b.action = "a".into();
        b.target = "bc".into();
        assert_ne!(a.computed_hash(), b.computed_hash());
        let mut c = sample();
        c.remote_addr = Some(String::new());
        let mut d = sample();
        d.remote_addr = None;
        assert_ne!(c.computed_hash(), d.computed_hash());
    }

    #[test]
    fn events_are_validated() {
        assert!(AuditEvent::new("", "x").validate().is_err());
        assert!(AuditEvent::new("a\0", "x").validate().is_err());
        assert!(AuditEvent::new("a", "").validate().is_ok());
        assert!(
            AuditEvent::new("a", "")
                .remote_addr("1.2.3.4\0")
                .validate()
                .is_err()
        );
    }
}
