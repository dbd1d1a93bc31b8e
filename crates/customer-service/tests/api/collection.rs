//! The collection resource: the root, paging, sorting, HAL links, forwarded headers.

use reqwest::header;
use serde_json::{Value, json};

use crate::helpers::{TestApp, names};

#[tokio::test]
async fn root_links_the_collection_and_the_profile() {
    let app = TestApp::start().await;
    let root = app.get_json("/").await;
    assert_eq!(
        root,
        json!({ "_links": {
            "customers": { "href": app.url("/customers{?page,size,sort*}"), "templated": true },
            "profile": { "href": app.url("/profile") }
        }})
    );
    app.stop().await;
}

#[tokio::test]
async fn first_page_has_spring_data_rest_links_and_metadata() {
    let app = TestApp::start().await;
    let page = app.get_json("/customers?size=2").await;
    assert_eq!(names(&page), ["Hassan", "Mohamed"]);
    assert_eq!(
        page["page"],
        json!({ "size": 2, "totalElements": 3, "totalPages": 2, "number": 0 })
    );
    let links = page["_links"].as_object().unwrap();
    let rels: Vec<&str> = links.keys().map(String::as_str).collect();
    assert_eq!(rels, ["first", "self", "next", "last", "profile", "search"]);
    assert_eq!(links["self"]["href"], app.url("/customers?page=0&size=2"));
    assert_eq!(links["next"]["href"], app.url("/customers?page=1&size=2"));
    assert_eq!(links["last"]["href"], app.url("/customers?page=1&size=2"));
    assert_eq!(links["profile"]["href"], app.url("/profile/customers"));
    assert_eq!(links["search"]["href"], app.url("/customers/search"));

    let last = app.get_json("/customers?page=1&size=2").await;
    assert_eq!(names(&last), ["Ali"]);
    let rels: Vec<&str> = last["_links"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(rels, ["first", "prev", "self", "last", "profile", "search"]);
    app.stop().await;
}

#[tokio::test]
async fn single_page_defaults_and_pages_beyond_the_end() {
    let app = TestApp::start().await;
    let page = app.get_json("/customers").await;
    assert_eq!(page["page"]["size"], 20);
    assert!(page["_links"].get("first").is_none() && page["_links"].get("next").is_none());
    assert_eq!(
        page["_links"]["self"]["href"],
        app.url("/customers?page=0&size=20")
    );

    let beyond = app.get_json("/customers?page=9").await;
    assert_eq!(beyond["_embedded"]["customers"], json!([]));
    assert_eq!(beyond["page"]["totalElements"], 3);

    let clamped = app.get_json("/customers?size=5000&page=-1").await;
    assert_eq!(
        (
            clamped["page"]["size"].as_i64(),
            clamped["page"]["number"].as_i64()
        ),
        (Some(1000), Some(0))
    );
    app.stop().await;
}

#[tokio::test]
async fn sorting_applies_in_order_and_is_kept_in_links() {
    let app = TestApp::start().await;
    let page = app.get_json("/customers?sort=name,desc").await;
    assert_eq!(names(&page), ["Mohamed", "Hassan", "Ali"]);
    assert_eq!(
        page["_links"]["self"]["href"],
        app.url("/customers?page=0&size=20&sort=name,desc")
    );
    app.create("Ali", "ali2@mail.com").await;
    let page = app.get_json("/customers?sort=name&sort=email,desc").await;
    let emails: Vec<&str> = page["_embedded"]["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    // Names ascending, then e-mail descending among the two Alis ('@' sorts after '2').
    assert_eq!(names(&page), ["Ali", "Ali", "Hassan", "Mohamed"]);
    assert_eq!(&emails[..2], ["ali@mail.com", "ali2@mail.com"]);
    app.stop().await;
}

#[tokio::test]
async fn unknown_sort_properties_are_dropped_as_spring_data_rest_drops_them() {
    let app = TestApp::start().await;
    let page = app
        .get_json("/customers?sort=salary,desc&sort=name.first&sort=name,desc")
        .await;
    assert_eq!(names(&page), ["Mohamed", "Hassan", "Ali"]);
    assert_eq!(
        page["_links"]["self"]["href"],
        app.url("/customers?page=0&size=20&sort=name,desc")
    );
    app.stop().await;
}

#[tokio::test]
async fn links_point_back_through_the_gateway_from_forwarded_headers() {
    let app = TestApp::start().await;
    let body: Value = app
        .http
        .get(app.url("/customers/1"))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "gateway.example")
        .header("X-Forwarded-Port", "9999")
        .header("X-Forwarded-Prefix", "/customer-service")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["_links"]["self"]["href"],
        "https://gateway.example:9999/customer-service/customers/1"
    );
    app.stop().await;

    let app = TestApp::start_with(&[("server.forward-headers-strategy", "none")]).await;
    let body: Value = app
        .http
        .get(app.url("/customers/1"))
        .header("X-Forwarded-Host", "gateway.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["_links"]["self"]["href"], app.url("/customers/1"));
    app.stop().await;
}

#[tokio::test]
async fn collection_content_type_follows_accept() {
    let app = TestApp::start().await;
    let response = app
        .http
        .get(app.url("/customers"))
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let response = app
        .http
        .get(app.url("/customers"))
        .header(header::ACCEPT, "application/hal+json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/hal+json"
    );
    app.stop().await;
}
