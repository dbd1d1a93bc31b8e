//! Bills as billing's own code needs them: a bill with its items in one read, and a new bill
//! with its items stored in one transaction (so a bill is never half-stored) — together with
//! the end of its stock saga ([`insert_reserved`]).

use platform::{
    ApiError,
    db::{Backend, Database},
    money::{Money, Rate},
};
use sqlx::Row as _;

/// A stored bill with its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBill {
    /// The bill's id.
    pub id: i64,
    /// When it was issued, epoch milliseconds.
    pub billing_date: i64,
    /// Whose bill it is.
    pub customer_id: i64,
    /// `DRAFT`, `ISSUED`, `PAID` or `CANCELLED`.
    pub status: String,
    /// The invoice number, once issued.
    pub invoice_number: Option<String>,
    /// When it was issued, epoch milliseconds.
    pub issued_at: Option<i64>,
    /// The number of the credit note that cancelled it, if one did.
    pub credit_note_number: Option<String>,
    /// The sum of the payments received.
    pub paid: Money,
    /// Its lines, in id order.
    pub items: Vec<StoredItem>,
}

/// One line of a bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    /// The line's id.
    pub id: i64,
    /// The product billed.
    pub product_id: i64,
    /// How many units.
    pub quantity: i64,
    /// Unit price taken from inventory when the bill was made.
    pub price: Money,
    /// Discount on the line (0 when none was given).
    pub discount: Rate,
    /// VAT rate; none on a line written without one (the default applies until issue).
    pub vat_rate: Option<Rate>,
}

/// A bill to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBill {
    /// When it is issued, epoch milliseconds.
    pub billing_date: i64,
    /// Whose bill it is.
    pub customer_id: i64,
    /// Its lines (ids are assigned on insert).
    pub items: Vec<NewItem>,
}

/// A line to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    /// The product billed.
    pub product_id: i64,
    /// How many units.
    pub quantity: i64,
    /// Unit price.
    pub price: Money,
    /// Discount on the line.
    pub discount: Rate,
    /// VAT rate.
    pub vat_rate: Rate,
}

/// The bill `id` with its items, if it exists.
pub async fn load(db: &Database, id: i64) -> Result<Option<StoredBill>, ApiError> {
    let mut conn = db.pool().acquire().await?;
    load_on(&mut conn, id).await
}

/// [`load`] on `conn` (inside a transaction, to read what it sees).
pub async fn load_on(
    conn: &mut sqlx::AnyConnection,
    id: i64,
) -> Result<Option<StoredBill>, ApiError> {
    let Some(row) = sqlx::query(
        "SELECT b.id, b.billing_date, b.customer_id, b.status, b.invoice_number, b.issued_at, \
         c.credit_note_number, \
         (SELECT CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) FROM payments p WHERE p.bill_id = b.id) \
         FROM bills b LEFT JOIN credit_notes c ON c.bill_id = b.id WHERE b.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT id, product_id, quantity, price, discount, vat_rate FROM product_items WHERE bill_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(StoredItem {
                id: r.try_get(0)?,
                product_id: r.try_get(1)?,
                quantity: r.try_get(2)?,
                price: Money::from_cents(r.try_get(3)?),
                discount: Rate::from_units(r.try_get::<Option<i64>, _>(4)?.unwrap_or(0)),
                vat_rate: r.try_get::<Option<i64>, _>(5)?.map(Rate::from_units),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Some(StoredBill {
        id: row.try_get(0)?,
        billing_date: row.try_get(1)?,
        customer_id: row.try_get(2)?,
        status: row.try_get(3)?,
        invoice_number: row.try_get(4)?,
        issued_at: row.try_get(5)?,
        credit_note_number: row.try_get(6)?,
        paid: Money::from_cents(row.try_get(7)?),
        items,
    }))
}

/// Whether to store unconditionally, or only into an empty table (the seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// Only when no bill exists yet; checked under a lock, so concurrent seeders add one.
    TableEmpty,
}

/// Stores `bill` and its items in one transaction; returns the new id (`None` when `when` is
/// [`When::TableEmpty`] and a bill already exists).
pub async fn insert(db: &Database, bill: &NewBill, when: When) -> Result<Option<i64>, ApiError> {
    let mut tx = match (db.backend(), when) {
        (Backend::Sqlite, When::TableEmpty) => db.pool().begin_with("BEGIN IMMEDIATE").await?,
        (_, _) => db.pool().begin().await?,
    };
    if when == When::TableEmpty {
        if db.backend() == Backend::Postgres {
            sqlx::query("LOCK TABLE bills IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM bills")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if count > 0 {
            return Ok(None);
        }
    }
    let id = insert_rows(&mut tx, bill, None).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Stores `bill`, whose stock inventory holds under `reservation`, and ends the saga of that
/// reservation, in one transaction; `None` (and nothing stored) when the saga is no longer
/// `RESERVING` — recovery took it over and gives the stock back.
pub async fn insert_reserved(
    db: &Database,
    bill: &NewBill,
    reservation: &str,
) -> Result<Option<i64>, ApiError> {
    let mut tx = db.begin_write().await?;
    let ended = sqlx::query("DELETE FROM sagas WHERE id = $1 AND state = 'RESERVING'")
        .bind(reservation)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if ended == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let id = insert_rows(&mut tx, bill, Some(reservation)).await?;
    tx.commit().await?;
    Ok(Some(id))
}

async fn insert_rows(
    tx: &mut sqlx::AnyConnection,
    bill: &NewBill,
    reservation: Option<&str>,
) -> Result<i64, ApiError> {
    let id: i64 = sqlx::query(
        "INSERT INTO bills (version, billing_date, customer_id) VALUES (0, $1, $2) RETURNING id",
    )
    .bind(bill.billing_date)
    .bind(bill.customer_id)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    for item in &bill.items {
        sqlx::query(
            "INSERT INTO product_items (version, product_id, quantity, price, discount, bill_id, vat_rate) VALUES (0, $1, $2, $3, $4, $5, $6)",
        )
        .bind(item.product_id)
        .bind(item.quantity)
        .bind(item.price.cents())
        .bind(item.discount.units())
        .bind(id)
        .bind(item.vat_rate.units())
        .execute(&mut *tx)
        .await?;
    }
    // Set last: from then on the database keeps the lines as they are (they hold that stock).
    if let Some(reservation) = reservation {
        sqlx::query("UPDATE bills SET reservation_id = $1 WHERE id = $2")
            .bind(reservation)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(id)
}
