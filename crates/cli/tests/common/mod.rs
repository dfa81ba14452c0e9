//! Harness of the end-to-end tests: a real `coffer server` process on a temporary data folder and
//! port 0 (killed on drop), and users that each run the real `coffer` binary with their own
//! temporary configuration folder.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

/// The `coffer` binary under test.
pub const COFFER: &str = env!("CARGO_BIN_EXE_coffer");

/// A unique, recognisable string (canary passwords, names).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{:x}{n:x}-{}", t & 0xffff_ffff, std::process::id())
}

/// A server data folder that outlives server processes (for restarts).
pub struct DataDir {
    pub dir: TempDir,
}

impl DataDir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("coffer-e2e-data")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where the server logs of this folder go (outside the data folder itself, beside it).
    pub fn log_path(&self, n: usize) -> PathBuf {
        self.dir.path().with_extension(format!("log{n}"))
    }
}

/// A running server process.
pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub log: PathBuf,
}

static STARTS: AtomicU64 = AtomicU64::new(0);

impl Server {
    /// Starts `coffer server --data-dir DIR --listen 127.0.0.1:0 EXTRA…` and waits for its
    /// startup line.
    pub fn start(data: &DataDir, extra: &[&str]) -> Self {
        let n = STARTS.fetch_add(1, Ordering::Relaxed) as usize;
        let log = data.log_path(n);
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = Command::new(COFFER);
        cmd.arg("server")
            .arg("--data-dir")
            .arg(data.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("COFFER_LOG", "info")
            .env_remove("COFFER_SERVER")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd.spawn().expect("spawn coffer server");
        let mut server = Server {
            child: Some(child),
            url: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&server.log).unwrap_or_default();
            if let Some(pos) = text.find("listening on ") {
                let rest = &text[pos + "listening on ".len()..];
                let url: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                if url.starts_with("http") && rest.contains('\n') {
                    server.url = url;
                    break;
                }
            }
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("server exited early ({status}):\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "server did not start in time:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Stops the server gracefully (SIGTERM) and waits for it.
    pub fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server with SIGKILL (no chance to flush anything).
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What one run of the CLI gave.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Self {
        Run {
            ok: o.status.success(),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn success(self) -> Self {
        assert!(self.ok, "command failed: {self:#?}");
        self
    }

    /// The JSON document on standard output.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }

    /// The error code of a failed run: the `(code)` at the end of its `error: …` line.
    #[track_caller]
    pub fn error_code(&self) -> String {
        assert!(!self.ok, "expected a failure: {self:#?}");
        let line = self
            .stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("no error line: {self:#?}"));
        let open = line.rfind('(').unwrap_or_else(|| panic!("no code: {line}"));
        line[open + 1..line.len() - 1].to_owned()
    }

    /// Asserts failure with `code`.
    #[track_caller]
    pub fn fails_with(self, code: &str) -> Self {
        assert_eq!(self.error_code(), code, "{self:#?}");
        self
    }
}

/// A person with their own profile folder.
pub struct User {
    pub email: String,
    pub password: String,
    pub config: TempDir,
    pub server: String,
}

impl User {
    /// A user of `server` (not signed up yet) with a unique email and canary password.
    pub fn new(server: &Server, name: &str) -> Self {
        Self {
            email: format!("{}@e2e.test", unique(name)),
            password: unique("canary-pw"),
            config: tempfile::Builder::new()
                .prefix("coffer-e2e-profile")
                .tempdir()
                .unwrap(),
            server: server.url.clone(),
        }
    }

    /// Points this user at another server URL (after a restart).
    pub fn set_server(&mut self, server: &Server) {
        self.server = server.url.clone();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(COFFER);
        cmd.args(args)
            .env("COFFER_CONFIG_DIR", self.config.path())
            .env("COFFER_SERVER", &self.server)
            .env("COFFER_TEST_KSF", "floor")
            // never touch a real keychain; no unlock key leaks in from the caller
            .env("COFFER_KEYRING", "file")
            .env_remove("COFFER_SESSION")
            .env_remove("COFFER_PROFILE")
            .env_remove("XDG_CONFIG_HOME");
        cmd
    }

    /// Runs `coffer ARGS` with `stdin` as standard input.
    pub fn run_with(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        Run::from(child.wait_with_output().unwrap())
    }

    /// Runs `coffer ARGS` with empty standard input.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, "")
    }

    /// `coffer --json ARGS`, which must succeed; its JSON.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.run(&all).success().json()
    }

    pub fn signup(&self) -> Value {
        self.run_with(
            &[
                "--json",
                "signup",
                "--email",
                &self.email,
                "--password-stdin",
            ],
            &format!("{}\n", self.password),
        )
        .success()
        .json()
    }

    pub fn login(&self) -> Run {
        self.run_with(
            &[
                "--json",
                "login",
                "--email",
                &self.email,
                "--password-stdin",
            ],
            &format!("{}\n", self.password),
        )
    }

    /// Logs in with a TOTP code computed from `totp`.
    pub fn login_mfa(&self, code: &str) -> Run {
        self.run_with(
            &[
                "--json",
                "login",
                "--email",
                &self.email,
                "--password-stdin",
                "--code-stdin",
            ],
            &format!("{}\n{code}\n", self.password),
        )
    }

    /// Enrols MFA through `coffer --json mfa enable --code-stdin`: reads the URI line, computes
    /// a code, writes it, returns (uri, recovery codes).
    pub fn enable_mfa(&self) -> (String, Vec<String>) {
        let mut child = self
            .command(&["--json", "mfa", "enable", "--code-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = Vec::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            first.push(byte[0]);
        }
        let v: Value = serde_json::from_slice(&first).unwrap_or_else(|e| {
            panic!("bad first line {:?}: {e}", String::from_utf8_lossy(&first))
        });
        let uri = v["otpauth_uri"].as_str().unwrap().to_owned();
        let code = totp_now(&uri);
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{code}").unwrap();
        drop(stdin);
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(child.wait().unwrap().success(), "mfa enable failed: {err}");
        let v: Value = serde_json::from_str(rest.trim()).unwrap();
        let codes = v["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        (uri, codes)
    }
}

/// The current TOTP code of an `otpauth://` URI.
pub fn totp_now(uri: &str) -> String {
    let totp = coffer_crypto::otp::Totp::from_uri(uri).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.code_at(now).unwrap()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

impl Run {
    /// A run from a finished process's output.
    pub fn from_output(o: Output) -> Self {
        Run::from(o)
    }
}

impl User {
    /// Another profile folder of the same account (a second install of the same person).
    pub fn second_install(&self) -> Self {
        Self {
            email: self.email.clone(),
            password: self.password.clone(),
            config: tempfile::Builder::new()
                .prefix("coffer-e2e-profile")
                .tempdir()
                .unwrap(),
            server: self.server.clone(),
        }
    }

    /// Approves this (pending) install from `approver`, a trusted install of the same account:
    /// reads the code this install shows and types it on the approver. The approval's JSON.
    #[track_caller]
    pub fn approve_from(&self, approver: &User) -> Value {
        approver.json(&["device", "approve", "--start"]);
        let code = self.json(&["device", "code"]);
        assert_eq!(code["pending"], true, "{code}");
        let code = code["code"].as_str().unwrap().to_owned();
        approver.json(&["device", "approve", "--code", &code])
    }

    /// Runs `coffer ARGS` with `stdin` and extra environment variables.
    pub fn run_env(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        Run::from(child.wait_with_output().unwrap())
    }
}

/// `owner` invites `u` to workspace `ws` with `role`; `u` accepts.
pub fn join_workspace(owner: &User, u: &User, ws: &str, role: &str) {
    owner
        .run(&["workspace", "invite", ws, &u.email, "--role", role])
        .success();
    u.run(&["workspace", "accept", ws]).success();
}

/// `admin` confirms `u` in `ws` with the fingerprint phrase `u`'s own install shows.
pub fn confirm_member(admin: &User, u: &User, ws: &str) {
    let phrase = u.json(&["fingerprint"])["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    admin
        .run(&[
            "workspace",
            "confirm",
            ws,
            &u.email,
            "--fingerprint",
            &phrase,
        ])
        .success();
}

/// `owner` creates a vault in workspace `ws` holding one login named `item` with a canary
/// password; returns (vault name, password).
pub fn workspace_vault_with_login(owner: &User, ws: &str, item: &str) -> (String, String) {
    let vault = unique("WsVault");
    owner
        .run(&["vault", "create", &vault, "--workspace", ws])
        .success();
    let pw = unique("canary-ws-pw");
    owner
        .run(&[
            "item",
            "create",
            "--vault",
            &vault,
            "--type",
            "login",
            "--name",
            item,
            "--password",
            &pw,
        ])
        .success();
    (vault, pw)
}
