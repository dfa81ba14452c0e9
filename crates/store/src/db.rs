//! Opening a database from a URL: [`DatabaseUrl`] (parsing, password redaction), the
//! connection pool with its per-engine settings, migrations, and write transactions.
//!
//! This is the only module that knows the two engines apart. Everything else runs the same SQL
//! text on both through `sqlx::Any`:
//! - SQLite: the file (and its folder) is created if missing, `journal_mode=WAL` (persistent),
//!   and on every connection `synchronous=FULL` (an acknowledged commit survives SIGKILL and
//!   power loss), `foreign_keys=ON` and `busy_timeout=30000`. Write transactions start with
//!   `BEGIN IMMEDIATE`, so writers queue on the database lock instead of failing half-way.
//! - PostgreSQL: default `READ COMMITTED`; rows that serialise writers (the audit chain head,
//!   a workspace whose owners are counted) are read with `FOR UPDATE`.

use std::fmt;
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};

use crate::StoreError;

/// The database engine behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (`sqlite://PATH`).
    Sqlite,
    /// A PostgreSQL database (`postgres://…` or `postgresql://…`).
    Postgres,
}

/// A parsed database URL. Its `Display` and `Debug` never show the password.
#[derive(Clone)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What sqlx connects to (for SQLite, with `mode=rwc` added).
    connect: String,
    /// The form safe to print.
    redacted: String,
    /// The password as written in the URL and percent-decoded, to scrub from error text.
    secrets: Vec<String>,
    /// For SQLite: the file path.
    sqlite_path: Option<std::path::PathBuf>,
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH[?mode=…]` or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?…]`
    /// (`postgresql://` too). A relative SQLite path is relative to the working directory;
    /// `sqlite:///abs/path` is absolute. In-memory SQLite is refused (it would lose data).
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let (path, query) = match rest.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (rest, None),
            };
            if path.is_empty() || path == ":memory:" || query.is_some_and(|q| q.contains("memory"))
            {
                return Err(StoreError::Invalid(
                    "SQLite URL needs a file path (in-memory databases are not supported)".into(),
                ));
            }
            let decoded = percent_encoding::percent_decode_str(path)
                .decode_utf8()
                .map_err(|_| StoreError::Invalid("SQLite path is not valid UTF-8".into()))?
                .into_owned();
            let query = match query {
                Some(q) if q.split('&').any(|kv| kv.starts_with("mode=")) => q.to_owned(),
                Some(q) if !q.is_empty() => format!("{q}&mode=rwc"),
                _ => "mode=rwc".to_owned(),
            };
            return Ok(Self {
                backend: Backend::Sqlite,
                connect: format!("sqlite://{path}?{query}"),
                redacted: format!("sqlite://{path}"),
                secrets: Vec::new(),
                sqlite_path: Some(decoded.into()),
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let parsed = url::Url::parse(url)
                .map_err(|e| StoreError::Invalid(format!("bad PostgreSQL URL: {e}")))?;
            let mut secrets = Vec::new();
            let mut shown = parsed.clone();
            if let Some(pw) = parsed.password() {
                secrets.push(pw.to_owned());
                if let Ok(decoded) = percent_encoding::percent_decode_str(pw).decode_utf8() {
                    secrets.push(decoded.into_owned());
                }
                // Cannot fail: the URL has a host, since it has a password.
                let _ = shown.set_password(Some("***"));
            }
            if parsed.query_pairs().any(|(k, _)| k == "password") {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        if k == "password" {
                            secrets.push(v.clone().into_owned());
                            (k.into_owned(), "***".to_owned())
                        } else {
                            (k.into_owned(), v.into_owned())
                        }
                    })
                    .collect();
                shown.query_pairs_mut().clear().extend_pairs(pairs);
            }
            secrets.retain(|s| !s.is_empty());
            return Ok(Self {
                backend: Backend::Postgres,
                connect: url.to_owned(),
                redacted: shown.to_string(),
                secrets,
                sqlite_path: None,
            });
        }
        Err(StoreError::Invalid(
            "unsupported database URL: expected sqlite://PATH or postgres://…".into(),
        ))
    }

    /// Which engine the URL names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Removes the URL's password from an error's text.
    fn scrub(&self, e: StoreError) -> StoreError {
        let clean = |mut s: String| {
            for secret in &self.secrets {
                s = s.replace(secret.as_str(), "***");
            }
            s
        };
        match e {
            StoreError::Conflict(s) => StoreError::Conflict(clean(s)),
            StoreError::Invalid(s) => StoreError::Invalid(clean(s)),
            StoreError::Backend(s) => StoreError::Backend(clean(s)),
            StoreError::NotFound => StoreError::NotFound,
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted)
    }
}

/// Connection settings for [`crate::MainStore::open_with`] and [`crate::ValueStore::open_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections the pool keeps open (default 8).
    pub max_connections: u32,
    /// How long an operation waits for a free connection before failing (default 30 s).
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// A pool on one database, migrated.
#[derive(Clone)]
pub(crate) struct Db {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) url: DatabaseUrl,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The migrations of one store on one engine, and the table that records them.
pub(crate) struct Migrations {
    pub(crate) sqlite: &'static Migrator,
    pub(crate) postgres: &'static Migrator,
    /// Each store records its migrations in its own table, so pointing both URLs at one
    /// database by mistake cannot confuse them.
    pub(crate) table: &'static str,
}

impl Db {
    /// Connects, creates the SQLite file if needed, applies settings and runs migrations.
    pub(crate) async fn open(
        url: &str,
        options: &StoreOptions,
        migrations: &Migrations,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let url = DatabaseUrl::parse(url)?;
        Self::open_parsed(url.clone(), options, migrations)
            .await
            .map_err(|e| url.scrub(e))
    }

