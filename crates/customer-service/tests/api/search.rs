//! Search resources: the listing, byName (case-insensitive contains) and byEmail (exact).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, names};

#[tokio::test]
async fn search_listing_links_every_query_method() {
    let app = TestApp::start().await;
    let listing = app.get_json("/customers/search").await;
    assert_eq!(
        listing,
        json!({ "_links": {
            "byName": { "href": app.url("/customers/search/byName{?name,page,size,sort*}"), "templated": true },
            "byEmail": { "href": app.url("/customers/search/byEmail{?email}"), "templated": true },
            "self": { "href": app.url("/customers/search") }
        }})
    );
    assert_eq!(
        app.get("/customers/search/byAge?age=3").await.status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn by_name_is_a_case_insensitive_contains() {
    let app = TestApp::start().await;
    let page = app.get_json("/customers/search/byName?name=AM").await;
    assert_eq!(names(&page), ["Mohamed"]);
    assert_eq!(
        page["_links"]["self"]["href"],
        app.url("/customers/search/byName?name=AM&page=0&size=20")
    );
    let page = app
        .get_json("/customers/search/byName?name=a&sort=name,desc")
        .await;
    assert_eq!(names(&page), ["Mohamed", "Hassan", "Ali"]);
    let none = app.get_json("/customers/search/byName").await;
    assert_eq!(none["_embedded"]["customers"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn search_parameters_are_data_never_sql_or_patterns() {
    let app = TestApp::start().await;
    app.create("100% Real_Name", "real@mail.com").await;
    for hostile in ["%", "_", "' OR '1'='1", "'; DROP TABLE customers; --", "\\"] {
        let query: String = url_encode(hostile);
        let response = app
            .get(&format!("/customers/search/byName?name={query}"))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{hostile}");
        let page: Value = response.json().await.unwrap();
        let found = names(&page);
        assert!(
            found.iter().all(|n| n.contains(hostile)),
            "{hostile} matched {found:?}"
        );
    }
    let percent = app.get_json("/customers/search/byName?name=%25").await;
    assert_eq!(names(&percent), ["100% Real_Name"]);
    assert_eq!(
        app.get_json("/customers").await["page"]["totalElements"],
        4,
        "table intact"
    );
    app.stop().await;
}

#[tokio::test]
async fn by_email_is_exact_and_answers_one_item_or_404() {
    let app = TestApp::start().await;
    let customer = app
        .get_json("/customers/search/byEmail?email=ali@mail.com")
        .await;
    assert_eq!(customer["name"], "Ali");
    assert_eq!(customer["_links"]["self"]["href"], app.url("/customers/3"));
    assert_eq!(
        app.get("/customers/search/byEmail?email=ALI@mail.com")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/customers/search/byEmail?email=ali")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    app.stop().await;
}

fn url_encode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}
