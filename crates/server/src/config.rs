//! Server configuration: command-line flags, `COFFER_*` environment variables and an optional
//! TOML file, merged with the precedence **flags > environment > file > defaults**.
//!
//! [`ServerArgs`] is what clap parses; [`Config::resolve`] merges it with an environment (a
//! lookup function, so tests need not touch the process environment) and the file named by
//! `--config` / `COFFER_CONFIG`. The resolved [`Config`] is plain data; its `Debug` redacts
//! database passwords.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::ServerError;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8700";
/// Default session lifetime: 12 hours.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Default data-key rotation period: 30 days.
pub const DEFAULT_DATA_KEY_ROTATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Largest accepted request body (1 MiB); larger bodies get `413`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default number of revisions kept per item.
pub const DEFAULT_REVISIONS_KEPT: u32 = 50;
/// Default retention of acknowledged device grants: 30 days.
pub const DEFAULT_GRANT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default largest attachment: 4 GiB.
pub const DEFAULT_MAX_ATTACHMENT_SIZE: u64 = 4 << 30;

/// Flags of `coffer server`. Every flag is optional: what is not given comes from the
/// environment, then the config file, then the defaults.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// TOML config file [env: COFFER_CONFIG].
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Data folder (SQLite stores, KMS key file) [env: COFFER_DATA_DIR; default: the XDG data
    /// folder, `$XDG_DATA_HOME/coffer` or `~/.local/share/coffer`].
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [env: COFFER_LISTEN; default: 127.0.0.1:8700]. Port 0 picks a
    /// free port; the startup line names the real one.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Main store URL, `sqlite://…` or `postgres://…` [env: COFFER_DATABASE_URL; default:
    /// `main.db` in the data folder].
    #[arg(long, value_name = "URL", global = true)]
    pub database_url: Option<String>,
    /// Value store URL [env: COFFER_VALUE_STORE_URL; default: `values.db` in the data folder].
    #[arg(long, value_name = "URL", global = true)]
    pub value_store_url: Option<String>,
    /// TLS certificate chain, PEM [env: COFFER_TLS_CERT].
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key, PEM [env: COFFER_TLS_KEY].
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address [env: COFFER_INSECURE_HTTP].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub insecure_http: Option<bool>,
    /// Session lifetime, e.g. `12h`, `30m`, `90s` or plain seconds [env: COFFER_SESSION_TTL;
    /// default: 12h].
    #[arg(long, value_name = "DURATION")]
    pub session_ttl: Option<String>,
    /// Server data-key rotation period, e.g. `30d`; `off` disables the background job [env:
    /// COFFER_DATA_KEY_ROTATION; default: 30d].
    #[arg(long, value_name = "DURATION", global = true)]
    pub data_key_rotation: Option<String>,
    /// Log format: `text` or `json` [env: COFFER_LOG_FORMAT; default: text]. The level comes
    /// from `COFFER_LOG` (`info` by default).
    #[arg(long, value_name = "FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Revisions kept per item; older ones are deleted at the next write [env:
    /// COFFER_REVISIONS_KEPT; default: 50; at least 1].
    #[arg(long, value_name = "N")]
    pub revisions_kept: Option<u32>,
    /// Largest attachment accepted, in bytes or with a `K`, `M`, `G` suffix (powers of 1024)
    /// [env: COFFER_MAX_ATTACHMENT_SIZE; default: 4G]. Larger uploads get `413`.
    #[arg(long, value_name = "SIZE")]
    pub max_attachment_size: Option<String>,
    /// How long a device grant stays on the server after its device acknowledged it, e.g.
    /// `30d` (protocol.md §18.3a) [env: COFFER_GRANT_RETENTION; default: 30d].
    #[arg(long, value_name = "DURATION")]
    pub grant_retention: Option<String>,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The optional TOML file: the same keys as the flags, in snake case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    value_store_url: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    insecure_http: Option<bool>,
    session_ttl: Option<String>,
    data_key_rotation: Option<String>,
    log_format: Option<LogFormat>,
    revisions_kept: Option<u32>,
    max_attachment_size: Option<String>,
    grant_retention: Option<String>,
}

/// A database URL whose `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl(String);

