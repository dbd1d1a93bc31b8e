//! The saga that keeps bills and stock in agreement across billing's and inventory's databases
//! (no distributed transaction: each step is local, and each has its compensation).
//!
//! ```text
//!  POST /bills          billing DB                 inventory-service
//!  ───────────          ──────────                 ─────────────────
//!  1. record saga   →   sagas: RESERVING r-…
//!  2. reserve       ────────────────────────────→  PUT /reservations/r-…  (stock − n, or 409)
//!  3. store bill    →   one transaction: delete the saga row (if still RESERVING)
//!                       + insert bill (reservation_id r-…) + its lines
//!  compensation: any failure after 1 → saga RELEASING → DELETE /reservations/r-… (stock + n)
//!                → delete the saga row
//!  recovery:     a saga row older than stale-after (its instance died, or its request was cut
//!                off) is claimed by any instance and released — at start and every
//!                recovery-interval
//!  cancel:       bill CANCELLED (+ credit note if it was issued) + saga RELEASING in one
//!                transaction → DELETE /reservations/r-… → saga row deleted
//! ```
//!
//! Every inventory step is idempotent by the reservation id, and a release recorded first keeps
//! a late reservation out, so retries and recoveries never count twice and never strand stock.
//! Claims are compare-and-set on the saga row, so a slow request and a recovery never both
//! finish the same saga: if recovery took it, the request answers 503 and stores nothing.

use std::{sync::Arc, time::Duration};

use platform::{
    ApiError,
    db::Database,
    service_client::RemoteError,
    settings::{DurationUnit, FromSection, Section, SettingsError},
};
use sqlx::Row as _;
use tokio_util::sync::CancellationToken;

use crate::{
    Billing,
    clients::ReservedLine,
    numbering::Series,
    repo::{self, NewBill},
};

/// `factura.billing.saga.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SagaSettings {
    /// `reserve-stock`: whether bills reserve their stock in inventory-service (true); false
    /// bills without touching stock, for an inventory-service that has no `/reservations`
    /// (the Spring original, in a fleet moving over one service at a time).
    pub reserve_stock: bool,
    /// `stale-after`: how old an unfinished saga must be before another instance (or this
    /// one, after a restart) finishes it by releasing its stock (60 s, more than
    /// `server.request-timeout-ms`, which bounds a live request).
    pub stale_after: Duration,
    /// `recovery-interval`: how often stale sagas are looked for (5 s).
    pub recovery_interval: Duration,
    /// `pause-after-reserve`: a test hook holding every bill creation between the reservation
    /// and storing the bill (0: no pause).
    pub pause_after_reserve: Duration,
}

impl FromSection for SagaSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            reserve_stock: section.flag("reserve-stock", true)?,
            stale_after: section.duration_or(
                "stale-after",
                DurationUnit::Seconds,
                Duration::from_secs(60),
            )?,
            recovery_interval: section.duration_or(
                "recovery-interval",
                DurationUnit::Seconds,
                Duration::from_secs(5),
            )?,
            pause_after_reserve: section.duration_or(
                "pause-after-reserve",
                DurationUnit::Millis,
                Duration::ZERO,
            )?,
        })
    }
}

/// A fresh reservation id: `bill-` and 128 random bits.
pub fn new_reservation_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("bill-{hex}")
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Reserves the bill's stock, then stores the bill; returns its id. Nothing is left anywhere
/// when it fails (or, if even the compensation could not reach inventory, a saga row that
/// recovery finishes).
pub async fn create_bill(billing: &Billing, bill: &NewBill) -> Result<i64, ApiError> {
    if !billing.saga.reserve_stock {
        return repo::insert(&billing.db, bill, repo::When::Always)
            .await?
            .ok_or_else(|| anyhow::anyhow!("insert returned no id").into());
    }
    let id = new_reservation_id();
    let lines: Vec<ReservedLine> = bill
        .items
        .iter()
        .map(|item| ReservedLine {
            product_id: item.product_id,
            quantity: item.quantity,
        })
        .collect();
    let lines_json = serde_json::to_string(&lines).map_err(anyhow::Error::from)?;
    sqlx::query(
        "INSERT INTO sagas (id, state, lines, updated_at) VALUES ($1, 'RESERVING', $2, $3)",
    )
    .bind(&id)
    .bind(&lines_json)
    .bind(platform::time::now_millis())
    .execute(billing.db.pool())
    .await?;

    match billing.products.reserve(&id, &lines).await {
        Ok(_) => {}
        Err(RemoteError::Refused {
            status, message, ..
        }) => {
            // Definitively refused: inventory took nothing.
            forget(&billing.db, &id).await;
            return Err(if status == 409 {
                ApiError::Conflict(format!("cannot bill this: {message}"))
            } else {
                ApiError::bad_request(format!("cannot bill this: {message}"))
            });
        }
        Err(RemoteError::NotFound { .. }) => {
            forget(&billing.db, &id).await;
            return Err(ApiError::Unavailable(
                "inventory-service has no /reservations (is it the Spring original?): bills cannot reserve stock there; set factura.billing.saga.reserve-stock=false to bill without reserving".into(),
            ));
        }
        Err(error) => {
            // Unknown whether inventory took the stock: give it back (or leave it to recovery).
            compensate(billing, &id).await;
            return Err(ApiError::Unavailable(format!(
                "cannot reserve the stock right now: {error}"
            )));
        }
    }

    if !billing.saga.pause_after_reserve.is_zero() {
        tokio::time::sleep(billing.saga.pause_after_reserve).await;
    }

    match repo::insert_reserved(&billing.db, bill, &id).await {
        Ok(Some(bill_id)) => Ok(bill_id),
        Ok(None) => Err(ApiError::Unavailable(format!(
            "storing the bill took longer than factura.billing.saga.stale-after ({:?}); its stock was given back, nothing was stored: retry",
            billing.saga.stale_after
        ))),
        Err(error) => {
            compensate(billing, &id).await;
            Err(error)
        }
    }
}

