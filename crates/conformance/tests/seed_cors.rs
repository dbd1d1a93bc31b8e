//! What the seed's browser front-ends rely on: the default `config-repo/` carries the seed
//! gateway's global CORS configuration, so an app on `http://localhost:4200` calls the API
//! through factura's gateway unchanged.
//!
//! The gateway loads the repository's own `config-repo/` through factura's config-service (as
//! `factura up` runs it) and routes to a real customer-service found in a real
//! discovery-service. A browser's preflight and its actual requests are replayed as a browser
//! sends them; the answers carry the headers Spring's `DefaultCorsProcessor` gives for that
//! configuration.

use std::time::Duration;

use conformance::{fleet::http, spring::repo_root};
use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::{TestService, as_pairs, eventually, registered_with};

const FRONT_END: &str = "http://localhost:4200";

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_end_on_localhost_4200_calls_the_api_through_the_gateway() {
    let repo = repo_root().join("config-repo");
    let repo = repo.display().to_string();
    let config = TestService::start(
        &config_service::SERVICE,
        &[("spring.cloud.config.server.native.search-locations", &repo)],
    )
    .await;
    let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
    let mut properties = registered_with(discovery.addr);
    let customers = TestService::start(&customer_service::SERVICE, &as_pairs(&properties)).await;
    properties.extend([
        ("spring.cloud.config.enabled".to_owned(), "true".to_owned()),
        (
            "spring.config.import".to_owned(),
            format!("configserver:{}", config.url("")),
        ),
    ]);
    let gateway = TestService::start(&gateway_service::SERVICE, &as_pairs(&properties)).await;
    let http = http();
    let customers_url = gateway.url("/customers");
    let (client, url) = (&http, &customers_url);
    eventually(
        "customers through the gateway",
        Duration::from_secs(30),
        || async move {
            let status = client.get(url).send().await.ok()?.status();
            (status == StatusCode::OK).then_some(())
        },
    )
    .await;

    // The preflight a browser sends before a JSON POST with credentials.
    let preflight = http
        .request(Method::OPTIONS, &customers_url)
        .header("origin", FRONT_END)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .expect("the preflight");
    assert_eq!(preflight.status(), StatusCode::OK, "{preflight:?}");
    assert_eq!(
        header(&preflight, "access-control-allow-origin"),
        Some(FRONT_END)
    );
    assert_eq!(
        header(&preflight, "access-control-allow-methods"),
        Some("GET,POST,PUT,DELETE")
    );
    assert_eq!(
        header(&preflight, "access-control-allow-headers"),
        Some("content-type, authorization"),
        "allowedHeaders `*` with credentials echoes the requested headers"
    );
    assert_eq!(
        header(&preflight, "access-control-allow-credentials"),
        Some("true")
    );

    // The actual requests: a read and a write, answered with the CORS headers.
    let read = http
        .get(&customers_url)
        .header("origin", FRONT_END)
        .send()
        .await
        .expect("the read");
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(
        header(&read, "access-control-allow-origin"),
        Some(FRONT_END)
    );
    assert_eq!(
        header(&read, "access-control-allow-credentials"),
        Some("true")
    );
    let write = http
        .post(&customers_url)
        .header("origin", FRONT_END)
        .json(&json!({ "name": "Browser", "email": "browser@mail.com" }))
        .send()
        .await
        .expect("the write");
    assert_eq!(write.status(), StatusCode::CREATED);
    assert_eq!(
        header(&write, "access-control-allow-origin"),
        Some(FRONT_END)
    );

    // Another origin, or a method the configuration does not list, is refused as Spring does.
    let foreign = http
        .request(Method::OPTIONS, &customers_url)
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("a foreign preflight");
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&foreign, "access-control-allow-origin"), None);
    let patch = http
        .request(Method::OPTIONS, &customers_url)
        .header("origin", FRONT_END)
        .header("access-control-request-method", "PATCH")
        .send()
        .await
        .expect("a PATCH preflight");
    assert_eq!(patch.status(), StatusCode::FORBIDDEN);
    let _ = customers;
}
