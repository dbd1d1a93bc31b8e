//! `POST /bills`: a bill from `{customerId, productItems: [{productId, quantity, discount?,
//! vatRate?}]}` (a line without `vatRate` gets `factura.billing.vat.default-rate`).
//!
//! Checked in this order, and nothing is stored unless all pass:
//! 1. the body's shape and rules (400 in Spring Data REST's `errors` shape, every problem listed);
//! 2. the customer and every product exist — asked concurrently of the other services
//!    (an unknown one is a 400 naming it; an unreachable service is a 503 saying which);
//! 3. every line's quantity is reserved in inventory (not enough stock: 409 naming the
//!    product and what is available), then bill and items are stored in one transaction, each
//!    item priced from inventory now — the steps of the [`saga`], which gives the stock back if
//!    the bill cannot be stored.
//!
//! Answers 201 with `Location: …/bills/{id}` and the full bill. `Idempotency-Key` is honoured
//! by the platform's guard around this handler ([`platform::idempotency`]).

use std::{collections::HashSet, sync::Arc};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use platform::{
    ApiError,
    error::FieldError,
    hal::BaseUrl,
    money::Rate,
    resource::{
        Kind, Value as FieldValue,
        input::{self, body_format, parse_object},
    },
    service_client::RemoteError,
};
use serde_json::{Map, Value};

use crate::{
    Billing,
    invoice::{self, RemoteParts},
    repo::{self, NewBill, NewItem},
    saga,
};

/// Most lines one bill may have.
pub const MAX_ITEMS: usize = 200;
/// Most units one line may bill.
pub const MAX_QUANTITY: i64 = 1_000_000;

/// A validated request, before the remote checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRequest {
    /// Whose bill.
    pub customer_id: i64,
    /// When (default: now).
    pub billing_date: Option<i64>,
    /// The lines asked for, in request order.
    pub lines: Vec<RequestLine>,
}

/// One requested line, before inventory prices it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine {
    /// `productId`.
    pub product_id: i64,
    /// `quantity` (1 to [`MAX_QUANTITY`]).
    pub quantity: i64,
    /// `discount` (default none).
    pub discount: Rate,
    /// `vatRate` (default `factura.billing.vat.default-rate`).
    pub vat_rate: Option<Rate>,
}

