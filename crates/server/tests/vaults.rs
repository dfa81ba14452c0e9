//! Local vaults over HTTP (docs/protocol.md §15–§16), in process: create, list, item writes
//! and both conflicts, tombstones, revisions and pruning, the binary sync stream (full, delta,
//! gzip, gone, end), attachments, and refusals (pending device, viewer, non-member). Sealed
//! items, grants and manifests are real, made with `coffer_crypto`. Every scenario runs on
//! SQLite; with `COFFER_TEST_POSTGRES=1` `postgres_suite` runs them again on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::Read as _;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use coffer_crypto::context::{Context, Purpose};
use coffer_crypto::grant::seal_grant;
use coffer_crypto::identity::KeyPair;
use coffer_crypto::item::{ItemLocation, seal_item};
use coffer_crypto::key::SymmetricKey;
use coffer_crypto::manifest::{Manifest, ManifestBody, ManifestEntry};
use coffer_proto::VaultRole;
use coffer_proto::api::{B64, DeviceRef};
use coffer_proto::vault::{
    SYNC_CONTENT_TYPE, SYNC_ITEM_HEADER_LEN, SyncEnd, SyncFrameKind, SyncVault, VAULT_RECORD_ITEM,
};
use coffer_proto::{ItemId, VaultId};
use common::*;
use serde_json::{Value, json};

type Id16 = [u8; 16];

/// A client's view of one vault: its key, its last manifest and its entries.
struct LocalVault {
    id: VaultId,
    key: SymmetricKey,
    manifest: Manifest,
    entries: BTreeMap<Id16, ManifestEntry>,
    revisions: BTreeMap<Id16, u64>,
}

fn ids(v: VaultId) -> Id16 {
    *v.as_uuid().as_bytes()
}

fn seal(key: &SymmetricKey, vault: VaultId, item: ItemId, revision: u64, text: &[u8]) -> Vec<u8> {
    let loc = ItemLocation {
        workspace: [0; 16],
        vault: ids(vault),
        item: *item.as_uuid().as_bytes(),
        epoch: 1,
        revision,
    };
    seal_item(key, &loc, &[("o", text)])
        .unwrap()
        .to_bytes()
        .unwrap()
}

