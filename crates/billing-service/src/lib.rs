//! billing-service: bills and their product items (port 8083), and the full invoice built from
//! the customer and inventory services, found through discovery.
//!
//! * `/bills`, `/productItems` (and `/bills/{id}/productItems`, `/bills/search/byCustomerId`)
//!   come from the generic Spring Data REST resource, declared in [`BILLS`] and [`PRODUCT_ITEMS`],
//!   read-only by default ([`GenericWrites`]): a bill's lines, prices and customer are made
//!   only by `POST /bills`, which checks them, and changed only through the lifecycle;
//! * [`invoice`]: `GET /fullBill/{id}`, the bill with its customer and products filled in,
//!   line amounts and total, degrading (never failing) when a remote service is down;
//! * [`create`]: `POST /bills`, which checks the customer and products remotely, prices items
//!   from inventory, and stores bill and items in one transaction;
//! * [`saga`]: the stock each bill holds in inventory-service, reserved before the bill is
//!   stored, given back when it cannot be or when the bill is cancelled, and recovered from
//!   sagas an instance left unfinished;
//! * [`lifecycle`]: what happens to a bill after it is made — issue, payments, cancellation
//!   by credit note — ([`numbering`]: the gap-free numbers; [`amounts`]: what a bill comes to);
//! * [`revenue`]: `GET /bills/revenue`, the bills' revenue overall, by month and by product;
//! * [`repo`]: the SQL that reads a bill with its items and stores a new one atomically;
//! * [`clients`]: the typed clients for the two remote services (the Feign role);
//! * [`seed`]: the first bill, created in the background once the other services answer.

pub mod amounts;
pub mod clients;
pub mod create;
pub mod invoice;
pub mod lifecycle;
pub mod numbering;
pub mod repo;
pub mod revenue;
pub mod saga;
pub mod seed;

use std::sync::Arc;

use axum::routing::{get, post};
use platform::{
    Application, ServiceContext, ServiceDefinition,
    db::{self, Database},
    money::{Money, Rate},
    resource::{self, Child, Field, Matching, ResourceSpec, Search},
};

use crate::clients::{CustomerClient, ProductClient};

/// `Bill {id, billingDate, customerId}`, with its product items as a linked association.
pub static BILLS: ResourceSpec = ResourceSpec {
    entity: "Bill",
    collection: "bills",
    item: "bill",
    table: "bills",
    fields: &[
        Field::timestamp("billingDate", "billing_date").required(),
        Field::integer("customerId", 1, i64::MAX)
            .column("customer_id")
            .required(),
    ],
    searches: &[Search {
        path: "byCustomerId",
        param: "customerId",
        field: "customerId",
        matching: Matching::Equals,
    }],
    seed: &[],
    children: &[Child {
        rel: "productItems",
        spec: &PRODUCT_ITEMS,
        field: "bill",
    }],
};

/// `ProductItem {id, productId, quantity, price, discount, bill}`: the bill is an association,
/// rendered as the link `…/productItems/{id}/bill` and written as the bill's URI.
pub static PRODUCT_ITEMS: ResourceSpec = ResourceSpec {
    entity: "ProductItem",
    collection: "productItems",
    item: "productItem",
    table: "product_items",
    fields: &[
        Field::integer("productId", 1, i64::MAX)
            .column("product_id")
            .required(),
        Field::integer("quantity", 1, create::MAX_QUANTITY).required(),
        Field::money("price", Money::from_cents(0)).required(),
        Field::rate("discount", Rate::from_units(Rate::ONE)),
        Field::reference("bill", "bills", "bills")
            .column("bill_id")
            .required(),
    ],
    searches: &[],
    seed: &[],
    children: &[],
};

/// `factura.billing.generic-writes` (default false): whether `/bills` and `/productItems` also
/// take Spring Data REST's generic writes (POST/PUT/PATCH/DELETE of items and associations),
/// as the seed application does. Off, they answer 405 (Spring Data REST's answer for a
/// repository whose `save`/`delete` are not exported): those writes skip what `POST /bills`
/// checks — the customer, the products, inventory's prices and the stock the saga reserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenericWrites {
    /// Whether the generic writes are mapped.
    pub enabled: bool,
}

impl platform::settings::FromSection for GenericWrites {
    fn from_section(
        section: &platform::settings::Section<'_>,
    ) -> Result<Self, platform::settings::SettingsError> {
        Ok(Self {
            enabled: section.flag("generic-writes", false)?,
        })
    }
}

/// How `factura` runs this service.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "billing-service",
    default_port: 8083,
    defaults: &[
        // Small windows so a dead dependency is noticed within a few calls, not a hundred.
        (
            "resilience4j.circuitbreaker.configs.default.sliding-window-size",
            "10",
        ),
        (
            "resilience4j.circuitbreaker.configs.default.minimum-number-of-calls",
            "5",
        ),
        (
            "resilience4j.circuitbreaker.configs.default.wait-duration-in-open-state",
            "10s",
        ),
        (
            "resilience4j.circuitbreaker.configs.default.permitted-number-of-calls-in-half-open-state",
            "3",
        ),
    ],
    build: |context| Box::pin(build(context)),
};

/// What the billing handlers share.
#[derive(Debug, Clone)]
pub struct Billing {
    /// The service's own database.
    pub db: Database,
    /// customer-service, through discovery.
    pub customers: CustomerClient,
    /// inventory-service, through discovery.
    pub products: ProductClient,
    /// `factura.billing.saga.*`.
    pub saga: saga::SagaSettings,
    /// `factura.billing.invoice.*` and `factura.billing.credit-note.*`.
    pub numbering: numbering::NumberingSettings,
    /// `factura.billing.vat.*`.
    pub vat: amounts::VatSettings,
}

/// Opens the database, mounts the resources and the invoice endpoints, starts the seeder.
pub async fn build(mut context: ServiceContext) -> anyhow::Result<Application> {
    let db = db::open(&context, platform::migrations!()).await?;
    let settings = context.settings.current();
    let billing = Arc::new(Billing {
        db: db.clone(),
        customers: CustomerClient::new(&context)?,
        products: ProductClient::new(&context)?,
        saga: settings.bind("factura.billing.saga")?,
        numbering: settings.bind("factura.billing")?,
        vat: settings.bind("factura.billing.vat")?,
    });
    let seeder = billing.clone();
    context.on_start(move |started| seed::seed_first_bill(seeder, started.shutdown));
    let recovery = billing.clone();
    context.on_start(move |started| saga::recover_forever(recovery, started.shutdown));
    let create = post(create::create_bill).with_state(billing.clone());
    let generic_writes: GenericWrites = settings.bind("factura.billing")?;
    let read_only: &[&str] = if generic_writes.enabled {
        &[]
    } else {
        &[BILLS.collection, PRODUCT_ITEMS.collection]
    };
    let routes = resource::mount_with_creators(
        &[&BILLS, &PRODUCT_ITEMS],
        &db,
        &context.settings.current(),
        "billing-service",
        vec![("bills", create)],
        read_only,
    )
    .await?
    .route(
        "/fullBill/{id}",
        get(invoice::full_bill).with_state(billing.clone()),
    )
    .route(
        "/bills/revenue",
        get(revenue::revenue).with_state(billing.clone()),
    )
    .merge(lifecycle::routes(
        billing,
        platform::idempotency::Idempotency::from_settings(db.clone(), &settings)?,
    ));
    context.into_application(routes).await
}
