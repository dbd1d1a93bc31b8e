//! Stock reservations, the inventory side of billing's saga: `/reservations/{id}`, where the
//! caller picks the id, so that every step can be retried without counting twice.
//!
//! * `PUT /reservations/{id}` `{"lines": [{"productId": 1, "quantity": 2}, …]}` takes every
//!   line's quantity off its product's stock in one transaction, or none: 201 with the
//!   reservation; the same PUT again is a 200 with the same reservation and takes nothing more;
//!   not enough stock is a 409 naming the product, what was asked and what is available.
//! * `DELETE /reservations/{id}` puts the stock back (200 with the reservation, now
//!   `RELEASED`); again, nothing more. Releasing an id never reserved records it as released,
//!   so a late `PUT` of that id (a delayed retry) is refused (409) instead of taking stock that
//!   nobody would ever give back.
//! * `GET /reservations/{id}`: the reservation, or 404.
//!
//! Overselling is impossible: each line is one `UPDATE … SET quantity = quantity - n WHERE
//! quantity >= n`, which PostgreSQL re-checks under the row lock when writers race, and SQLite
//! runs the transaction under its write lock ([`Database::begin_write`]). Lines are taken in product
//! order, so two reservations never wait for each other in a cycle.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::put,
};
use platform::{
    ApiError,
    db::Database,
    error::FieldError,
    hal::BaseUrl,
    resource::input::{body_format, parse_object},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row as _;

/// Most lines one reservation may have.
pub const MAX_LINES: usize = 500;
/// The longest reservation id.
pub const MAX_ID_LEN: usize = 64;

/// One reserved line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    /// The product.
    pub product_id: i64,
    /// How many units.
    pub quantity: i64,
}

/// The routes, on `db`.
pub fn routes(db: Database) -> Router {
    Router::new()
        .route("/reservations/{id}", put(reserve).delete(release).get(read))
        .with_state(db)
}

fn check_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "a reservation id is 1 to {MAX_ID_LEN} letters, digits, '-' or '_'"
        )))
    }
}

fn field_error(property: &str, value: &Value, message: &str) -> FieldError {
    FieldError {
        entity: "Reservation".into(),
        property: property.into(),
        invalid_value: value.clone(),
        message: message.into(),
    }
}

/// The body's lines, sorted by product, every problem reported at once.
fn parse_lines(body: &serde_json::Map<String, Value>) -> Result<Vec<Line>, ApiError> {
    let Some(Value::Array(items)) = body.get("lines") else {
        return Err(ApiError::Validation(vec![field_error(
            "lines",
            body.get("lines").unwrap_or(&Value::Null),
            "must be an array of {productId, quantity}",
        )]));
    };
    let mut errors = Vec::new();
    if items.is_empty() || items.len() > MAX_LINES {
        errors.push(field_error(
            "lines",
            &Value::from(items.len()),
            &format!("must have 1 to {MAX_LINES} lines"),
        ));
    }
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let number = |name: &str, min: i64| {
            item.get(name)
                .and_then(Value::as_i64)
                .filter(|n| *n >= min && *n <= i64::from(i32::MAX))
        };
        match (number("productId", 1), number("quantity", 1)) {
            (Some(product_id), Some(quantity)) => lines.push(Line {
                product_id,
                quantity,
            }),
            _ => errors.push(field_error(
                &format!("lines[{i}]"),
                item,
                "must be {productId, quantity} with whole numbers of at least 1",
            )),
        }
    }
    lines.sort_by_key(|l| l.product_id);
    if lines.windows(2).any(|w| w[0].product_id == w[1].product_id) {
        errors.push(field_error(
            "lines",
            &Value::Null,
            "each product may appear once",
        ));
    }
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// A stored reservation.
struct Stored {
    state: String,
    lines: Vec<Line>,
}

