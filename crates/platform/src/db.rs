//! The database every data service owns: SQLite by default, PostgreSQL by URL, one code path.
//!
//! sqlx's `Any` driver runs the same SQL text on both (`$n` placeholders, `RETURNING`,
//! `LIMIT/OFFSET`), so repositories are written once. Only the DDL differs, which is why each
//! service keeps one migration directory per backend and [`Database::migrate`] picks one.
//!
//! A `sqlite:` URL names a file that is created (with its directory) on first start and runs in
//! WAL mode so readers never wait for writers. A `postgres:` URL whose database does not exist
//! yet gets it created, so each service can own a database on a shared server.

use std::{path::Path, str::FromStr, sync::Once, time::Duration};

use anyhow::{Context as _, bail};
use serde_json::json;
use sqlx::{
    AnyPool, Executor as _,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};

use crate::actuator::{Health, HealthRegistry};

/// Which engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The product name Spring's health endpoint reports.
    pub fn product(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// A pool of connections to the service's own database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Connects to `url` (`sqlite:path` or `postgres://…`), creating the database if missing.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite:") {
            (Backend::Sqlite, sqlite_url(path)?)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            ensure_postgres_database(url).await?;
            (Backend::Postgres, url.to_owned())
        } else {
            bail!("spring.datasource.url must start with sqlite: or postgres:, got `{url}`");
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database URL {}", redact(&url)))?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                // Each SQLite connection is a worker thread; more than a few only adds
                // context switches on a small machine (WAL lets readers run in parallel).
                Backend::Sqlite => 4,
                Backend::Postgres => 10,
            })
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot connect to {}", redact(&url)))?;
        Ok(Self { pool, backend })
    }

    /// Applies the migrations for this backend.
    pub async fn migrate(&self, sqlite: &Migrator, postgres: &Migrator) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        };
        migrator
            .run(&self.pool)
            .await
            .context("applying migrations")?;
        Ok(())
    }

    /// Applies the platform's own tables (idempotency keys), tracked in `_platform_migrations`
    /// so that they never mix with the service's migration history.
    pub async fn migrate_platform(&self) -> anyhow::Result<()> {
        let mut migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator.dangerous_set_table_name("_platform_migrations");
        migrator
            .run(&self.pool)
            .await
            .context("applying the platform's migrations")?;
        Ok(())
    }

    /// A transaction that writes: on SQLite it takes the write lock at `BEGIN` (`BEGIN
    /// IMMEDIATE`), so concurrent writers queue on the busy timeout instead of failing when a
    /// read-then-write transaction cannot upgrade its lock; on PostgreSQL a plain `BEGIN`.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The engine behind the pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Registers the `db` health component: a `SELECT 1` round trip.
    pub fn register_health(&self, registry: &HealthRegistry) {
        let db = self.clone();
        registry.register("db", move || {
            let db = db.clone();
            async move {
                let product = db.backend.product();
                match sqlx::query("SELECT 1").execute(&db.pool).await {
                    Ok(_) => {
                        Health::up(json!({ "database": product, "validationQuery": "isValid()" }))
                    }
                    Err(e) => Health::down(json!({ "database": product, "error": e.to_string() })),
                }
            }
        });
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A service's embedded migrations, one directory per backend.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// DDL for SQLite.
    pub sqlite: &'static Migrator,
    /// DDL for PostgreSQL.
    pub postgres: &'static Migrator,
}

/// Connects to `spring.datasource.url`, applies the migrations and registers the `db` health
/// component: everything a data service does with its database before serving.
pub async fn open(
    context: &crate::app::ServiceContext,
    migrations: Migrations,
) -> anyhow::Result<Database> {
    let url = context.settings.current().datasource_url();
    let db = Database::connect(&url).await?;
    db.migrate(migrations.sqlite, migrations.postgres).await?;
    db.migrate_platform().await?;
    db.register_health(&context.health);
    tracing::info!(database = %redact(&url), "database ready");
    Ok(db)
}

/// Makes sure the SQLite file's directory exists and asks sqlx to create the file.
fn sqlite_url(path: &str) -> anyhow::Result<String> {
    let path = path.trim_start_matches("//");
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    if file.is_empty() {
        bail!("sqlite: URL names no file");
    }
    if file != ":memory:"
        && let Some(parent) = Path::new(file)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating data directory {}", parent.display()))?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite:{file}?{query}"))
}

/// Creates the database named in a PostgreSQL URL when the server lacks it.
async fn ensure_postgres_database(url: &str) -> anyhow::Result<()> {
    let parsed =
        url::Url::parse(url).with_context(|| format!("invalid database URL {}", redact(url)))?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    if name.is_empty() || name == "postgres" {
        return Ok(());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("database name `{name}` may only contain letters, digits, `_` and `-`");
    }
    let mut admin = parsed.clone();
    admin.set_path("/postgres");
    let options = AnyConnectOptions::from_str(admin.as_str())?;
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to {}", redact(admin.as_str())))?;
    let exists = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&pool)
        .await?
        .is_some();
    if !exists {
        let create = format!("CREATE DATABASE \"{name}\"");
        if let Err(error) = sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&pool)
            .await
        {
            // Another instance may have created it a moment ago.
            let raced = matches!(&error, sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("42P04") | Some("23505")));
            if !raced {
                return Err(error).context(format!("creating database {name}"));
            }
        }
    }
    pool.close().await;
    Ok(())
}

/// The URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
