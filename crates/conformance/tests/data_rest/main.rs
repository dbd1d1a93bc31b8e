//! Spring Data REST, differentially: the Spring reference apps of `conformance/spring/`
//! (customer-service, inventory-service, billing-service on JPA/H2) and factura's services,
//! started from the same entities and seed rows, answer the same scripted requests, and the
//! answers are compared (status, meaningful headers, bodies as trees).
//!
//! * [`reads`]: root, collections with paging and sorting edges, items, conditional GETs,
//!   content negotiation, searches, `/profile` (ALPS and JSON Schema), unknown paths;
//! * [`writes`]: every write's status, headers and body by `Accept`, `If-Match`, error bodies;
//! * [`billing`]: `/bills`, `/productItems`, association resources and URI links, `/fullBill`,
//!   each billing calling its own customer and inventory services;
//! * [`settings`]: the `spring.data.rest.*` keys Spring users set, the same way on both.
//!
//! The scenarios that write run after those that only read, in one test per fleet, so that
//! both sides see the same rows in the same order.

mod billing;
mod departures;
mod fleet;
mod reads;
mod settings;
mod writes;

use conformance::compare::Differential;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_products_and_bills_answer_as_spring_data_rest_does() {
    let fleet = fleet::Fleet::start().await;
    let customers = fleet.customers();
    let products = fleet.products();
    reads::customers(&customers).await;
    reads::products(&products).await;
    reads::common(&customers).await;
    let bills = fleet.billing().await;
    billing::reads(&bills).await;
    writes::customers(&customers).await;
    writes::products(&products).await;
    billing::writes(&bills).await;
    finish(&[&customers, &products, &bills]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_data_rest_settings_act_the_same() {
    settings::run().await;
}

/// Prints every tally, then fails if any part differed in an undeclared way.
pub(crate) fn finish(differentials: &[&Differential]) {
    let mut all_ok = true;
    for differential in differentials {
        let (report, ok) = differential.report();
        eprintln!("{report}");
        all_ok &= ok;
    }
    assert!(
        all_ok,
        "factura differs from Spring Data REST (see the reports above)"
    );
}