impl DbUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The full URL, password included: only for the store, never for a log line.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                // set_password only fails on URLs that cannot carry one, checked above.
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(_) => self.0.clone(),
            Err(_) => "<unparsable url>".to_owned(),
        }
    }

    /// True for a `postgres://` or `postgresql://` URL.
    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({})", self.redacted())
    }
}

/// TLS certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data folder.
    pub data_dir: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Main store URL.
    pub database_url: DbUrl,
    /// Value store URL.
    pub value_store_url: DbUrl,
    /// TLS files, when serving HTTPS.
    pub tls: Option<TlsFiles>,
    /// Plain HTTP allowed on a non-loopback address.
    pub insecure_http: bool,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// Data-key rotation period; `None` turns the background job off.
    pub data_key_rotation: Option<Duration>,
    /// Log format.
    pub log_format: LogFormat,
    /// Revisions kept per item (at least 1).
    pub revisions_kept: u32,
    /// Largest attachment accepted, in bytes.
    pub max_attachment_size: u64,
    /// Retention of acknowledged device grants.
    pub grant_retention: Duration,
}

impl Config {
    /// Merges `args` with the environment read through `env` and the config file (from
    /// `--config` or `COFFER_CONFIG`): flags > environment > file > defaults.
    pub fn resolve(
        args: &ServerArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ServerError> {
        let env_s = |k: &str| env(k).filter(|v| !v.is_empty());
        let config_path = args
            .config
            .clone()
            .or_else(|| env_s("COFFER_CONFIG").map(PathBuf::from));
        let file = match config_path {
            Some(p) => read_file_config(&p)?,
            None => FileConfig::default(),
        };

        let data_dir = match args
            .data_dir
            .clone()
            .or_else(|| env_s("COFFER_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
        {
            Some(d) => d,
            None => default_data_dir(env)?,
        };
        let listen = match args.listen {
            Some(a) => a,
            None => match env_s("COFFER_LISTEN") {
                Some(v) => v
                    .parse()
                    .map_err(|_| config_err(format!("COFFER_LISTEN: not an address: {v}")))?,
                None => match file.listen {
                    Some(a) => a,
                    None => DEFAULT_LISTEN
                        .parse()
                        .map_err(|_| config_err("default listen address"))?,
                },
            },
        };
        let database_url = args
            .database_url
            .clone()
            .or_else(|| env_s("COFFER_DATABASE_URL"))
            .or(file.database_url)
            .map(DbUrl::new)
            .unwrap_or_else(|| sqlite_url(&data_dir.join("main.db")));
        let value_store_url = args
            .value_store_url
            .clone()
            .or_else(|| env_s("COFFER_VALUE_STORE_URL"))
            .or(file.value_store_url)
            .map(DbUrl::new)
            .unwrap_or_else(|| sqlite_url(&data_dir.join("values.db")));
        let tls_cert = args
            .tls_cert
            .clone()
            .or_else(|| env_s("COFFER_TLS_CERT").map(PathBuf::from))
            .or(file.tls_cert);
        let tls_key = args
            .tls_key
            .clone()
            .or_else(|| env_s("COFFER_TLS_KEY").map(PathBuf::from))
            .or(file.tls_key);
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => return Err(config_err("--tls-cert and --tls-key go together")),
        };
        let insecure_http = match args.insecure_http {
            Some(b) => b,
            None => match env_s("COFFER_INSECURE_HTTP") {
                Some(v) => parse_bool(&v).ok_or_else(|| {
                    config_err(format!("COFFER_INSECURE_HTTP: not a boolean: {v}"))
                })?,
                None => file.insecure_http.unwrap_or(false),
            },
        };
        let session_ttl = match args
            .session_ttl
            .clone()
            .or_else(|| env_s("COFFER_SESSION_TTL"))
            .or(file.session_ttl)
        {
            Some(v) => parse_duration(&v)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| config_err(format!("session ttl: not a duration: {v}")))?,
            None => DEFAULT_SESSION_TTL,
        };
        let data_key_rotation = match args
            .data_key_rotation
            .clone()
            .or_else(|| env_s("COFFER_DATA_KEY_ROTATION"))
            .or(file.data_key_rotation)
        {
            Some(v) if v == "off" || v == "0" => None,
            Some(v) => Some(
                parse_duration(&v)
                    .ok_or_else(|| config_err(format!("data key rotation: not a duration: {v}")))?,
            ),
            None => Some(DEFAULT_DATA_KEY_ROTATION),
        };
        let log_format = match args.log_format {
            Some(f) => f,
            None => match env_s("COFFER_LOG_FORMAT").as_deref() {
                Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(v) => return Err(config_err(format!("COFFER_LOG_FORMAT: {v}"))),
                None => file.log_format.unwrap_or_default(),
            },
        };
        let revisions_kept = match args.revisions_kept {
            Some(n) => n,
            None => match env_s("COFFER_REVISIONS_KEPT") {
                Some(v) => v
                    .parse()
                    .map_err(|_| config_err(format!("COFFER_REVISIONS_KEPT: not a number: {v}")))?,
                None => file.revisions_kept.unwrap_or(DEFAULT_REVISIONS_KEPT),
            },
        };
        if revisions_kept == 0 {
            return Err(config_err("revisions kept: at least 1"));
        }
        let max_attachment_size = match args
            .max_attachment_size
            .clone()
            .or_else(|| env_s("COFFER_MAX_ATTACHMENT_SIZE"))
            .or(file.max_attachment_size)
        {
            Some(v) => parse_size(&v)
                .filter(|n| *n > 0)
                .ok_or_else(|| config_err(format!("max attachment size: not a size: {v}")))?,
            None => DEFAULT_MAX_ATTACHMENT_SIZE,
        };
        let grant_retention = match args
            .grant_retention
            .clone()
            .or_else(|| env_s("COFFER_GRANT_RETENTION"))
            .or(file.grant_retention)
        {
            Some(v) => parse_duration(&v)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| config_err(format!("grant retention: not a duration: {v}")))?,
            None => DEFAULT_GRANT_RETENTION,
        };
        Ok(Self {
            data_dir,
            listen,
            database_url,
            value_store_url,
            tls,
            insecure_http,
            session_ttl,
            data_key_rotation,
            log_format,
            revisions_kept,
            max_attachment_size,
            grant_retention,
        })
    }

