//! `/actuator/gateway/*` and route rebuilds on refresh.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, Gateway, client, wait_status};

#[tokio::test]
async fn routes_are_listed_read_added_deleted_and_refreshed() {
    let b = Backend::start("b", 0).await;
    let gw = Gateway::start(&[]).await;
    let c = client();
    let routes: Value = c
        .get(gw.url("/actuator/gateway/routes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let customer = routes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route_id"] == "customer-service")
        .expect("the default customer route")
        .clone();
    assert_eq!(customer["uri"], "lb://CUSTOMER-SERVICE");
    assert_eq!(
        customer["predicate"],
        "Paths: [/customers/**], match trailing slash: true"
    );
    for id in ["inventory-service", "billing-service"] {
        assert!(
            routes
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["route_id"] == id),
            "{id}"
        );
    }
    assert_eq!(
        c.get(gw.url("/actuator/gateway/routes/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let bad = c
        .post(gw.url("/actuator/gateway/routes/bad"))
        .json(&json!({"uri": "nowhere", "predicates": ["Path=/bad/**"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = c
        .post(gw.url("/actuator/gateway/routes/bad"))
        .json(&json!({"uri": b.base(), "predicates": ["Sometimes=1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);

    let created = c
        .post(gw.url("/actuator/gateway/routes/added"))
        .json(&json!({
            "uri": b.base(),
            "predicates": ["Path=/added/**"],
            "filters": ["StripPrefix=1", {"name": "AddRequestHeader", "args": {"name": "X-Added", "value": "yes"}}],
            "order": 1
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        c.get(gw.url("/added/x")).send().await.unwrap().status(),
        404,
        "in force after refresh"
    );
    assert_eq!(
        c.post(gw.url("/actuator/gateway/refresh"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let echo: Value = c
        .get(gw.url("/added/x"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["path"], "/x");
    assert_eq!(echo["headers"]["x-added"][0], "yes");
    let one: Value = c
        .get(gw.url("/actuator/gateway/routes/added"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["filters"][0], "[[StripPrefix parts = 1], order = 1]");
    assert_eq!(one["order"], 1);

    assert_eq!(
        c.delete(gw.url("/actuator/gateway/routes/customer-service"))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "configured routes stay"
    );
    assert_eq!(
        c.delete(gw.url("/actuator/gateway/routes/added"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    c.post(gw.url("/actuator/gateway/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.get(gw.url("/added/x")).send().await.unwrap().status(),
        404
    );
    for path in [
        "/actuator/gateway",
        "/actuator/gateway/routefilters",
        "/actuator/gateway/routepredicates",
        "/actuator/gateway/globalfilters",
        "/actuator/gateway/routedefinitions",
        "/actuator/health",
    ] {
        assert_eq!(
            c.get(gw.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_settings_refresh_rebuilds_the_routes() {
    let b = Backend::start("b", 0).await;
    let gw = Gateway::start(&[
        ("spring.cloud.gateway.routes[0].id", "first"),
        ("spring.cloud.gateway.routes[0].uri", &b.base()),
        (
            "spring.cloud.gateway.routes[0].predicates[0]",
            "Path=/first/**",
        ),
    ])
    .await;
    wait_status(&gw.url("/first/x"), 200).await;
    gw.set(
        "spring.cloud.gateway.routes[0].predicates[0]",
        "Path=/second/**",
    );
    wait_status(&gw.url("/second/x"), 200).await;
    assert_eq!(
        client()
            .get(gw.url("/first/x"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // A broken route is left out; the others keep serving.
    gw.set("spring.cloud.gateway.routes[1].id", "broken");
    gw.set("spring.cloud.gateway.routes[1].uri", "ftp://nowhere");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        client()
            .get(gw.url("/second/x"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    gw.stop().await;
}
