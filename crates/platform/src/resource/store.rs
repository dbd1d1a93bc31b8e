//! SQL for the generic resource, one statement per operation, the same text on SQLite and
//! PostgreSQL. Table and column names come only from the static spec; every value is bound.
//!
//! Writes are single statements so they are atomic on both engines: an update bumps `version`
//! in the same statement that checks it (`WHERE id = $n AND version = $m`), so two concurrent
//! writers with the same `If-Match` cannot both win, and no update is lost silently.

use sqlx::{
    Any, AssertSqlSafe, Row as _,
    any::{AnyArguments, AnyRow},
    query::Query,
};

use super::{Kind, Matching, Record, Resource, ResourceSpec, Value, query::PageRequest};
use crate::{
    db::Backend,
    error::ApiError,
    money::{Money, Rate},
};

type AnyQuery<'q> = Query<'q, Any, AnyArguments>;

/// A search condition: one field compared with one value.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Column compared (from the spec).
    pub column: &'static str,
    /// The field's kind, to bind the value with the right type.
    pub kind: Kind,
    /// How it compares.
    pub matching: Matching,
    /// The value compared with.
    pub value: Value,
}

/// What an update or delete found.
#[derive(Debug)]
pub enum WriteOutcome {
    /// Done; the record as it is now (or was, for a delete).
    Done(Record),
    /// No row with that id.
    NotFound,
    /// The row's version differs from the expected one; carries the current version.
    VersionMismatch(i64),
}

fn select_list(spec: &ResourceSpec) -> String {
    let mut columns = String::from("id, version");
    for field in spec.fields {
        columns.push_str(", ");
        columns.push_str(field.column);
    }
    columns
}

fn bind<'q>(query: AnyQuery<'q>, kind: Kind, value: &Value) -> AnyQuery<'q> {
    match (kind, value) {
        (_, Value::Text(s)) => query.bind(s.clone()),
        (_, Value::Integer(i) | Value::Timestamp(i)) => query.bind(*i),
        (_, Value::Money(m)) => query.bind(m.cents()),
        (_, Value::Rate(r)) => query.bind(r.units()),
        (Kind::Text { .. } | Kind::Email, Value::Null) => query.bind(None::<String>),
        (_, Value::Null) => query.bind(None::<i64>),
    }
}

/// A result row of either access path: sqlx's (the pool) or rusqlite's (SQLite reads on the
/// calling thread, [`crate::db`]), decoded by the one [`decode`].
trait Columns {
    type Error;
    fn integer(&self, index: usize) -> Result<Option<i64>, Self::Error>;
    fn text(&self, index: usize) -> Result<Option<String>, Self::Error>;
}

impl Columns for AnyRow {
    type Error = sqlx::Error;
    fn integer(&self, index: usize) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(index)
    }
    fn text(&self, index: usize) -> Result<Option<String>, sqlx::Error> {
        self.try_get(index)
    }
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn integer(&self, index: usize) -> Result<Option<i64>, rusqlite::Error> {
        self.get(index)
    }
    fn text(&self, index: usize) -> Result<Option<String>, rusqlite::Error> {
        self.get(index)
    }
}

fn decode<R: Columns>(spec: &ResourceSpec, row: &R) -> Result<Record, R::Error> {
    let id = row.integer(0)?.unwrap_or_default();
    let version = row.integer(1)?.unwrap_or_default();
    let mut values = Vec::with_capacity(spec.fields.len());
    for (i, field) in spec.fields.iter().enumerate() {
        let index = i + 2;
        let value = match field.kind {
            Kind::Text { .. } | Kind::Email => row.text(index)?.map_or(Value::Null, Value::Text),
            Kind::Integer { .. } | Kind::Reference { .. } => {
                row.integer(index)?.map_or(Value::Null, Value::Integer)
            }
            Kind::Money { .. } => row
                .integer(index)?
                .map_or(Value::Null, |c| Value::Money(Money::from_cents(c))),
            Kind::Rate { .. } => row
                .integer(index)?
                .map_or(Value::Null, |u| Value::Rate(Rate::from_units(u))),
            Kind::Timestamp => row.integer(index)?.map_or(Value::Null, Value::Timestamp),
        };
        values.push(value);
    }
    Ok(Record {
        id,
        version,
        values,
    })
}

