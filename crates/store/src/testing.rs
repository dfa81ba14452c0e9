//! Test support (feature `testing`): [`PgCluster`], a throwaway PostgreSQL cluster in a temp
//! folder on a free port, with a fresh database per test.
//!
//! Follows the project's machine notes: as root, the folder is `chown`ed to `postgres` and
//! `initdb`/`pg_ctl` run through `runuser -u postgres --`; otherwise they run directly. The
//! binaries are taken from `$COFFER_PG_BIN`, else `/usr/lib/postgresql/15/bin`. The cluster
//! trusts local connections (no password), listens on 127.0.0.1 only, runs with
//! `fsync=off` (it is thrown away), and is stopped with `pg_ctl -m fast` on drop.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AnyConnection, Connection as _};

/// Why a cluster could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The PostgreSQL server binaries are not installed where expected.
    #[error("PostgreSQL binaries not found in {0} (set COFFER_PG_BIN or install postgresql)")]
    Missing(PathBuf),
    /// A file-system or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A PostgreSQL command failed.
    #[error("{what} failed: {output}")]
    Command {
        /// Which command.
        what: String,
        /// Its stderr and stdout.
        output: String,
    },
    /// Connecting to the cluster or creating a database failed.
    #[error("database: {0}")]
    Database(String),
}

/// A running throwaway PostgreSQL cluster. Stopped and deleted on drop.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    port: u16,
    next_db: AtomicU32,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

fn check(what: &str, out: Output) -> Result<(), ClusterError> {
    if out.status.success() {
        return Ok(());
    }
    Err(ClusterError::Command {
        what: what.to_owned(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ),
    })
}

impl PgCluster {
    /// Creates and starts a cluster (blocking; takes a few seconds).
    pub fn start() -> Result<Self, ClusterError> {
        let bin = std::env::var_os("COFFER_PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
        if !bin.join("initdb").is_file() || !bin.join("pg_ctl").is_file() {
            return Err(ClusterError::Missing(bin));
        }
        let as_postgres = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .map_err(io("cannot tell whether we run as root"))?;
        let dir = tempfile::Builder::new()
            .prefix("coffer-pg-")
            .tempdir()
            .map_err(io("cannot create a temp folder"))?;
        let mut cluster = Self {
            dir,
            bin,
            as_postgres,
            port: 0,
            next_db: AtomicU32::new(0),
        };
        if as_postgres {
            let out = Command::new("chown")
                .arg("postgres")
                .arg(cluster.dir.path())
                .output()
                .map_err(io("cannot run chown"))?;
            check("chown postgres", out)?;
        }
        let data = cluster.data_dir();
        let out = cluster
            .pg_command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ])
            .output()
            .map_err(io("cannot run initdb"))?;
        check("initdb", out)?;

        // The free port may be taken between finding it and binding it: try a few.
        let mut last = None;
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.pg_ctl_start() {
                Ok(()) => return Ok(cluster),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClusterError::Database("could not start".into())))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn pg_ctl_start(&self) -> Result<(), ClusterError> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "start", "-o", &options])
            .output()
            .map_err(io("cannot run pg_ctl"))?;
        check("pg_ctl start", out)
    }

    /// The TCP port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding the cluster and its log (`log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of database `name` (superuser `postgres`, no password).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a new, empty database whose name starts with `prefix` (letters, digits and
    /// `_` are kept, the rest dropped) and returns its URL.
    pub async fn create_database(&self, prefix: &str) -> Result<String, ClusterError> {
        sqlx::any::install_default_drivers();
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let clean: String = prefix
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect::<String>()
            .to_ascii_lowercase();
        let name = format!("t{n}_{clean}");
        let mut conn = AnyConnection::connect(&self.url("postgres"))
            .await
            .map_err(|e| ClusterError::Database(e.to_string()))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .map_err(|e| ClusterError::Database(e.to_string()))?;
        conn.close()
            .await
            .map_err(|e| ClusterError::Database(e.to_string()))?;
        Ok(self.url(&name))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Best effort: nothing useful can be done with a failure here.
        let _ = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "stop"])
            .output();
    }
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("cannot find a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io("cannot find a free port"))?
        .port();
    Ok(port)
}
