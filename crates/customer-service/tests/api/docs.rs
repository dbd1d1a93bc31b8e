//! `/profile` (ALPS, JSON Schema), `/v3/api-docs` (OpenAPI) and the actuator endpoints.

use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn profile_serves_alps_and_json_schema() {
    let app = TestApp::start().await;
    let index = app.get_json("/profile").await;
    assert_eq!(
        index["_links"]["customers"]["href"],
        app.url("/profile/customers")
    );

    let response = app.get("/profile/customers").await;
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/alps+json"
    );
    let alps: Value = response.json().await.unwrap();
    let descriptors = alps["alps"]["descriptor"].as_array().unwrap();
    let ids: Vec<&str> = descriptors
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    for id in [
        "customer-representation",
        "get-customers",
        "create-customers",
        "get-customer",
        "update-customer",
        "patch-customer",
        "delete-customer",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert!(descriptors.iter().any(|d| d["name"] == "byName"));

    let schema: Value = app
        .http
        .get(app.url("/profile/customers"))
        .header(header::ACCEPT, "application/schema+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(schema["title"], "Customer");
    assert_eq!(schema["properties"]["email"]["title"], "Email");
    assert_eq!(schema["properties"]["email"]["type"], "string");
    assert_eq!(
        app.get("/profile/nothing").await.status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn openapi_describes_every_endpoint() {
    let app = TestApp::start().await;
    let doc = app.get_json("/v3/api-docs").await;
    assert_eq!(doc["openapi"], "3.0.1");
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/customers", &["get", "post"][..]),
        ("/customers/{id}", &["get", "put", "patch", "delete"][..]),
        ("/customers/search/byName", &["get"][..]),
        ("/customers/search/byEmail", &["get"][..]),
    ] {
        for method in methods {
            assert!(
                paths[path].get(*method).is_some(),
                "{method} {path} undocumented"
            );
        }
    }
    assert_eq!(
        doc["components"]["schemas"]["Customer"]["required"],
        serde_json::json!(["name", "email"])
    );
    app.stop().await;
}

#[tokio::test]
async fn actuator_reports_health_info_and_per_route_metrics() {
    let app = TestApp::start_with(&[
        ("management.endpoints.web.exposure.include", "*"),
        ("management.endpoint.health.show-details", "always"),
    ])
    .await;
    let health = app.get_json("/actuator/health").await;
    assert_eq!(health["status"], "UP");
    assert_eq!(health["components"]["db"]["status"], "UP");
    let info = app.get_json("/actuator/info").await;
    assert_eq!(info["app"]["name"], "customer-service");

    app.get("/customers/1").await;
    app.get("/customers/2").await;
    app.get("/no/such/path").await;
    let text = app.get("/actuator/prometheus").await.text().await.unwrap();
    assert!(
        text.contains(r#"http_server_requests_seconds_count{method="GET",uri="/customers/{id}",status="200"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"uri="NOT_FOUND",status="404""#));
    app.stop().await;
}

#[tokio::test]
async fn responses_carry_a_request_id_and_echo_the_callers() {
    let app = TestApp::start().await;
    let generated = app.get("/customers/1").await;
    assert!(!generated.headers()["x-request-id"].is_empty());
    let echoed = app
        .http
        .get(app.url("/customers/1"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
    app.stop().await;
}
