//! A malicious-server stand-in for the end-to-end tests: an in-process reverse proxy on
//! `127.0.0.1:0` that forwards every request to a real `coffer server` and, once switched into
//! a tampering [`Mode`] at run time, rewrites what the server answers the way a compromised
//! server could: sync frames (protocol.md §15.3) and attachment streams (§7, §16).
//!
//! Include it from a test file with `#[path = "common/proxy.rs"] mod proxy;` (beside `mod
//! common;`). The proxy strips `Accept-Encoding` from `/v1/sync` requests so the frame stream
//! comes back plain and can be parsed and re-encoded; every plain sync answer the server gave is
//! recorded ([`Proxy::recorded_syncs`]) so a later test step can replay it (rollback).

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use coffer_crypto::item::SealedItem;
use coffer_proto::vault::ItemRevision;

/// Frame kinds of the sync stream.
pub const FRAME_VAULT: u8 = 0x01;
pub const FRAME_ITEM: u8 = 0x02;
pub const FRAME_GONE: u8 = 0x03;
pub const FRAME_END: u8 = 0xFF;

/// Item frame fixed part: `id:16 ‖ revision:u64 ‖ epoch:u32 ‖ counter:u64 ‖ flags:u8`.
pub const ITEM_HEADER: usize = 16 + 8 + 4 + 8 + 1;

/// Attachment stream layout (§7): header, then chunks of 64 KiB + 16-byte tag.
pub const STREAM_HEADER: usize = 73;
pub const STREAM_CHUNK: usize = 65536 + 16;

/// Which item frame a tamper mode acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemSel {
    /// The item with this id (16 bytes of its UUID).
    Id([u8; 16]),
    /// The n-th live item frame of the stream (0-based), vault records (nil id) skipped.
    Nth(usize),
}

/// Which vault frame a tamper mode acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultSel {
    /// The vault with this id (UUID string form).
    Id(String),
    /// The n-th vault frame of the stream (0-based).
    Nth(usize),
}

/// What the proxy does to the answers it forwards.
#[derive(Debug, Clone, Default)]
pub enum Mode {
    /// Forward everything unchanged.
    #[default]
    Pass,
    /// Swap the sealed payloads of two item frames (headers stay).
    SwapPayloads(ItemSel, ItemSel),
    /// Move an item frame into another vault's section of the stream.
    MoveItem(ItemSel, VaultSel),
    /// Serve an older revision's sealed bytes (fetched from the server's revision history with
    /// the caller's own Authorization) in place of the current one. `relabel`: also write the
    /// old revision number into the frame header (a full replay); else keep the current one.
    ReplayRevision {
        item: ItemSel,
        revision: u64,
        relabel: bool,
    },
    /// Swap two field envelopes (`fields[0]`, `fields[1]`) inside one sealed item.
    SwapFields(ItemSel),
    /// Leave an item frame out.
    DropItem(ItemSel),
    /// Send an item frame twice.
    DuplicateItem(ItemSel),
    /// Answer every sync with this recorded (older) answer.
    Rollback(Vec<u8>),
    /// Add `delta` to the revision number in an item frame's clear header.
    EditItemRevision(ItemSel, i64),
    /// Add `delta` to the epoch number in an item frame's clear header.
    EditItemEpoch(ItemSel, i64),
    /// Add `delta` to the `counter` of a vault frame's clear JSON.
    EditVaultCounter(VaultSel, i64),
    /// On attachment downloads, cut out the n-th 64 KiB chunk (0-based) of the stream.
    DropAttachmentChunk(usize),
    /// On `POST /v1/recovery/{id}/share`, answer this share (32 bytes) instead of the stored one.
    SwapRecoveryShare(Vec<u8>),
    /// Rewrite JSON answers (`GET`, status 200) whose path ends with the given suffix.
    Json(JsonTamper),
    /// Rewrite JSON answers of `POST` requests (status 200) whose path ends with the suffix
    /// (`login/start`: the KSF parameters).
    JsonPost(JsonTamper),
    /// Rewrite the JSON of every vault frame of sync answers.
    VaultFrames(JsonTamper),
    /// Answer `204 No Content` to every `POST` whose path ends with the given suffix without
    /// forwarding it: the server acknowledges a change it never makes (a dropped revocation).
    Swallow(String),
}

