//! `GET /fullBill/{id}`: the bill with its customer and each item's product filled in from the
//! other services, line amounts and the total — the reference application's full bill, plus
//! `amount`/`total` and an account of anything that could not be filled in.
//!
//! Two remote calls whatever the number of lines: the customer, and every product at once
//! (inventory's batch lookup), made concurrently. When a remote service is down (or its breaker is open) the invoice is
//! still returned with what billing knows: the unreachable parts are `null`, `complete` is
//! false, and `missing` says what is missing and why. Amounts never depend on the remote
//! services: they use the price stored on each line when the bill was made.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Json,
    extract::{Path, State},
};
use platform::{ApiError, money::Money, service_client::RemoteError, time::format_iso};
use serde::Serialize;
use serde_json::Value;

use crate::{
    Billing, amounts,
    clients::{Customer, Product},
    repo::{self, StoredBill},
};

/// One line of a full bill, in the reference's field order plus its amount.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FullItem {
    id: i64,
    product_id: i64,
    quantity: i64,
    price: Money,
    discount: Value,
    /// `price × quantity × (1 − discount)`, rounded to the cent: the line before tax.
    amount: Money,
    /// The line's VAT rate.
    vat_rate: Value,
    product: Option<Product>,
}

/// Something the invoice could not fill in.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Missing {
    /// `customer` or `product 3`.
    pub part: String,
    /// Why, naming the service and call.
    pub reason: String,
}

/// The full bill.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FullBill {
    id: i64,
    billing_date: String,
    customer_id: i64,
    /// `DRAFT`, `ISSUED`, `PAID` or `CANCELLED`.
    status: String,
    /// `FAC-2026-000001`, once issued (null for a draft).
    invoice_number: Option<String>,
    /// When it was issued (null for a draft).
    issued_at: Option<String>,
    /// The credit note that cancelled the invoice, if one did.
    credit_note_number: Option<String>,
    product_items: Vec<FullItem>,
    customer: Option<Customer>,
    /// Sum of the line amounts (the seed's total, before tax).
    total: Money,
    /// The same sum, named for what it is.
    total_before_tax: Money,
    /// The VAT, per rate.
    taxes: Vec<amounts::TaxLine>,
    /// The sum of the taxes.
    total_tax: Money,
    /// What the customer pays: before tax + tax.
    total_after_tax: Money,
    /// The payments received.
    amount_paid: Money,
    /// What is still to be paid (total after tax − credit note − payments).
    amount_due: Money,
    /// False when `missing` is not empty.
    complete: bool,
    missing: Vec<Missing>,
}

/// The handler.
pub async fn full_bill(
    State(billing): State<Arc<Billing>>,
    Path(id): Path<String>,
) -> Result<Json<FullBill>, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "'{}' is not a valid Bill id: ids are whole numbers",
            id.chars().take(64).collect::<String>()
        ))
    })?;
    let bill = repo::load(&billing.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Bill {id} not found")))?;
    Ok(Json(assemble(&billing, bill).await?))
}

/// What the other services said about a bill's customer and products.
#[derive(Debug)]
pub struct RemoteParts {
    /// The customer, or why it could not be read.
    pub customer: Result<Customer, RemoteError>,
    /// Each product id of the bill, with its product or why it could not be read.
    pub products: BTreeMap<i64, Result<Product, RemoteError>>,
}

impl RemoteParts {
    /// Reads them, concurrently: two remote calls whatever the number of lines.
    pub async fn fetch(billing: &Billing, customer_id: i64, product_ids: &[i64]) -> Self {
        let (customer, products) = tokio::join!(
            billing.customers.customer(customer_id),
            billing.products.products_by_id(product_ids),
        );
        Self { customer, products }
    }
}

/// Fills in a stored bill from the remote services.
pub async fn assemble(billing: &Billing, bill: StoredBill) -> Result<FullBill, ApiError> {
    let product_ids: Vec<i64> = bill.items.iter().map(|i| i.product_id).collect();
    let parts = RemoteParts::fetch(billing, bill.customer_id, &product_ids).await;
    assemble_from(billing, bill, parts)
}

/// Fills in a stored bill from parts already read (a bill just created answers with the
/// customer and products it was priced from, without reading them again).
pub fn assemble_from(
    billing: &Billing,
    bill: StoredBill,
    parts: RemoteParts,
) -> Result<FullBill, ApiError> {
    let RemoteParts { customer, products } = parts;

    let mut missing = Vec::new();
    let customer = match customer {
        Ok(customer) => Some(customer),
        Err(error) => {
            missing.push(Missing {
                part: "customer".into(),
                reason: error.to_string(),
            });
            None
        }
    };
    for (id, result) in &products {
        if let Err(error) = result {
            missing.push(Missing {
                part: format!("product {id}"),
                reason: error.to_string(),
            });
        }
    }

    let default_rate = billing.vat.default_rate;
    let totals = amounts::totals(&bill, default_rate)?;
    let amount_due = amounts::amount_due(&bill, default_rate)?;
    let mut items = Vec::with_capacity(bill.items.len());
    for item in bill.items {
        let amount = amounts::line_amount(&item)?;
        items.push(FullItem {
            id: item.id,
            product_id: item.product_id,
            quantity: item.quantity,
            price: item.price,
            discount: item.discount.to_json_number(),
            amount,
            vat_rate: amounts::rate_of(&item, default_rate).to_json_number(),
            product: products
                .get(&item.product_id)
                .and_then(|r| r.as_ref().ok())
                .cloned(),
        });
    }
    let billing_date = chrono_iso(bill.billing_date);
    Ok(FullBill {
        id: bill.id,
        billing_date,
        customer_id: bill.customer_id,
        status: bill.status,
        invoice_number: bill.invoice_number,
        issued_at: bill.issued_at.map(chrono_iso),
        credit_note_number: bill.credit_note_number,
        product_items: items,
        customer,
        total: totals.before_tax,
        total_before_tax: totals.before_tax,
        total_tax: totals.tax,
        total_after_tax: totals.after_tax,
        taxes: totals.by_rate,
        amount_paid: bill.paid,
        amount_due,
        complete: missing.is_empty(),
        missing,
    })
}

fn chrono_iso(millis: i64) -> String {
    platform::time::from_millis(millis)
        .map(format_iso)
        .unwrap_or_default()
}