    async fn open_parsed(
        url: DatabaseUrl,
        options: &StoreOptions,
        migrations: &Migrations,
    ) -> Result<Self, StoreError> {
        if let Some(path) = &url.sqlite_path
            && let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| StoreError::Backend(format!("cannot create the data folder: {e}")))?;
        }

        // One connection first: switch SQLite to WAL (a persistent, exclusive change) and
        // migrate, before any other connection exists.
        let mut conn = AnyConnection::connect(&url.connect).await?;
        if url.backend == Backend::Sqlite {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
                .fetch_one(&mut conn)
                .await?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Backend(format!(
                    "SQLite refused WAL mode (journal mode is {mode})"
                )));
            }
            sqlite_settings(&mut conn).await?;
        }
        let base = match url.backend {
            Backend::Sqlite => migrations.sqlite,
            Backend::Postgres => migrations.postgres,
        };
        let mut migrator = Migrator::with_migrations(base.iter().cloned().collect());
        migrator.dangerous_set_table_name(migrations.table);
        run_migrations(&migrator, &mut conn)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        conn.close().await?;

        let mut pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout);
        if url.backend == Backend::Sqlite {
            pool = pool.after_connect(|conn, _meta| Box::pin(sqlite_settings(conn)));
        }
        let pool = pool.connect(&url.connect).await?;
        Ok(Self {
            pool,
            backend: url.backend,
            url,
        })
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (takes the write lock now, waiting
    /// up to the busy timeout), plain `BEGIN` on PostgreSQL.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Picks the SQL text for this engine: `sqlite` or `postgres`.
    pub(crate) fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }

    /// Closes every connection (waits for running operations).
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// Runs the migrations on `conn`. Uses `Migrator::run_direct` (public, hidden in sqlx's docs,
/// and there for this reason) rather than `Migrator::run`: the future of `run` is `Send` only
/// for one concrete connection lifetime (sqlx's `Acquire` is "not general enough"), and every
/// caller of `open` would inherit that, so it could not be spawned or awaited in an axum
/// handler. sqlx is pinned by `Cargo.lock`; re-check this call when upgrading it.
async fn run_migrations(
    migrator: &Migrator,
    conn: &mut AnyConnection,
) -> Result<(), sqlx::migrate::MigrateError> {
    migrator.run_direct(None, conn, false).await
}

/// The per-connection SQLite settings.
async fn sqlite_settings(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA synchronous = FULL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA busy_timeout = 30000").await?;
    Ok(())
}

/// The current time in unix seconds.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Refuses text that PostgreSQL cannot store (NUL) or that is empty where a value is required.
pub(crate) fn check_text(field: &str, value: &str, allow_empty: bool) -> Result<(), StoreError> {
    if !allow_empty && value.trim().is_empty() {
        return Err(StoreError::Invalid(format!("{field} must not be empty")));
    }
    if value.contains('\0') {
        return Err(StoreError::Invalid(format!("{field} must not contain NUL")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_password_is_redacted() {
        let u = DatabaseUrl::parse("postgres://coffer:s3cr%21t@db.example:5432/main").unwrap();
        assert_eq!(u.backend(), Backend::Postgres);
        let shown = format!("{u} {u:?}");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains("coffer:***@db.example:5432/main"), "{shown}");
        let e = u.scrub(StoreError::Backend(
            "auth failed for s3cr!t and s3cr%21t".into(),
        ));
        assert_eq!(e, StoreError::Backend("auth failed for *** and ***".into()));
    }

    #[test]
    fn password_in_query_is_redacted() {
        let u = DatabaseUrl::parse("postgresql://h/db?user=a&password=hunter2&sslmode=require")
            .unwrap();
        let shown = u.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
    }

    #[test]
    fn sqlite_urls() {
        let u = DatabaseUrl::parse("sqlite:///var/lib/coffer/main.db").unwrap();
        assert_eq!(u.backend(), Backend::Sqlite);
        assert_eq!(u.connect, "sqlite:///var/lib/coffer/main.db?mode=rwc");
        assert_eq!(
            u.sqlite_path.as_deref(),
            Some(std::path::Path::new("/var/lib/coffer/main.db"))
        );
        let rel = DatabaseUrl::parse("sqlite://data/main.db").unwrap();
        assert_eq!(
            rel.sqlite_path.as_deref(),
            Some(std::path::Path::new("data/main.db"))
        );
        let ro = DatabaseUrl::parse("sqlite://x.db?mode=ro").unwrap();
        assert_eq!(ro.connect, "sqlite://x.db?mode=ro");
    }

    #[test]
    fn bad_urls_are_invalid() {
        for bad in ["sqlite::memory:", "sqlite://", "mysql://x/y", "file.db"] {
            assert!(
                matches!(DatabaseUrl::parse(bad), Err(StoreError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn sqlite_connections_are_durable_and_strict() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/folder/main.db", dir.path().display());
        let db = Db::open(
            &url,
            &StoreOptions::default(),
            &crate::main_store::MIGRATIONS,
        )
        .await
        .unwrap();
        assert!(dir.path().join("sub/folder/main.db").is_file());
        // Several pooled connections at once, each with the settings applied.
        let mut conns = Vec::new();
        for _ in 0..3 {
            conns.push(db.pool.acquire().await.unwrap());
        }
        for conn in &mut conns {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(sync, 2, "synchronous must be FULL");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(fk, 1);
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(busy, 30_000);
        }
    }

    #[test]
    fn text_checks() {
        assert!(check_text("name", "ok", false).is_ok());
        assert!(check_text("name", "  ", false).is_err());
        assert!(check_text("name", "", true).is_ok());
        assert!(check_text("name", "a\0b", true).is_err());
    }
}
