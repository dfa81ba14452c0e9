//! End to end, constant memory: a 1 GiB attachment goes up with `coffer attach add` and comes
//! back with `coffer attach get`, byte for byte (SHA-256 compared streaming), while the peak
//! resident memory (`VmHWM` of `/proc/PID/status`) of the `coffer` client process is sampled
//! every 20 ms: it must stay below 64 MiB in both directions. Prints the peak RSS of client and
//! server and the throughput.
//!
//! Slow (about a minute and 2 GiB of temporary disk): runs only with `COFFER_TEST_BIG=1`
//! (CI sets it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/steps.rs"]
mod steps;

use std::io::{BufWriter, Read as _, Write as _};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{DataDir, Server, User, unique};
use sha2::{Digest as _, Sha256};
use steps::*;

const SIZE: u64 = 1 << 30;
const LIMIT_KIB: u64 = 64 * 1024;

/// `VmHWM` (peak RSS) of a process in KiB, if it is still there.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
}

/// Writes `SIZE` pseudo-random bytes (xorshift) with `canary` every 64 MiB; returns their
/// SHA-256.
fn make_file(path: &Path, canary: &str) -> [u8; 32] {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut hash = Sha256::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 1 << 20];
    let mut written = 0u64;
    while written < SIZE {
        for chunk in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        if written.is_multiple_of(64 << 20) {
            buf[..canary.len()].copy_from_slice(canary.as_bytes());
        }
        hash.update(&buf);
        w.write_all(&buf).unwrap();
        written += buf.len() as u64;
    }
    w.flush().unwrap();
    hash.finalize().into()
}

fn sha256_file(path: &Path) -> [u8; 32] {
    let mut f = std::fs::File::open(path).unwrap();
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    hash.finalize().into()
}

/// Runs `coffer ARGS`, sampling its peak RSS every 20 ms; returns (success, stderr, peak KiB,
/// wall time).
fn run_sampled(u: &User, args: &[&str]) -> (bool, String, u64, Duration) {
    let start = Instant::now();
    let mut child = u
        .command(args)
        .env("COFFER_KEYRING", "file")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(k) = vm_hwm_kib(pid) {
            peak = peak.max(k);
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), err, peak, start.elapsed())
}

#[test]
fn one_gib_attachment_in_constant_memory() {
    if std::env::var("COFFER_TEST_BIG").as_deref() != Ok("1") {
        eprintln!("skipped: set COFFER_TEST_BIG=1 to run the 1 GiB attachment round trip");
        return;
    }
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let user = User::new(&server, "big");
    ready(&user);
    let vault = vault_create(&user, &unique("big-vault"));
    let item = login_item(&user, &vault, &unique("big"), "u", &unique("pw"));

    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.bin");
    let canary = unique("big-attachment-canary");
    let t = Instant::now();
    let want = make_file(&src, &canary);
    eprintln!("generated 1 GiB in {:.1} s", t.elapsed().as_secs_f64());

    let (ok, err, up_peak, up_time) = run_sampled(
        &user,
        &[
            "--json",
            "attach",
            "add",
            &item,
            src.to_str().unwrap(),
            "--vault",
            &vault,
        ],
    );
    assert!(ok, "attach add failed: {err}");
    let server_after_up = vm_hwm_kib(server.pid()).unwrap_or(0);
    // the attachment id, from the item's listing
    let list = cjson(&user, &["attach", "list", &item, "--vault", &vault], "");
    let att = list
        .as_array()
        .and_then(|a| a.first())
        .map(id_of)
        .unwrap_or_else(|| id_of(&list));
    std::fs::remove_file(&src).unwrap(); // disk: keep at most one plaintext copy

    let out = dir.path().join("back.bin");
    let (ok, err, down_peak, down_time) = run_sampled(
        &user,
        &[
            "--json",
            "attach",
            "get",
            &item,
            &att,
            "--vault",
            &vault,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(ok, "attach get failed: {err}");
    let server_peak = vm_hwm_kib(server.pid()).unwrap_or(0);
    assert_eq!(sha256_file(&out), want, "the file came back different");

    let mib = |k: u64| k as f64 / 1024.0;
    let rate = |d: Duration| 1024.0 / d.as_secs_f64();
    eprintln!(
        "attach add: {:.1} s, {:.0} MiB/s, client peak RSS {:.1} MiB",
        up_time.as_secs_f64(),
        rate(up_time),
        mib(up_peak)
    );
    eprintln!(
        "attach get: {:.1} s, {:.0} MiB/s, client peak RSS {:.1} MiB",
        down_time.as_secs_f64(),
        rate(down_time),
        mib(down_peak)
    );
    eprintln!(
        "server peak RSS: {:.1} MiB after upload, {:.1} MiB after download",
        mib(server_after_up),
        mib(server_peak)
    );
    assert!(up_peak > 0 && down_peak > 0, "no RSS samples");
    assert!(
        up_peak < LIMIT_KIB,
        "attach add peaked at {:.1} MiB",
        mib(up_peak)
    );
    assert!(
        down_peak < LIMIT_KIB,
        "attach get peaked at {:.1} MiB",
        mib(down_peak)
    );
}