/// The handler.
pub async fn create_bill(
    State(billing): State<Arc<Billing>>,
    base: BaseUrl,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    body_format(&headers, false)?;
    let request = parse_request(&parse_object(&body)?)?;
    let (bill, parts) = price(&billing, &request).await?;
    let id = saga::create_bill(&billing, &bill).await?;
    let stored = repo::load(&billing.db, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("bill {id} vanished after insert"))?;
    let full = invoice::assemble_from(&billing, stored, parts)?;
    let mut response = (StatusCode::CREATED, axum::Json(full)).into_response();
    if let Ok(location) = HeaderValue::from_str(&base.href(&format!("/bills/{id}"))) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn error(property: &str, value: &Value, message: impl Into<String>) -> FieldError {
    FieldError {
        entity: "Bill".into(),
        property: property.into(),
        invalid_value: value.clone(),
        message: message.into(),
    }
}

/// Converts `raw` with the field rules of `kind`; records an error (and answers `None`) when it
/// is invalid, or absent while `required`.
fn field(
    errors: &mut Vec<FieldError>,
    property: &str,
    raw: &Value,
    kind: Kind,
    required: bool,
) -> Option<FieldValue> {
    match input::convert(kind, raw) {
        Ok(FieldValue::Null) if required => {
            errors.push(error(property, raw, "must not be null"));
            None
        }
        Ok(value) => Some(value),
        Err(message) => {
            errors.push(error(property, raw, message));
            None
        }
    }
}

/// A required whole number in `min..=max`.
fn integer(
    errors: &mut Vec<FieldError>,
    property: &str,
    raw: &Value,
    min: i64,
    max: i64,
) -> Option<i64> {
    match field(errors, property, raw, Kind::Integer { min, max }, true)? {
        FieldValue::Integer(n) => Some(n),
        _ => None,
    }
}

/// Checks the body's shape and rules, reporting every problem at once.
pub fn parse_request(body: &Map<String, Value>) -> Result<BillRequest, ApiError> {
    let mut errors = Vec::new();
    let null = Value::Null;
    let customer_id = integer(
        &mut errors,
        "customerId",
        body.get("customerId").unwrap_or(&null),
        1,
        i64::MAX,
    );
    let billing_date = match field(
        &mut errors,
        "billingDate",
        body.get("billingDate").unwrap_or(&null),
        Kind::Timestamp,
        false,
    ) {
        Some(FieldValue::Timestamp(ms)) => Some(ms),
        _ => None,
    };

    let mut lines = Vec::new();
    match body.get("productItems") {
        Some(Value::Array(items)) if items.is_empty() => errors.push(error(
            "productItems",
            &Value::Array(vec![]),
            "must not be empty",
        )),
        Some(Value::Array(items)) if items.len() > MAX_ITEMS => {
            errors.push(error(
                "productItems",
                &Value::from(items.len()),
                format!("must have at most {MAX_ITEMS} lines"),
            ));
        }
        Some(Value::Array(items)) => {
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let Value::Object(item) = item else {
                    errors.push(error(
                        &format!("productItems[{i}]"),
                        item,
                        "must be an object",
                    ));
                    continue;
                };
                let at = |name: &str| format!("productItems[{i}].{name}");
                let raw = |name: &str| item.get(name).unwrap_or(&null);
                let product = integer(&mut errors, &at("productId"), raw("productId"), 1, i64::MAX);
                if let Some(product) = product
                    && !seen.insert(product)
                {
                    errors.push(error(
                        &at("productId"),
                        raw("productId"),
                        "duplicate product line: give each product once with its total quantity",
                    ));
                }
                let quantity = integer(
                    &mut errors,
                    &at("quantity"),
                    raw("quantity"),
                    1,
                    MAX_QUANTITY,
                );
                let whole = Kind::Rate {
                    max: Rate::from_units(Rate::ONE),
                };
                let discount =
                    match field(&mut errors, &at("discount"), raw("discount"), whole, false) {
                        Some(FieldValue::Rate(rate)) => Some(rate),
                        Some(_) => Some(Rate::default()),
                        None => None,
                    };
                let vat_rate =
                    match field(&mut errors, &at("vatRate"), raw("vatRate"), whole, false) {
                        Some(FieldValue::Rate(rate)) => Some(Some(rate)),
                        Some(_) => Some(None),
                        None => None,
                    };
                if let (Some(product), Some(quantity), Some(discount), Some(vat_rate)) =
                    (product, quantity, discount, vat_rate)
                {
                    lines.push(RequestLine {
                        product_id: product,
                        quantity,
                        discount,
                        vat_rate,
                    });
                }
            }
        }
        Some(other) => errors.push(error(
            "productItems",
            other,
            "must be an array of {productId, quantity, discount, vatRate}",
        )),
        None => errors.push(error("productItems", &null, "must not be null")),
    }
    match customer_id {
        Some(customer_id) if errors.is_empty() => Ok(BillRequest {
            customer_id,
            billing_date,
            lines,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// Confirms the customer and products exist and prices every line from inventory; returns
/// the bill to store and what was read for it.
async fn price(
    billing: &Billing,
    request: &BillRequest,
) -> Result<(NewBill, RemoteParts), ApiError> {
    let product_ids: Vec<i64> = request.lines.iter().map(|line| line.product_id).collect();
    let parts = RemoteParts::fetch(billing, request.customer_id, &product_ids).await;
    let (customer, products) = (&parts.customer, &parts.products);
    let mut unknown = Vec::new();
    let mut unavailable = Vec::new();
    match customer {
        Ok(_) => {}
        Err(RemoteError::NotFound { .. }) => unknown.push(error(
            "customerId",
            &Value::from(request.customer_id),
            format!("no customer with id {}", request.customer_id),
        )),
        Err(other) => unavailable.push(other.clone()),
    }
    let mut items = Vec::with_capacity(request.lines.len());
    for (i, line) in request.lines.iter().enumerate() {
        match products.get(&line.product_id) {
            Some(Ok(product)) => items.push(NewItem {
                product_id: line.product_id,
                quantity: line.quantity,
                price: product.price,
                discount: line.discount,
                vat_rate: line.vat_rate.unwrap_or(billing.vat.default_rate),
            }),
            Some(Err(RemoteError::NotFound { .. })) | None => unknown.push(error(
                &format!("productItems[{i}].productId"),
                &Value::from(line.product_id),
                format!("no product with id {}", line.product_id),
            )),
            Some(Err(other)) => unavailable.push(other.clone()),
        }
    }
    if let Some(first) = unavailable.into_iter().next() {
        return Err(ApiError::Unavailable(format!(
            "cannot check the bill right now: {first}"
        )));
    }
    if !unknown.is_empty() {
        return Err(ApiError::Validation(unknown));
    }
    let bill = NewBill {
        billing_date: request
            .billing_date
            .unwrap_or_else(platform::time::now_millis),
        customer_id: request.customer_id,
        items,
    };
    Ok((bill, parts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<BillRequest, Vec<(String, String)>> {
        parse_request(body.as_object().unwrap()).map_err(|e| match e {
            ApiError::Validation(errors) => errors
                .into_iter()
                .map(|e| (e.property, e.message))
                .collect(),
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn a_good_request_parses_with_default_discounts() {
        let request = parse(json!({ "customerId": 1, "productItems": [
            { "productId": 1, "quantity": 2 }, { "productId": 3, "quantity": 1, "discount": 0.25, "vatRate": 0.2 } ] }))
        .unwrap();
        assert_eq!(
            request.lines,
            vec![
                RequestLine {
                    product_id: 1,
                    quantity: 2,
                    discount: Rate::default(),
                    vat_rate: None,
                },
                RequestLine {
                    product_id: 3,
                    quantity: 1,
                    discount: Rate::from_units(2_500),
                    vat_rate: Some(Rate::from_units(2_000)),
                }
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_property() {
        let errors = parse(json!({ "customerId": "x", "productItems": [
            { "productId": 1, "quantity": 0 },
            { "productId": 1, "quantity": 1, "discount": 1.5 },
            "oops" ] }))
        .unwrap_err();
        let properties: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            properties,
            [
                "customerId",
                "productItems[0].quantity",
                "productItems[1].productId",
                "productItems[1].discount",
                "productItems[2]"
            ]
        );
        assert!(errors[2].1.starts_with("duplicate product line"));
    }

    #[test]
    fn empty_missing_and_huge_item_lists_are_refused() {
        assert_eq!(
            parse(json!({ "customerId": 1, "productItems": [] })).unwrap_err()[0].1,
            "must not be empty"
        );
        assert_eq!(
            parse(json!({ "customerId": 1 })).unwrap_err()[0].1,
            "must not be null"
        );
        let huge: Vec<Value> = (1..=MAX_ITEMS as i64 + 1)
            .map(|i| json!({ "productId": i, "quantity": 1 }))
            .collect();
        assert!(
            parse(json!({ "customerId": 1, "productItems": huge })).unwrap_err()[0]
                .1
                .contains("at most")
        );
    }
}
