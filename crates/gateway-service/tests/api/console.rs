//! The console's assets as the gateway serves them: after the routes (a route that claims a
//! path wins), `/` redirected to `/console/` only when no route claims it, content types,
//! `ETag` revalidation, 404 for an unknown asset, reads only; the gateway's registry copy and
//! the health of each instance it asks.

use platform::discovery::{Application, Applications, InstanceInfo};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, Gateway, client};

#[tokio::test]
async fn the_console_is_served_where_no_route_claims_the_path() {
    let gateway = Gateway::start(&[]).await;
    let http = client();

    let root = http.get(gateway.url("/")).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::FOUND);
    assert_eq!(root.headers()["location"], "/console/");
    let bare = http.get(gateway.url("/console")).send().await.unwrap();
    assert_eq!(bare.headers()["location"], "/console/");

    let index = http.get(gateway.url("/console/")).send().await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let tag = index.headers()["etag"].clone();
    assert!(index.text().await.unwrap().contains("js/app.js"));
    let again = http
        .get(gateway.url("/console/"))
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], tag);
    assert!(again.bytes().await.unwrap().is_empty());

    for (path, content_type) in [
        ("/console/js/app.js", "text/javascript; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
        ("/console/favicon.svg", "image/svg+xml"),
    ] {
        let asset = http.get(gateway.url(path)).send().await.unwrap();
        assert_eq!(asset.status(), StatusCode::OK, "{path}");
        assert_eq!(asset.headers()["content-type"], content_type, "{path}");
        assert_ne!(asset.headers()["etag"], tag, "{path}");
    }
    let head = http
        .head(gateway.url("/console/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_ne!(head.headers()["content-length"], "0");

    let missing = http
        .get(gateway.url("/console/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["path"], "/console/nope.js");
    let post = http.post(gateway.url("/console/")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    // Not the console's: still the gateway's 404.
    let other = http.get(gateway.url("/consoles")).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    gateway.stop().await;
}

#[tokio::test]
async fn a_route_that_claims_the_path_wins_over_the_console() {
    let backend = Backend::start("legacy", 0).await;
    let uri = backend.base();
    let gateway = Gateway::start(&[
        ("spring.cloud.gateway.routes[0].id", "legacy"),
        ("spring.cloud.gateway.routes[0].uri", &uri),
        (
            "spring.cloud.gateway.routes[0].predicates[0]",
            "Path=/, /console/**",
        ),
    ])
    .await;
    let http = client();
    for path in ["/", "/console/"] {
        let response = http.get(gateway.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["backend"], "legacy", "{path}");
    }
    gateway.stop().await;
    backend.kill().await;
}

#[tokio::test]
async fn the_registry_copy_lists_what_the_gateway_routes_by() {
    let gateway = Gateway::start(&[]).await;
    gateway.register(&[("customer-service", &[8081, 8091])]);
    let response = client()
        .get(gateway.url("/console/api/registry"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let apps = body["applications"]["application"].as_array().unwrap();
    assert_eq!(apps.len(), 1, "{body}");
    assert_eq!(apps[0]["name"], "CUSTOMER-SERVICE");
    let ids: Vec<&str> = apps[0]["instance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instanceId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "127.0.0.1:customer-service:8081",
            "127.0.0.1:customer-service:8091"
        ]
    );
    gateway.stop().await;
}

#[tokio::test]
async fn each_instance_health_is_asked_by_the_gateway() {
    let gateway = Gateway::start(&[]).await;
    let dead = testkit::ReservedPort::new();
    let mut applications = Vec::new();
    for (name, port) in [
        ("gateway-service", gateway.addr.port()),
        ("dead-service", dead.port()),
    ] {
        let mut instance = InstanceInfo::new(name, "127.0.0.1", "127.0.0.1", port);
        instance.instance_id = Some(format!("127.0.0.1:{name}:{port}"));
        instance.health_check_url = Some(format!("http://127.0.0.1:{port}/actuator/health"));
        applications.push(Application {
            name: name.to_ascii_uppercase(),
            instances: vec![instance],
        });
    }
    gateway.registry.replace(Applications {
        applications,
        ..Applications::default()
    });
    let body: Value = client()
        .get(gateway.url("/console/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status = |app: &str| {
        body["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["app"] == app)
            .map(|i| i["status"].clone())
    };
    assert_eq!(status("GATEWAY-SERVICE"), Some("UP".into()), "{body}");
    assert_eq!(status("DEAD-SERVICE"), Some("UNREACHABLE".into()), "{body}");
    gateway.stop().await;
}