/// A filter's value as rusqlite binds it (the direct read path's twin of [`bind_filter`]).
fn direct_filter_value(filter: &Filter) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    match &filter.value {
        Value::Text(text) if filter.matching == Matching::ContainsIgnoreCase => {
            Sql::Text(format!("%{}%", escape_like(&text.to_lowercase())))
        }
        Value::Text(s) => Sql::Text(s.clone()),
        Value::Integer(i) | Value::Timestamp(i) => Sql::Integer(*i),
        Value::Money(m) => Sql::Integer(m.cents()),
        Value::Rate(r) => Sql::Integer(r.units()),
        Value::Null => Sql::Null,
    }
}

/// Maps a unique-key violation to a 409 that names the field.
fn conflict(spec: &ResourceSpec, error: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        let unique: Vec<&str> = spec
            .fields
            .iter()
            .filter(|f| f.unique)
            .map(|f| f.name)
            .collect();
        return ApiError::Conflict(match unique.as_slice() {
            [one] => format!("a {} with this {one} already exists", spec.entity),
            _ => format!(
                "a {} with the same unique values already exists",
                spec.entity
            ),
        });
    }
    ApiError::from(error)
}

/// The record with `id`, if any.
pub async fn find(resource: &Resource, id: i64) -> Result<Option<Record>, ApiError> {
    let spec = resource.spec;
    let sql = format!(
        "SELECT {} FROM {} WHERE id = $1",
        select_list(spec),
        spec.table
    );
    let direct = resource.db.read_direct(|connection| {
        use rusqlite::OptionalExtension as _;
        connection
            .prepare_cached(&sql)?
            .query_row([id], |row| decode(spec, row))
            .optional()
    });
    if let Some(record) = direct {
        return record;
    }
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(resource.db.pool())
        .await?;
    Ok(row.map(|r| decode(spec, &r)).transpose()?)
}

fn where_clause(filter: Option<&Filter>) -> &'static str {
    match filter.map(|f| f.matching) {
        None => "",
        Some(Matching::ContainsIgnoreCase) => " WHERE LOWER({column}) LIKE $1 ESCAPE '\\'",
        // A list is read by `find_in`; as one value, membership is equality.
        Some(Matching::Equals | Matching::Unique | Matching::In) => " WHERE {column} = $1",
    }
}

fn filter_sql(filter: Option<&Filter>) -> String {
    match filter {
        None => String::new(),
        Some(f) => where_clause(Some(f)).replace("{column}", f.column),
    }
}

fn bind_filter<'q>(query: AnyQuery<'q>, filter: Option<&Filter>) -> AnyQuery<'q> {
    match filter {
        None => query,
        Some(f) if f.matching == Matching::ContainsIgnoreCase => {
            let Value::Text(text) = &f.value else {
                return bind(query, f.kind, &f.value);
            };
            query.bind(format!("%{}%", escape_like(&text.to_lowercase())))
        }
        Some(f) => bind(query, f.kind, &f.value),
    }
}

