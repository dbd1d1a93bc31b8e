//! The platform's discovery client against a real discovery node: real services register, renew,
//! re-register, fail over, cancel, and their registry cache sees the others.

use crate::helpers::*;

#[tokio::test]
async fn customer_service_registers_and_every_cache_sees_the_other_services() {
    let node = discovery(&[]).await;
    let base = eureka(&node);
    let customers = Registered::start(&customer_service::SERVICE, &base).await;
    let inventory = Registered::start(&inventory_service::SERVICE, &base).await;
    let customer_id = customers.instance_id("customer-service");

    eventually("customer-service registers", PATIENCE, || async {
        (instance_status(&base, "CUSTOMER-SERVICE", &customer_id)
            .await
            .as_deref()
            == Some("UP"))
        .then_some(())
    })
    .await;
    let registered: serde_json::Value = http()
        .get(format!("{base}apps/CUSTOMER-SERVICE/{customer_id}"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let instance = &registered["instance"];
    assert_eq!(instance["app"], "CUSTOMER-SERVICE");
    assert_eq!(instance["vipAddress"], "customer-service");
    assert_eq!(instance["port"]["$"], customers.addr.port());
    assert_eq!(
        instance["healthCheckUrl"],
        format!("http://127.0.0.1:{}/actuator/health", customers.addr.port())
    );

    // inventory's cache sees customer-service as UP without a network call, and vice versa.
    eventually(
        "inventory's cache sees customer-service",
        PATIENCE,
        || async {
            let up = inventory.cache.up_instances("CUSTOMER-SERVICE");
            (up.len() == 1 && up[0].port.port == customers.addr.port()).then_some(())
        },
    )
    .await;
    eventually(
        "customer's cache sees inventory-service",
        PATIENCE,
        || async { (customers.cache.up_instances("inventory-service").len() == 1).then_some(()) },
    )
    .await;

    // A status override reaches the caches through deltas: no longer UP.
    let status = http()
        .put(format!(
            "{base}apps/CUSTOMER-SERVICE/{customer_id}/status?value=OUT_OF_SERVICE"
        ))
        .send()
        .await
        .expect("override");
    assert_eq!(status.status(), 200);
    eventually(
        "the override reaches inventory's cache",
        PATIENCE,
        || async {
            inventory
                .cache
                .up_instances("CUSTOMER-SERVICE")
                .is_empty()
                .then_some(())
        },
    )
    .await;
    assert_eq!(inventory.cache.instances("CUSTOMER-SERVICE").len(), 1);

    // Graceful stop cancels the lease at once.
    customers.stop().await;
    assert!(instance_ids(&base, "CUSTOMER-SERVICE").await.is_empty());
    eventually("the cancel reaches inventory's cache", PATIENCE, || async {
        inventory
            .cache
            .instances("CUSTOMER-SERVICE")
            .is_empty()
            .then_some(())
    })
    .await;
    inventory.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_service_serves_without_discovery_and_registers_when_it_appears() {
    // Held, not listening: connections are refused until discovery starts on it.
    let held = ReservedPort::new();
    let held_again = held.another_hold();
    let zone = format!("http://{}/eureka/", held.addr());
    let customers = Registered::start(&customer_service::SERVICE, &zone).await;
    let health = http()
        .get(format!("http://{}/actuator/health", customers.addr))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200, "serving does not wait for discovery");

    let node = TestService::start_on(held.listen(), &discovery_service::SERVICE, &[]).await;
    let id = customers.instance_id("customer-service");
    eventually("registration once discovery appears", PATIENCE, || async {
        instance_status(&zone, "CUSTOMER-SERVICE", &id)
            .await
            .map(|_| ())
    })
    .await;

    // Discovery restarts empty: the next heartbeat gets 404 and the client registers again.
    node.stop().await;
    let node = TestService::start_on(held_again.listen(), &discovery_service::SERVICE, &[]).await;
    eventually(
        "re-registration after a discovery restart",
        PATIENCE,
        || async {
            instance_status(&zone, "CUSTOMER-SERVICE", &id)
                .await
                .map(|_| ())
        },
    )
    .await;
    customers.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn the_client_fails_over_between_discovery_urls() {
    let dead = ReservedPort::new();
    let node = discovery(&[]).await;
    let zone = format!("http://{}/eureka/,{}", dead.addr(), eureka(&node));
    let inventory = Registered::start(&inventory_service::SERVICE, &zone).await;
    let id = inventory.instance_id("inventory-service");
    eventually("registration through the second URL", PATIENCE, || async {
        instance_status(&eureka(&node), "INVENTORY-SERVICE", &id)
            .await
            .map(|_| ())
    })
    .await;
    eventually(
        "the cache filled through the second URL",
        PATIENCE,
        || async { (inventory.cache.up_instances("INVENTORY-SERVICE").len() == 1).then_some(()) },
    )
    .await;
    inventory.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn the_client_authenticates_with_credentials_in_the_url() {
    let node = discovery(&[
        ("spring.security.user.name", "eureka"),
        ("spring.security.user.password", "p@ss"),
    ])
    .await;
    let zone = format!("http://eureka:p%40ss@{}/eureka/", node.addr);
    let customers = Registered::start(&customer_service::SERVICE, &zone).await;
    let id = customers.instance_id("customer-service");
    eventually("registration with basic auth", PATIENCE, || async {
        let response = http()
            .get(format!("{}apps/CUSTOMER-SERVICE/{id}", eureka(&node)))
            .basic_auth("eureka", Some("p@ss"))
            .send()
            .await
            .ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    customers.stop().await;
    node.stop().await;
}