fn grant_to(key: &SymmetricKey, vault: VaultId, to: &KeyPair, by: &KeyPair) -> Vec<u8> {
    let ctx = Context::new(Purpose::VaultKey)
        .with_workspace([0; 16])
        .with_vault(ids(vault))
        .with_epoch(1);
    seal_grant(key, &ctx, &to.public(), by)
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// The body of `POST /v1/vaults` for a new personal vault, and the local state after it.
fn new_vault(a: &Account) -> (Value, LocalVault) {
    let id = VaultId::new_random();
    let key = SymmetricKey::generate().unwrap();
    let record = seal(&key, id, VAULT_RECORD_ITEM, 1, br#"{"name":"Personal"}"#);
    let item = *VAULT_RECORD_ITEM.as_uuid().as_bytes();
    let entry = ManifestEntry::from_sealed_bytes(item, 1, 1, &record);
    let manifest = ManifestBody::genesis([0; 16], ids(id), 1, vec![entry])
        .sign(&a.device)
        .unwrap();
    let body = json!({
        "vault_id": id,
        "workspace_id": null,
        "record": b64(&record),
        "manifest": b64(&manifest.to_compact().unwrap()),
        "grants": [
            {"recipient": {"kind": "device", "id": a.device_id}, "epoch": 1,
             "grant": b64(&grant_to(&key, id, &a.device, &a.device))},
            {"recipient": {"kind": "user", "id": a.user_id}, "epoch": 1,
             "grant": b64(&grant_to(&key, id, &a.identity, &a.device))},
        ],
    });
    let local = LocalVault {
        id,
        key,
        manifest,
        entries: BTreeMap::from([(item, entry)]),
        revisions: BTreeMap::from([(item, 1)]),
    };
    (body, local)
}

async fn create_vault(app: &TestApp, a: &Account) -> LocalVault {
    let (body, local) = new_vault(a);
    let (s, v) = app.post("/v1/vaults", &a.token, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["role"], "manager");
    assert_eq!(v["counter"], 0);
    local
}

/// A prepared write: the request body and the local state it leads to.
struct Write {
    body: Value,
    manifest: Manifest,
    entries: BTreeMap<Id16, ManifestEntry>,
    revision: u64,
    item: Id16,
}

fn prepare(a: &Account, lv: &LocalVault, item: ItemId, text: Option<&[u8]>) -> Write {
    let key = *item.as_uuid().as_bytes();
    let base_revision = lv.revisions.get(&key).copied().unwrap_or(0);
    let revision = base_revision + 1;
    let mut entries = lv.entries.clone();
    let sealed = text.map(|t| seal(&lv.key, lv.id, item, revision, t));
    match &sealed {
        Some(s) => {
            entries.insert(key, ManifestEntry::from_sealed_bytes(key, revision, 1, s));
        }
        None => {
            entries.remove(&key);
        }
    }
    let manifest = ManifestBody::successor(&lv.manifest, 1, entries.values().copied().collect())
        .unwrap()
        .sign(&a.device)
        .unwrap();
    let body = json!({
        "item_id": item,
        "base_counter": lv.manifest.counter(),
        "base_revision": base_revision,
        "revision": revision,
        "epoch": 1,
        "sealed": sealed.as_deref().map(b64),
        "manifest": b64(&manifest.to_compact().unwrap()),
    });
    Write {
        body,
        manifest,
        entries,
        revision,
        item: key,
    }
}

fn apply(lv: &mut LocalVault, w: Write) {
    lv.manifest = w.manifest;
    lv.entries = w.entries;
    lv.revisions.insert(w.item, w.revision);
}

async fn write_item(
    app: &TestApp,
    a: &Account,
    lv: &mut LocalVault,
    item: ItemId,
    text: Option<&[u8]>,
) -> Value {
    let w = prepare(a, lv, item, text);
    let (s, v) = app
        .post(
            &format!("/v1/vaults/{}/items", lv.id),
            &a.token,
            w.body.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["revision"], w.revision);
    apply(lv, w);
    assert_eq!(v["counter"], lv.manifest.counter());
    v
}

/// One parsed sync frame.
#[derive(Debug)]
enum Frame {
    Vault(SyncVault),
    Item {
        id: ItemId,
        revision: u64,
        counter: u64,
        deleted: bool,
        sealed: Vec<u8>,
    },
    Gone(VaultId),
    End(SyncEnd),
}

fn parse_frames(mut b: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut vault_counter = None;
    while !b.is_empty() {
        let kind = SyncFrameKind::from_code(b[0]).expect("known frame kind");
        let len = u32::from_be_bytes(b[1..5].try_into().unwrap()) as usize;
        let p = &b[5..5 + len];
        out.push(match kind {
            SyncFrameKind::Vault => Frame::Vault(serde_json::from_slice(p).unwrap()),
            SyncFrameKind::Item => {
                assert!(p.len() >= SYNC_ITEM_HEADER_LEN);
                let flags = p[36];
                Frame::Item {
                    id: ItemId::from_uuid(uuid::Uuid::from_bytes(p[..16].try_into().unwrap())),
                    revision: u64::from_be_bytes(p[16..24].try_into().unwrap()),
                    counter: u64::from_be_bytes(p[28..36].try_into().unwrap()),
                    deleted: flags & 1 == 1,
                    sealed: p[37..].to_vec(),
                }
            }
            SyncFrameKind::Gone => Frame::Gone(VaultId::from_uuid(uuid::Uuid::from_bytes(
                p.try_into().unwrap(),
            ))),
            SyncFrameKind::End => Frame::End(serde_json::from_slice(p).unwrap()),
        });
        b = &b[5 + len..];
    }
    for f in &out {
        match f {
            Frame::Vault(v) => vault_counter = Some(v.counter),
            Frame::Item { counter, .. } => {
                assert!(*counter <= vault_counter.expect("item after a vault frame"));
            }
            _ => {}
        }
    }
    assert!(matches!(out.last(), Some(Frame::End(_))), "end frame last");
    out
}

async fn sync_raw(app: &TestApp, a: &Account, held: &[(VaultId, u64)], gzip: bool) -> Vec<u8> {
    let vaults: BTreeMap<String, u64> = held.iter().map(|(v, c)| (v.to_string(), *c)).collect();
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/v1/sync")
        .header(header::AUTHORIZATION, format!("Bearer {}", a.token))
        .header(header::CONTENT_TYPE, "application/json");
    if gzip {
        req = req.header(header::ACCEPT_ENCODING, "gzip");
    }
    let req = req
        .body(Body::from(json!({ "vaults": vaults }).to_string()))
        .unwrap();
    let (s, h, body) = app.raw(req).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(h[header::CONTENT_TYPE], SYNC_CONTENT_TYPE);
    if gzip {
        assert_eq!(h[header::CONTENT_ENCODING], "gzip");
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        plain
    } else {
        assert!(h.get(header::CONTENT_ENCODING).is_none());
        body
    }
}

async fn sync(app: &TestApp, a: &Account, held: &[(VaultId, u64)]) -> Vec<Frame> {
    parse_frames(&sync_raw(app, a, held, false).await)
}

fn items_of(frames: &[Frame], vault: VaultId) -> Vec<(ItemId, u64, bool, Vec<u8>)> {
    let mut inside = false;
    let mut out = Vec::new();
    for f in frames {
        match f {
            Frame::Vault(v) => inside = v.vault_id == vault,
            Frame::Item {
                id,
                revision,
                deleted,
                sealed,
                ..
            } if inside => out.push((*id, *revision, *deleted, sealed.clone())),
            _ => {}
        }
    }
    out
}

fn vault_frame(frames: &[Frame], vault: VaultId) -> &SyncVault {
    frames
        .iter()
        .find_map(|f| match f {
            Frame::Vault(v) if v.vault_id == vault => Some(v),
            _ => None,
        })
        .expect("vault frame")
}

async fn app(b: &Backend<'_>) -> TestApp {
    TestApp::start(b, Options::default()).await
}

// --- scenarios --------------------------------------------------------------------------------

async fn create_and_list(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "ann@example.com", "pw ann").await;
    let lv = create_vault(&app, &a).await;

    let (s, v) = app.get("/v1/vaults", &a.token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["vault_id"], lv.id.to_string());
    assert_eq!(v[0]["workspace_id"], Value::Null);
    assert_eq!(v[0]["epoch"], 1);

    // the same id again
    let (mut body, _) = new_vault(&a);
    body["vault_id"] = json!(lv.id);
    let (s, _) = app.post("/v1/vaults", &a.token, body).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "manifest names another vault");

    // malformed inputs, each refused with a clear 400
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "bad manifest",
            Box::new(|b| b["manifest"] = json!(b64(b"not a manifest"))),
            "manifest: not a compact manifest",
        ),
        (
            "bad record",
            Box::new(|b| b["record"] = json!(b64(b"not sealed"))),
            "record: not a sealed item",
        ),
        (
            "bad grant",
            Box::new(|b| b["grants"][0]["grant"] = json!(b64(b"junk"))),
            "grants[0]: not a grant",
        ),
        (
            "no user grant",
            Box::new(|b| {
                let g = b["grants"][0].clone();
                b["grants"] = json!([g]);
            }),
            "at least one to this device and one to your user",
        ),
        (
            "grant to a stranger",
            Box::new(|b| b["grants"][1]["recipient"]["id"] = json!(uuid::Uuid::new_v4())),
            "grants[1]: the recipient is not you",
        ),
    ];
    for (what, change, expect) in cases {
        let (mut body, _) = new_vault(&a);
        change(&mut body);
        let (s, v) = app.post("/v1/vaults", &a.token, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{what}: {v}");
        assert_eq!(v["code"], "invalid_request");
        assert!(
            v["message"].as_str().unwrap().contains(expect),
            "{what}: {v}"
        );
    }
    // a grant sealed to the wrong key (device grant sealed to the identity)
    let (mut body, lv2) = new_vault(&a);
    body["grants"][0]["grant"] = json!(b64(&grant_to(&lv2.key, lv2.id, &a.identity, &a.device)));
    let (s, v) = app.post("/v1/vaults", &a.token, body).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("another key"),
        "{v}"
    );

    // nothing of the refused ones exists
    let (_, v) = app.get("/v1/vaults", &a.token).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let audit = app.audit_actions().await;
    let creates: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "vault.create")
        .collect();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].target, lv.id.to_string());

    // another user sees nothing
    let bob = register(&app, "bob@example.com", "pw bob").await;
    let (_, v) = app.get("/v1/vaults", &bob.token).await;
    assert_eq!(v, json!([]));
}