/// Escapes `%`, `_` and the escape character itself so user text matches literally.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One page of records matching `filter`, and the total number of matches.
pub async fn page(
    resource: &Resource,
    filter: Option<&Filter>,
    request: &PageRequest,
) -> Result<(Vec<Record>, i64), ApiError> {
    let spec = resource.spec;
    let condition = filter_sql(filter);
    let count_sql = format!("SELECT COUNT(*) FROM {}{condition}", spec.table);
    let filter_value = filter.map(direct_filter_value);
    let direct = resource.db.read_direct(|connection| {
        connection
            .prepare_cached(&count_sql)?
            .query_row(rusqlite::params_from_iter(&filter_value), |row| row.get(0))
    });
    let total: i64 = match direct {
        Some(total) => total?,
        None => bind_filter(sqlx::query(AssertSqlSafe(count_sql)), filter)
            .fetch_one(resource.db.pool())
            .await?
            .try_get(0)?,
    };
    let Some(offset) = request.offset().filter(|o| *o < total) else {
        return Ok((Vec::new(), total));
    };
    let mut order: Vec<String> = request
        .sort
        .iter()
        .map(|o| format!("{} {}", o.column, if o.descending { "DESC" } else { "ASC" }))
        .collect();
    if !request.sort.iter().any(|o| o.column == "id") {
        order.push("id ASC".into()); // a total order keeps pages stable
    }
    let n = if filter.is_some() { 2 } else { 1 };
    let sql = format!(
        "SELECT {} FROM {}{condition} ORDER BY {} LIMIT ${n} OFFSET ${}",
        select_list(spec),
        spec.table,
        order.join(", "),
        n + 1
    );
    let direct = resource.db.read_direct(|connection| {
        let mut statement = connection.prepare_cached(&sql)?;
        let mut parameters: Vec<rusqlite::types::Value> = filter_value.iter().cloned().collect();
        parameters.push(request.size.into());
        parameters.push(offset.into());
        statement
            .query_map(rusqlite::params_from_iter(parameters), |row| {
                decode(spec, row)
            })?
            .collect::<Result<Vec<_>, _>>()
    });
    if let Some(records) = direct {
        return Ok((records?, total));
    }
    let rows = bind_filter(sqlx::query(AssertSqlSafe(sql)), filter)
        .bind(request.size)
        .bind(offset)
        .fetch_all(resource.db.pool())
        .await?;
    let records = rows
        .iter()
        .map(|r| decode(spec, r))
        .collect::<Result<_, _>>()?;
    Ok((records, total))
}

/// Every record whose `column` holds one of `values`, in id order (a search by membership:
/// one statement however many values).
pub async fn find_in(
    resource: &Resource,
    column: &'static str,
    kind: Kind,
    values: &[Value],
) -> Result<Vec<Record>, ApiError> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let spec = resource.spec;
    let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {column} IN ({}) ORDER BY id ASC",
        select_list(spec),
        spec.table,
        placeholders.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in values {
        query = bind(query, kind, value);
    }
    let rows = query.fetch_all(resource.db.pool()).await?;
    Ok(rows
        .iter()
        .map(|r| decode(spec, r))
        .collect::<Result<_, _>>()?)
}

/// Whether a row with `id` exists in `table` (a table name from a spec, never from a request).
pub async fn exists(
    db: &crate::db::Database,
    table: &'static str,
    id: i64,
) -> Result<bool, ApiError> {
    let sql = format!("SELECT 1 FROM {table} WHERE id = $1");
    Ok(sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .is_some())
}

/// Inserts a new record and returns it.
pub async fn insert(resource: &Resource, values: &[Value]) -> Result<Record, ApiError> {
    let spec = resource.spec;
    let columns: Vec<&str> = spec.fields.iter().map(|f| f.column).collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} (version, {}) VALUES (0, {}) RETURNING {}",
        spec.table,
        columns.join(", "),
        placeholders.join(", "),
        select_list(spec)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (field, value) in spec.fields.iter().zip(values) {
        query = bind(query, field.kind, value);
    }
    let row = query
        .fetch_one(resource.db.pool())
        .await
        .map_err(|e| conflict(spec, e))?;
    Ok(decode(spec, &row)?)
}

