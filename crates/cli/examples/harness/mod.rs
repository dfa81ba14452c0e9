//! What the load harnesses (`sync_load`, `share_load`) share: finding the `coffer` binary,
//! starting a server they own (killed and reaped on drop), and re-running themselves in a
//! private environment (config folder, file keystore, KSF floor). Included with
//! `#[path = "harness/mod.rs"] mod harness;`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `coffer` binary: `$COFFER_BIN`, else beside the example's own profile folder.
pub(crate) fn coffer_bin() -> PathBuf {
    if let Ok(p) = std::env::var("COFFER_BIN") {
        return p.into();
    }
    // target/<profile>/examples/<name> → target/<profile>/coffer
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("coffer")
}

/// A server process this harness started: killed and reaped when dropped.
pub(crate) struct OwnServer(pub(crate) Child);

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `coffer server` on `data` and a free loopback port; returns it and its URL.
pub(crate) fn start_server(data: &Path) -> (OwnServer, String) {
    let log = data.with_extension("log");
    let out = std::fs::File::create(&log).unwrap();
    let child = OwnServer(
        Command::new(coffer_bin())
            .arg("server")
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .env("COFFER_LOG", "warn,coffer_server=info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("run the coffer binary (build it first: see the top of the example)"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(pos) = text.find("listening on ") {
            let rest = &text[pos + "listening on ".len()..];
            if rest.contains('\n') {
                let url: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                return (child, url);
            }
        }
        assert!(Instant::now() < deadline, "server did not start:\n{text}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Unless `mark` is set, re-runs this executable with `mark` set, a private config folder, the
/// file keystore and the KSF floor, and exits with its status. Returns in the re-run.
pub(crate) fn in_private_env(mark: &str) {
    if std::env::var_os(mark).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env(mark, "1")
        .env("COFFER_CONFIG_DIR", dir.path())
        .env("COFFER_KEYRING", "file")
        .env("COFFER_TEST_KSF", "floor")
        .env_remove("COFFER_PROFILE")
        .env_remove("COFFER_SESSION")
        .status()
        .unwrap();
    std::process::exit(status.code().unwrap_or(1));
}
