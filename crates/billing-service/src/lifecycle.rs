//! What happens to a bill after it is made, each answered with the full bill:
//!
//! * `POST /bills/{id}/issue`: DRAFT → ISSUED, with its invoice number and date
//!   ([`numbering`](crate::numbering)), in one transaction;
//! * `POST /bills/{id}/cancel`: DRAFT → CANCELLED, its stock given back to inventory (through
//!   the [`saga`](crate::saga)).
//!
//! A bill in another state is a 409 naming the rule.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::post,
};
use platform::ApiError;

use crate::{Billing, invoice, numbering, repo, saga};

/// The routes.
pub fn routes(billing: Arc<Billing>) -> Router {
    Router::new()
        .route("/bills/{id}/issue", post(issue))
        .route("/bills/{id}/cancel", post(cancel))
        .with_state(billing)
}

fn bill_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "'{}' is not a valid Bill id: ids are whole numbers",
            raw.chars().take(64).collect::<String>()
        ))
    })
}

async fn cancel(
    State(billing): State<Arc<Billing>>,
    Path(id): Path<String>,
) -> Result<Json<invoice::FullBill>, ApiError> {
    let id = bill_id(&id)?;
    if !saga::cancel_bill(&billing, id, "DRAFT").await? {
        return Err(wrong_state(&billing, id, "only a DRAFT bill can be cancelled").await);
    }
    let bill = repo::load(&billing.db, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("bill {id} vanished after cancelling"))?;
    Ok(Json(invoice::assemble(&billing, bill).await?))
}

/// The answer to a transition asked of a bill that is not in the state it needs.
async fn wrong_state(billing: &Billing, id: i64, rule: &str) -> ApiError {
    match repo::load(&billing.db, id).await {
        Ok(Some(bill)) => ApiError::Conflict(format!("bill {id} is {}: {rule}", bill.status)),
        Ok(None) => ApiError::NotFound(format!("Bill {id} not found")),
        Err(error) => error,
    }
}

async fn issue(
    State(billing): State<Arc<Billing>>,
    Path(id): Path<String>,
) -> Result<Json<invoice::FullBill>, ApiError> {
    let id = bill_id(&id)?;
    let now = platform::time::now_millis();
    let year = platform::time::from_millis(now)
        .map(|t| chrono::Datelike::year(&t))
        .ok_or_else(|| anyhow::anyhow!("the clock is out of range"))?;
    let mut tx = billing.db.begin_write().await?;
    let issued = sqlx::query(
        "UPDATE bills SET status = 'ISSUED', version = version + 1 WHERE id = $1 AND status = 'DRAFT'",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if issued == 0 {
        tx.rollback().await?;
        return Err(wrong_state(&billing, id, "only a DRAFT bill can be issued").await);
    }
    let number = numbering::next_number(&mut tx, numbering::INVOICES, year).await?;
    sqlx::query(
        "UPDATE bills SET invoice_number = $2, invoice_year = $3, invoice_seq = $4, issued_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(billing.numbering.format(year, number))
    .bind(i64::from(year))
    .bind(number)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let bill = repo::load(&billing.db, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("bill {id} vanished after issuing"))?;
    Ok(Json(invoice::assemble(&billing, bill).await?))
}