/// Deletes a saga that ended with nothing held in inventory.
async fn forget(db: &Database, id: &str) {
    if let Err(error) = sqlx::query("DELETE FROM sagas WHERE id = $1 AND state = 'RESERVING'")
        .bind(id)
        .execute(db.pool())
        .await
    {
        // Left behind, recovery releases a reservation that does not exist: harmless.
        tracing::warn!(%error, saga = id, "deleting a finished saga failed");
    }
}

/// Turns a saga of this request into a release and runs it; on failure the row stays for
/// recovery.
async fn compensate(billing: &Billing, id: &str) {
    let now = platform::time::now_millis();
    let claimed = sqlx::query(
        "UPDATE sagas SET state = 'RELEASING', updated_at = $2 WHERE id = $1 AND state = 'RESERVING'",
    )
    .bind(id)
    .bind(now)
    .execute(billing.db.pool())
    .await;
    match claimed {
        Ok(done) if done.rows_affected() == 1 => release(billing, id, now).await,
        Ok(_) => {} // recovery has it
        Err(error) => tracing::warn!(%error, saga = id, "saga left to recovery"),
    }
}

/// Releases the reservation `id` and deletes its saga row (claimed at `claimed_at`).
async fn release(billing: &Billing, id: &str, claimed_at: i64) {
    match billing.products.release(id).await {
        // NotFound: an inventory without reservations holds nothing to give back.
        Ok(_) | Err(RemoteError::NotFound { .. }) => {
            let deleted = sqlx::query("DELETE FROM sagas WHERE id = $1 AND updated_at = $2")
                .bind(id)
                .bind(claimed_at)
                .execute(billing.db.pool())
                .await;
            if let Err(error) = deleted {
                tracing::warn!(%error, saga = id, "deleting a released saga failed");
            }
            tracing::info!(saga = id, "stock released");
        }
        Err(error) => {
            tracing::warn!(%error, saga = id, "releasing stock failed; recovery will retry")
        }
    }
}

/// Cancels the bill `bill_id` — a DRAFT as it is, an ISSUED or PAID invoice with a credit note
/// numbered in `credit_notes` — and gives its stock back. `Ok(false)` when the bill is
/// already cancelled (or missing).
pub async fn cancel_bill(
    billing: &Billing,
    bill_id: i64,
    credit_notes: &Series,
) -> Result<bool, ApiError> {
    let now = platform::time::now_millis();
    let mut tx = billing.db.begin_write().await?;
    let Some(row) = sqlx::query(
        "UPDATE bills SET status = 'CANCELLED', version = version + 1 \
         WHERE id = $1 AND status IN ('DRAFT', 'ISSUED', 'PAID') \
         RETURNING invoice_number, reservation_id",
    )
    .bind(bill_id)
    .fetch_optional(&mut *tx)
    .await?
    else {
        tx.rollback().await?;
        return Ok(false);
    };
    let invoice_number: Option<String> = row.try_get(0)?;
    let reservation: Option<String> = row.try_get(1)?;
    if invoice_number.is_some() {
        // An issued invoice is never undone: a credit note, in its own series, negates it.
        let year = crate::numbering::year_of(now)?;
        let number =
            crate::numbering::next_number(&mut tx, crate::numbering::CREDIT_NOTES, year).await?;
        sqlx::query(
            "INSERT INTO credit_notes (bill_id, credit_note_number, issued_at) VALUES ($1, $2, $3)",
        )
        .bind(bill_id)
        .bind(credit_notes.format(year, number))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(reservation) = &reservation {
        sqlx::query(
            "INSERT INTO sagas (id, state, bill_id, lines, updated_at) VALUES ($1, 'RELEASING', $2, '[]', $3)",
        )
        .bind(reservation)
        .bind(bill_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if let Some(reservation) = reservation {
        release(billing, &reservation, now).await;
    }
    Ok(true)
}

/// Finishes every saga older than `stale-after`: claims it (compare-and-set on its row, so
/// one instance does it) and releases its stock. Returns how many it released.
pub async fn recover(billing: &Billing) -> Result<usize, ApiError> {
    let now = platform::time::now_millis();
    let stale: Vec<(String, i64)> =
        sqlx::query("SELECT id, updated_at FROM sagas WHERE updated_at <= $1 ORDER BY updated_at")
            .bind(now.saturating_sub(millis(billing.saga.stale_after)))
            .fetch_all(billing.db.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
    let mut released = 0;
    for (id, updated_at) in stale {
        let claimed_at = platform::time::now_millis().max(updated_at + 1);
        let claimed = sqlx::query(
            "UPDATE sagas SET state = 'RELEASING', updated_at = $3 WHERE id = $1 AND updated_at = $2",
        )
        .bind(&id)
        .bind(updated_at)
        .bind(claimed_at)
        .execute(billing.db.pool())
        .await?
        .rows_affected();
        if claimed == 1 {
            tracing::info!(saga = %id, "recovering a stale saga");
            release(billing, &id, claimed_at).await;
            released += 1;
        }
    }
    Ok(released)
}

/// Runs [`recover`] at start and every `recovery-interval` until `shutdown`.
pub async fn recover_forever(billing: Arc<Billing>, shutdown: CancellationToken) {
    loop {
        if let Err(error) = recover(&billing).await {
            tracing::warn!(%error, "saga recovery failed; trying again later");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(billing.saga.recovery_interval) => {}
        }
    }
}
