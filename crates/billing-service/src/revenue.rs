//! `GET /bills/revenue`: what the bills come to — overall, this month, per calendar month
//! (UTC) and for the best-selling products — summed on the server from the stored lines, in
//! exact cents, so a client needs one call instead of reading every invoice.
//!
//! Revenue is the line amounts before tax (`price × quantity × (1 − discount)`, each rounded
//! to the cent, as in `/fullBill/{id}`) of every bill that is not CANCELLED. The answer is a
//! custom resource under the bills' path, as a `@RepositoryRestController` would add one,
//! with its `self` link.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Json,
    extract::{Query, State},
};
use chrono::{DateTime, Datelike as _, Utc};
use platform::{
    ApiError,
    hal::BaseUrl,
    money::{Money, Rate},
};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::{Billing, amounts, repo::StoredItem};

/// How many products the answer ranks when the client names no `top`.
const DEFAULT_TOP: usize = 5;
/// The most it ranks.
const MAX_TOP: usize = 100;

/// `?top=N`: how many products to rank.
#[derive(Debug, Deserialize)]
pub struct RevenueQuery {
    top: Option<String>,
}

#[derive(Default)]
struct Sum {
    amount: i64,
    count: i64,
}

/// The handler.
pub async fn revenue(
    State(billing): State<Arc<Billing>>,
    base: BaseUrl,
    Query(query): Query<RevenueQuery>,
) -> Result<Json<Value>, ApiError> {
    let top = match query.top.as_deref() {
        None => DEFAULT_TOP,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_TOP).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "parameter 'top' must be a whole number from 1 to {MAX_TOP}"
                ))
            })?,
    };
    let rows = sqlx::query(
        "SELECT b.id, b.billing_date, i.id, i.product_id, i.quantity, i.price, i.discount \
         FROM bills b JOIN product_items i ON i.bill_id = b.id \
         WHERE b.status <> 'CANCELLED' ORDER BY b.id",
    )
    .fetch_all(billing.db.pool())
    .await?;
    let mut months: BTreeMap<String, (Sum, Option<i64>)> = BTreeMap::new();
    let mut products: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut total = 0i64;
    for row in &rows {
        let bill: i64 = row.try_get(0)?;
        let billed: i64 = row.try_get(1)?;
        let item = StoredItem {
            id: row.try_get(2)?,
            product_id: row.try_get(3)?,
            quantity: row.try_get(4)?,
            price: Money::from_cents(row.try_get(5)?),
            discount: Rate::from_units(row.try_get::<Option<i64>, _>(6)?.unwrap_or(0)),
            vat_rate: None,
        };
        let amount = amounts::line_amount(&item)?.cents();
        let month = month_of(billed);
        let (sum, last_bill) = months.entry(month).or_default();
        sum.amount = add(sum.amount, amount)?;
        if *last_bill != Some(bill) {
            sum.count += 1;
            *last_bill = Some(bill);
        }
        let product = products.entry(item.product_id).or_default();
        product.0 = product.0.saturating_add(item.quantity);
        product.1 = add(product.1, amount)?;
        total = add(total, amount)?;
    }
    let this_month = months
        .get(&month_of(Utc::now().timestamp_millis()))
        .map_or(0, |(sum, _)| sum.amount);
    let mut ranked: Vec<(i64, (i64, i64))> = products.into_iter().collect();
    ranked.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(&b.0)));
    ranked.truncate(top);
    let money = |cents: i64| Money::from_cents(cents).to_json_number();
    Ok(Json(json!({
        "total": money(total),
        "thisMonth": money(this_month),
        "months": months.iter().map(|(month, (sum, _))| json!({
            "month": month,
            "total": money(sum.amount),
            "bills": sum.count,
        })).collect::<Vec<_>>(),
        "products": ranked.iter().map(|(id, (quantity, amount))| json!({
            "productId": id,
            "quantity": quantity,
            "amount": money(*amount),
        })).collect::<Vec<_>>(),
        "_links": { "self": { "href": base.href("/bills/revenue") } },
    })))
}

/// `2026-12` for a moment in epoch milliseconds (UTC).
fn month_of(epoch_millis: i64) -> String {
    let moment = DateTime::<Utc>::from_timestamp_millis(epoch_millis).unwrap_or_default();
    format!("{:04}-{:02}", moment.year(), moment.month())
}

fn add(a: i64, b: i64) -> Result<i64, ApiError> {
    a.checked_add(b)
        .ok_or_else(|| anyhow::anyhow!("the revenue overflows").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_calendar_months_in_utc() {
        // 2026-11-30T23:59:59.999Z and the next millisecond.
        assert_eq!(month_of(1_796_083_199_999), "2026-11");
        assert_eq!(month_of(1_796_083_200_000), "2026-12");
    }
}
