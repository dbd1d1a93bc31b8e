//! The stock saga against real services: a bill takes its stock from inventory, gives it back
//! when it is cancelled or cannot be stored, is refused with nothing stored when the stock is
//! short, never oversells under concurrency (also with two billing and two inventory instances
//! on PostgreSQL), and a billing instance killed between the steps strands no stock.

use std::time::Duration;

use platform::db::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{TestDatabase, TestService, eventually};

use crate::helpers::{registered, wait_for_instances};

/// Discovery, customer-service, `inventories` inventory-services on one database and the
/// billing instances on another.
pub(crate) struct Fleet {
    pub(crate) discovery: TestService,
    pub(crate) customers: TestService,
    pub(crate) inventory: Vec<TestService>,
    pub(crate) billing: Vec<TestService>,
    pub(crate) http: reqwest::Client,
}

/// Opens the generic Spring Data REST writes on `/bills` and `/productItems` (off by default),
/// for the tests of the rules the database keeps whichever way a row is written.
pub(crate) const GENERIC_WRITES: (&str, &str) = ("factura.billing.generic-writes", "true");

/// Billing's settings in these tests: timeouts generous enough for a loaded machine, recovery
/// quick.
const SAGA: &[(&str, &str)] = &[
    (
        "spring.cloud.openfeign.client.config.default.read-timeout",
        "10000",
    ),
    ("factura.billing.saga.stale-after", "1s"),
    ("factura.billing.saga.recovery-interval", "200ms"),
];

impl Fleet {
    pub(crate) async fn start(inventories: usize, billings: usize) -> Self {
        Self::start_with(inventories, billings, &[]).await
    }

    pub(crate) async fn start_with(
        inventories: usize,
        billings: usize,
        extra: &[(&str, &str)],
    ) -> Self {
        let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
        let props = registered(&discovery);
        let props = testkit::as_pairs(&props);
        let customers = TestService::start(&customer_service::SERVICE, &props).await;
        let mut inventory: Vec<TestService> = Vec::new();
        for i in 0..inventories {
            let instance = match inventory.first() {
                Some(first) if i > 0 => {
                    TestService::start_with_database(
                        &inventory_service::SERVICE,
                        &props,
                        first.database.shared(),
                    )
                    .await
                }
                _ => TestService::start(&inventory_service::SERVICE, &props).await,
            };
            inventory.push(instance);
        }
        let mut billing_props = props.clone();
        billing_props.extend_from_slice(SAGA);
        billing_props.extend_from_slice(extra);
        let mut billing: Vec<TestService> = Vec::new();
        for i in 0..billings {
            let instance = match billing.first() {
                Some(first) if i > 0 => {
                    TestService::start_with_database(
                        &billing_service::SERVICE,
                        &billing_props,
                        first.database.shared(),
                    )
                    .await
                }
                _ => TestService::start(&billing_service::SERVICE, &billing_props).await,
            };
            billing.push(instance);
        }
        let fleet = Self {
            discovery,
            customers,
            inventory,
            billing,
            http: reqwest::Client::new(),
        };
        wait_for_instances(&fleet.discovery, &fleet.http, "CUSTOMER-SERVICE", 1).await;
        wait_for_instances(
            &fleet.discovery,
            &fleet.http,
            "INVENTORY-SERVICE",
            inventories,
        )
        .await;
        fleet
    }

    pub(crate) async fn stock(&self, product: i64) -> i64 {
        stock(&self.inventory[0], product).await
    }