/// A rewrite of a JSON answer: `(path suffix, edit)`; the edit returns whether it changed
/// anything.
#[derive(Clone)]
pub struct JsonTamper(
    pub String,
    pub Arc<dyn Fn(&mut serde_json::Value) -> bool + Send + Sync>,
);

impl std::fmt::Debug for JsonTamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonTamper({:?})", self.0)
    }
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    mode: Mutex<Mode>,
    recorded: Mutex<Vec<Vec<u8>>>,
    applied: AtomicUsize,
    syncs: AtomicUsize,
    attachment_gets: AtomicUsize,
    requests: Mutex<Vec<(String, String, Vec<u8>)>>,
}

/// The running proxy (stopped on drop).
pub struct Proxy {
    /// `http://127.0.0.1:PORT`: give this to the client as its server.
    pub url: String,
    shared: Arc<Shared>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// Starts a proxy in front of `upstream` (a server URL such as `http://127.0.0.1:1234`).
    pub fn start(upstream: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_gzip()
                .build()
                .unwrap(),
            mode: Mutex::new(Mode::Pass),
            recorded: Mutex::new(Vec::new()),
            applied: AtomicUsize::new(0),
            syncs: AtomicUsize::new(0),
            attachment_gets: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            url: format!("http://{addr}"),
            shared,
            rt: Some(rt),
        }
    }

    /// Switches the mode (takes effect on the next request).
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// How many times a tamper was actually applied to an answer.
    pub fn applied(&self) -> usize {
        self.shared.applied.load(Ordering::SeqCst)
    }

    /// How many `/v1/sync` answers went through.
    pub fn syncs(&self) -> usize {
        self.shared.syncs.load(Ordering::SeqCst)
    }

    /// How many attachment downloads went through.
    pub fn attachment_gets(&self) -> usize {
        self.shared.attachment_gets.load(Ordering::SeqCst)
    }

    /// Every request forwarded: (method, path, body), oldest first.
    pub fn requests(&self) -> Vec<(String, String, Vec<u8>)> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Every plain sync answer the server gave, oldest first (before any tampering).
    pub fn recorded_syncs(&self) -> Vec<Vec<u8>> {
        self.shared.recorded.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The 16 bytes of a UUID in its string form.
pub fn uuid_bytes(s: &str) -> [u8; 16] {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    assert_eq!(hex.len(), 32, "not a UUID: {s:?}");
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

const HOP: [&str; 6] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
];

fn is_hop(name: &HeaderName) -> bool {
    HOP.iter().any(|h| name.as_str().eq_ignore_ascii_case(h))
}

async fn handle(State(st): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let is_sync = path == "/v1/sync";
    let is_attachment_get = parts.method == axum::http::Method::GET && is_attachment_path(&path);
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("proxy: body: {e}")),
    };
    let mut headers = HeaderMap::new();
    for (k, v) in &parts.headers {
        if is_hop(k) || (is_sync && k.as_str().eq_ignore_ascii_case("accept-encoding")) {
            continue;
        }
        headers.append(k.clone(), v.clone());
    }
    let auth = parts.headers.get("authorization").cloned();
    st.requests
        .lock()
        .unwrap()
        .push((parts.method.to_string(), path.clone(), body.to_vec()));
    if parts.method == axum::http::Method::POST {
        let mode = st.mode.lock().unwrap().clone();
        if let Mode::Swallow(suffix) = mode
            && path.ends_with(&suffix)
        {
            st.applied.fetch_add(1, Ordering::SeqCst);
            return Response::builder()
                .status(StatusCode::NO_CONTENT)
                .body(Body::empty())
                .unwrap();
        }
    }
    let upstream = st
        .http
        .request(parts.method.clone(), format!("{}{pq}", st.upstream))
        .headers(headers)
        .body(body.to_vec())
        .send()
        .await;
    let resp = match upstream {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, &format!("proxy: upstream: {e}")),
    };
    let status = resp.status();
    let mut out_headers = HeaderMap::new();
    for (k, v) in resp.headers() {
        if !is_hop(k) {
            out_headers.append(k.clone(), v.clone());
        }
    }
    let mut bytes = match resp.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) => {
            return plain(
                StatusCode::BAD_GATEWAY,
                &format!("proxy: upstream body: {e}"),
            );
        }
    };
    if status == StatusCode::OK && is_sync {
        st.syncs.fetch_add(1, Ordering::SeqCst);
        st.recorded.lock().unwrap().push(bytes.clone());
        let mode = st.mode.lock().unwrap().clone();
        if let Some(new) = tamper_sync(&st, &mode, auth.as_ref(), &bytes).await {
            st.applied.fetch_add(1, Ordering::SeqCst);
            bytes = new;
        }
    }
    if status == StatusCode::OK
        && (parts.method == axum::http::Method::GET || parts.method == axum::http::Method::POST)
    {
        let mode = st.mode.lock().unwrap().clone();
        let tamper = match (mode, parts.method == axum::http::Method::GET) {
            (Mode::Json(t), true) | (Mode::JsonPost(t), false) => Some(t),
            _ => None,
        };
        if let Some(JsonTamper(suffix, edit)) = tamper
            && path.ends_with(&suffix)
            && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && edit(&mut v)
        {
            bytes = serde_json::to_vec(&v).unwrap();
            st.applied.fetch_add(1, Ordering::SeqCst);
        }
    }
    if status == StatusCode::OK && is_attachment_get {
        st.attachment_gets.fetch_add(1, Ordering::SeqCst);
        let mode = st.mode.lock().unwrap().clone();
        if let Mode::DropAttachmentChunk(n) = mode {
            let start = STREAM_HEADER + n * STREAM_CHUNK;
            if bytes.len() > start + STREAM_CHUNK {
                bytes.drain(start..start + STREAM_CHUNK);
                st.applied.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    if status == StatusCode::OK
        && parts.method == axum::http::Method::POST
        && path.starts_with("/v1/recovery/")
        && path.ends_with("/share")
    {
        let mode = st.mode.lock().unwrap().clone();
        if let Mode::SwapRecoveryShare(share) = mode {
            use base64::Engine as _;
            let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&share);
            bytes = serde_json::to_vec(&serde_json::json!({ "share": text })).unwrap();
            out_headers.remove("content-length");
            st.applied.fetch_add(1, Ordering::SeqCst);
        }
    }
    let mut builder = Response::builder().status(status);
    for (k, v) in &out_headers {
        builder = builder.header(k, v);
    }
    builder.body(Body::from(bytes)).unwrap()
}

fn is_attachment_path(path: &str) -> bool {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    segs.len() == 7
        && segs[0] == "v1"
        && segs[1] == "vaults"
        && segs[3] == "items"
        && segs[5] == "attachments"
}

fn plain(status: StatusCode, msg: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", HeaderValue::from_static("text/plain"))
        .body(Body::from(msg.to_owned()))
        .unwrap()
}

/// One sync frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    fn item_id(&self) -> Option<[u8; 16]> {
        (self.kind == FRAME_ITEM && self.payload.len() >= ITEM_HEADER)
            .then(|| self.payload[..16].try_into().unwrap())
    }

    fn is_live_item(&self) -> bool {
        self.item_id().is_some_and(|id| id != [0u8; 16]) && self.payload[36] & 1 == 0
    }

    fn vault_json(&self) -> Option<serde_json::Value> {
        (self.kind == FRAME_VAULT)
            .then(|| serde_json::from_slice(&self.payload).ok())
            .flatten()
    }

    fn sealed(&self) -> &[u8] {
        &self.payload[ITEM_HEADER..]
    }

    fn set_sealed(&mut self, sealed: &[u8]) {
        self.payload.truncate(ITEM_HEADER);
        self.payload.extend_from_slice(sealed);
    }
}

