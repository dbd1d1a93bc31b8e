//! The whole system as a user runs it: `factura up`, then only the gateway — list and page,
//! create customers, products and bills (50 of them at once), read a full bill, see every
//! service on the dashboard, change the central configuration and see it applied, stop.
//! Once on SQLite and once on PostgreSQL.

mod support;

use std::{collections::HashSet, path::Path, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{port_is_free, start_up, wait_for_line};
use testkit::eventually;

/// Registry and configuration round trips fast enough for a test to watch them.
fn fast_properties() -> Vec<String> {
    [
        "--",
        "--eureka.client.registry-fetch-interval-seconds=0.5",
        "--eureka.instance.lease-renewal-interval-in-seconds=1",
        "--spring.cloud.config.watch.delay=500",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap_or(Value::Null)
}

async fn whole_system(offset: u16, database: Option<&str>) {
    let data = tempfile::tempdir().unwrap();
    let repo = data.path().join("config-repo");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config-repo"),
        &repo,
    );
    let mut args = vec!["--config-repo".to_owned(), repo.display().to_string()];
    if let Some(url) = database {
        args.extend(["--database".to_owned(), url.to_owned()]);
    }
    args.extend(fast_properties());
    let (up, lines) = start_up(offset, data.path(), &args);
    wait_for_line(&lines, "Press Ctrl-C to stop", Duration::from_secs(120));

    let http = reqwest::Client::new();
    let gateway = format!("http://127.0.0.1:{}", 9999 + offset);

    // List and page, through the gateway, with links that point back through it.
    let page: Value = eventually(
        "customers through the gateway",
        Duration::from_secs(20),
        || async {
            let response = http
                .get(format!("{gateway}/customers?size=2"))
                .send()
                .await
                .ok()?;
            (response.status() == StatusCode::OK).then_some(())?;
            response.json().await.ok()
        },
    )
    .await;
    assert_eq!(page["page"]["totalElements"], 3);
    assert!(
        page["_links"]["next"]["href"]
            .as_str()
            .unwrap()
            .starts_with(&gateway),
        "{page}"
    );
    let products = json(
        http.get(format!("{gateway}/products?sort=price,desc"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        products["_embedded"]["products"][0]["name"],
        "Computer Desk"
    );

    // Create a customer, a product and a bill.
    let response = http
        .post(format!("{gateway}/customers"))
        .json(&json!({ "name": "Eve", "email": "eve@mail.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&gateway)
    );
    let eve = json(response).await["id"].as_i64().unwrap();
    let response = http
        .post(format!("{gateway}/products"))
        .json(&json!({ "name": "Lamp", "price": 35.5, "quantity": 4 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let lamp = json(response).await["id"].as_i64().unwrap();
    let order = json!({ "customerId": eve, "productItems": [
        { "productId": lamp, "quantity": 2 }, { "productId": 1, "quantity": 1, "discount": 0.5 } ] });
    let bill: Value = eventually(
        "billing sees the new customer and product",
        Duration::from_secs(20),
        || async {
            let response = http
                .post(format!("{gateway}/bills"))
                .json(&order)
                .send()
                .await
                .ok()?;
            (response.status() == StatusCode::CREATED).then_some(())?;
            response.json().await.ok()
        },
    )
    .await;
    let full = json(
        http.get(format!("{gateway}/fullBill/{}", bill["id"]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(full["complete"], true, "{full}");
    assert_eq!(full["customer"]["name"], "Eve");
    assert_eq!(full["total"], 516.0, "35.5 × 2 + 890 × 0.5");

    // Fifty bills at once: fifty stored, none lost or duplicated, items intact, and exactly
    // the stock they bill (1 + 2 + … + 50 = 1275) taken from inventory.
    let response = http
        .post(format!("{gateway}/products"))
        .json(&json!({ "name": "Paper", "price": 4.2, "quantity": 1275 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let paper = json(response).await["id"].as_i64().unwrap();
    let creations = (1..=50).map(|quantity| {
        let http = http.clone();
        let url = format!("{gateway}/bills");
        tokio::spawn(async move {
            let response = http
                .post(url)
                .json(&json!({ "customerId": 2, "productItems": [{ "productId": paper, "quantity": quantity }] }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            (json(response).await["id"].as_i64().unwrap(), quantity)
        })
    });
    let mut created = Vec::new();
    for creation in creations.collect::<Vec<_>>() {
        created.push(creation.await.unwrap());
    }
    assert_eq!(
        created
            .iter()
            .map(|(id, _)| id)
            .collect::<HashSet<_>>()
            .len(),
        50
    );
    let mine = json(
        http.get(format!(
            "{gateway}/bills/search/byCustomerId?customerId=2&size=100"
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(mine["page"]["totalElements"], 50);
    let stock = json(
        http.get(format!("{gateway}/products/{paper}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(stock["quantity"], 0, "every unit billed is reserved");
    for (id, quantity) in created.iter().step_by(7) {
        let items = json(
            http.get(format!("{gateway}/bills/{id}/productItems"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let items = items["_embedded"]["productItems"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["quantity"], *quantity);
    }

    // Every service on the dashboard, which needs discovery's user.
    let dashboard = http
        .get(format!(
            "{}/",
            support::discovery_url(data.path(), 8761 + offset)
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for app in [
        "CONFIG-SERVICE",
        "CUSTOMER-SERVICE",
        "INVENTORY-SERVICE",
        "BILLING-SERVICE",
        "GATEWAY-SERVICE",
    ] {
        assert!(dashboard.contains(app), "{app} missing from the dashboard");
    }

    // A change to the central configuration reaches the running service by itself.
    let configtest = format!("{gateway}/CUSTOMER-SERVICE/configtest1");
    let before = json(http.get(&configtest).send().await.unwrap()).await;
    assert_eq!(before["p1"], 10, "{before}");
    let file = repo.join("application.yml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("p1: 10", "p1: 77");
    std::fs::write(&file, text).unwrap();
    eventually("the new p1 served", Duration::from_secs(15), || async {
        let now = json(http.get(&configtest).send().await.ok()?).await;
        (now["p1"] == 77).then_some(())
    })
    .await;

    // Stop everything cleanly.
    let status = up.terminate().await;
    assert!(status.success(), "factura up stops cleanly: {status}");
    for port in [8081, 8082, 8083, 8761, 8888, 9999] {
        assert!(
            port_is_free(port + offset),
            "port {} released",
            port + offset
        );
    }
}

#[tokio::test]
async fn on_sqlite() {
    whole_system(12_000, None).await;
}

#[tokio::test]
async fn on_postgres() {
    let Some(server) = testkit::postgres_server() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL end-to-end test: set TEST_DATABASE_URL"
        );
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let prefix = format!("e2e{}", std::process::id());
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&format!("/{prefix}"));
    whole_system(13_000, Some(url.as_str())).await;
    for service in ["customer_service", "inventory_service", "billing_service"] {
        testkit::TestDatabase::drop_named(&server, &format!("{prefix}_{service}")).await;
    }
}
