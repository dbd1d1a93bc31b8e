//! Hostile and broken requests: each gets a precise 4xx, nothing is stored, the service lives on.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn post_raw(
    app: &TestApp,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let mut request = app.http.post(app.url("/customers")).body(body);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn total(app: &TestApp) -> i64 {
    app.get_json("/customers").await["page"]["totalElements"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn malformed_and_non_object_json_is_400_with_a_parse_message() {
    let app = TestApp::start().await;
    for body in [
        r#"{"name": "x", "#,
        "not json",
        "[1,2,3]",
        "\"text\"",
        "",
        "{\"name\": \"a\", \"email\": \"a@b.c\"} trailing",
    ] {
        let (status, error) = post_raw(&app, Some("application/json"), body.to_owned()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("JSON parse error") || message.contains("body is missing"),
            "{message}"
        );
    }
    let deep = "[".repeat(100_000);
    let (status, _) = post_raw(&app, Some("application/json"), deep).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(total(&app).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn a_content_type_that_is_not_json_is_a_400_naming_what_is_accepted() {
    let app = TestApp::start().await;
    let body = r#"{"name":"a","email":"a@b.c"}"#;
    let (status, error) = post_raw(&app, Some("text/plain"), body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    let (status, _) = post_raw(&app, Some("application/merge-patch+json"), body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(total(&app).await, 3);
    // Without a Content-Type the body is read as JSON, as Spring MVC reads it.
    let (status, _) = post_raw(&app, None, body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(total(&app).await, 4);
    app.stop().await;
}

#[tokio::test]
async fn oversize_bodies_are_413_without_being_stored() {
    let app = TestApp::start().await;
    let name = "x".repeat(2 * 1024 * 1024);
    let (status, error) = post_raw(
        &app,
        Some("application/json"),
        json!({ "name": name, "email": "big@mail.com" }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error["status"], 413);
    assert_eq!(total(&app).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn invalid_fields_are_reported_together_in_the_spring_data_rest_shape() {
    let app = TestApp::start().await;
    let (status, error) = post_raw(
        &app,
        Some("application/json"),
        r#"{"name": "  ", "email": "not-an-email"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error,
        json!({ "errors": [
            { "entity": "Customer", "property": "name", "invalidValue": "  ", "message": "must not be blank" },
            { "entity": "Customer", "property": "email", "invalidValue": "not-an-email", "message": "must be a well-formed email address" }
        ]})
    );
    let (status, error) = post_raw(
        &app,
        Some("application/json"),
        r#"{"name": "a", "email": ["a@b.c"]}"#,
    )
    .await;
    // A JSON type the property cannot be read from is a parse error, as Jackson reports it.
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error"),
        "{error}"
    );
    let (status, error) = post_raw(
        &app,
        Some("application/json"),
        json!({ "name": "n".repeat(256), "email": "a@b.c" }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["errors"][0]["message"],
        "size must be between 0 and 255"
    );
    assert_eq!(total(&app).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn duplicate_email_is_409_naming_the_field() {
    let app = TestApp::start().await;
    let response = app
        .post_customer(&json!({ "name": "Copy", "email": "hassan@mail.com" }))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["message"],
        "a Customer with this email already exists"
    );
    let response = app
        .http
        .patch(app.url("/customers/2"))
        .json(&json!({ "email": "hassan@mail.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(total(&app).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn bad_ids_are_400_and_unknown_paths_404() {
    let app = TestApp::start().await;
    for id in ["abc", "1.5", "99999999999999999999", "%20"] {
        let response = app.get(&format!("/customers/{id}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{id}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("not a valid Customer id")
        );
    }
    assert_eq!(
        app.get("/customers/-1").await.status(),
        StatusCode::NOT_FOUND
    );
    let response = app.get("/nothing/here").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["path"], "/nothing/here");
    app.stop().await;
}

#[tokio::test]
async fn garbage_on_the_wire_is_refused_and_the_service_keeps_serving() {
    let app = TestApp::start().await;
    for request in [
        "NOT A REQUEST\r\n\r\n",
        "GET /customers HTTP/1.1\r\nHost: localhost\r\nBad Header Without Colon\r\n\r\n",
        "POST /customers HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"name\":",
        "GET /customers/%ff%fe HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ] {
        let response = testkit::raw_http_truncated(app.service.addr, request).await;
        let status = testkit::raw_status(&response);
        assert!(
            status == 0 || (400..500).contains(&status),
            "{request:?} → {response}"
        );
    }
    assert_eq!(app.get("/customers/1").await.status(), StatusCode::OK);
    assert_eq!(total(&app).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn text_with_a_nul_character_is_400_naming_the_field_on_every_database() {
    // PostgreSQL cannot store U+0000 in text; SQLite could. Both refuse it the same way.
    let app = TestApp::start().await;
    let (status, error) = post_raw(
        &app,
        Some("application/json"),
        r#"{"name": "a\u0000b", "email": "nul@mail.com"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["errors"][0]["property"], "name", "{error}");
    assert!(
        error["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("NUL"),
        "{error}"
    );
    let (status, error) = post_raw(
        &app,
        Some("application/json"),
        r#"{"name": "Nul", "email": "a\u0000@mail.com"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["errors"][0]["property"], "email", "{error}");
    let patched = app
        .http
        .patch(app.url("/customers/1"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(r#"{"name": "\u0000"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::BAD_REQUEST);
    for (search, param) in [("byName", "name"), ("byEmail", "email")] {
        let response = app
            .get(&format!("/customers/search/{search}?{param}=a%00b"))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{search}");
        let body: Value = response.json().await.unwrap();
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("'{param}'")) && message.contains("NUL"),
            "{message}"
        );
    }
    assert_eq!(total(&app).await, 3, "nothing stored");
    assert_eq!(app.get_json("/customers/1").await["name"], "Hassan");
    app.stop().await;
}
