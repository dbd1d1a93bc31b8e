//! The gateway with a real discovery-service and a real customer-service: default routes and
//! the discovery locator follow registrations, and links point back through the gateway.

use std::time::Duration;

use serde_json::Value;
use testkit::TestService;

use crate::helpers::{Gateway, client};

async fn get_json(url: &str) -> Option<(u16, Value)> {
    let r = client().get(url).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.unwrap_or(Value::Null)))
}

#[tokio::test]
async fn locator_and_default_routes_follow_the_registry_and_links_point_through_the_gateway() {
    let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
    let registered = testkit::registered_with(discovery.addr);
    let props = testkit::as_pairs(&registered);
    let mut gateway_props = props.clone();
    gateway_props.push(crate::helpers::ACTUATOR_OPEN);
    let gw = Gateway::start(&gateway_props).await;
    let customers = TestService::start(&customer_service::SERVICE, &props).await;

    for path in ["/CUSTOMER-SERVICE/customers/1", "/customers/1"] {
        let url = gw.url(path);
        let body = testkit::eventually(
            &format!("{path} through the gateway"),
            Duration::from_secs(20),
            || {
                let url = url.clone();
                async move {
                    let (status, body) = get_json(&url).await?;
                    (status == 200).then_some(body)
                }
            },
        )
        .await;
        assert_eq!(body["name"], "Hassan");
        let prefix = path.strip_suffix("/customers/1").unwrap();
        assert_eq!(
            body["_links"]["self"]["href"],
            format!("http://{}{prefix}/customers/1", gw.addr),
            "links point back through the gateway"
        );
    }
    // The service id as registered, as Spring's locator matches it without
    // lower-case-service-id.
    let (status, _) = get_json(&gw.url("/customer-service/customers/1"))
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (status, page) = get_json(&gw.url("/CUSTOMER-SERVICE/customers?size=2"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let next = page["_links"]["next"]["href"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("http://{}/CUSTOMER-SERVICE/customers?", gw.addr)),
        "{next}"
    );

    let (_, routes) = get_json(&gw.url("/actuator/gateway/routes")).await.unwrap();
    let ids: Vec<&str> = routes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["route_id"].as_str())
        .collect();
    assert!(
        ids.contains(&"ReactiveCompositeDiscoveryClient_CUSTOMER-SERVICE"),
        "{ids:?}"
    );
    assert!(ids.contains(&"customer-service"), "{ids:?}");

    customers.stop().await;
    let url = gw.url("/CUSTOMER-SERVICE/customers/1");
    testkit::eventually(
        "the locator route leaving with the service",
        Duration::from_secs(20),
        || {
            let url = url.clone();
            async move { (get_json(&url).await?.0 == 404).then_some(()) }
        },
    )
    .await;
    let (status, body) = get_json(&gw.url("/customers/1")).await.unwrap();
    assert_eq!(
        status, 503,
        "the static route stays, with no instance: {body}"
    );
    gw.stop().await;
    discovery.stop().await;
}

/// The locator's default leaves the infrastructure out: no `/CONFIG-SERVICE/**` (every
/// service's settings, decrypted) or `/DISCOVERY-SERVICE/**` (the registry's writes) at the
/// edge, while business services are routed; a user's `include-expression` is honoured.
#[tokio::test]
async fn the_locator_does_not_publish_config_or_discovery_by_default() {
    let backend = crate::helpers::Backend::start("infra", 0).await;
    let port = backend.addr.port();
    let apps: &[(&str, &[u16])] = &[
        ("CONFIG-SERVICE", &[port]),
        ("DISCOVERY-SERVICE", &[port]),
        ("ECHO-SERVICE", &[port]),
    ];
    let gw = Gateway::start(&[]).await;
    gw.register(apps);
    crate::helpers::wait_status(&gw.url("/ECHO-SERVICE/x"), 200).await;
    let before = backend.calls.load(std::sync::atomic::Ordering::SeqCst);
    for path in [
        "/CONFIG-SERVICE/application/default",
        "/DISCOVERY-SERVICE/eureka/apps",
    ] {
        let (status, _) = get_json(&gw.url(path)).await.unwrap();
        assert_eq!(status, 404, "{path}");
    }
    let calls = backend.calls.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(calls, before, "nothing reached the infrastructure");
    gw.stop().await;

    let gw = Gateway::start(&[(
        "spring.cloud.gateway.discovery.locator.include-expression",
        "serviceId == 'CONFIG-SERVICE'",
    )])
    .await;
    gw.register(apps);
    crate::helpers::wait_status(&gw.url("/CONFIG-SERVICE/application/default"), 200).await;
    let (status, _) = get_json(&gw.url("/ECHO-SERVICE/x")).await.unwrap();
    assert_eq!(status, 404, "only what the user's expression includes");
    assert!(
        backend.calls.load(std::sync::atomic::Ordering::SeqCst) > calls,
        "the included service is reached"
    );
    gw.stop().await;
}