    /// A new product with `quantity` in stock; its id.
    pub(crate) async fn product(&self, quantity: i64) -> i64 {
        let response = self
            .http
            .post(self.inventory[0].url("/products"))
            .header("accept", "application/json")
            .json(&json!({ "name": "Rare lamp", "price": 19.99, "quantity": quantity }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    /// Waits until billing has seeded its first bill.
    pub(crate) async fn complete_seed(&self) {
        let (http, url) = (self.http.clone(), self.billing[0].url("/fullBill/1"));
        eventually("the seeded bill", Duration::from_secs(20), || async {
            let body: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            (body["complete"] == true).then_some(())
        })
        .await;
    }

    pub(crate) async fn stop(self) {
        for instance in self.billing.into_iter().rev() {
            instance.stop().await;
        }
        for instance in self.inventory.into_iter().rev() {
            instance.stop().await;
        }
        self.customers.stop().await;
        self.discovery.stop().await;
    }
}

async fn stock(inventory: &TestService, product: i64) -> i64 {
    inventory.get_json(&format!("/products/{product}")).await["quantity"]
        .as_i64()
        .expect("a quantity")
}

pub(crate) async fn post_bill(
    http: &reqwest::Client,
    billing: &TestService,
    body: &Value,
) -> (StatusCode, Value) {
    let response = http
        .post(billing.url("/bills"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

const RESERVED_BILLS: &str = "SELECT COUNT(*) FROM bills WHERE reservation_id IS NOT NULL";
const OPEN_SAGAS: &str = "SELECT COUNT(*) FROM sagas";

pub(crate) fn lines(product: i64, quantity: i64) -> Value {
    json!({ "customerId": 1, "productItems": [ { "productId": product, "quantity": quantity } ] })
}

#[tokio::test]
async fn a_bill_takes_its_stock_and_cancelling_it_gives_the_stock_back() {
    let fleet = Fleet::start(1, 1).await;
    let billing = &fleet.billing[0];
    let (status, bill) = post_bill(&fleet.http, billing, &lines(2, 3)).await;
    assert_eq!(status, StatusCode::CREATED, "{bill}");
    assert_eq!(bill["status"], "DRAFT");
    assert_eq!(fleet.stock(2).await, 5, "8 in stock, 3 billed");
    let id = bill["id"].as_i64().unwrap();

    let cancel = |id: i64| {
        let (http, url) = (
            fleet.http.clone(),
            billing.url(&format!("/bills/{id}/cancel")),
        );
        async move {
            let response = http.post(url).send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, cancelled) = cancel(id).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(fleet.stock(2).await, 8, "the stock is back");
    let (status, again) = cancel(id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        again["message"].as_str().unwrap().contains("is CANCELLED"),
        "{again}"
    );
    assert_eq!(fleet.stock(2).await, 8, "given back once");
    assert_eq!(cancel(9999).await.0, StatusCode::NOT_FOUND);
    assert_eq!(billing.database.count(OPEN_SAGAS).await, 0);
    fleet.stop().await;
}

#[tokio::test]
async fn short_stock_is_409_naming_the_product_and_stores_nothing_anywhere() {
    let fleet = Fleet::start(1, 1).await;
    let billing = &fleet.billing[0];
    let before = billing.database.count("SELECT COUNT(*) FROM bills").await;
    let (status, error) = post_bill(
        &fleet.http,
        billing,
        &json!({ "customerId": 1, "productItems": [
            { "productId": 1, "quantity": 2 }, { "productId": 2, "quantity": 9 } ] }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["status"], 409);
    assert_eq!(
        error["message"],
        "cannot bill this: not enough stock of product 2 (Printer): 9 requested, 8 available"
    );
    assert_eq!(error["path"], "/bills");
    assert_eq!((fleet.stock(1).await, fleet.stock(2).await), (12, 8));
    assert_eq!(
        billing.database.count("SELECT COUNT(*) FROM bills").await,
        before
    );
    assert_eq!(billing.database.count(OPEN_SAGAS).await, 0);
    fleet.stop().await;
}

#[tokio::test]
async fn a_bill_that_cannot_be_stored_gives_its_reserved_stock_back() {
    let fleet = Fleet::start(1, 1).await;
    let billing = &fleet.billing[0];
    // A real failure of billing's database after the reservation: inserts into bills refused.
    let db = billing.database.open().await;
    let statements: &[&str] = match db.backend() {
        Backend::Sqlite => &[
            "CREATE TRIGGER refuse_bills BEFORE INSERT ON bills BEGIN SELECT RAISE(ABORT, 'disk full'); END",
        ],
        Backend::Postgres => &[
            "CREATE FUNCTION refuse_bills() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RAISE EXCEPTION 'disk full'; END $f$",
            "CREATE TRIGGER refuse_bills BEFORE INSERT ON bills FOR EACH ROW EXECUTE FUNCTION refuse_bills()",
        ],
    };
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(db.pool())
            .await
            .unwrap();
    }
    db.close().await;
    let (status, error) = post_bill(&fleet.http, billing, &lines(3, 4)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{error}");
    assert!(
        !error.to_string().contains("disk full"),
        "no internals leak: {error}"
    );
    assert_eq!(fleet.stock(3).await, 20, "the reservation was released");
    assert_eq!(billing.database.count(OPEN_SAGAS).await, 0);
    fleet.stop().await;
}

async fn fifty_bills_for_ten_in_stock(fleet: &Fleet) {
    let product = fleet.product(10).await;
    let fleet_http = fleet.http.clone();
    let urls: Vec<String> = fleet.billing.iter().map(|b| b.url("/bills")).collect();
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let http = fleet_http.clone();
            let url = urls[i % urls.len()].clone();
            tokio::spawn(async move {
                let response = http
                    .post(url)
                    .json(&lines(product, 1))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (status, body)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .map(|(_, body)| body)
        .collect();
    let others: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s != StatusCode::CREATED && *s != StatusCode::CONFLICT)
        .collect();
    eprintln!(
        "50 concurrent bills on {} billing and {} inventory instance(s): {created} created, {} refused, in {:?}",
        fleet.billing.len(),
        fleet.inventory.len(),
        refused.len(),
        started.elapsed()
    );
    assert!(others.is_empty(), "{others:?}");
    assert_eq!((created, refused.len()), (10, 40));
    assert!(
        refused
            .iter()
            .all(|e| e["message"].as_str().unwrap().contains(&format!(
                "not enough stock of product {product} (Rare lamp): 1 requested, 0 available"
            ))),
        "{refused:?}"
    );
    for inventory in &fleet.inventory {
        assert_eq!(stock(inventory, product).await, 0);
    }
    let database = &fleet.billing[0].database;
    assert_eq!(database.count(RESERVED_BILLS).await, 10);
    assert_eq!(database.count(OPEN_SAGAS).await, 0);
}

#[tokio::test]
async fn fifty_concurrent_bills_for_ten_in_stock_sell_exactly_ten() {
    let fleet = Fleet::start(1, 1).await;
    fifty_bills_for_ten_in_stock(&fleet).await;
    fleet.stop().await;
}

#[tokio::test]
async fn two_billing_and_two_inventory_instances_never_oversell_on_postgres() {
    if std::env::var(testkit::TEST_DATABASE_URL).map_or(true, |url| url.is_empty()) {
        eprintln!("skipped: set TEST_DATABASE_URL to run the PostgreSQL leg");
        return;
    }
    let fleet = Fleet::start(2, 2).await;
    fifty_bills_for_ten_in_stock(&fleet).await;
    fleet.stop().await;
}

#[tokio::test]
async fn a_billing_instance_killed_between_reserving_and_storing_strands_no_stock() {
    let fleet = Fleet::start(1, 0).await;
    let discovery_props = registered(&fleet.discovery);
    let mut props = testkit::as_pairs(&discovery_props);
    props.extend_from_slice(SAGA);
    let database = TestDatabase::new();
    // The first instance holds every bill between its two steps, and recovers nothing itself.
    let mut held = props.clone();
    held.extend_from_slice(&[
        ("factura.billing.saga.pause-after-reserve", "60s"),
        ("factura.billing.saga.stale-after", "10m"),
    ]);
    let doomed = TestService::start_killable_with_database(
        &billing_service::SERVICE,
        &held,
        database.shared(),
    )
    .await;
    let registry = doomed.registry.clone();
    eventually(
        "billing sees its peers",
        Duration::from_secs(20),
        || async {
            let ready = !registry.up_instances("INVENTORY-SERVICE").is_empty()
                && !registry.up_instances("CUSTOMER-SERVICE").is_empty();
            ready.then_some(())
        },
    )
    .await;
    let request = {
        let (http, url) = (fleet.http.clone(), doomed.url("/bills"));
        tokio::spawn(async move { http.post(url).json(&lines(2, 5)).send().await })
    };
    let inventory = &fleet.inventory[0];
    eventually("the stock reserved", Duration::from_secs(20), || async {
        (stock(inventory, 2).await == 3).then_some(())
    })
    .await;
    assert_eq!(database.count(OPEN_SAGAS).await, 1, "a saga under way");
    doomed.kill();
    assert!(request.await.unwrap().is_err(), "the request died with it");

    // Another instance on the same database finds the stale saga and gives the stock back.
    let survivor =
        TestService::start_with_database(&billing_service::SERVICE, &props, database.shared())
            .await;
    let started = std::time::Instant::now();
    eventually("the stock given back", Duration::from_secs(20), || async {
        (stock(inventory, 2).await == 8).then_some(())
    })
    .await;
    eprintln!(
        "stock given back {:?} after the survivor started (stale-after 1 s)",
        started.elapsed()
    );
    assert_eq!(database.count(OPEN_SAGAS).await, 0);
    assert_eq!(
        database.count(RESERVED_BILLS).await,
        0,
        "no bill was stored"
    );
    // And the system goes on: the same bill now goes through.
    let (status, bill) = post_bill(&fleet.http, &survivor, &lines(2, 5)).await;
    assert_eq!(status, StatusCode::CREATED, "{bill}");
    assert_eq!(fleet.stock(2).await, 3);
    survivor.stop().await;
    database.drop_database().await;
    fleet.stop().await;
}

#[tokio::test]
async fn with_reserve_stock_off_bills_are_made_without_touching_stock() {
    let fleet = Fleet::start_with(1, 1, &[("factura.billing.saga.reserve-stock", "false")]).await;
    let (status, bill) = post_bill(&fleet.http, &fleet.billing[0], &lines(2, 30)).await;
    assert_eq!(status, StatusCode::CREATED, "{bill}");
    assert_eq!(fleet.stock(2).await, 8);
    assert_eq!(fleet.billing[0].database.count(OPEN_SAGAS).await, 0);
    fleet.stop().await;
}