async fn writes_and_conflicts(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "cat@example.com", "pw cat").await;
    let mut lv = create_vault(&app, &a).await;
    let item = ItemId::new_random();
    write_item(&app, &a, &mut lv, item, Some(b"v1")).await;

    // vault conflict: a write based on an older counter
    let other = ItemId::new_random();
    let stale = prepare(&a, &lv, other, Some(b"x"));
    write_item(&app, &a, &mut lv, ItemId::new_random(), Some(b"y")).await;
    let audit_before = app.audit_actions().await.len();
    let (s, v) = app
        .post(&format!("/v1/vaults/{}/items", lv.id), &a.token, stale.body)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["message"], "vault changed since your last sync");

    // item conflict: the item moved on since revision 0
    let mut stale = prepare(&a, &lv, item, Some(b"z"));
    stale.body["base_revision"] = json!(0);
    stale.body["revision"] = json!(1);
    let (s, v) = app
        .post(&format!("/v1/vaults/{}/items", lv.id), &a.token, stale.body)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        v["message"],
        "item changed since your last sync (revision 1)"
    );
    // nothing changed after the 409s
    assert_eq!(app.audit_actions().await.len(), audit_before);
    let (_, list) = app.get("/v1/vaults", &a.token).await;
    assert_eq!(list[0]["counter"], 2);
    let frames = sync(&app, &a, &[]).await;
    assert_eq!(items_of(&frames, lv.id).len(), 3);

    // bad writes: wrong revision, wrong manifest counter, record deletion, junk sealed bytes
    let mut w = prepare(&a, &lv, item, Some(b"v2"));
    w.body["revision"] = json!(5);
    let (s, _) = app
        .post(&format!("/v1/vaults/{}/items", lv.id), &a.token, w.body)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let mut w = prepare(&a, &lv, item, Some(b"v2"));
    w.body["base_counter"] = json!(1);
    let (s, v) = app
        .post(&format!("/v1/vaults/{}/items", lv.id), &a.token, w.body)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let w = prepare(&a, &lv, VAULT_RECORD_ITEM, None);
    let (s, v) = app
        .post(&format!("/v1/vaults/{}/items", lv.id), &a.token, w.body)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["message"], "the vault record cannot be deleted");
    let mut w = prepare(&a, &lv, item, Some(b"v2"));
    w.body["sealed"] = json!(b64(b"junk"));
    let (s, v) = app
        .post(&format!("/v1/vaults/{}/items", lv.id), &a.token, w.body)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["message"].as_str().unwrap().starts_with("sealed: "),
        "{v}"
    );
    // a manifest of another vault
    let (_, other_vault) = new_vault(&a);
    let mut w = prepare(&a, &lv, item, Some(b"v2"));
    let foreign = ManifestBody::successor(&other_vault.manifest, 1, vec![])
        .unwrap()
        .sign(&a.device)
        .unwrap();
    w.body["manifest"] = json!(b64(&foreign.to_compact().unwrap()));
    let (s, v) = app
        .post(&format!("/v1/vaults/{}/items", lv.id), &a.token, w.body)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // rename = a write of the record; then delete an item: a tombstone in the delta
    write_item(
        &app,
        &a,
        &mut lv,
        VAULT_RECORD_ITEM,
        Some(br#"{"name":"New"}"#),
    )
    .await;
    let before = lv.manifest.counter();
    write_item(&app, &a, &mut lv, item, None).await;
    let frames = sync(&app, &a, &[(lv.id, before)]).await;
    let v = vault_frame(&frames, lv.id);
    assert!(!v.full);
    assert_eq!(v.counter, lv.manifest.counter());
    assert_eq!(v.manifest.0, lv.manifest.to_compact().unwrap());
    let items = items_of(&frames, lv.id);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].0, item);
    assert!(items[0].2, "tombstone");
    assert!(items[0].3.is_empty());
    // full sync lists live items only
    let frames = sync(&app, &a, &[]).await;
    let items = items_of(&frames, lv.id);
    assert_eq!(items.len(), 2, "record + the other live item");
    assert!(items.iter().all(|i| !i.2 && i.0 != item));

    // audit: ids only
    let audit = app.audit_actions().await;
    let del = audit.iter().find(|e| e.action == "item.delete").unwrap();
    assert_eq!(del.target, item.to_string());
    assert!(audit.iter().any(|e| e.action == "item.write"));
    for e in &audit {
        assert!(!e.details.to_string().contains("New"), "{:?}", e.details);
    }

    // revisions, newest first, with the deletion
    let (s, v) = app
        .get(
            &format!("/v1/vaults/{}/items/{item}/revisions", lv.id),
            &a.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let revs = v.as_array().unwrap();
    assert_eq!(revs.len(), 2);
    assert_eq!(revs[0]["revision"], 2);
    assert_eq!(revs[0]["sealed"], Value::Null);
    assert_eq!(revs[1]["revision"], 1);
    let first = unb64(&revs[1]["sealed"]);
    assert_eq!(first, seal_check(&first), "revision 1's sealed bytes parse");
    // restore: write revision 3 from revision 2
    write_item(&app, &a, &mut lv, item, Some(b"restored")).await;
    let (s, v) = app
        .get(
            &format!(
                "/v1/vaults/{}/items/{}/revisions",
                lv.id,
                ItemId::new_random()
            ),
            &a.token,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
}

fn seal_check(bytes: &[u8]) -> Vec<u8> {
    coffer_crypto::item::SealedItem::from_bytes(bytes)
        .unwrap()
        .to_bytes()
        .unwrap()
}

async fn revisions_pruned(b: &Backend<'_>) {
    let app = TestApp::start(
        b,
        Options {
            revisions_kept: 3,
            ..Options::default()
        },
    )
    .await;
    let a = register(&app, "dan@example.com", "pw dan").await;
    let mut lv = create_vault(&app, &a).await;
    let item = ItemId::new_random();
    for n in 1..=6u8 {
        write_item(&app, &a, &mut lv, item, Some(&[n; 10])).await;
    }
    let (s, v) = app
        .get(
            &format!("/v1/vaults/{}/items/{item}/revisions", lv.id),
            &a.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let revs: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revs, vec![6, 5, 4]);
    // the pruned values are gone from the value store: record + 3 kept
    let (k, _) = {
        let ring = app.state.keyring();
        (ring.current_key_id(), ())
    };
    let n = app
        .state
        .values
        .count_by_key(coffer_server::state::data_key_id(k))
        .await
        .unwrap();
    // the account's device share is one value too
    assert_eq!(n, 1 + 1 + 3, "device share + record + 3 kept revisions");
}

async fn sync_full_delta_gzip_gone(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "eve@example.com", "pw eve").await;
    let mut one = create_vault(&app, &a).await;
    let mut two = create_vault(&app, &a).await;
    let mut items = Vec::new();
    for n in 0..7u8 {
        let id = ItemId::new_random();
        write_item(&app, &a, &mut one, id, Some(&[n; 100])).await;
        items.push(id);
    }
    write_item(&app, &a, &mut two, ItemId::new_random(), Some(b"two")).await;

    // full: unknown vaults, every live item, the grants to this device and user, signers
    let frames = sync(&app, &a, &[]).await;
    let v = vault_frame(&frames, one.id);
    assert!(v.full);
    assert_eq!(v.role, VaultRole::Manager);
    assert_eq!(v.counter, 7);
    assert_eq!(v.grants.len(), 2);
    assert_eq!(v.signers.len(), 1);
    assert_eq!(v.signers[0].device_id, a.device_id);
    let got = items_of(&frames, one.id);
    assert_eq!(got.len(), 8);
    // the item bytes are exactly what was written, and match the manifest entries
    for (id, rev, deleted, sealed) in &got {
        assert!(!deleted);
        let e = one.entries[id.as_uuid().as_bytes()];
        assert_eq!(e, ManifestEntry::from_sealed_bytes(e.item, *rev, 1, sealed));
    }
    let Some(Frame::End(end)) = frames.last() else {
        panic!()
    };
    assert_eq!(end.vaults, 2);
    assert_eq!(end.items, 8 + 2);
    // the client can rebuild and verify the manifest from the frames
    let entries: Vec<_> = got
        .iter()
        .map(|(id, rev, _, s)| {
            ManifestEntry::from_sealed_bytes(*id.as_uuid().as_bytes(), *rev, 1, s)
        })
        .collect();
    let rebuilt = Manifest::from_compact(&v.manifest.0, entries).unwrap();
    assert_eq!(rebuilt, one.manifest);

    // delta: only what changed after the held counter
    write_item(&app, &a, &mut one, items[2], Some(b"edited")).await;
    let frames = sync(&app, &a, &[(one.id, 7), (two.id, 1)]).await;
    let got = items_of(&frames, one.id);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0, got[0].1), (items[2], 2));
    assert!(!vault_frame(&frames, one.id).full);
    assert!(items_of(&frames, two.id).is_empty());
    assert!(!vault_frame(&frames, two.id).full);
    // a counter above the server's: full again
    let frames = sync(&app, &a, &[(one.id, 99)]).await;
    assert!(vault_frame(&frames, one.id).full);
    assert_eq!(items_of(&frames, one.id).len(), 8);

    // gzip when asked, same frames
    let plain = sync_raw(&app, &a, &[], false).await;
    let unzipped = sync_raw(&app, &a, &[], true).await;
    assert_eq!(plain, unzipped);

    // delete a vault: gone for the client that held it, and for unknown ids
    let stranger = VaultId::new_random();
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/vaults/{}", two.id),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let frames = sync(&app, &a, &[(two.id, 1), (stranger, 3)]).await;
    let gone: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Gone(v) => Some(*v),
            _ => None,
        })
        .collect();
    assert_eq!(gone.len(), 2);
    assert!(gone.contains(&two.id) && gone.contains(&stranger));
    assert!(
        !frames
            .iter()
            .any(|f| matches!(f, Frame::Vault(v) if v.vault_id == two.id))
    );
    let (_, v) = app.get("/v1/vaults", &a.token).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/vaults/{}", two.id),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|e| e.action == "vault.delete" && e.target == two.id.to_string())
    );
}

