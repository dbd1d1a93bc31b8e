//! customer-service: the customers of the billing system, `Customer {id, name, email}`, served
//! with the Spring Data REST contract at `/customers` (port 8081).
//!
//! Everything HTTP comes from [`platform::resource`]; this crate only declares the entity, its
//! rules, searches and seed rows. `GET /configtest1` shows the live central settings
//! `global.params.p1`/`p2` (the reference application's configuration check).

use axum::{Json, Router, extract::State, routing::get};
use platform::{
    Application, ServiceContext, ServiceDefinition,
    app::SharedSettings,
    db,
    resource::{self, Field, Matching, ResourceSpec, Search},
};
use serde_json::{Value, json};

/// `Customer {id, name, email}`: name required, e-mail well-formed and unique.
pub static CUSTOMERS: ResourceSpec = ResourceSpec {
    entity: "Customer",
    collection: "customers",
    item: "customer",
    table: "customers",
    fields: &[
        Field::text("name", 255).required(),
        Field::email("email").required().unique(),
    ],
    searches: &[
        Search {
            path: "byName",
            param: "name",
            field: "name",
            matching: Matching::ContainsIgnoreCase,
        },
        Search {
            path: "byEmail",
            param: "email",
            field: "email",
            matching: Matching::Unique,
        },
    ],
    seed: &[
        r#"{"name": "Hassan", "email": "hassan@mail.com"}"#,
        r#"{"name": "Mohamed", "email": "mohamed@mail.com"}"#,
        r#"{"name": "Ali", "email": "ali@mail.com"}"#,
    ],
    children: &[],
};

/// How `factura` runs this service.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "customer-service",
    default_port: 8081,
    defaults: &[],
    build: |context| Box::pin(build(context)),
};

/// Opens the database and mounts the customer resource.
pub async fn build(context: ServiceContext) -> anyhow::Result<Application> {
    let db = db::open(&context, platform::migrations!()).await?;
    let routes = resource::mount(
        &[&CUSTOMERS],
        &db,
        &context.settings.current(),
        "customer-service",
    )
    .await?
    .merge(config_test_routes(context.settings.clone()));
    context.into_application(routes).await
}

/// `GET /configtest1`: `{"p1": …, "p2": …}` from `global.params.p1/p2`, read per request so a
/// configuration refresh shows at once.
fn config_test_routes(settings: SharedSettings) -> Router {
    Router::new()
        .route("/configtest1", get(config_test))
        .with_state(settings)
}

async fn config_test(State(settings): State<SharedSettings>) -> Json<Value> {
    let current = settings.current();
    let param = |key: &str| match current.get(key) {
        Some(text) => text
            .trim()
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.clone()), Value::from),
        None => Value::Null,
    };
    Json(json!({ "p1": param("global.params.p1"), "p2": param("global.params.p2") }))
}
