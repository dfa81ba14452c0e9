//! End to end, malicious server: the real `coffer` binary talks to a real `coffer server`
//! through a tampering proxy (`common/proxy.rs`) that rewrites the sync stream and attachment
//! downloads the way a compromised server could. Every case sets up honestly, switches the
//! proxy's mode, and asserts that the client **refuses and shows nothing**: a non-zero exit, an
//! `integrity` error, and none of the vault's plaintext on its output.
//!
//! Most cases delete the profile's cache first, so the tampered read is a full sync (the worst
//! case: the client has nothing to compare with but the signed manifest); `delta_sync_*` and
//! `rollback_*` keep it, so the tampered answer is a delta on top of verified state.
//!
//! Rows of `shared/THREATS.md` (a) covered here:
//!
//! | THREATS.md row | tests |
//! |---|---|
//! | Field/item swap and decrypt-and-send gadget (BW05, BW06, LP02, LP03) | `swapped_item_payloads_are_refused`, `moved_field_is_refused`, `item_moved_to_another_vault_is_refused` |
//! | Vault structure: drop, duplicate, replay, rollback (DL01, 1P02) | `dropped_item_is_refused`, `duplicated_item_is_refused`, `old_revision_served_as_current_is_refused`, `old_revision_replayed_whole_is_refused`, `rollback_of_the_whole_vault_is_refused`, `delta_sync_with_a_dropped_item_is_refused` |
//! | Unauthenticated metadata and settings (BW04, LP06) | `edited_item_revision_is_refused`, `edited_item_epoch_is_refused`, `edited_vault_counter_is_refused` |
//! | Unauthenticated or malleable modes (BW11, BW12, DL03, DL05, LP05; MEGA) — streams | `dropped_attachment_chunk_is_refused` |
//!
//! The rows on key substitution, grants, policy flips and KDF downgrade are covered by the
//! account and workspace suites and by the crypto crate's vectors, not here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/proxy.rs"]
mod proxy;
#[path = "common/steps.rs"]
mod steps;

use common::{DataDir, Server, User, unique};
use proxy::{ItemSel, Mode, Proxy, VaultSel, uuid_bytes};
use steps::*;

/// One plaintext login item of the honest setup.
struct Login {
    id: String,
    name: String,
    username: String,
    password: String,
}

/// A server, a proxy in front of it, a signed-up user talking to the proxy, and a vault with
/// three login items.
struct World {
    _data: DataDir,
    server: Server,
    proxy: Proxy,
    user: User,
    vault: String,
    vault_name: String,
    items: Vec<Login>,
}

impl World {
    fn new(tag: &str) -> Self {
        let data = DataDir::new();
        let server = Server::start(&data, &[]);
        let proxy = Proxy::start(&server.url);
        let mut user = User::new(&server, tag);
        user.server = proxy.url.clone();
        ready(&user);
        let vault_name = unique("vault-name-canary");
        let vault = vault_create(&user, &vault_name);
        let items = (0..3)
            .map(|i| add_login(&user, &vault, &format!("{tag}{i}")))
            .collect();
        World {
            _data: data,
            server,
            proxy,
            user,
            vault,
            vault_name,
            items,
        }
    }

    fn id(&self, i: usize) -> ItemSel {
        ItemSel::Id(uuid_bytes(&self.items[i].id))
    }

    /// Every plaintext of the setup (names, usernames, passwords, the vault name).
    fn secrets(&self) -> Vec<String> {
        let mut out = vec![self.vault_name.clone()];
        for l in &self.items {
            out.extend([l.name.clone(), l.username.clone(), l.password.clone()]);
        }
        out
    }

    /// Switches the proxy to `mode`, forgets the cache, and checks that `sync`, `item get` of
    /// item `i` and `item list` all refuse and show nothing.
    fn assert_full_sync_refused(&self, mode: Mode, i: usize) {
        self.proxy.set_mode(mode);
        let before = self.proxy.applied();
        let secrets = self.secrets();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        forget_cache(&self.user);
        refused(&sync(&self.user), &secrets);
        assert!(self.proxy.applied() > before, "the tamper never applied");
        forget_cache(&self.user);
        let get = item_get(&self.user, &self.vault, &self.items[i].id);
        refused(&get, &secrets);
        forget_cache(&self.user);
        let list = item_list(&self.user, &self.vault);
        refused(&list, &secrets);
        // and the server itself still holds the honest vault: back to honest, all is readable
        self.proxy.set_mode(Mode::Pass);
        sync(&self.user).success();
        let ok = item_get(&self.user, &self.vault, &self.items[i].id).success();
        assert!(ok.stdout.contains(&self.items[i].password), "{ok:#?}");
    }
}

