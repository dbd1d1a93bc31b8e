//! The two fleets under comparison: Spring's customer, inventory and billing apps, and
//! factura's (with a factura discovery-service for factura's billing to find the others).

use std::time::Duration;

use conformance::{
    compare::{Differential, Probe, Rules, Side},
    spring::SpringApp,
};
use testkit::TestService;

use crate::departures::Part;

/// Both fleets' data services.
pub(crate) struct Fleet {
    spring_customers: &'static SpringApp,
    spring_products: &'static SpringApp,
    discovery: TestService,
    customers: TestService,
    products: TestService,
    /// factura's billing, kept alive with the fleet once started.
    billing: std::sync::Mutex<Option<(TestService, &'static SpringApp)>>,
}

/// Starts `app` once per test binary under `key`, off the async threads.
pub(crate) async fn spring(
    key: &'static str,
    app: &'static str,
    properties: Vec<(String, String)>,
) -> &'static SpringApp {
    tokio::task::spawn_blocking(move || {
        SpringApp::shared(key, app, &testkit::as_pairs(&properties))
    })
    .await
    .expect("the Spring app starts")
}

/// What both sides normalise the same way: Boot's error timestamps, seed-time dates, the
/// wording of top-level error messages (Jackson's parser and serde's describe the same bad
/// input in different words; whether a message is there is still compared), and the order of
/// validation errors (Spring collects them in a hash set).
pub(crate) fn rules() -> Rules {
    Rules::default()
        .blank_key("timestamp")
        .blank_key("billingDate")
        .blank_path("body/message")
        .unordered("body/errors")
}

impl Fleet {
    pub(crate) async fn start() -> Self {
        let (spring_customers, spring_products) = tokio::join!(
            spring("customers", "customer-service", Vec::new()),
            spring("products", "inventory-service", Vec::new()),
        );
        let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
        let registered = testkit::registered_with(discovery.addr);
        let customers =
            TestService::start(&customer_service::SERVICE, &testkit::as_pairs(&registered)).await;
        let products =
            TestService::start(&inventory_service::SERVICE, &testkit::as_pairs(&registered)).await;
        Self {
            spring_customers,
            spring_products,
            discovery,
            customers,
            products,
            billing: std::sync::Mutex::new(None),
        }
    }

    pub(crate) fn customers(&self) -> Differential {
        Differential::new(
            "data-rest customers",
            Side::new(&self.customers.url("")),
            Side::new(&self.spring_customers.url("")),
            crate::departures::apply(rules(), Part::Customers),
        )
    }

    pub(crate) fn products(&self) -> Differential {
        Differential::new(
            "data-rest products",
            Side::new(&self.products.url("")),
            Side::new(&self.spring_products.url("")),
            crate::departures::apply(rules(), Part::Products),
        )
    }

    /// Starts both billing services, each calling its own fleet's customer and inventory
    /// services, and waits until each has seeded its first bill.
    pub(crate) async fn billing(&self) -> Differential {
        let mut registered = testkit::registered_with(self.discovery.addr);
        // The seed application exports every write of its repositories; ours are off by
        // default (they skip `POST /bills`'s checks), opened here to compare like with like.
        registered.push(("factura.billing.generic-writes".into(), "true".into()));
        let ours =
            TestService::start(&billing_service::SERVICE, &testkit::as_pairs(&registered)).await;
        let spring_billing = spring(
            "billing",
            "billing-service",
            vec![
                (
                    "spring.cloud.discovery.client.simple.instances[CUSTOMER-SERVICE][0].uri"
                        .into(),
                    self.spring_customers.url(""),
                ),
                (
                    "spring.cloud.discovery.client.simple.instances[INVENTORY-SERVICE][0].uri"
                        .into(),
                    self.spring_products.url(""),
                ),
            ],
        )
        .await;
        let differential = Differential::new(
            "data-rest billing",
            Side::new(&ours.url("")),
            Side::new(&spring_billing.url("")),
            crate::departures::apply(rules(), Part::Billing),
        );
        for side in [&differential.ours, &differential.spring] {
            testkit::eventually(
                &format!("the first bill at {}", side.base),
                Duration::from_secs(60),
                || async {
                    let answer = differential
                        .send(side, &Probe::get("/bills/1/productItems"))
                        .await;
                    let items = answer.body["_embedded"]["productItems"].as_array()?;
                    (answer.status == 200 && items.len() == 3).then_some(())
                },
            )
            .await;
        }
        *self.billing.lock().expect("billing lock") = Some((ours, spring_billing));
        differential
    }
}
