//! `/actuator/gateway/*` and route rebuilds on refresh.

use serde_json::{Value, json};

use crate::helpers::{ACTUATOR_OPEN, Backend, Gateway, client, wait_status};

#[tokio::test]
async fn routes_are_listed_read_added_deleted_and_refreshed() {
    let b = Backend::start("b", 0).await;
    let gw = Gateway::start(&[ACTUATOR_OPEN]).await;
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
        ACTUATOR_OPEN,
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
    // A broken route is left out; the others keep serving. A third route set after it shows
    // the rebuild that saw the broken one has happened.
    gw.set("spring.cloud.gateway.routes[1].id", "broken");
    gw.set("spring.cloud.gateway.routes[1].uri", "ftp://nowhere");
    gw.set("spring.cloud.gateway.routes[2].id", "third");
    gw.set("spring.cloud.gateway.routes[2].uri", &b.base());
    gw.set(
        "spring.cloud.gateway.routes[2].predicates[0]",
        "Path=/third/**",
    );
    wait_status(&gw.url("/third/x"), 200).await;
    let routes: serde_json::Value = client()
        .get(gw.url("/actuator/gateway/routes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = routes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["route_id"].as_str())
        .collect();
    assert!(
        ids.contains(&"third") && !ids.contains(&"broken"),
        "{ids:?}"
    );
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

/// The SSRF an open gateway actuator is: an anonymous caller adds a route in front of
/// `/customers/**` to a listener of theirs and receives other users' requests. By default
/// (Spring's exposure: `health` only) the writes are not there.
#[tokio::test]
async fn by_default_an_anonymous_caller_cannot_add_a_route_to_an_arbitrary_uri() {
    let attacker = Backend::start("attacker", 0).await;
    let gw = Gateway::start(&[]).await;
    let c = client();
    let posted = c
        .post(gw.url("/actuator/gateway/routes/evil"))
        .json(&json!({
            "uri": attacker.base(),
            "predicates": ["Path=/customers/**"],
            "order": -1
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 404, "the route writes are not mapped");
    let refreshed = c
        .post(gw.url("/actuator/gateway/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 404);
    assert_eq!(
        c.get(gw.url("/actuator/gateway/routes"))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "the route list is not exposed either"
    );
    // The customers route still goes where it went (nowhere registered: 503), never to the
    // attacker's listener.
    let customers = c.get(gw.url("/customers/1")).send().await.unwrap();
    assert_eq!(customers.status(), 503);
    assert_eq!(
        attacker.calls.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no request reached the attacker"
    );
    gw.stop().await;
}

#[tokio::test]
async fn read_only_access_lists_routes_and_refuses_writes() {
    let b = Backend::start("b", 0).await;
    let gw = Gateway::start(&[
        ACTUATOR_OPEN,
        ("management.endpoint.gateway.access", "read-only"),
    ])
    .await;
    let c = client();
    let routes = c
        .get(gw.url("/actuator/gateway/routes"))
        .send()
        .await
        .unwrap();
    assert_eq!(routes.status(), 200);
    let posted = c
        .post(gw.url("/actuator/gateway/routes/added"))
        .json(&json!({"uri": b.base(), "predicates": ["Path=/added/**"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        posted.status(),
        405,
        "the path reads, the write is not mapped"
    );
    let deleted = c
        .delete(gw.url("/actuator/gateway/routes/customer-service"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 405);
    gw.stop().await;
}
