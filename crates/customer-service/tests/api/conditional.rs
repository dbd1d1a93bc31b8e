//! Optimistic concurrency: ETag, If-Match (412) and If-None-Match (304).

use reqwest::{StatusCode, header};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn if_none_match_with_the_current_etag_is_304() {
    let app = TestApp::start().await;
    let response = app
        .http
        .get(app.url("/customers/1"))
        .header(header::IF_NONE_MATCH, "\"0\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let response = app
        .http
        .get(app.url("/customers/1"))
        .header(header::IF_NONE_MATCH, "\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn stale_if_match_is_412_with_the_current_etag_and_changes_nothing() {
    let app = TestApp::start().await;
    let ok = app
        .http
        .patch(app.url("/customers/1"))
        .header(header::IF_MATCH, "\"0\"")
        .json(&json!({ "name": "First" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()[header::ETAG], "\"1\"");

    for method in [
        reqwest::Method::PATCH,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = app
            .http
            .request(method.clone(), app.url("/customers/1"))
            .header(header::IF_MATCH, "\"0\"")
            .json(&json!({ "name": "Second", "email": "second@mail.com" }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::PRECONDITION_FAILED,
            "{method}"
        );
        assert_eq!(response.headers()[header::ETAG], "\"1\"");
    }
    let current = app.get_json("/customers/1").await;
    assert_eq!(current["name"], "First");
    app.stop().await;
}