async fn load(executor: &mut sqlx::AnyConnection, id: &str) -> Result<Option<Stored>, ApiError> {
    let Some(row) = sqlx::query("SELECT state FROM reservations WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *executor)
        .await?
    else {
        return Ok(None);
    };
    let lines = sqlx::query(
        "SELECT product_id, quantity FROM reservation_lines WHERE reservation_id = $1 ORDER BY product_id",
    )
    .bind(id)
    .fetch_all(&mut *executor)
    .await?
    .iter()
    .map(|r| {
        Ok(Line {
            product_id: r.try_get(0)?,
            quantity: r.try_get(1)?,
        })
    })
    .collect::<Result<_, sqlx::Error>>()?;
    Ok(Some(Stored {
        state: row.try_get(0)?,
        lines,
    }))
}

fn model(base: &BaseUrl, id: &str, stored: &Stored) -> Value {
    let href = base.href(&format!("/reservations/{id}"));
    json!({
        "id": id,
        "state": stored.state,
        "lines": stored.lines,
        "_links": { "self": { "href": href }, "reservation": { "href": href } }
    })
}

fn answer(status: StatusCode, base: &BaseUrl, id: &str, stored: &Stored) -> Response {
    let mut response = (status, Json(model(base, id, stored))).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/hal+json"),
    );
    if status == StatusCode::CREATED
        && let Ok(location) =
            header::HeaderValue::from_str(&base.href(&format!("/reservations/{id}")))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn reserve(
    State(db): State<Database>,
    base: BaseUrl,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    body_format(&headers, false)?;
    let lines = parse_lines(&parse_object(&body)?)?;
    let mut tx = db.begin_write().await?;
    let now = platform::time::now_millis();
    let inserted = sqlx::query(
        "INSERT INTO reservations (id, state, created_at) VALUES ($1, 'RESERVED', $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        let existing = load(&mut tx, &id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("reservation {id} vanished"))?;
        tx.rollback().await?;
        return match existing.state.as_str() {
            "RELEASED" => Err(ApiError::Conflict(format!(
                "reservation {id} was released; a released reservation is not taken again"
            ))),
            _ if existing.lines != lines => Err(ApiError::Conflict(format!(
                "reservation {id} exists with other lines"
            ))),
            _ => Ok(answer(StatusCode::OK, &base, &id, &existing)),
        };
    }
    for line in &lines {
        let taken = sqlx::query(
            "UPDATE products SET quantity = quantity - $1, version = version + 1 WHERE id = $2 AND quantity >= $1",
        )
        .bind(line.quantity)
        .bind(line.product_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken == 0 {
            let product = sqlx::query("SELECT name, quantity FROM products WHERE id = $1")
                .bind(line.product_id)
                .fetch_optional(&mut *tx)
                .await?;
            tx.rollback().await?;
            let Some(product) = product else {
                return Err(ApiError::Validation(vec![field_error(
                    "lines",
                    &Value::from(line.product_id),
                    &format!("no product with id {}", line.product_id),
                )]));
            };
            let name: String = product.try_get(0)?;
            let available: i64 = product.try_get(1)?;
            return Err(ApiError::Conflict(format!(
                "not enough stock of product {} ({name}): {} requested, {available} available",
                line.product_id, line.quantity
            )));
        }
        sqlx::query(
            "INSERT INTO reservation_lines (reservation_id, product_id, quantity) VALUES ($1, $2, $3)",
        )
        .bind(&id)
        .bind(line.product_id)
        .bind(line.quantity)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let stored = Stored {
        state: "RESERVED".into(),
        lines,
    };
    Ok(answer(StatusCode::CREATED, &base, &id, &stored))
}

async fn release(
    State(db): State<Database>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let mut tx = db.begin_write().await?;
    let now = platform::time::now_millis();
    // An id never reserved is recorded as released, so that its reservation cannot come later.
    sqlx::query(
        "INSERT INTO reservations (id, state, created_at, released_at) VALUES ($1, 'RELEASED', $2, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let released = sqlx::query(
        "UPDATE reservations SET state = 'RELEASED', released_at = $2 WHERE id = $1 AND state = 'RESERVED'",
    )
    .bind(&id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let stored = load(&mut tx, &id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("reservation {id} vanished"))?;
    if released == 1 {
        for line in &stored.lines {
            // A product deleted meanwhile has no stock to return to.
            sqlx::query(
                "UPDATE products SET quantity = quantity + $1, version = version + 1 WHERE id = $2",
            )
            .bind(line.quantity)
            .bind(line.product_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(answer(StatusCode::OK, &base, &id, &stored))
}

async fn read(
    State(db): State<Database>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let mut conn = db.pool().acquire().await?;
    let stored = load(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no reservation {id}")))?;
    Ok(answer(StatusCode::OK, &base, &id, &stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_checked_and_sorted_by_product() {
        let body = json!({ "lines": [ { "productId": 3, "quantity": 1 }, { "productId": 1, "quantity": 2 } ] });
        let lines = parse_lines(body.as_object().unwrap()).unwrap();
        assert_eq!(
            lines,
            [
                Line {
                    product_id: 1,
                    quantity: 2
                },
                Line {
                    product_id: 3,
                    quantity: 1
                }
            ]
        );
        for bad in [
            json!({}),
            json!({ "lines": [] }),
            json!({ "lines": [ { "productId": 1, "quantity": 0 } ] }),
            json!({ "lines": [ { "productId": 1, "quantity": 1 }, { "productId": 1, "quantity": 2 } ] }),
        ] {
            assert!(parse_lines(bad.as_object().unwrap()).is_err(), "{bad}");
        }
        assert!(check_id("r-1_a").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("a/b").is_err());
    }
}
