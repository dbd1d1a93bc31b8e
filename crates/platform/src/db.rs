//! The database every data service owns: SQLite by default, PostgreSQL by URL, one code path.
//!
//! sqlx's `Any` driver runs the same SQL text on both (`$n` placeholders, `RETURNING`,
//! `LIMIT/OFFSET`), so repositories are written once. Only the DDL differs, which is why each
//! service keeps one migration directory per backend and [`Database::migrate`] picks one.
//!
//! A `sqlite:` URL names a file that is created (with its directory) on first start and runs in
//! WAL mode so readers never wait for writers. A `postgres:` URL whose database does not exist
//! yet gets it created, so each service can own a database on a shared server.
//!
//! On a SQLite file, the generic resource's reads (an item, a page, a count) go through
//! [`direct`] instead of the pool: on the calling thread, without sqlx's worker-thread hand-off.
//! Writes, transactions and everything on PostgreSQL use the pool.

mod direct;

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    sync::{Arc, Once},
    time::Duration,
};

use anyhow::{Context as _, bail};
use serde_json::json;
use sqlx::{
    AnyPool, Executor as _,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};

use crate::{
    actuator::{Health, HealthRegistry},
    settings::{FacturaSettings, FromSection, Section, SettingsError},
};

/// `spring.datasource.*`: the database a data service owns and how many connections it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSourceSettings {
    /// `spring.datasource.url`: `sqlite:path` or `postgres://…`, also in Spring's JDBC
    /// spelling (`jdbc:postgresql://host/db`, `jdbc:sqlite:path`). Default: a SQLite file named
    /// after the service under `factura.data-dir` (default `./data`).
    pub url: String,
    /// `spring.datasource.username`, for a URL that names no user.
    pub username: Option<String>,
    /// `spring.datasource.password`, for a URL that carries none.
    pub password: Option<String>,
    /// `spring.datasource.hikari.maximum-pool-size` (default 4 on SQLite, whose connections
    /// are worker threads, and Hikari's 10 on PostgreSQL).
    pub maximum_pool_size: Option<u32>,
}

impl FromSection for DataSourceSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let settings = section.settings();
        let url = match section.get("url") {
            Some(url) => url,
            None => {
                let own: FacturaSettings = settings.bind("factura")?;
                format!("sqlite:{}/{}.db", own.data_dir, settings.application_name())
            }
        };
        Ok(Self {
            url,
            username: section.get("username").filter(|u| !u.is_empty()),
            password: section.get("password"),
            maximum_pool_size: section.parse("hikari.maximum-pool-size")?,
        })
    }
}

impl DataSourceSettings {
    /// Settings for `url` alone (tests, tools).
    pub fn from_url(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            username: None,
            password: None,
            maximum_pool_size: None,
        }
    }

    /// The URL sqlx connects to: JDBC prefixes removed, the username and password added to a
    /// PostgreSQL URL that carries none.
    fn connection_url(&self) -> anyhow::Result<String> {
        let url = self.url.trim();
        let url = url.strip_prefix("jdbc:").unwrap_or(url);
        let url = match url.strip_prefix("postgresql:") {
            // `jdbc:postgresql:db` names a database on localhost.
            Some(rest) if !rest.starts_with("//") => format!("postgres://localhost/{rest}"),
            Some(rest) => format!("postgres:{rest}"),
            None => url.to_owned(),
        };
        if !url.starts_with("postgres:") || (self.username.is_none() && self.password.is_none()) {
            return Ok(url);
        }
        let mut parsed = url::Url::parse(&url)
            .map_err(|e| anyhow::anyhow!("spring.datasource.url is not a URL: {e}"))?;
        if parsed.username().is_empty()
            && let Some(user) = &self.username
        {
            let _ = parsed.set_username(user);
        }
        if parsed.password().is_none()
            && let Some(password) = &self.password
        {
            let _ = parsed.set_password(Some(password));
        }
        Ok(parsed.to_string())
    }
}

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
    /// Reads of a SQLite file on the calling thread; `None` on PostgreSQL and in memory.
    direct: Option<Arc<direct::DirectReads>>,
}

impl Database {
    /// Connects to the configured database, creating it if missing.
    pub async fn connect(settings: &DataSourceSettings) -> anyhow::Result<Self> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let url = settings.connection_url()?;
        let (backend, url, file) = if let Some(path) = url.strip_prefix("sqlite:") {
            (Backend::Sqlite, sqlite_url(path)?, sqlite_file(path))
        } else if url.starts_with("postgres:") {
            ensure_postgres_database(&url).await?;
            (Backend::Postgres, url, None)
        } else {
            bail!("spring.datasource.url must start with sqlite: or postgres:, got `{url}`");
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database URL {}", redact(&url)))?;
        let pool_size = settings.maximum_pool_size.unwrap_or(match backend {
            // Each SQLite connection is a worker thread; more than a few only adds
            // context switches on a small machine (WAL lets readers run in parallel).
            Backend::Sqlite => 4,
            Backend::Postgres => 10,
        });
        let pool = AnyPoolOptions::new()
            .max_connections(pool_size)
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
        // Opened after the pool: the file exists and is in WAL mode by now.
        let direct = file.map(|file| Arc::new(direct::DirectReads::new(file, pool_size as usize)));
        Ok(Self {
            pool,
            backend,
            direct,
        })
    }

