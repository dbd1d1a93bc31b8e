//! Reads on the embedded SQLite default, run on the calling thread.
//!
//! sqlx's SQLite driver runs every statement on a worker thread per connection and hands the
//! statement and its rows over channels: two thread wake-ups per query, which cost several times
//! what a primary-key read costs in SQLite itself (see BENCHMARKS.md, issue 10). A read of a row
//! or a page takes microseconds, so it runs here, inline, on a small pool of rusqlite
//! connections with their prepared statements cached.
//!
//! Nothing is cached above SQLite: each statement reads the file as it is (SQLite's WAL index
//! tells a connection at the start of each read whether another connection, or another process,
//! changed the database), so a write by another instance on the same file is seen by the next
//! read. The connections are `query_only`, so this path can never write. They never wait for a
//! lock (busy timeout 0): in WAL mode a reader is only refused in rare moments (a checkpoint
//! restarting the log, recovery), and then [`DirectReads::read`] answers `None` and the caller
//! uses the sqlx pool, whose busy timeout waits on its own thread instead of this one.

use std::{path::PathBuf, sync::Mutex, time::Duration};

use rusqlite::{Connection, ErrorCode, OpenFlags};

/// How many prepared statements each connection keeps (one per distinct read: item, count and
/// page per sort order and search, for a few resources).
const STATEMENTS_PER_CONNECTION: usize = 64;

/// A pool of read-only connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
}

impl DirectReads {
    /// Reads of the SQLite file at `path`, keeping at most `keep` idle connections (at most
    /// one per thread reading at the same moment is ever opened).
    pub(crate) fn new(path: PathBuf, keep: usize) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
        }
    }

    /// Runs `read` on one of the connections. `None` when SQLite refused the read because the
    /// file is momentarily locked: the caller reads through the pool instead.
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Option<rusqlite::Result<T>> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => match self.open() {
                Ok(connection) => connection,
                Err(error) if is_busy(&error) => return None,
                Err(error) => return Some(Err(error)),
            },
        };
        let result = read(&connection);
        if matches!(&result, Err(error) if is_busy(error)) {
            return None;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.keep {
            idle.push(connection);
        }
        Some(result)
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(Duration::ZERO)?;
        connection.pragma_update(None, "query_only", true)?;
        connection.set_prepared_statement_cache_capacity(STATEMENTS_PER_CONNECTION);
        Ok(connection)
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);",
            )
            .unwrap();
        (dir, path)
    }

    fn names(reads: &DirectReads) -> Vec<String> {
        reads
            .read(|c| {
                let mut statement = c.prepare_cached("SELECT name FROM t ORDER BY id")?;
                statement.query_map([], |row| row.get(0))?.collect()
            })
            .expect("not busy")
            .unwrap()
    }

    #[test]
    fn a_write_through_another_connection_is_seen_by_the_next_read() {
        let (_dir, path) = database();
        let reads = DirectReads::new(path.clone(), 2);
        assert!(names(&reads).is_empty());
        let writer = Connection::open(&path).unwrap();
        writer
            .execute("INSERT INTO t (name) VALUES ('Hassan')", [])
            .unwrap();
        assert_eq!(names(&reads), ["Hassan"], "the cached statement reads anew");
        writer
            .execute("UPDATE t SET name = 'Ali' WHERE id = 1", [])
            .unwrap();
        assert_eq!(names(&reads), ["Ali"]);
    }

    #[test]
    fn the_connections_cannot_write() {
        let (_dir, path) = database();
        let reads = DirectReads::new(path, 1);
        let outcome = reads
            .read(|c| c.execute("INSERT INTO t (name) VALUES ('x')", []))
            .expect("not busy");
        assert!(outcome.is_err(), "query_only refuses writes");
        assert!(names(&reads).is_empty());
    }

    #[test]
    fn a_locked_database_sends_the_read_back_to_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollback.db");
        // A rollback-journal database with a writer holding the exclusive lock: the one case
        // in which a reader is refused (a WAL database refuses readers only in brief moments).
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);")
            .unwrap();
        writer
            .execute_batch("BEGIN EXCLUSIVE; INSERT INTO t (name) VALUES ('x');")
            .unwrap();
        let reads = DirectReads::new(path, 1);
        let outcome = reads.read(|c| {
            c.prepare_cached("SELECT COUNT(*) FROM t")?
                .query_row([], |row| row.get::<_, i64>(0))
        });
        assert!(
            outcome.is_none(),
            "busy: the caller falls back, got {outcome:?}"
        );
        writer.execute_batch("COMMIT").unwrap();
        assert_eq!(names(&reads), ["x"]);
    }
}