fn add_login(u: &User, vault: &str, tag: &str) -> Login {
    let name = unique(&format!("name-{tag}"));
    let username = unique(&format!("user-{tag}"));
    let password = unique(&format!("pw-{tag}"));
    let id = login_item(u, vault, &name, &username, &password);
    Login {
        id,
        name,
        username,
        password,
    }
}

#[test]
fn swapped_item_payloads_are_refused() {
    let w = World::new("swap");
    w.assert_full_sync_refused(Mode::SwapPayloads(w.id(0), w.id(1)), 0);
}

#[test]
fn moved_field_is_refused() {
    let w = World::new("field");
    w.assert_full_sync_refused(Mode::SwapFields(w.id(1)), 1);
}

#[test]
fn item_moved_to_another_vault_is_refused() {
    let w = World::new("move");
    // a second vault with an item of its own; the proxy moves item 0 of vault A into B
    let other_name = unique("vault-b");
    let other = vault_create(&w.user, &other_name);
    let b = add_login(&w.user, &other, "moveb");
    w.proxy
        .set_mode(Mode::MoveItem(w.id(0), VaultSel::Id(other.clone())));
    let mut secrets = w.secrets();
    secrets.extend([other_name, b.name, b.username, b.password]);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    forget_cache(&w.user);
    let before = w.proxy.applied();
    refused(&sync(&w.user), &secrets);
    assert!(w.proxy.applied() > before);
    forget_cache(&w.user);
    refused(&item_get(&w.user, &w.vault, &w.items[0].id), &secrets);
    forget_cache(&w.user);
    refused(&item_get(&w.user, &other, &b.id), &secrets);
}

#[test]
fn old_revision_served_as_current_is_refused() {
    let w = World::new("replay");
    let new_pw = unique("pw-new");
    set_password(&w.user, &w.vault, &w.items[2].id, &new_pw);
    let mode = Mode::ReplayRevision {
        item: w.id(2),
        revision: 1,
        relabel: false,
    };
    w.proxy.set_mode(mode);
    let mut secrets = w.secrets();
    secrets.push(new_pw.clone());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    forget_cache(&w.user);
    let before = w.proxy.applied();
    refused(&sync(&w.user), &secrets);
    assert!(
        w.proxy.applied() > before,
        "the old revision was not served"
    );
    forget_cache(&w.user);
    refused(&item_get(&w.user, &w.vault, &w.items[2].id), &secrets);
}

#[test]
fn old_revision_replayed_whole_is_refused() {
    let w = World::new("replay2");
    let new_pw = unique("pw-new");
    set_password(&w.user, &w.vault, &w.items[0].id, &new_pw);
    let mut secrets = w.secrets();
    secrets.push(new_pw.clone());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    w.proxy.set_mode(Mode::ReplayRevision {
        item: w.id(0),
        revision: 1,
        relabel: true,
    });
    forget_cache(&w.user);
    let before = w.proxy.applied();
    refused(&sync(&w.user), &secrets);
    assert!(w.proxy.applied() > before);
    forget_cache(&w.user);
    refused(&item_get(&w.user, &w.vault, &w.items[0].id), &secrets);
}

#[test]
fn dropped_item_is_refused() {
    let w = World::new("drop");
    w.assert_full_sync_refused(Mode::DropItem(w.id(1)), 0);
}

#[test]
fn duplicated_item_is_refused() {
    let w = World::new("dup");
    w.assert_full_sync_refused(Mode::DuplicateItem(w.id(2)), 2);
}

#[test]
fn edited_item_revision_is_refused() {
    let w = World::new("rev");
    w.assert_full_sync_refused(Mode::EditItemRevision(w.id(0), 1), 0);
}

#[test]
fn edited_item_epoch_is_refused() {
    let w = World::new("epoch");
    w.assert_full_sync_refused(Mode::EditItemEpoch(w.id(1), 1), 1);
}

#[test]
fn edited_vault_counter_is_refused() {
    let w = World::new("counter");
    w.assert_full_sync_refused(Mode::EditVaultCounter(VaultSel::Id(w.vault.clone()), 1), 0);
}

