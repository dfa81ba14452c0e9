//! Attachments (`docs/protocol.md` §16): files encrypted as a stream (§7) under a random file
//! key that the item key wraps; the item's details list `{id, name, size, key}`, so the signed
//! manifest covers the list.
//!
//! - **Add**: the file is read and encrypted on a blocking thread, 64 KiB at a time, into a
//!   bounded channel that is the request body: memory stays constant whatever the file size.
//!   The blob is uploaded first, then the item revision that lists it is written (if that write
//!   fails the blob is deleted again).
//! - **Get**: the answer is decrypted as it arrives into a 0600 temporary file next to the
//!   output, renamed only when the whole stream verified; any fault (altered, dropped,
//!   reordered or truncated chunk) leaves no output file and is *attachment integrity: …*.
//! - **Delete**: the item revision without it is written, then the blob is deleted.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use coffer_crypto::item::{
    ItemLocation, SealedItem, attachment_context, unwrap_file_key, unwrap_item_key, wrap_file_key,
};
use coffer_crypto::stream::{ENCRYPTED_CHUNK_LEN, encrypted_len};
use coffer_crypto::{Context, CryptoError, Envelope, SymmetricKey, decrypt_stream, encrypt_stream};
use coffer_proto::api::B64;
use coffer_proto::vault::ATTACHMENT_CONTENT_TYPE;
use reqwest::Method;
use tokio::sync::mpsc;

use crate::Client;
use crate::cache::{CacheState, CachedVault};
use crate::error::{ClientError, Result};
use crate::model::AttachmentRef;
use crate::net::{Net, transport};
use crate::vaults::{Content, resolve, uuid_of};

/// Chunks in flight between the file thread and the HTTP body.
const CHANNEL_DEPTH: usize = 4;

fn att_integrity(e: impl std::fmt::Display) -> ClientError {
    ClientError::Integrity(format!("attachment integrity: {e}"))
}

/// The item key and location of an item, for wrapping or unwrapping file keys.
fn item_key_of(v: &CachedVault, id: &[u8; 16]) -> Result<(SymmetricKey, ItemLocation)> {
    let it = v.items.get(id).ok_or_else(|| ClientError::NotFound {
        kind: "item",
        name: uuid_of(id).to_string(),
    })?;
    let key = v.keys.get(&it.epoch).ok_or_else(|| {
        ClientError::Integrity(format!("vault integrity: no key for epoch {}", it.epoch))
    })?;
    let loc = ItemLocation {
        workspace: v.workspace_bytes(),
        vault: v.id_bytes(),
        item: *id,
        epoch: it.epoch,
        revision: it.revision,
    };
    let sealed = SealedItem::from_bytes(&it.sealed)?;
    let item_key = unwrap_item_key(key, &sealed.item_key, &loc)
        .map_err(|e| crate::sync::vault_integrity(&e))?;
    Ok((item_key, loc))
}

/// A `Write` that cuts what it receives into ≤ 64 KiB pieces sent over a bounded channel.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= ENCRYPTED_CHUNK_LEN {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(ENCRYPTED_CHUNK_LEN + 128),
        ));
        self.tx
            .blocking_send(Ok(piece))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload stopped"))
    }
}

/// A `Read` that counts the bytes it passes.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A `Read` over pieces received from a channel.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)
}

fn temp_path_for(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "attachment".into());
    out.with_file_name(format!(
        ".{name}.{}.coffer-part",
        uuid::Uuid::new_v4().simple()
    ))
}

impl Client {
    fn find_attachment(
        state: &CacheState,
        vk: [u8; 16],
        id: [u8; 16],
        name: &str,
    ) -> Result<(crate::vaults::Item, AttachmentRef)> {
        let item = Self::item_of(state, vk, id)?;
        let cands: Vec<(String, String, AttachmentRef)> = item
            .data
            .attachments
            .iter()
            .map(|a| (a.id.clone(), a.name.clone(), a.clone()))
            .collect();
        let att = resolve("attachment", name, &cands)?.clone();
        Ok((item, att))
    }

