//! What happens to a bill after it is made: `POST /bills/{id}/cancel` cancels a DRAFT bill and
//! gives its stock back to inventory (through the [`saga`](crate::saga)); the answer is the
//! full bill, now `CANCELLED`.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::post,
};
use platform::ApiError;

use crate::{Billing, invoice, repo, saga};

/// The routes.
pub fn routes(billing: Arc<Billing>) -> Router {
    Router::new()
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
    let bill = repo::load(&billing.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Bill {id} not found")))?;
    if bill.status != "DRAFT" || !saga::cancel_bill(&billing, id, "DRAFT").await? {
        let now = repo::load(&billing.db, id).await?.map(|b| b.status);
        return Err(ApiError::Conflict(format!(
            "bill {id} is {}: only a DRAFT bill can be cancelled",
            now.as_deref().unwrap_or("gone")
        )));
    }
    let bill = repo::load(&billing.db, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("bill {id} vanished after cancelling"))?;
    Ok(Json(invoice::assemble(&billing, bill).await?))
}
