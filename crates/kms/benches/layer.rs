//! Cost of the server-side layer: `DataKeyring::seal_value` + `open_value` on a 4 KiB value,
//! against raw AES-256-GCM encrypt + decrypt of the same bytes (cipher built once, and built per
//! call as the envelope does). Run with `cargo bench -p coffer-kms --bench layer`.

use std::error::Error;
use std::hint::black_box;

use aes_gcm::aead::{Aead as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use coffer_kms::{DataKeyring, LocalFileKms};
use divan::counter::BytesCount;
use divan::{Bencher, main as divan_main};

const LEN: usize = 4096;
const POINTER: [u8; 32] = [0x42; 32];

struct Setup {
    _dir: tempfile::TempDir,
    ring: DataKeyring,
    data: Vec<u8>,
}

fn setup() -> Result<Setup, Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let kms = LocalFileKms::open_or_create(dir.path().join("master.key"))?;
    let (ring, _row) = DataKeyring::create(&kms)?;
    Ok(Setup {
        _dir: dir,
        ring,
        data: vec![0x5a; LEN],
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    // Check once that the layer round-trips, so a broken setup fails loudly instead of timing
    // nothing.
    let s = setup()?;
    let sealed = s.ring.seal_value(&POINTER, &s.data)?;
    if s.ring.open_value(&POINTER, &sealed)?.expose_secret() != s.data.as_slice() {
        return Err("layer round trip changed the bytes".into());
    }
    divan_main();
    Ok(())
}

#[divan::bench]
fn layer_seal_open(bencher: Bencher<'_, '_>) {
    let Ok(s) = setup() else { return };
    bencher.counter(BytesCount::new(LEN)).bench_local(|| {
        let sealed = s.ring.seal_value(black_box(&POINTER), black_box(&s.data))?;
        s.ring.open_value(black_box(&POINTER), &sealed)
    });
}

#[divan::bench]
fn raw_aes256gcm(bencher: Bencher<'_, '_>) {
    let data = vec![0x5a_u8; LEN];
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from([7u8; 32]));
    let nonce = Nonce::from([9u8; 12]);
    bencher.counter(BytesCount::new(LEN)).bench_local(|| {
        let ct = cipher.encrypt(black_box(&nonce), black_box(data.as_slice()))?;
        cipher.decrypt(&nonce, ct.as_slice())
    });
}

#[divan::bench]
fn raw_aes256gcm_fresh_cipher(bencher: Bencher<'_, '_>) {
    let data = vec![0x5a_u8; LEN];
    let key = Key::<Aes256Gcm>::from([7u8; 32]);
    let nonce = Nonce::from([9u8; 12]);
    bencher.counter(BytesCount::new(LEN)).bench_local(|| {
        let ct = Aes256Gcm::new(black_box(&key))
            .encrypt(black_box(&nonce), black_box(data.as_slice()))?;
        Aes256Gcm::new(&key).decrypt(&nonce, ct.as_slice())
    });
}
