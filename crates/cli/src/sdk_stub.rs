//! TEMPORARY: the vault/item SDK surface this CLI codes against, until `coffer_client`'s
//! `vaults.rs` lands (branch h-vaults). Every call fails with "not available yet". Removed on
//! merge.

#![allow(dead_code, clippy::unused_async)]

use std::path::Path;

use coffer_client::Client;
use coffer_client::model::{AttachmentRef, ItemData};
use serde::Serialize;

type R<T> = coffer_client::Result<T>;

fn na<T>() -> R<T> {
    Err(coffer_client::ClientError::Invalid(
        "vaults are not available in this build yet".into(),
    ))
}

/// An item.
pub(crate) struct Item {
    pub(crate) id: String,
    pub(crate) vault_id: String,
    pub(crate) revision: u64,
    pub(crate) data: ItemData,
}

/// A listed item.
#[derive(Serialize)]
pub(crate) struct ItemSummary {
    pub(crate) id: String,
    pub(crate) vault: String,
    pub(crate) name: String,
}

/// A vault.
#[derive(Serialize)]
pub(crate) struct VaultSummary {
    pub(crate) id: String,
    pub(crate) name: String,
}

/// Sync outcome.
#[derive(Serialize)]
pub(crate) struct SyncReport {
    pub(crate) vaults: u64,
}

/// One revision.
pub(crate) struct HistoryEntry {
    pub(crate) revision: u64,
    pub(crate) deleted: bool,
    pub(crate) data: Option<ItemData>,
    pub(crate) created_at: i64,
}

pub(crate) trait Sdk {
    async fn sync(&mut self) -> R<SyncReport> {
        na()
    }
    async fn vault_create(&mut self, _n: &str, _w: Option<&str>) -> R<VaultSummary> {
        na()
    }
    async fn vaults(&mut self) -> R<Vec<VaultSummary>> {
        na()
    }
    async fn vault_rename(&mut self, _v: &str, _n: &str) -> R<()> {
        na()
    }
    async fn vault_delete(&mut self, _v: &str) -> R<()> {
        na()
    }
    async fn item_create(&mut self, _v: &str, _d: ItemData) -> R<Item> {
        na()
    }
    async fn item_get(&mut self, _i: &str, _v: Option<&str>) -> R<Item> {
        na()
    }
    async fn item_update(&mut self, _i: &str, _v: Option<&str>, _d: ItemData) -> R<Item> {
        na()
    }
    async fn item_delete(&mut self, _i: &str, _v: Option<&str>) -> R<()> {
        na()
    }
    async fn items(&mut self, _v: Option<&str>, _s: Option<&str>) -> R<Vec<ItemSummary>> {
        na()
    }
    async fn item_history(&mut self, _i: &str, _v: Option<&str>) -> R<Vec<HistoryEntry>> {
        na()
    }
    async fn item_restore(&mut self, _i: &str, _v: Option<&str>, _r: u64) -> R<Item> {
        na()
    }
    async fn attach_add(
        &mut self,
        _i: &str,
        _v: Option<&str>,
        _p: &Path,
        _f: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> R<AttachmentRef> {
        na()
    }
    async fn attach_get(
        &mut self,
        _i: &str,
        _v: Option<&str>,
        _n: &str,
        _o: &Path,
        _f: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> R<u64> {
        na()
    }
    async fn attach_list(&mut self, _i: &str, _v: Option<&str>) -> R<Vec<AttachmentRef>> {
        na()
    }
    async fn attach_delete(&mut self, _i: &str, _v: Option<&str>, _n: &str) -> R<()> {
        na()
    }
    fn offline_notice(&self) -> Option<&str> {
        None
    }
}

impl Sdk for Client {}