    /// Runs `read` on the calling thread when the database is a SQLite file ([`direct`]);
    /// `None` when the caller must read through [`Database::pool`] instead: PostgreSQL, an
    /// in-memory database, or a file momentarily locked.
    pub(crate) fn read_direct<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<Result<T, crate::error::ApiError>> {
        let result = self.direct.as_ref()?.read(read)?;
        Some(result.map_err(|error| {
            crate::error::ApiError::Internal(anyhow::Error::new(error).context("database error"))
        }))
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

/// A service's embedded migrations, one directory per backend; [`migrations!`](crate::migrations)
/// embeds a crate's `migrations/sqlite` and `migrations/postgres`.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// DDL for SQLite.
    pub sqlite: &'static Migrator,
    /// DDL for PostgreSQL.
    pub postgres: &'static Migrator,
}

/// The calling crate's `migrations/sqlite` and `migrations/postgres` directories, embedded at
/// compile time, as a [`Migrations`](crate::db::Migrations).
#[macro_export]
macro_rules! migrations {
    () => {{
        static SQLITE: ::sqlx::migrate::Migrator = ::sqlx::migrate!("migrations/sqlite");
        static POSTGRES: ::sqlx::migrate::Migrator = ::sqlx::migrate!("migrations/postgres");
        $crate::db::Migrations {
            sqlite: &SQLITE,
            postgres: &POSTGRES,
        }
    }};
}

/// Connects to `spring.datasource.url`, applies the migrations and registers the `db` health
/// component: everything a data service does with its database before serving.
pub async fn open(
    context: &crate::app::ServiceContext,
    migrations: Migrations,
) -> anyhow::Result<Database> {
    let settings: DataSourceSettings = context.settings.current().bind("spring.datasource")?;
    let db = Database::connect(&settings).await?;
    db.migrate(migrations.sqlite, migrations.postgres).await?;
    db.migrate_platform().await?;
    db.register_health(&context.health);
    tracing::info!(database = %redact(&settings.url), "database ready");
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

/// The file a `sqlite:` URL names, when it names one that other connections can open: not an
/// in-memory database (private to each connection) nor a URI with options of its own.
fn sqlite_file(path: &str) -> Option<PathBuf> {
    let path = path.trim_start_matches("//");
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    let special = file.is_empty()
        || file == ":memory:"
        || file.starts_with("file:")
        || query.split('&').any(|option| {
            option.starts_with("mode=") && option != "mode=rwc" && option != "mode=rw"
                || option.starts_with("vfs=")
        });
    (!special).then(|| PathBuf::from(file))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn bound(pairs: &[(&str, &str)]) -> DataSourceSettings {
        Settings::from_pairs(pairs)
            .bind("spring.datasource")
            .unwrap()
    }

    #[test]
    fn the_default_is_a_sqlite_file_named_after_the_service() {
        let settings = bound(&[
            ("spring.application.name", "customer-service"),
            ("factura.data-dir", "/var/lib/factura"),
        ]);
        assert_eq!(settings.url, "sqlite:/var/lib/factura/customer-service.db");
        assert_eq!(settings.maximum_pool_size, None);
    }

    #[test]
    fn spring_jdbc_urls_and_separate_credentials_are_understood() {
        let settings = bound(&[
            (
                "spring.datasource.url",
                "jdbc:postgresql://db:5432/customers",
            ),
            ("spring.datasource.username", "app"),
            ("spring.datasource.password", "s3cret"),
            ("spring.datasource.hikari.maximum-pool-size", "20"),
        ]);
        assert_eq!(
            settings.connection_url().unwrap(),
            "postgres://app:s3cret@db:5432/customers"
        );
        assert_eq!(settings.maximum_pool_size, Some(20));
        let local = DataSourceSettings::from_url("jdbc:postgresql:customers");
        assert_eq!(
            local.connection_url().unwrap(),
            "postgres://localhost/customers"
        );
        let sqlite = DataSourceSettings::from_url("jdbc:sqlite:data/x.db");
        assert_eq!(sqlite.connection_url().unwrap(), "sqlite:data/x.db");
    }

    #[test]
    fn credentials_in_the_url_win_over_separate_ones() {
        let settings = DataSourceSettings {
            username: Some("other".into()),
            password: Some("other".into()),
            ..DataSourceSettings::from_url("postgres://app:pw@db/customers")
        };
        assert_eq!(
            settings.connection_url().unwrap(),
            "postgres://app:pw@db/customers"
        );
    }

    #[test]
    fn a_bad_pool_size_names_the_key() {
        let error = Settings::from_pairs(&[("spring.datasource.hikari.maximum-pool-size", "many")])
            .bind::<DataSourceSettings>("spring.datasource")
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("spring.datasource.hikari.maximum-pool-size"),
            "{error}"
        );
    }
}