    /// Encrypts and uploads the file at `path`, then lists it in the item (a new revision).
    /// `progress(done, total)` is called with plaintext bytes as the upload goes.
    pub async fn attach_add(
        &mut self,
        item: &str,
        vault: Option<&str>,
        path: &Path,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<AttachmentRef> {
        let meta = std::fs::metadata(path).map_err(|e| ClientError::io(path, e))?;
        if !meta.is_file() {
            return Err(ClientError::Invalid(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let total = meta.len();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| ClientError::Invalid(format!("{} has no file name", path.display())))?;
        let (ctx, mut state) = self.write_state().await?;
        let (vk, id) = Self::find_item(&state, item, vault)?;
        let v = &state.vaults[&vk];
        if !v.role.can_write() {
            return Err(ClientError::Invalid(format!(
                "vault \"{}\" is read-only for you ({})",
                v.record.name, v.role
            )));
        }
        if v.items.get(&id).map(|i| i.epoch) != Some(v.epoch) {
            return Err(ClientError::Invalid(
                "the item is sealed under an older vault key epoch: edit it once first".into(),
            ));
        }
        let (item_key, loc) = item_key_of(v, &id)?;
        let aid = uuid::Uuid::new_v4().to_string();
        let file_key = SymmetricKey::generate()?;
        let sctx = attachment_context(&loc, &aid)?;
        let wrapped = wrap_file_key(&item_key, &loc, &aid, &file_key)?;
        let url = format!(
            "v1/vaults/{}/items/{}/attachments/{aid}",
            v.id,
            uuid_of(&id)
        );

        // Upload: encrypt on a blocking thread into a bounded channel that is the body.
        let file = std::fs::File::open(path).map_err(|e| ClientError::io(path, e))?;
        let count = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = mpsc::channel::<std::io::Result<Bytes>>(CHANNEL_DEPTH);
        let reader = Counting {
            inner: std::io::BufReader::with_capacity(64 * 1024, file),
            count: Arc::clone(&count),
        };
        let worker = tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(ENCRYPTED_CHUNK_LEN + 128),
            };
            let r = encrypt_stream(&file_key, &sctx, reader, &mut w).and_then(|n| {
                w.flush().map_err(|e| CryptoError::Io(e.to_string()))?;
                Ok(n)
            });
            if let Err(e) = &r {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
            r
        });
        let body_stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let body = reqwest::Body::wrap_stream(body_stream);
        let net = Net::of(self)?;
        let enc_len = encrypted_len(total).unwrap_or(0);
        let send = net.send(Method::PUT, &url, |r| {
            r.header(reqwest::header::CONTENT_TYPE, ATTACHMENT_CONTENT_TYPE)
                .header(reqwest::header::CONTENT_LENGTH, enc_len)
                .body(body)
        });
        tokio::pin!(send);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let sent = loop {
            tokio::select! {
                r = &mut send => break r,
                _ = tick.tick() => progress(count.load(Ordering::Relaxed).min(total), total),
            }
        };
        let encrypted = worker
            .await
            .map_err(|e| ClientError::Invalid(format!("attachment encryption stopped: {e}")))?;
        let size = match (sent, encrypted) {
            (Ok(_), Ok(n)) => n,
            (_, Err(e)) => {
                let _ = net.send(Method::DELETE, &url, |r| r).await;
                return Err(ClientError::Invalid(format!(
                    "cannot encrypt {}: {e}",
                    path.display()
                )));
            }
            (Err(e), _) => return Err(e),
        };
        progress(size, total);
        let att = AttachmentRef {
            id: aid,
            name,
            size,
            key: B64(wrapped.into_bytes()),
        };
        // List it in the item (a new revision).
        let mut data = Self::item_of(&state, vk, id)?.data;
        data.attachments.push(att.clone());
        data.updated_at = crate::model::now_unix().max(data.updated_at);
        let fields = data.to_fields()?;
        let label = data.name.clone();
        if let Err(e) = self
            .write_item(&ctx, &mut state, vk, id, Content::Fields(&fields), &label)
            .await
        {
            let _ = net.send(Method::DELETE, &url, |r| r).await;
            return Err(e);
        }
        Ok(att)
    }

    /// The attachments listed by an item.
    pub async fn attach_list(
        &mut self,
        item: &str,
        vault: Option<&str>,
    ) -> Result<Vec<AttachmentRef>> {
        let (_, state) = self.read_state().await?;
        let (vk, id) = Self::find_item(&state, item, vault)?;
        Ok(Self::item_of(&state, vk, id)?.data.attachments.clone())
    }

    /// Downloads and decrypts attachment `name` (its name, id or a unique prefix) to `out` (a
    /// file, or a folder to put it in under its own name). Returns the bytes written.
    pub async fn attach_get(
        &mut self,
        item: &str,
        vault: Option<&str>,
        name: &str,
        out: &Path,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<u64> {
        let (_, state) = self.read_state().await?;
        let (vk, id) = Self::find_item(&state, item, vault)?;
        let (_, att) = Self::find_attachment(&state, vk, id, name)?;
        let v = &state.vaults[&vk];
        let (item_key, loc) = item_key_of(v, &id)?;
        let wrapped = Envelope::from_bytes(&att.key.0).map_err(att_integrity)?;
        let file_key =
            unwrap_file_key(&item_key, &loc, &att.id, &wrapped).map_err(att_integrity)?;
        let sctx: Context = attachment_context(&loc, &att.id)?;
        let out = if out.is_dir() {
            let safe = Path::new(&att.name)
                .file_name()
                .map(|n| n.to_owned())
                .ok_or_else(|| {
                    ClientError::Invalid("the attachment has no usable file name".into())
                })?;
            out.join(safe)
        } else {
            out.to_path_buf()
        };
        let tmp = temp_path_for(&out);
        let file = private_file(&tmp).map_err(|e| ClientError::io(&tmp, e))?;
        let url = format!(
            "v1/vaults/{}/items/{}/attachments/{}",
            v.id,
            uuid_of(&id),
            att.id
        );
        let net = Net::of(self)?;
        let result = async {
            let mut resp = net.send(Method::GET, &url, |r| r).await?;
            let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
            let tmp2 = tmp.clone();
            let worker = tokio::task::spawn_blocking(move || {
                let mut w = std::io::BufWriter::with_capacity(64 * 1024, file);
                let n = decrypt_stream(
                    &file_key,
                    &sctx,
                    ChannelReader {
                        rx,
                        cur: Bytes::new(),
                    },
                    &mut w,
                )?;
                let f = w
                    .into_inner()
                    .map_err(|e| CryptoError::Io(format!("{}: {e}", tmp2.display())))?;
                f.sync_all().map_err(|e| CryptoError::Io(e.to_string()))?;
                Ok::<u64, CryptoError>(n)
            });
            let total = att.size;
            let mut received = 0u64;
            let mut fetch_err = None;
            loop {
                match resp.chunk().await {
                    Ok(Some(b)) => {
                        received += b.len() as u64;
                        progress(
                            (received.saturating_mul(65536) / (ENCRYPTED_CHUNK_LEN as u64))
                                .min(total),
                            total,
                        );
                        if tx.send(b).await.is_err() {
                            break; // the decryptor stopped: its error says why
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        fetch_err = Some(transport(&url, &e));
                        break;
                    }
                }
            }
            drop(tx);
            let dec = worker
                .await
                .map_err(|e| att_integrity(format!("decryption stopped: {e}")))?;
            if let Some(e) = fetch_err {
                return Err(e);
            }
            let n = dec.map_err(att_integrity)?;
            if n != att.size {
                return Err(att_integrity(format!(
                    "size {n} differs from the {} bytes the item lists",
                    att.size
                )));
            }
            progress(n, total);
            Ok(n)
        }
        .await;
        match result {
            Ok(n) => {
                std::fs::rename(&tmp, &out).map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    ClientError::io(&out, e)
                })?;
                Ok(n)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Removes attachment `name` from the item (a new revision), then deletes its blob.
    pub async fn attach_delete(
        &mut self,
        item: &str,
        vault: Option<&str>,
        name: &str,
    ) -> Result<()> {
        let (ctx, mut state) = self.write_state().await?;
        let (vk, id) = Self::find_item(&state, item, vault)?;
        let (item_data, att) = Self::find_attachment(&state, vk, id, name)?;
        let mut data = item_data.data;
        data.attachments.retain(|a| a.id != att.id);
        data.updated_at = crate::model::now_unix().max(data.updated_at);
        let fields = data.to_fields()?;
        let label = data.name.clone();
        self.write_item(&ctx, &mut state, vk, id, Content::Fields(&fields), &label)
            .await?;
        let v = &state.vaults[&vk];
        let url = format!(
            "v1/vaults/{}/items/{}/attachments/{}",
            v.id,
            uuid_of(&id),
            att.id
        );
        match Net::of(self)?.send(Method::DELETE, &url, |r| r).await {
            Ok(_) | Err(ClientError::Api { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