    /// Path of the local KMS master-key file.
    pub fn kms_key_path(&self) -> PathBuf {
        self.data_dir.join("kms.key")
    }

    /// True when both stores are SQLite files (the data folder is then created).
    pub fn uses_sqlite(&self) -> bool {
        !self.database_url.is_postgres() || !self.value_store_url.is_postgres()
    }
}

fn config_err(msg: impl Into<String>) -> ServerError {
    ServerError::Config(msg.into())
}

fn read_file_config(path: &Path) -> Result<FileConfig, ServerError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| config_err(format!("config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| config_err(format!("config file {}: {e}", path.display())))
}

fn default_data_dir(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, ServerError> {
    if let Some(x) = env("XDG_DATA_HOME").filter(|v| v.starts_with('/')) {
        return Ok(PathBuf::from(x).join("coffer"));
    }
    match env("HOME").filter(|v| !v.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/coffer")),
        None => Err(config_err(
            "no data folder: set --data-dir, COFFER_DATA_DIR, XDG_DATA_HOME or HOME",
        )),
    }
}

fn sqlite_url(path: &Path) -> DbUrl {
    DbUrl::new(format!("sqlite://{}", path.display()))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Parses a byte size: `1048576`, `512K`, `10M`, `4G` (suffixes are powers of 1024; `KiB`,
/// `MiB`, `GiB` and a trailing `B` are accepted too).
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Parses `90`, `90s`, `30m`, `12h`, `30d`, `2w` into a duration.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServerArgs,
    }

    fn args(a: &[&str]) -> ServerArgs {
        Cli::parse_from(std::iter::once("server").chain(a.iter().copied())).args
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn defaults_use_xdg_data_dir() {
        let c = Config::resolve(&args(&[]), &env_of(&[("HOME", "/home/u")])).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/home/u/.local/share/coffer"));
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(
            c.database_url.expose(),
            "sqlite:///home/u/.local/share/coffer/main.db"
        );
        assert_eq!(
            c.value_store_url.expose(),
            "sqlite:///home/u/.local/share/coffer/values.db"
        );
        assert_eq!(c.session_ttl, DEFAULT_SESSION_TTL);
        assert_eq!(c.data_key_rotation, Some(DEFAULT_DATA_KEY_ROTATION));
        assert!(!c.insecure_http);
        assert!(c.tls.is_none());

        let c = Config::resolve(
            &args(&[]),
            &env_of(&[("HOME", "/home/u"), ("XDG_DATA_HOME", "/x")]),
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/x/coffer"));
    }

    #[test]
    fn precedence_flags_env_file_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1111\"\nsession_ttl = \"1h\"\ndata_dir = \"/file\"\n\
             log_format = \"json\"\ninsecure_http = true\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();

        // file over defaults
        let c = Config::resolve(&args(&["--config", f]), &env_of(&[])).unwrap();
        assert_eq!(c.listen.port(), 1111);
        assert_eq!(c.session_ttl, Duration::from_secs(3600));
        assert_eq!(c.data_dir, PathBuf::from("/file"));
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(c.insecure_http);

        // env over file (config file named by env too)
        let e = env_of(&[
            ("COFFER_CONFIG", f),
            ("COFFER_LISTEN", "127.0.0.1:2222"),
            ("COFFER_SESSION_TTL", "5"),
            ("COFFER_INSECURE_HTTP", "false"),
        ]);
        let c = Config::resolve(&args(&[]), &e).unwrap();
        assert_eq!(c.listen.port(), 2222);
        assert_eq!(c.session_ttl, Duration::from_secs(5));
        assert_eq!(c.data_dir, PathBuf::from("/file"));
        assert!(!c.insecure_http);

        // flags over env
        let c = Config::resolve(
            &args(&[
                "--listen",
                "127.0.0.1:3333",
                "--session-ttl",
                "2s",
                "--data-dir",
                "/flag",
                "--insecure-http",
            ]),
            &e,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 3333);
        assert_eq!(c.session_ttl, Duration::from_secs(2));
        assert_eq!(c.data_dir, PathBuf::from("/flag"));
        assert!(c.insecure_http);
    }

    #[test]
    fn debug_redacts_database_password() {
        let c = Config::resolve(
            &args(&["--database-url", "postgres://coffer:hunter2@db:5432/coffer"]),
            &env_of(&[("HOME", "/h")]),
        )
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(
            dbg.contains("postgres://coffer:***@db:5432/coffer"),
            "{dbg}"
        );
        assert!(c.database_url.is_postgres());
    }

    #[test]
    fn bad_values_are_refused() {
        let e = env_of(&[("HOME", "/h")]);
        assert!(Config::resolve(&args(&["--session-ttl", "soon"]), &e).is_err());
        assert!(Config::resolve(&args(&["--tls-cert", "/c.pem"]), &e).is_err());
        assert!(Config::resolve(&args(&[]), &env_of(&[])).is_err());
        let c = Config::resolve(&args(&["--data-key-rotation", "off"]), &e).unwrap();
        assert_eq!(c.data_key_rotation, None);
        assert!(Config::resolve(&args(&["--revisions-kept", "0"]), &e).is_err());
        assert!(Config::resolve(&args(&["--max-attachment-size", "lots"]), &e).is_err());
    }

    #[test]
    fn vault_options() {
        let e = env_of(&[("HOME", "/h")]);
        let c = Config::resolve(&args(&[]), &e).unwrap();
        assert_eq!(c.revisions_kept, DEFAULT_REVISIONS_KEPT);
        assert_eq!(c.max_attachment_size, 4 << 30);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "revisions_kept = 7\nmax_attachment_size = \"10M\"\n").unwrap();
        let f = file.to_str().unwrap();
        let c = Config::resolve(&args(&["--config", f]), &e).unwrap();
        assert_eq!((c.revisions_kept, c.max_attachment_size), (7, 10 << 20));
        let e2 = env_of(&[
            ("HOME", "/h"),
            ("COFFER_REVISIONS_KEPT", "3"),
            ("COFFER_MAX_ATTACHMENT_SIZE", "512K"),
        ]);
        let c = Config::resolve(&args(&["--config", f]), &e2).unwrap();
        assert_eq!((c.revisions_kept, c.max_attachment_size), (3, 512 << 10));
        let c = Config::resolve(
            &args(&["--revisions-kept", "2", "--max-attachment-size", "1G"]),
            &e2,
        )
        .unwrap();
        assert_eq!((c.revisions_kept, c.max_attachment_size), (2, 1 << 30));
        assert_eq!(parse_size("4GiB"), Some(4 << 30));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("1T"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(2_592_000)));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5x"), None);
    }
}
