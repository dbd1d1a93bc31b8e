//! A billing-service process SIGKILLed in the middle of a bill's saga (stock reserved in
//! inventory, bill not stored yet): while no billing runs the stock stays reserved, and the
//! restarted process finds the unfinished saga in its database and gives the stock back, so
//! stock and bills agree again. The rest of the system runs in this test's process; billing is
//! the real `factura run billing-service` binary.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{TestDatabase, TestService, eventually};

const FACTURA: &str = env!("CARGO_BIN_EXE_factura");

/// A `factura run billing-service` process, SIGKILLed when dropped.
struct Billing(Child);

impl Billing {
    fn start(discovery: &TestService, database: &TestDatabase, extra: &[(&str, &str)]) -> Self {
        let mut args = vec!["run".to_owned(), "billing-service".to_owned()];
        let mut properties = testkit::registered_with(discovery.addr);
        properties.extend(
            [
                ("server.port", "0"),
                ("server.address", "127.0.0.1"),
                ("spring.cloud.config.enabled", "false"),
                ("spring.datasource.url", database.url.as_str()),
                (
                    "spring.cloud.openfeign.client.config.default.read-timeout",
                    "10000",
                ),
                ("factura.billing.saga.recovery-interval", "200ms"),
            ]
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        args.extend(properties.iter().map(|(k, v)| format!("--{k}={v}")));
        let child = Command::new(FACTURA)
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("factura runs");
        Self(child)
    }

    /// SIGKILL, and the exit collected.
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Billing {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The ports of the BILLING-SERVICE instances registered with `discovery`.
async fn billing_ports(http: &reqwest::Client, discovery: &TestService) -> Vec<u64> {
    let Ok(response) = http
        .get(discovery.url("/eureka/apps/BILLING-SERVICE"))
        .header("accept", "application/json")
        .send()
        .await
    else {
        return Vec::new();
    };
    let body: Value = response.json().await.unwrap_or(Value::Null);
    body["application"]["instance"]
        .as_array()
        .map(|all| all.iter().filter_map(|i| i["port"]["$"].as_u64()).collect())
        .unwrap_or_default()
}

/// The port of the billing instance that registered and answers, other than `except`.
async fn billing_port(http: &reqwest::Client, discovery: &TestService, except: &[u64]) -> u64 {
    eventually(
        "billing registered and answering",
        Duration::from_secs(30),
        || async {
            for port in billing_ports(http, discovery).await {
                if except.contains(&port) {
                    continue;
                }
                let health = http
                    .get(format!("http://127.0.0.1:{port}/actuator/health"))
                    .send()
                    .await
                    .ok()?;
                if health.status() == StatusCode::OK {
                    return Some(port);
                }
            }
            None
        },
    )
    .await
}

async fn stock(inventory: &TestService, product: i64) -> i64 {
    inventory.get_json(&format!("/products/{product}")).await["quantity"]
        .as_i64()
        .expect("a quantity")
}

/// A bill for 5 printers (8 in stock).
fn printers() -> Value {
    json!({ "customerId": 1, "productItems": [ { "productId": 2, "quantity": 5 } ] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billing_process_sigkilled_mid_saga_gives_the_stock_back_when_restarted() {
    let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
    let props = testkit::registered_with(discovery.addr);
    let props = testkit::as_pairs(&props);
    let customers = TestService::start(&customer_service::SERVICE, &props).await;
    let inventory = TestService::start(&inventory_service::SERVICE, &props).await;
    let http = reqwest::Client::new();
    let database = TestDatabase::new();

    // The first process holds every bill between reserving and storing it.
    let first = Billing::start(
        &discovery,
        &database,
        &[
            ("factura.billing.saga.pause-after-reserve", "120s"),
            ("factura.billing.saga.stale-after", "1s"),
        ],
    );
    let first_port = billing_port(&http, &discovery, &[]).await;
    let url = format!("http://127.0.0.1:{first_port}/bills");
    let request = {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            // Until billing's registry cache has its peers, a bill is a 503; then it hangs.
            loop {
                match http.post(&url).json(&printers()).send().await {
                    Ok(response) if response.status() == StatusCode::SERVICE_UNAVAILABLE => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    other => return other.map(|r| r.status()),
                }
            }
        })
    };
    eventually("the stock reserved", Duration::from_secs(30), || async {
        (stock(&inventory, 2).await == 3).then_some(())
    })
    .await;
    assert_eq!(database.count("SELECT COUNT(*) FROM sagas").await, 1);

    first.kill();
    assert!(request.await.unwrap().is_err(), "the request died with it");
    // Nobody is left to finish the saga: the stock stays reserved, not lost.
    assert_eq!(stock(&inventory, 2).await, 3);
    assert_eq!(database.count("SELECT COUNT(*) FROM sagas").await, 1);

    // The restarted process recovers the saga from its database.
    let second = Billing::start(
        &discovery,
        &database,
        &[("factura.billing.saga.stale-after", "1s")],
    );
    let restarted = std::time::Instant::now();
    let second_port = billing_port(&http, &discovery, &[first_port]).await;
    eventually("the stock given back", Duration::from_secs(30), || async {
        (stock(&inventory, 2).await == 8).then_some(())
    })
    .await;
    eprintln!(
        "after SIGKILL mid-saga: stock given back {:?} after the restart (stale-after 1 s)",
        restarted.elapsed()
    );
    assert_eq!(database.count("SELECT COUNT(*) FROM sagas").await, 0);
    assert_eq!(
        database
            .count("SELECT COUNT(*) FROM bills WHERE reservation_id IS NOT NULL")
            .await,
        0,
        "no bill was stored"
    );
    // Bills and stock agree from here on: the same bill now goes through once.
    let url = format!("http://127.0.0.1:{second_port}/bills");
    let created = eventually("the bill made", Duration::from_secs(30), || async {
        let response = http.post(&url).json(&printers()).send().await.ok()?;
        (response.status() == StatusCode::CREATED).then_some(())
    });
    created.await;
    assert_eq!(stock(&inventory, 2).await, 3);

    drop(second);
    database.drop_database().await;
    inventory.stop().await;
    customers.stop().await;
    discovery.stop().await;
}