/// Replaces the values of record `id`, checking its version when one is expected.
pub async fn update(
    resource: &Resource,
    id: i64,
    values: &[Value],
    expected_version: Option<i64>,
) -> Result<WriteOutcome, ApiError> {
    let spec = resource.spec;
    let assignments: Vec<String> = spec
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{} = ${}", f.column, i + 1))
        .collect();
    let id_param = spec.fields.len() + 1;
    let version_check = match expected_version {
        Some(_) => format!(" AND version = ${}", id_param + 1),
        None => String::new(),
    };
    let sql = format!(
        "UPDATE {} SET {}, version = version + 1 WHERE id = ${id_param}{version_check} RETURNING {}",
        spec.table,
        assignments.join(", "),
        select_list(spec)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (field, value) in spec.fields.iter().zip(values) {
        query = bind(query, field.kind, value);
    }
    query = query.bind(id);
    if let Some(version) = expected_version {
        query = query.bind(version);
    }
    let row = query
        .fetch_optional(resource.db.pool())
        .await
        .map_err(|e| conflict(spec, e))?;
    match row {
        Some(row) => Ok(WriteOutcome::Done(decode(spec, &row)?)),
        None => missed(resource, id).await,
    }
}

/// Deletes record `id`, checking its version when one is expected.
pub async fn delete(
    resource: &Resource,
    id: i64,
    expected_version: Option<i64>,
) -> Result<WriteOutcome, ApiError> {
    let spec = resource.spec;
    let (check, version) = match expected_version {
        Some(v) => (" AND version = $2", v),
        None => ("", 0),
    };
    let sql = format!(
        "DELETE FROM {} WHERE id = $1{check} RETURNING {}",
        spec.table,
        select_list(spec)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(id);
    if expected_version.is_some() {
        query = query.bind(version);
    }
    let row = query.fetch_optional(resource.db.pool()).await?;
    match row {
        Some(row) => Ok(WriteOutcome::Done(decode(spec, &row)?)),
        None => missed(resource, id).await,
    }
}

/// Why a conditional write touched no row: gone, or another version.
async fn missed(resource: &Resource, id: i64) -> Result<WriteOutcome, ApiError> {
    Ok(match find(resource, id).await? {
        Some(current) => WriteOutcome::VersionMismatch(current.version),
        None => WriteOutcome::NotFound,
    })
}

/// Inserts the spec's seed rows when the table is empty, once even with concurrent starters.
pub async fn seed_if_empty(resource: &Resource) -> anyhow::Result<()> {
    let spec = resource.spec;
    if spec.seed.is_empty() {
        return Ok(());
    }
    let rows: Vec<Vec<Value>> = spec
        .seed
        .iter()
        .map(|json| {
            let object = super::input::parse_object(json.as_bytes())
                .map_err(|e| anyhow::anyhow!("seed row of {} is not JSON: {e}", spec.entity))?;
            super::input::validate(spec, &object)
                .map_err(|e| anyhow::anyhow!("seed row of {} is invalid: {e:?}", spec.entity))
        })
        .collect::<anyhow::Result<_>>()?;

    // Both branches serialise concurrent first starts of several instances on one database.
    let mut tx = match resource.db.backend() {
        Backend::Sqlite => resource.db.pool().begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => {
            let mut tx = resource.db.pool().begin().await?;
            let lock = format!("LOCK TABLE {} IN EXCLUSIVE MODE", spec.table);
            sqlx::query(AssertSqlSafe(lock)).execute(&mut *tx).await?;
            tx
        }
    };
    let count_sql = format!("SELECT COUNT(*) FROM {}", spec.table);
    let count: i64 = sqlx::query(AssertSqlSafe(count_sql))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    if count > 0 {
        return Ok(());
    }
    let columns: Vec<&str> = spec.fields.iter().map(|f| f.column).collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} (version, {}) VALUES (0, {})",
        spec.table,
        columns.join(", "),
        placeholders.join(", ")
    );
    for values in &rows {
        let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
        for (field, value) in spec.fields.iter().zip(values) {
            query = bind(query, field.kind, value);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    tracing::info!(
        entity = spec.entity,
        rows = rows.len(),
        "seeded empty table"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }
}
