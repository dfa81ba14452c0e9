//! Encrypts 1 GiB from a generated reader to a sink with `encrypt_stream`, then runs the raw
//! XChaCha20-Poly1305 over the same bytes (same generator, 64 KiB chunks sealed in place), and
//! prints both throughputs and the peak resident set (`VmHWM`), which must stay small: the stream
//! holds one chunk buffer whatever the input size.
//!
//! Run: `cargo run --release -p coffer-crypto --example stream_1gib`.

use std::io::{self, Read};
use std::time::Instant;

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::array::Array;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use coffer_crypto::stream::{CHUNK_SIZE, encrypt_stream, encrypted_len};
use coffer_crypto::{Context, Purpose, SymmetricKey};

const TOTAL: u64 = 1 << 30;
const MIB: f64 = 1024.0 * 1024.0;

/// Yields `remaining` bytes of a cheap repeating pattern, never holding more than a block.
struct Generated {
    remaining: u64,
    block: [u8; 4096],
    offset: usize,
}

impl Generated {
    fn new(len: u64) -> Self {
        let mut block = [0u8; 4096];
        for (i, b) in block.iter_mut().enumerate() {
            *b = (i * 31 % 251) as u8;
        }
        Self {
            remaining: len,
            block,
            offset: 0,
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() && self.remaining > 0 {
            let src = &self.block[self.offset..];
            let take = src
                .len()
                .min(buf.len() - n)
                .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
            buf[n..n + take].copy_from_slice(&src[..take]);
            n += take;
            self.offset = (self.offset + take) % self.block.len();
            self.remaining -= take as u64;
        }
        Ok(n)
    }
}

/// Counts the bytes written and drops them.
struct CountingSink(u64);

impl io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// CPU time this thread has run, in nanoseconds (`/proc/thread-self/schedstat`, first field):
/// unlike wall time, it does not count time spent waiting for a core on a busy machine.
fn cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = SymmetricKey::generate()?;
    let ctx = Context::new(Purpose::Attachment)
        .with_vault([1; 16])
        .with_item([2; 16]);
    let rss_before = peak_rss_kib();

    let start = Instant::now();
    let cpu_start = cpu_ns();
    let mut sink = CountingSink(0);
    let n = encrypt_stream(&key, &ctx, Generated::new(TOTAL), &mut sink)?;
    let stream_secs = start.elapsed().as_secs_f64();
    let stream_cpu = cpu_ns().zip(cpu_start).map(|(b, a)| (b - a) as f64 / 1e9);
    assert_eq!(n, TOTAL);
    assert_eq!(Some(sink.0), encrypted_len(TOTAL));
    let rss_after_stream = peak_rss_kib();

    let cipher = XChaCha20Poly1305::new(&Array::from(*key.expose_secret()));
    let nonce = Array::default();
    let mut buf = vec![0u8; CHUNK_SIZE];
    let mut reader = Generated::new(TOTAL);
    let start = Instant::now();
    let cpu_start = cpu_ns();
    let mut raw_bytes = 0u64;
    loop {
        let got = reader.read(&mut buf)?;
        if got == 0 {
            break;
        }
        let tag = cipher
            .encrypt_inout_detached(&nonce, b"", buf[..got].as_mut().into())
            .map_err(|_| "encrypt")?;
        std::hint::black_box((&buf, tag));
        raw_bytes += got as u64;
    }
    let raw_secs = start.elapsed().as_secs_f64();
    let raw_cpu = cpu_ns().zip(cpu_start).map(|(b, a)| (b - a) as f64 / 1e9);
    assert_eq!(raw_bytes, TOTAL);

    let mib = TOTAL as f64 / MIB;
    let stream_rate = mib / stream_secs;
    let raw_rate = mib / raw_secs;
    println!("encrypt_stream 1 GiB: {stream_secs:.3} s, {stream_rate:.0} MiB/s");
    println!("raw XChaCha20-Poly1305 over the same bytes: {raw_secs:.3} s, {raw_rate:.0} MiB/s");
    println!(
        "stream / raw (wall time): {:.1} %",
        100.0 * stream_rate / raw_rate
    );
    if let (Some(s), Some(r)) = (stream_cpu, raw_cpu) {
        println!(
            "CPU time: stream {s:.3} s ({:.0} MiB/s), raw {r:.3} s ({:.0} MiB/s), stream / raw {:.1} %",
            mib / s,
            mib / r,
            100.0 * r / s
        );
    }
    match (rss_before, rss_after_stream) {
        (Some(before), Some(after)) => println!(
            "peak RSS (VmHWM): {:.1} MiB before, {:.1} MiB after the stream (target < 16 MiB)",
            before as f64 / 1024.0,
            after as f64 / 1024.0
        ),
        _ => println!("peak RSS: /proc/self/status not readable"),
    }
    Ok(())
}
