//! Three discovery nodes on loopback, configured the Spring way (each one's defaultZone lists
//! all three): replication of register, cancel and status changes, a node killed, client
//! failover, and a restarted node syncing the registry from its peers.

use platform::ServiceContext;
use testkit::{TestDatabase, test_settings};

use crate::helpers::*;

fn node_settings(zone: &str) -> [(&str, &str); 3] {
    [
        ("eureka.client.service-url.defaultZone", zone),
        ("eureka.server.registry-sync-retries", "2"),
        ("eureka.server.registry-sync-retry-wait-ms", "300"),
    ]
}

/// A node serving on the held port, which the zone already lists.
async fn node(port: ReservedPort, zone: &str) -> TestService {
    TestService::start_on(
        port.listen(),
        &discovery_service::SERVICE,
        &node_settings(zone),
    )
    .await
}

async fn visible(base: &str, app: &str, id: &str) {
    eventually(
        &format!("{app}/{id} visible on {base}"),
        PATIENCE,
        || async { instance_status(base, app, id).await.map(|_| ()) },
    )
    .await;
}

async fn gone(base: &str, app: &str, id: &str) {
    eventually(
        &format!("{app}/{id} gone from {base}"),
        PATIENCE,
        || async { instance_status(base, app, id).await.is_none().then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn three_nodes_replicate_and_survive_the_loss_of_one() {
    let [port_a, port_b, port_c] = [(); 3].map(|()| ReservedPort::new());
    // A is restarted on its address later in the test.
    let port_a_again = port_a.another_hold();
    let urls: Vec<String> = [&port_a, &port_b, &port_c]
        .iter()
        .map(|p| format!("http://{}/eureka/", p.addr()))
        .collect();
    let zone = urls.join(",");
    let a = node(port_a, &zone).await;
    let b = node(port_b, &zone).await;
    let c = node(port_c, &zone).await;
    let (url_a, url_b, url_c) = (&urls[0], &urls[1], &urls[2]);

    // Register on A: visible on B and C.
    assert_eq!(
        register(url_a, "x", &instance_body("x", "hx", 1))
            .await
            .status(),
        204
    );
    visible(url_b, "X", "hx:x:1").await;
    visible(url_c, "X", "hx:x:1").await;

    // A status override on C reaches A and B.
    let put = http()
        .put(format!("{url_c}apps/X/hx:x:1/status?value=OUT_OF_SERVICE"))
        .send()
        .await
        .expect("override");
    assert_eq!(put.status(), 200);
    for base in [url_a, url_b] {
        eventually("the override replicates", PATIENCE, || async {
            (instance_status(base, "X", "hx:x:1").await.as_deref() == Some("OUT_OF_SERVICE"))
                .then_some(())
        })
        .await;
    }

    // Cancel on B: gone everywhere.
    let cancel = http()
        .delete(format!("{url_b}apps/X/hx:x:1"))
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancel.status(), 200);
    gone(url_a, "X", "hx:x:1").await;
    gone(url_c, "X", "hx:x:1").await;

    // A real service configured with all three registers through A, replicated to B and C.
    let database = TestDatabase::sqlite();
    let settings = test_settings(
        &customer_service::SERVICE,
        &database,
        &[
            ("eureka.client.enabled", "true"),
            ("eureka.client.service-url.defaultZone", zone.as_str()),
            ("eureka.instance.lease-renewal-interval-in-seconds", "0.3"),
            ("eureka.client.registry-fetch-interval-seconds", "0.3"),
        ],
    );
    let context = ServiceContext::new(settings);
    let cache = context.discovery.clone();
    let app = (customer_service::SERVICE.build)(context)
        .await
        .expect("starts");
    let id = format!("127.0.0.1:customer-service:{}", app.local_addr().port());
    let stop_customers = app.shutdown_token();
    let customers = tokio::spawn(app.run());
    visible(url_b, "CUSTOMER-SERVICE", &id).await;
    visible(url_c, "CUSTOMER-SERVICE", &id).await;

    // Kill A. The client fails over: its registry keeps refreshing from B, and a service started
    // now (A first in its list) registers through B and is replicated to C.
    a.stop().await;
    let inventory_db = TestDatabase::sqlite();
    let settings = test_settings(
        &inventory_service::SERVICE,
        &inventory_db,
        &[
            ("eureka.client.enabled", "true"),
            ("eureka.client.service-url.defaultZone", zone.as_str()),
            ("eureka.instance.lease-renewal-interval-in-seconds", "0.3"),
            ("eureka.client.registry-fetch-interval-seconds", "0.3"),
        ],
    );
    let inventory = (inventory_service::SERVICE.build)(ServiceContext::new(settings))
        .await
        .expect("starts");
    let inventory_id = format!(
        "127.0.0.1:inventory-service:{}",
        inventory.local_addr().port()
    );
    let stop_inventory = inventory.shutdown_token();
    let inventory_task = tokio::spawn(inventory.run());
    visible(url_b, "INVENTORY-SERVICE", &inventory_id).await;
    visible(url_c, "INVENTORY-SERVICE", &inventory_id).await;
    eventually(
        "customer's cache refreshes through B after A died",
        PATIENCE,
        || async { (cache.up_instances("INVENTORY-SERVICE").len() == 1).then_some(()) },
    )
    .await;

    // A comes back empty, on its old port (the zone names it), and syncs from its peers.
    let a = node(port_a_again, &zone).await;
    visible(url_a, "INVENTORY-SERVICE", &inventory_id).await;
    visible(url_a, "CUSTOMER-SERVICE", &id).await;

    // Graceful stop: the cancel goes to one node and reaches all.
    stop_customers.cancel();
    let _ = customers.await;
    for base in [url_a, url_b, url_c] {
        gone(base, "CUSTOMER-SERVICE", &id).await;
    }
    stop_inventory.cancel();
    let _ = inventory_task.await;
    for node in [a, b, c] {
        node.stop().await;
    }
}