async fn put_attachment(app: &TestApp, a: &Account, path: &str, body: Body) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::PUT)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", a.token))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(body)
        .unwrap();
    let (s, _, b) = app.raw(req).await;
    let v = serde_json::from_slice(&b).unwrap_or(Value::Null);
    (s, v)
}

async fn attachments_round_trip(b: &Backend<'_>) {
    let app = TestApp::start(
        b,
        Options {
            max_attachment_size: 5 << 20,
            ..Options::default()
        },
    )
    .await;
    let a = register(&app, "fay@example.com", "pw fay").await;
    let lv = create_vault(&app, &a).await;
    let item = ItemId::new_random();
    let att = uuid::Uuid::new_v4();
    let path = format!("/v1/vaults/{}/items/{item}/attachments/{att}", lv.id);
    // 3.5 MiB, sent in uneven chunks
    let data: Vec<u8> = (0..(3 << 20) + (1 << 19))
        .map(|i: u32| (i % 253) as u8)
        .collect();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        data.chunks(300_001).map(|c| Ok(c.to_vec())).collect();
    let (s, v) = put_attachment(
        &app,
        &a,
        &path,
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["size"], data.len());
    let (s, h, got) = app
        .raw(
            Request::builder()
                .uri(&path)
                .header(header::AUTHORIZATION, format!("Bearer {}", a.token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_LENGTH], data.len().to_string());
    assert!(got == data, "round trip");
    // a data-key rotation re-wraps the segments; the old key is retired and reads still work
    let old_key = app.state.keyring().current_key_id();
    coffer_server::jobs::rotate_data_key(&app.state)
        .await
        .unwrap();
    let report = coffer_server::jobs::rewrap_and_retire(&app.state)
        .await
        .unwrap();
    assert!(report.rewrapped >= 4, "{report:?}");
    assert_eq!(report.retired, 1);
    assert!(!app.state.keyring().contains(old_key));
    let (s, _, again) = app
        .raw(
            Request::builder()
                .uri(&path)
                .header(header::AUTHORIZATION, format!("Bearer {}", a.token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(again == data, "readable after re-wrap");
    // stored in 1 MiB segments, none in plaintext
    let row = app.state.main.attachment(lv.id, item, att).await.unwrap();
    assert_eq!(row.segments, 4);
    let seg = app.state.values.segment(&row.blob_id, 0).await.unwrap();
    assert!(!seg.data.windows(64).any(|w| w == &data[..64]));

    // too large: 413, nothing registered, nothing stored
    let big = uuid::Uuid::new_v4();
    let big_path = format!("/v1/vaults/{}/items/{item}/attachments/{big}", lv.id);
    let (s, v) = put_attachment(&app, &a, &big_path, Body::from(vec![1u8; (5 << 20) + 1])).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(app.state.main.attachment(lv.id, item, big).await.is_err());

    // an aborted upload leaves nothing visible and no segments
    let aborted = uuid::Uuid::new_v4();
    let ab_path = format!("/v1/vaults/{}/items/{item}/attachments/{aborted}", lv.id);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(vec![7u8; 1 << 20]),
        Ok(vec![7u8; 1 << 20]),
        Err(std::io::Error::other("connection reset")),
    ];
    let (s, _) = put_attachment(
        &app,
        &a,
        &ab_path,
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = app.get(&ab_path, &a.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let key = coffer_server::state::data_key_id(app.state.keyring().current_key_id());
    let mut left = u64::MAX;
    for _ in 0..50 {
        left = app.state.values.count_segments_by_key(key).await.unwrap();
        if left == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(left, 4, "only the completed upload's segments remain");

    // an empty attachment
    let empty = uuid::Uuid::new_v4();
    let e_path = format!("/v1/vaults/{}/items/{item}/attachments/{empty}", lv.id);
    let (s, v) = put_attachment(&app, &a, &e_path, Body::empty()).await;
    assert_eq!((s, v["size"].as_u64()), (StatusCode::OK, Some(0)));

    // delete
    let (s, _) = app.call(Method::DELETE, &path, Some(&a.token), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get(&path, &a.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        app.state.values.count_segments_by_key(key).await.unwrap(),
        0
    );
    let audit = app.audit_actions().await;
    assert!(audit.iter().any(|e| e.action == "attachment.add"));
    assert!(
        audit
            .iter()
            .any(|e| e.action == "attachment.delete" && e.target == att.to_string())
    );
}

async fn refusals(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "gil@example.com", "pw gil").await;
    let mut lv = create_vault(&app, &a).await;
    let item = ItemId::new_random();
    write_item(&app, &a, &mut lv, item, Some(b"plaintext-needle-7Q")).await;
    let att = uuid::Uuid::new_v4();
    let att_path = format!("/v1/vaults/{}/items/{item}/attachments/{att}", lv.id);
    let (s, _) = put_attachment(&app, &a, &att_path, Body::from(vec![1u8; 10])).await;
    assert_eq!(s, StatusCode::OK);

    // a pending device of the same user
    let (_, nd) = new_device("phone");
    let (s, v) = login_raw(&app, &a.email, &a.password, DeviceRef::New(nd)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let pending_token = v["session"]["token"].as_str().unwrap().to_owned();
    for (m, p, body) in [
        (Method::GET, "/v1/vaults".to_owned(), None),
        (
            Method::POST,
            "/v1/sync".to_owned(),
            Some(json!({"vaults": {}})),
        ),
        (Method::POST, "/v1/vaults".to_owned(), Some(new_vault(&a).0)),
        (Method::GET, att_path.clone(), None),
    ] {
        let (s, v) = app.call(m, &p, Some(&pending_token), body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}: {v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("this device is pending approval"),
            "{v}"
        );
    }

    // a stranger: 404 everywhere, and no Vault frame in their sync
    let bob = register(&app, "bob2@example.com", "pw bob").await;
    let w = prepare(&bob, &lv, ItemId::new_random(), Some(b"x"));
    let (s, _) = app
        .post(&format!("/v1/vaults/{}/items", lv.id), &bob.token, w.body)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.get(&att_path, &bob.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .get(
            &format!("/v1/vaults/{}/items/{item}/revisions", lv.id),
            &bob.token,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let frames = sync(&app, &bob, &[(lv.id, 1)]).await;
    assert!(matches!(frames[0], Frame::Gone(id) if id == lv.id));
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/vaults/{}", lv.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // a viewer reads but cannot write, upload, delete attachments or the vault
    app.state
        .main
        .set_vault_member(lv.id, bob.user_id, VaultRole::Viewer, None)
        .await
        .unwrap();
    let w = prepare(&bob, &lv, ItemId::new_random(), Some(b"x"));
    let (s, v) = app
        .post(&format!("/v1/vaults/{}/items", lv.id), &bob.token, w.body)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = put_attachment(&app, &bob, &att_path, Body::from(vec![2u8; 10])).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(Method::DELETE, &att_path, Some(&bob.token), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/vaults/{}", lv.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, got) = app
        .raw(
            Request::builder()
                .uri(&att_path)
                .header(header::AUTHORIZATION, format!("Bearer {}", bob.token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!((s, got), (StatusCode::OK, vec![1u8; 10]));
    let frames = sync(&app, &bob, &[]).await;
    let v = vault_frame(&frames, lv.id);
    assert_eq!(v.role, VaultRole::Viewer);
    assert!(v.grants.is_empty(), "no grant addressed to bob yet");
    assert_eq!(items_of(&frames, lv.id).len(), 2);
    // an editor may write
    app.state
        .main
        .set_vault_member(lv.id, bob.user_id, VaultRole::Editor, None)
        .await
        .unwrap();
    let w = prepare(&bob, &lv, ItemId::new_random(), Some(b"x"));
    let (s, v) = app
        .post(&format!("/v1/vaults/{}/items", lv.id), &bob.token, w.body)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // the plaintext the client sealed is nowhere in the server's files
    let needle = b"plaintext-needle-7Q";
    for entry in std::fs::read_dir(app.dir.path().join("data")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    }
    let _ = B64(vec![]);
}

async fn workspace_vaults(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "hal@example.com", "pw hal").await;
    let (s, v) = app
        .post("/v1/workspaces", &a.token, json!({"name": "acme"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ws: coffer_proto::WorkspaceId = serde_json::from_value(v["workspace_id"].clone()).unwrap();
    // a workspace vault's manifest names the workspace
    let id = VaultId::new_random();
    let key = SymmetricKey::generate().unwrap();
    let wsb = *ws.as_uuid().as_bytes();
    let loc = ItemLocation {
        workspace: wsb,
        vault: ids(id),
        item: [0; 16],
        epoch: 1,
        revision: 1,
    };
    let record = seal_item(&key, &loc, &[("v", b"{}")])
        .unwrap()
        .to_bytes()
        .unwrap();
    let entry = ManifestEntry::from_sealed_bytes([0; 16], 1, 1, &record);
    let ctx = Context::new(Purpose::VaultKey)
        .with_workspace(wsb)
        .with_vault(ids(id))
        .with_epoch(1);
    let grants = json!([
        {"recipient": {"kind": "device", "id": a.device_id}, "epoch": 1,
         "grant": b64(seal_grant(&key, &ctx, &a.device.public(), &a.device).unwrap().as_bytes())},
        {"recipient": {"kind": "user", "id": a.user_id}, "epoch": 1,
         "grant": b64(seal_grant(&key, &ctx, &a.identity.public(), &a.device).unwrap().as_bytes())},
    ]);
    let personal_manifest = ManifestBody::genesis([0; 16], ids(id), 1, vec![entry])
        .sign(&a.device)
        .unwrap();
    let (s, v) = app
        .post(
            "/v1/vaults",
            &a.token,
            json!({"vault_id": id, "workspace_id": ws, "record": b64(&record),
                   "manifest": b64(&personal_manifest.to_compact().unwrap()), "grants": grants}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["message"], "manifest: names another workspace");
    let manifest = ManifestBody::genesis(wsb, ids(id), 1, vec![entry])
        .sign(&a.device)
        .unwrap();
    let body = json!({"vault_id": id, "workspace_id": ws, "record": b64(&record),
                      "manifest": b64(&manifest.to_compact().unwrap()), "grants": grants});
    // not a member of that workspace: 404
    let bob = register(&app, "ian@example.com", "pw ian").await;
    let (s, _) = app.post("/v1/vaults", &bob.token, body.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = app.post("/v1/vaults", &a.token, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["workspace_id"], ws.to_string());
    let audit = app.audit_actions().await;
    let e = audit.iter().find(|e| e.action == "vault.create").unwrap();
    assert_eq!(e.workspace_id, Some(ws));
}

/// More concurrent full syncs than the pool has connections (8): each stream holds one
/// connection for its snapshot, so one that asked the pool for a second (the manifest signer's
/// device) waited forever once every connection was held by a stream. All must finish.
async fn concurrent_syncs_beyond_the_pool(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "pool@example.com", "pw pool").await;
    let mut lv = create_vault(&app, &a).await;
    for i in 0..3u8 {
        write_item(&app, &a, &mut lv, ItemId::new_random(), Some(&[i; 40])).await;
    }
    let one = sync_raw(&app, &a, &[], false).await;
    let runs = (0..24).map(|_| sync_raw(&app, &a, &[], false));
    let all = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        futures_util::future::join_all(runs),
    )
    .await
    .expect("24 concurrent syncs did not finish in 20 s (pool exhausted?)");
    assert!(all.iter().all(|b| *b == one));
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(&Backend::Sqlite).await;
            }
        )*

        /// Every scenario again on PostgreSQL (with `COFFER_TEST_POSTGRES=1`).
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres_suite() {
            if std::env::var("COFFER_TEST_POSTGRES").as_deref() != Ok("1") {
                eprintln!("COFFER_TEST_POSTGRES is not 1: PostgreSQL suite skipped");
                return;
            }
            let pg = tokio::task::spawn_blocking(coffer_store::testing::PgCluster::start)
                .await
                .unwrap()
                .unwrap();
            let b = Backend::Postgres(&pg);
            $(
                eprintln!("postgres: {}", stringify!($name));
                super::$name(&b).await;
            )*
        }
    };
}

mod tests {
    use super::*;

    suite!(
        create_and_list,
        writes_and_conflicts,
        revisions_pruned,
        sync_full_delta_gzip_gone,
        attachments_round_trip,
        refusals,
        workspace_vaults,
        concurrent_syncs_beyond_the_pool,
    );
}
