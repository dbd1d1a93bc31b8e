//! Concurrent writers: nothing lost, nothing duplicated, exactly one winner where one must win.

use std::collections::HashSet;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test]
async fn fifty_concurrent_creates_all_land_once() {
    let app = TestApp::start().await;
    let requests = (0..50).map(|i| {
        let http = app.http.clone();
        let url = app.url("/customers");
        async move {
            let response = http
                .post(url)
                .json(&json!({ "name": format!("C{i}"), "email": format!("c{i}@mail.com") }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            response.json::<Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap()
        }
    });
    let ids: Vec<i64> = join_all(requests).await;
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        50,
        "ids are distinct"
    );
    let page = app.get_json("/customers?size=100").await;
    assert_eq!(page["page"]["totalElements"], 53);
    app.stop().await;
}

#[tokio::test]
async fn the_same_email_posted_concurrently_is_stored_exactly_once() {
    let app = TestApp::start().await;
    let requests = (0..20).map(|i| {
        let http = app.http.clone();
        let url = app.url("/customers");
        async move {
            http.post(url)
                .json(&json!({ "name": format!("Twin{i}"), "email": "twin@mail.com" }))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = join_all(requests).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT)
    );
    let found = app.get_json("/customers/search/byName?name=twin").await;
    assert_eq!(found["page"]["totalElements"], 1);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_conditional_updates_have_exactly_one_winner() {
    let app = TestApp::start().await;
    let requests = (0..20).map(|i| {
        let http = app.http.clone();
        let url = app.url("/customers/1");
        async move {
            http.patch(url)
                .header(header::IF_MATCH, "\"0\"")
                .json(&json!({ "name": format!("Winner{i}") }))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = join_all(requests).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
            .count(),
        19
    );
    let current = app.get_json("/customers/1").await;
    assert!(current["name"].as_str().unwrap().starts_with("Winner"));
    app.stop().await;
}

#[tokio::test]
async fn unconditional_concurrent_patches_are_all_applied_in_some_order() {
    let app = TestApp::start().await;
    let requests = (0..10).map(|i| {
        let http = app.http.clone();
        let url = app.url("/customers/2");
        async move {
            http.patch(url)
                .json(&json!({ "name": format!("Edit{i}") }))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let response = app.get("/customers/2").await;
    assert_eq!(
        response.headers()[header::ETAG],
        "\"10\"",
        "every patch bumped the version once"
    );
    app.stop().await;
}

async fn join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("request task"));
    }
    out
}

/// Reads are served without a cache (on SQLite, straight from the file on the calling thread):
/// what one instance writes, another instance on the same database reads at once — item, page
/// and search, after a create, an update and a delete.
#[tokio::test]
async fn reads_through_one_instance_see_every_write_through_another_at_once() {
    use testkit::TestService;
    let writer = TestService::start(&customer_service::SERVICE, &[]).await;
    let reader =
        TestService::start_with_database(&customer_service::SERVICE, &[], writer.database.shared())
            .await;
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (_, before) = get(reader.url("/customers?size=20")).await;
    let total = before["page"]["totalElements"].as_i64().unwrap();

    let created: Value = http
        .post(writer.url("/customers"))
        .json(&json!({ "name": "Grace", "email": "grace@mail.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    let (status, item) = get(reader.url(&format!("/customers/{id}"))).await;
    assert_eq!((status, &item["name"]), (StatusCode::OK, &json!("Grace")));
    let (_, page) = get(reader.url("/customers?size=20")).await;
    assert_eq!(page["page"]["totalElements"], total + 1);

    let updated = http
        .put(writer.url(&format!("/customers/{id}")))
        .json(&json!({ "name": "Grace Hopper", "email": "grace@mail.com" }))
        .send()
        .await
        .unwrap();
    assert!(updated.status().is_success(), "{}", updated.status());
    let (_, item) = get(reader.url(&format!("/customers/{id}"))).await;
    assert_eq!(item["name"], "Grace Hopper");
    let (_, found) = get(reader.url("/customers/search/byName?name=hopper")).await;
    assert_eq!(found["page"]["totalElements"], 1);

    let deleted = http
        .delete(writer.url(&format!("/customers/{id}")))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let (status, _) = get(reader.url(&format!("/customers/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = get(reader.url("/customers?size=20")).await;
    assert_eq!(page["page"]["totalElements"], total);
    reader.stop().await;
    writer.stop().await;
}
