//! customer-service: the customers of the billing system, `Customer {id, name, email}`, served
//! with the Spring Data REST contract at `/customers` (port 8081).
//!
//! Everything HTTP comes from [`platform::resource`]; this crate only declares the entity, its
//! rules, searches and seed rows.

use platform::{
    Application, ServiceContext, ServiceDefinition,
    db::{self, Migrations},
    resource::{self, Field, Matching, ResourceSpec, Search},
};

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
};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How `factura` runs this service.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "customer-service",
    default_port: 8081,
    defaults: &[],
    build: |context| Box::pin(build(context)),
};

/// Opens the database and mounts the customer resource.
pub async fn build(context: ServiceContext) -> anyhow::Result<Application> {
    let db = db::open(
        &context,
        Migrations {
            sqlite: &SQLITE,
            postgres: &POSTGRES,
        },
    )
    .await?;
    let routes = resource::mount(&[&CUSTOMERS], &db, "customer-service").await?;
    context.into_application(routes).await
}
