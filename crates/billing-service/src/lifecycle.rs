//! What happens to a bill after it is made:
//!
//! ```text
//!   POST /bills ──> DRAFT ──issue──> ISSUED ──payments reach the total──> PAID
//!                     │                 │                                  │
//!                     └──cancel──┐      └──cancel: credit note──┐          │
//!                                v                              v          │
//!                            CANCELLED <────────────────────────┴──────────┘
//! ```
//!
//! * `POST /bills/{id}/issue`: DRAFT → ISSUED, with its invoice number and date
//!   ([`numbering`](crate::numbering)), in one transaction; from then on its lines, amounts
//!   and customer are fixed (the database refuses any change: 409 naming the rule);
//! * `POST /bills/{id}/payments` `{"amount": 100.5, "reference": "…"}`: a payment against an
//!   ISSUED invoice, at most the amount still due; the one that settles it makes it PAID.
//!   `GET /bills/{id}/payments` lists them with the amount paid and due,
//!   `GET /bills/{id}/payments/{n}` is one;
//! * `POST /bills/{id}/cancel`: a DRAFT is cancelled as it is; an ISSUED or PAID invoice by a
//!   credit note that references it and negates every line (`GET /bills/{id}/creditNote`).
//!   Either way its stock goes back to inventory (through the [`saga`](crate::saga)).
//!
//! Transitions answer the full bill; a bill in the wrong state is a 409 naming the rule.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use platform::{
    ApiError,
    error::FieldError,
    hal::BaseUrl,
    idempotency::{self, Idempotency},
    money::Money,
    resource::{
        Kind, Value as FieldValue,
        input::{self, body_format, parse_object},
    },
    time::format_iso,
};
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::{Billing, amounts, invoice, numbering, repo, saga};

