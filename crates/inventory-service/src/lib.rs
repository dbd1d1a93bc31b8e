//! inventory-service: the product catalogue, `Product {id, name, price, quantity}`, served with
//! the Spring Data REST contract at `/products` (port 8082).
//!
//! Prices are exact (cents in storage, Spring's `double` shape on the wire). Everything HTTP
//! comes from [`platform::resource`]; this crate declares the entity, and serves the stock
//! [`reservations`] billing's saga takes and gives back.

pub mod reservations;

use platform::{
    Application, ServiceContext, ServiceDefinition, db,
    money::Money,
    resource::{self, Field, Matching, ResourceSpec, Search},
};

/// `Product {id, name, price, quantity}`: name required, price and quantity non-negative.
pub static PRODUCTS: ResourceSpec = ResourceSpec {
    entity: "Product",
    collection: "products",
    item: "product",
    table: "products",
    fields: &[
        Field::text("name", 255).required(),
        Field::money("price", Money::from_cents(0)).required(),
        Field::integer("quantity", 0, i32::MAX as i64).required(),
    ],
    searches: &[
        Search {
            path: "byName",
            param: "name",
            field: "name",
            matching: Matching::ContainsIgnoreCase,
        },
        // Billing's batch lookup: every product of a bill in one call.
        Search {
            path: "byIdIn",
            param: "ids",
            field: "id",
            matching: Matching::In,
        },
    ],
    seed: &[
        r#"{"name": "Computer Desk", "price": 890, "quantity": 12}"#,
        r#"{"name": "Printer", "price": 420, "quantity": 8}"#,
        r#"{"name": "Smartphone", "price": 240, "quantity": 20}"#,
    ],
    children: &[],
};

/// How `factura` runs this service.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "inventory-service",
    default_port: 8082,
    defaults: &[],
    build: |context| Box::pin(build(context)),
};

/// Opens the database and mounts the product resource.
pub async fn build(context: ServiceContext) -> anyhow::Result<Application> {
    let db = db::open(&context, platform::migrations!()).await?;
    let routes = resource::mount(
        &[&PRODUCTS],
        &db,
        &context.settings.current(),
        "inventory-service",
    )
    .await?
    .merge(reservations::routes(db));
    context.into_application(routes).await
}