/// Parses a plain sync stream into frames (None when it is not well formed).
pub fn parse_frames(mut b: &[u8]) -> Option<Vec<Frame>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 5 {
            return None;
        }
        let len = u32::from_be_bytes(b[1..5].try_into().unwrap()) as usize;
        if b.len() < 5 + len {
            return None;
        }
        out.push(Frame {
            kind: b[0],
            payload: b[5..5 + len].to_vec(),
        });
        b = &b[5 + len..];
    }
    Some(out)
}

/// Encodes frames back into a stream, with the end frame's counts made consistent (a careful
/// attacker would not leave them wrong).
pub fn encode_frames(frames: &[Frame]) -> Vec<u8> {
    let vaults = frames.iter().filter(|f| f.kind == FRAME_VAULT).count();
    let items = frames.iter().filter(|f| f.kind == FRAME_ITEM).count();
    let mut out = Vec::new();
    for f in frames {
        let payload = if f.kind == FRAME_END {
            let mut v: serde_json::Value =
                serde_json::from_slice(&f.payload).unwrap_or(serde_json::json!({}));
            v["vaults"] = serde_json::json!(vaults);
            v["items"] = serde_json::json!(items);
            serde_json::to_vec(&v).unwrap()
        } else {
            f.payload.clone()
        };
        out.push(f.kind);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

fn find_item(frames: &[Frame], sel: &ItemSel) -> Option<usize> {
    match sel {
        ItemSel::Id(id) => frames.iter().position(|f| f.item_id() == Some(*id)),
        ItemSel::Nth(n) => frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.is_live_item())
            .nth(*n)
            .map(|(i, _)| i),
    }
}

fn find_vault(frames: &[Frame], sel: &VaultSel) -> Option<usize> {
    let mut vaults = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind == FRAME_VAULT);
    match sel {
        VaultSel::Id(id) => vaults
            .find(|(_, f)| {
                f.vault_json()
                    .is_some_and(|v| v["vault_id"].as_str() == Some(id.as_str()))
            })
            .map(|(i, _)| i),
        VaultSel::Nth(n) => vaults.nth(*n).map(|(i, _)| i),
    }
}