/// Delta case: the profile keeps its verified cache; another device of the same user writes;
/// the proxy hides the new item from the delta answer.
#[test]
fn delta_sync_with_a_dropped_item_is_refused() {
    let w = World::new("delta");
    // the reader (w.user, through the proxy) holds the vault verified
    sync(&w.user).success();
    assert!(!cache_files(&w.user).is_empty(), "no cache after a sync");
    // a second device of the same account writes straight to the server
    let mut writer = User::new(&w.server, "delta-writer");
    writer.email = w.user.email.clone();
    writer.password = w.user.password.clone();
    login(&writer);
    writer.approve_from(&w.user);
    let fresh = add_login(&writer, &w.vault, "deltanew");
    let new_pw = unique("pw-delta-edit");
    set_password(&writer, &w.vault, &w.items[0].id, &new_pw);

    w.proxy
        .set_mode(Mode::DropItem(ItemSel::Id(uuid_bytes(&fresh.id))));
    let mut secrets = vec![
        fresh.name.clone(),
        fresh.username.clone(),
        fresh.password.clone(),
    ];
    secrets.push(new_pw.clone());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let before = w.proxy.applied();
    refused(&sync(&w.user), &secrets);
    assert!(w.proxy.applied() > before);
    refused(&item_get(&w.user, &w.vault, &fresh.id), &secrets);
    // the tampered delta changed nothing: the old state still reads, without the new password
    let get = item_get(&w.user, &w.vault, &w.items[1].id);
    shows_nothing(&get, &secrets);
}

/// Rollback of the whole vault: replay a full sync answer recorded earlier (with its older,
/// validly signed manifest) to a profile that has since seen newer manifests.
#[test]
fn rollback_of_the_whole_vault_is_refused() {
    let w = World::new("roll");
    forget_cache(&w.user);
    sync(&w.user).success();
    let old = w.proxy.recorded_syncs().pop().expect("a recorded sync");
    // the vault moves on: a new item and an edit
    let later = add_login(&w.user, &w.vault, "rolllater");
    let new_pw = unique("pw-roll-edit");
    set_password(&w.user, &w.vault, &w.items[1].id, &new_pw);
    sync(&w.user).success();
    assert!(
        item_get(&w.user, &w.vault, &later.id)
            .success()
            .stdout
            .contains(&later.password)
    );

    w.proxy.set_mode(Mode::Rollback(old));
    let secrets = [
        later.name.as_str(),
        later.password.as_str(),
        new_pw.as_str(),
    ];
    let before = w.proxy.applied();
    let run = sync(&w.user);
    refused(&run, &secrets);
    assert!(w.proxy.applied() > before);
    assert!(
        run.stderr.contains("rolled back"),
        "expected a rollback error: {run:#?}"
    );
}

/// An attachment download with one 64 KiB chunk cut out: refused, and no output file.
#[test]
fn dropped_attachment_chunk_is_refused() {
    let w = World::new("chunk");
    let dir = tempfile::tempdir().unwrap();
    let canary = unique("attachment-canary");
    let src = dir.path().join("secret.bin");
    // 3.5 chunks, the canary in chunk 2 (after the dropped one) and at the very start
    let mut bytes = canary.as_bytes().to_vec();
    let mut x: u32 = 0x1234_5678;
    while bytes.len() < 3 * 65536 + 30_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push(x as u8);
    }
    bytes[2 * 65536..2 * 65536 + canary.len()].copy_from_slice(canary.as_bytes());
    std::fs::write(&src, &bytes).unwrap();
    let att = attach_add(&w.user, &w.vault, &w.items[0].id, &src);

    // honest download first
    let good = dir.path().join("good.bin");
    attach_get(&w.user, &w.vault, &w.items[0].id, &att, &good).success();
    assert_eq!(std::fs::read(&good).unwrap(), bytes);

    w.proxy.set_mode(Mode::DropAttachmentChunk(1));
    let out = dir.path().join("tampered.bin");
    let before = w.proxy.applied();
    let run = attach_get(&w.user, &w.vault, &w.items[0].id, &att, &out);
    assert!(w.proxy.applied() > before, "the chunk was not dropped");
    refused(&run, &[canary.as_str()]);
    assert!(!out.exists(), "an output file was left behind");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "secret.bin" && n != "good.bin")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// The proxy itself is transparent in `Pass` mode: an account's whole life (signup, status,
/// logout, login) works through it.
#[test]
fn proxy_forwards_honestly() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let proxy = Proxy::start(&server.url);
    let mut user = User::new(&server, "passthru");
    user.server = proxy.url.clone();
    ready(&user);
    let status = cjson(&user, &["status"], "");
    assert_eq!(status["email"], user.email.as_str(), "{status}");
    coffer(&user, &["logout"], "").success();
    login(&user);
    cjson(&user, &["status"], "");
    assert_eq!(proxy.applied(), 0);
}