/// The routes; every `POST` goes through the `Idempotency-Key` guard like every create (a
/// retried issue gets the first answer, not "already ISSUED").
pub fn routes(billing: Arc<Billing>, idempotent: Idempotency) -> Router {
    let guarded = |route: axum::routing::MethodRouter<Arc<Billing>>| {
        route.layer(middleware::from_fn_with_state(
            idempotent.clone(),
            idempotency::guard,
        ))
    };
    Router::new()
        .route("/bills/{id}/issue", guarded(post(issue)))
        .route("/bills/{id}/cancel", guarded(post(cancel)))
        .route(
            "/bills/{id}/payments",
            get(payments).merge(guarded(post(pay))),
        )
        .route("/bills/{id}/payments/{payment}", get(payment))
        .route("/bills/{id}/creditNote", get(credit_note))
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

/// The answer to a transition asked of a bill that is not in the state it needs.
async fn wrong_state(billing: &Billing, id: i64, rule: &str) -> ApiError {
    match repo::load(&billing.db, id).await {
        Ok(Some(bill)) => ApiError::Conflict(format!("bill {id} is {}: {rule}", bill.status)),
        Ok(None) => ApiError::NotFound(format!("Bill {id} not found")),
        Err(error) => error,
    }
}

/// The bill `id`, or the 404 naming it.
async fn existing(billing: &Billing, id: i64) -> Result<repo::StoredBill, ApiError> {
    repo::load(&billing.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Bill {id} not found")))
}

/// `body` as `application/hal+json` with `status`.
fn hal(status: StatusCode, body: impl serde::Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(platform::hal::HAL_JSON),
    );
    response
}

async fn full(billing: &Billing, id: i64) -> Result<Json<invoice::FullBill>, ApiError> {
    let bill = existing(billing, id).await?;
    Ok(Json(invoice::assemble(billing, bill).await?))
}

async fn issue(
    State(billing): State<Arc<Billing>>,
    Path(id): Path<String>,
) -> Result<Json<invoice::FullBill>, ApiError> {
    let id = bill_id(&id)?;
    let now = platform::time::now_millis();
    let year = numbering::year_of(now)?;
    let mut tx = billing.db.begin_write().await?;
    // Lines written without a VAT rate get the default now, for good: first, while the
    // lines of a draft can still be written.
    sqlx::query(
        "UPDATE product_items SET vat_rate = $1 WHERE bill_id = $2 AND vat_rate IS NULL \
         AND EXISTS (SELECT 1 FROM bills WHERE id = $2 AND status = 'DRAFT')",
    )
    .bind(billing.vat.default_rate.units())
    .bind(id)
    .execute(&mut *tx)
    .await?;
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
    .bind(billing.numbering.invoice.format(year, number))
    .bind(i64::from(year))
    .bind(number)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    full(&billing, id).await
}

async fn cancel(
    State(billing): State<Arc<Billing>>,
    Path(id): Path<String>,
) -> Result<Json<invoice::FullBill>, ApiError> {
    let id = bill_id(&id)?;
    if !saga::cancel_bill(&billing, id, &billing.numbering.credit_note).await? {
        return Err(wrong_state(&billing, id, "a cancelled bill stays cancelled").await);
    }
    full(&billing, id).await
}

fn payment_error(property: &str, value: &Value, message: impl Into<String>) -> FieldError {
    FieldError {
        entity: "Payment".into(),
        property: property.into(),
        invalid_value: value.clone(),
        message: message.into(),
    }
}

/// `{"amount", "reference"?}`, every problem reported at once.
fn parse_payment(
    body: &serde_json::Map<String, Value>,
) -> Result<(Money, Option<String>), ApiError> {
    let null = Value::Null;
    let raw_amount = body.get("amount").unwrap_or(&null);
    let raw_reference = body.get("reference").unwrap_or(&null);
    let mut errors = Vec::new();
    let amount = match input::convert(
        Kind::Money {
            min: Money::from_cents(1),
        },
        raw_amount,
    ) {
        Ok(FieldValue::Money(amount)) => Some(amount),
        Ok(_) => {
            errors.push(payment_error("amount", raw_amount, "must not be null"));
            None
        }
        Err(message) => {
            errors.push(payment_error("amount", raw_amount, message));
            None
        }
    };
    let reference = match input::convert(Kind::Text { max_len: 255 }, raw_reference) {
        Ok(FieldValue::Text(text)) => Some(text),
        Ok(_) => None,
        Err(message) => {
            errors.push(payment_error("reference", raw_reference, message));
            None
        }
    };
    match amount {
        Some(amount) if errors.is_empty() => Ok((amount, reference)),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn payment_model(
    base: &BaseUrl,
    bill: i64,
    id: i64,
    amount: i64,
    paid_at: i64,
    reference: Option<String>,
) -> Value {
    let href = base.href(&format!("/bills/{bill}/payments/{id}"));
    json!({
        "id": id,
        "amount": Money::from_cents(amount),
        "paidAt": platform::time::from_millis(paid_at).map(format_iso),
        "reference": reference,
        "_links": {
            "self": { "href": href },
            "bill": { "href": base.href(&format!("/bills/{bill}")) },
            "invoice": { "href": base.href(&format!("/fullBill/{bill}")) }
        }
    })
}

async fn pay(
    State(billing): State<Arc<Billing>>,
    base: BaseUrl,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = bill_id(&id)?;
    body_format(&headers, false)?;
    let (amount, reference) = parse_payment(&parse_object(&body)?)?;
    let now = platform::time::now_millis();
    let mut tx = billing.db.begin_write().await?;
    // Takes the bill's row lock first, so payments of one invoice are counted one at a time.
    let open =
        sqlx::query("UPDATE bills SET version = version + 1 WHERE id = $1 AND status = 'ISSUED'")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if open == 0 {
        tx.rollback().await?;
        return Err(wrong_state(
            &billing,
            id,
            "payments are recorded against an ISSUED invoice",
        )
        .await);
    }
    let bill = repo::load_on(&mut tx, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("bill {id} vanished while paying it"))?;
    let due = amounts::amount_due(&bill, billing.vat.default_rate)?;
    if amount.cents() > due.cents() {
        tx.rollback().await?;
        return Err(ApiError::Conflict(format!(
            "a payment of {amount} is more than the {due} still due on bill {id}"
        )));
    }
    let payment: i64 = sqlx::query(
        "INSERT INTO payments (bill_id, amount, paid_at, reference) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(id)
    .bind(amount.cents())
    .bind(now)
    .bind(reference.clone())
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    let left = due.cents() - amount.cents();
    if left == 0 {
        sqlx::query("UPDATE bills SET status = 'PAID' WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let mut model = payment_model(&base, id, payment, amount.cents(), now, reference);
    model["amountDue"] = json!(Money::from_cents(left));
    let location = base.href(&format!("/bills/{id}/payments/{payment}"));
    let mut response = hal(StatusCode::CREATED, model);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn payments(
    State(billing): State<Arc<Billing>>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = bill_id(&id)?;
    let bill = existing(&billing, id).await?;
    let rows = sqlx::query(
        "SELECT id, amount, paid_at, reference FROM payments WHERE bill_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(billing.db.pool())
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(payment_model(
            &base,
            id,
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        ));
    }
    let body = json!({
        "_embedded": { "payments": items },
        "amountPaid": bill.paid,
        "amountDue": amounts::amount_due(&bill, billing.vat.default_rate)?,
        "_links": {
            "self": { "href": base.href(&format!("/bills/{id}/payments")) },
            "bill": { "href": base.href(&format!("/bills/{id}")) }
        }
    });
    Ok(hal(StatusCode::OK, body))
}

async fn payment(
    State(billing): State<Arc<Billing>>,
    base: BaseUrl,
    Path((id, payment)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = bill_id(&id)?;
    let payment: i64 = payment
        .parse()
        .map_err(|_| ApiError::bad_request("a payment id is a whole number".to_owned()))?;
    let row = sqlx::query(
        "SELECT amount, paid_at, reference FROM payments WHERE bill_id = $1 AND id = $2",
    )
    .bind(id)
    .bind(payment)
    .fetch_optional(billing.db.pool())
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("bill {id} has no payment {payment}")))?;
    let body = payment_model(
        &base,
        id,
        payment,
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
    );
    Ok(hal(StatusCode::OK, body))
}

async fn credit_note(
    State(billing): State<Arc<Billing>>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = bill_id(&id)?;
    let bill = existing(&billing, id).await?;
    let Some(number) = &bill.credit_note_number else {
        return Err(ApiError::NotFound(format!(
            "bill {id} has no credit note: only a cancelled invoice has one"
        )));
    };
    let issued_at: i64 = sqlx::query("SELECT issued_at FROM credit_notes WHERE bill_id = $1")
        .bind(id)
        .fetch_one(billing.db.pool())
        .await?
        .try_get(0)?;
    let default_rate = billing.vat.default_rate;
    let mut lines = Vec::with_capacity(bill.items.len());
    for item in &bill.items {
        lines.push(json!({
            "productId": item.product_id,
            "quantity": -item.quantity,
            "price": item.price,
            "discount": item.discount.to_json_number(),
            "amount": Money::from_cents(-amounts::line_amount(item)?.cents()),
            "vatRate": amounts::rate_of(item, default_rate).to_json_number(),
        }));
    }
    let totals = amounts::totals(&bill, default_rate)?.negated();
    let href = base.href(&format!("/bills/{id}/creditNote"));
    let body = json!({
        "creditNoteNumber": number,
        "issuedAt": platform::time::from_millis(issued_at).map(format_iso),
        "invoiceNumber": bill.invoice_number,
        "billId": id,
        "customerId": bill.customer_id,
        "productItems": lines,
        "total": totals.before_tax,
        "totalBeforeTax": totals.before_tax,
        "taxes": totals.by_rate,
        "totalTax": totals.tax,
        "totalAfterTax": totals.after_tax,
        "_links": {
            "self": { "href": href },
            "creditNote": { "href": href },
            "bill": { "href": base.href(&format!("/bills/{id}")) },
            "invoice": { "href": base.href(&format!("/fullBill/{id}")) }
        }
    });
    Ok(hal(StatusCode::OK, body))
}
