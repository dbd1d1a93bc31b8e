//! Item resources: read, create, replace, patch, delete, HEAD, OPTIONS and their status codes.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test]
async fn seeded_customer_is_served_with_id_and_links() {
    let app = TestApp::start().await;
    let response = app.get("/customers/1").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/hal+json"
    );
    assert_eq!(response.headers()[header::ETAG], "\"0\"");
    let body: Value = response.json().await.unwrap();
    let self_href = app.url("/customers/1");
    assert_eq!(
        body,
        json!({
            "id": 1, "name": "Hassan", "email": "hassan@mail.com",
            "_links": { "self": { "href": self_href }, "customer": { "href": self_href } }
        })
    );
    app.stop().await;
}

#[tokio::test]
async fn accept_application_json_gets_the_same_hal_body_labelled_json() {
    let app = TestApp::start().await;
    let response = app
        .http
        .get(app.url("/customers/2"))
        .header(header::ACCEPT, "application/json, text/plain, */*")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "Mohamed");
    assert!(body["_links"]["self"]["href"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn missing_item_is_a_404_without_a_body_as_spring_data_rest_sends_it() {
    let app = TestApp::start().await;
    let response = app.get("/customers/999").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().get(header::CONTENT_TYPE).is_none());
    assert!(response.bytes().await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn post_creates_with_201_location_and_body_only_when_accept_is_sent() {
    let app = TestApp::start().await;
    let response = app
        .post_customer(&json!({ "name": "Sara", "email": "sara@mail.com", "id": 77, "_links": {} }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "Sara");
    assert_ne!(body["id"], 77, "an id in the payload is ignored");
    assert_eq!(location, app.url(&format!("/customers/{}", body["id"])));

    // Without an Accept header, Spring Data REST answers 201 with no body.
    let payload = r#"{"name":"Omar","email":"omar@mail.com"}"#;
    let raw = testkit::raw_http(
        app.service.addr,
        &format!(
            "POST /customers HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        ),
    )
    .await;
    assert_eq!(testkit::raw_status(&raw), 201);
    assert!(
        raw.to_ascii_lowercase()
            .contains("location: http://localhost/customers/")
    );
    assert!(raw.ends_with("\r\n\r\n"), "no body without Accept: {raw}");
    app.stop().await;
}

#[tokio::test]
async fn put_replaces_and_put_on_a_missing_id_creates() {
    let app = TestApp::start().await;
    let response = app
        .http
        .put(app.url("/customers/1"))
        .json(&json!({ "name": "Hassan B", "email": "hb@mail.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::ETAG], "\"1\"");
    assert_eq!(app.get_json("/customers/1").await["email"], "hb@mail.com");

    // Replace semantics: an absent required property is a validation error, not "unchanged".
    let response = app
        .http
        .put(app.url("/customers/1"))
        .json(&json!({ "name": "X" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = app
        .http
        .put(app.url("/customers/5000"))
        .json(&json!({ "name": "New", "email": "new@mail.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let created = app.http.get(&location).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn patch_merges_in_all_three_formats_and_404s_on_missing_items() {
    let app = TestApp::start().await;
    let patch = |content_type: &'static str, body: &'static str| {
        app.http
            .patch(app.url("/customers/2"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };
    let response = patch("application/json", r#"{"name":"Mo"}"#).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["name"].as_str(), body["email"].as_str()),
        (Some("Mo"), Some("mohamed@mail.com"))
    );

    let response = patch("application/merge-patch+json", r#"{"email":"mo@mail.com"}"#)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = patch(
        "application/json-patch+json",
        r#"[{"op":"test","path":"/name","value":"Mo"},{"op":"replace","path":"/name","value":"Moe"}]"#,
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let current = app.get_json("/customers/2").await;
    assert_eq!(
        (current["name"].as_str(), current["email"].as_str()),
        (Some("Moe"), Some("mo@mail.com"))
    );

    // Setting a required property to null through a merge is a validation error.
    let response = patch("application/merge-patch+json", r#"{"name":null}"#)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = app
        .http
        .patch(app.url("/customers/4040"))
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn delete_returns_the_entity_with_accept_and_then_404() {
    let app = TestApp::start().await;
    let id = app.create("Temp", "temp@mail.com").await;
    let response = app
        .http
        .delete(app.url(&format!("/customers/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "Temp");
    assert_eq!(
        app.get(&format!("/customers/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let again = app
        .http
        .delete(app.url(&format!("/customers/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    let id = app.create("Temp2", "temp2@mail.com").await;
    let raw = testkit::raw_http(
        app.service.addr,
        &format!("DELETE /customers/{id} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(testkit::raw_status(&raw), 204, "{raw}");
    app.stop().await;
}

#[tokio::test]
async fn head_options_and_unsupported_methods() {
    let app = TestApp::start().await;
    let head = app.http.head(app.url("/customers/1")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::NO_CONTENT);
    assert!(head.headers().contains_key(header::ETAG));
    assert_eq!(
        app.http
            .head(app.url("/customers/999"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.http
            .head(app.url("/customers"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );

    let options = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/customers/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), StatusCode::OK);
    assert_eq!(
        options.headers()[header::ALLOW],
        "GET,HEAD,PUT,PATCH,DELETE,OPTIONS"
    );
    assert!(
        options.headers()["accept-patch"]
            .to_str()
            .unwrap()
            .contains("merge-patch")
    );
    let options = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.headers()[header::ALLOW], "GET,HEAD,POST,OPTIONS");

    let response = app.http.delete(app.url("/customers")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = response.headers()[header::ALLOW]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 405);
    app.stop().await;
}