/// The vault id (string) whose section holds frame `idx`.
fn vault_of(frames: &[Frame], idx: usize) -> Option<String> {
    frames[..idx]
        .iter()
        .rev()
        .find(|f| f.kind == FRAME_VAULT)
        .and_then(|f| f.vault_json())
        .and_then(|v| v["vault_id"].as_str().map(str::to_owned))
}

fn add(v: u64, delta: i64) -> u64 {
    v.wrapping_add_signed(delta)
}

fn hex(id: &[u8; 16]) -> String {
    let h: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Rewrites a plain sync answer per `mode`; None when the mode does not apply to this answer.
async fn tamper_sync(
    st: &Shared,
    mode: &Mode,
    auth: Option<&HeaderValue>,
    body: &[u8],
) -> Option<Vec<u8>> {
    if let Mode::Rollback(old) = mode {
        return Some(old.clone());
    }
    let mut frames = parse_frames(body)?;
    match mode {
        Mode::Pass
        | Mode::DropAttachmentChunk(_)
        | Mode::Rollback(_)
        | Mode::SwapRecoveryShare(_)
        | Mode::Swallow(_)
        | Mode::Json(_)
        | Mode::JsonPost(_) => return None,
        Mode::VaultFrames(JsonTamper(_, edit)) => {
            let mut changed = false;
            for f in frames.iter_mut().filter(|f| f.kind == FRAME_VAULT) {
                let mut v = f.vault_json()?;
                if edit(&mut v) {
                    f.payload = serde_json::to_vec(&v).ok()?;
                    changed = true;
                }
            }
            if !changed {
                return None;
            }
        }
        Mode::SwapPayloads(a, b) => {
            let (ia, ib) = (find_item(&frames, a)?, find_item(&frames, b)?);
            if ia == ib {
                return None;
            }
            let sa = frames[ia].sealed().to_vec();
            let sb = frames[ib].sealed().to_vec();
            frames[ia].set_sealed(&sb);
            frames[ib].set_sealed(&sa);
        }
        Mode::MoveItem(item, to) => {
            let i = find_item(&frames, item)?;
            let from = vault_of(&frames, i);
            let v = find_vault(&frames, to)?;
            let to_id = frames[v].vault_json()?["vault_id"].as_str()?.to_owned();
            if from.as_deref() == Some(to_id.as_str()) {
                return None;
            }
            let f = frames.remove(i);
            let v = find_vault(&frames, to)?;
            frames.insert(v + 1, f);
        }
        Mode::ReplayRevision {
            item,
            revision,
            relabel,
        } => {
            let i = find_item(&frames, item)?;
            let vault = vault_of(&frames, i)?;
            let id = frames[i].item_id()?;
            let url = format!(
                "{}/v1/vaults/{vault}/items/{}/revisions",
                st.upstream,
                hex(&id)
            );
            let mut req = st.http.get(url);
            if let Some(a) = auth {
                req = req.header("authorization", a.clone());
            }
            let resp = req.send().await.ok()?;
            let v: serde_json::Value = resp.json().await.ok()?;
            let list = if v.is_array() {
                v
            } else {
                v.get("revisions")?.clone()
            };
            let revs: Vec<ItemRevision> = serde_json::from_value(list).ok()?;
            let old = revs.into_iter().find(|r| r.revision == *revision)?;
            let sealed = old.sealed?.0;
            frames[i].set_sealed(&sealed);
            if *relabel {
                frames[i].payload[16..24].copy_from_slice(&old.revision.to_be_bytes());
                frames[i].payload[24..28].copy_from_slice(&old.epoch.to_be_bytes());
            }
        }
        Mode::SwapFields(item) => {
            let i = find_item(&frames, item)?;
            let mut sealed = SealedItem::from_bytes(frames[i].sealed()).ok()?;
            if sealed.fields.len() < 2 {
                return None;
            }
            sealed.fields.swap(0, 1);
            let bytes = sealed.to_bytes().ok()?;
            frames[i].set_sealed(&bytes);
        }
        Mode::DropItem(item) => {
            let i = find_item(&frames, item)?;
            frames.remove(i);
        }
        Mode::DuplicateItem(item) => {
            let i = find_item(&frames, item)?;
            let f = frames[i].clone();
            frames.insert(i + 1, f);
        }
        Mode::EditItemRevision(item, delta) => {
            let i = find_item(&frames, item)?;
            let p = &mut frames[i].payload;
            let r = u64::from_be_bytes(p[16..24].try_into().unwrap());
            p[16..24].copy_from_slice(&add(r, *delta).to_be_bytes());
        }
        Mode::EditItemEpoch(item, delta) => {
            let i = find_item(&frames, item)?;
            let p = &mut frames[i].payload;
            let e = u32::from_be_bytes(p[24..28].try_into().unwrap());
            let e = u32::try_from(add(u64::from(e), *delta)).unwrap_or(0);
            p[24..28].copy_from_slice(&e.to_be_bytes());
        }
        Mode::EditVaultCounter(vault, delta) => {
            let i = find_vault(&frames, vault)?;
            let mut v = frames[i].vault_json()?;
            let c = v["counter"].as_u64()?;
            v["counter"] = serde_json::json!(add(c, *delta));
            frames[i].payload = serde_json::to_vec(&v).ok()?;
        }
    }
    Some(encode_frames(&frames))
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frames = vec![
            Frame {
                kind: FRAME_VAULT,
                payload: br#"{"vault_id":"v"}"#.to_vec(),
            },
            Frame {
                kind: FRAME_ITEM,
                payload: vec![7; ITEM_HEADER + 3],
            },
            Frame {
                kind: FRAME_END,
                payload: br#"{"vaults":1,"items":1}"#.to_vec(),
            },
        ];
        let enc = encode_frames(&frames);
        let back = parse_frames(&enc).unwrap();
        assert_eq!(back[1], frames[1]);
        assert_eq!(back.len(), 3);
        assert!(parse_frames(&enc[..enc.len() - 1]).is_none());
        assert_eq!(uuid_bytes("00112233-4455-6677-8899-aabbccddeeff")[15], 0xff);
        assert_eq!(
            hex(&uuid_bytes("00112233-4455-6677-8899-aabbccddeeff")),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
    }
}
