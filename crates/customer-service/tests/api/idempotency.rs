//! `Idempotency-Key` on the generic resource's POST: a retried create is answered from the
//! first response, a reused key with another body is refused, concurrent duplicates create one
//! customer, and two instances on one database share their keys.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use testkit::{TestDatabase, TestService, eventually};

use crate::helpers::TestApp;

async fn post_with_key(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    http.post(url)
        .header("idempotency-key", key)
        .header(header::ACCEPT, "application/hal+json")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn total(app: &TestApp) -> i64 {
    app.get_json("/customers").await["page"]["totalElements"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn the_same_key_and_body_replay_the_first_response_without_a_second_create() {
    let app = TestApp::start().await;
    let body = json!({ "name": "Ada", "email": "ada@mail.com" });
    let url = app.url("/customers");
    let first = post_with_key(&app.http, &url, "key-1", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()[header::LOCATION].clone();
    let content_type = first.headers()[header::CONTENT_TYPE].clone();
    let first_body = first.text().await.unwrap();

    for _ in 0..3 {
        let again = post_with_key(&app.http, &url, "key-1", &body).await;
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(again.headers()[header::LOCATION], location);
        assert_eq!(again.headers()[header::CONTENT_TYPE], content_type);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.text().await.unwrap(), first_body);
    }
    assert_eq!(total(&app).await, 4, "three seeded customers and one new");
    // Without the header nothing is remembered: the same body is an ordinary duplicate.
    let plain = app.post_customer(&body).await;
    assert_eq!(plain.status(), StatusCode::CONFLICT);
    app.stop().await;
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_and_stores_nothing() {
    let app = TestApp::start().await;
    let url = app.url("/customers");
    let first = post_with_key(
        &app.http,
        &url,
        "key-2",
        &json!({ "name": "Ada", "email": "ada@mail.com" }),
    )
    .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let other = post_with_key(
        &app.http,
        &url,
        "key-2",
        &json!({ "name": "Bob", "email": "bob@mail.com" }),
    )
    .await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = other.json().await.unwrap();
    assert_eq!(error["status"], 422);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key 'key-2' was already used"),
        "{error}"
    );
    assert_eq!(error["path"], "/customers");
    assert_eq!(total(&app).await, 4);
    app.stop().await;
}

#[tokio::test]
async fn a_refused_request_releases_its_key_for_the_corrected_one() {
    let app = TestApp::start().await;
    let url = app.url("/customers");
    let bad = post_with_key(&app.http, &url, "key-3", &json!({ "name": "" })).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let good = post_with_key(
        &app.http,
        &url,
        "key-3",
        &json!({ "name": "Ada", "email": "ada@mail.com" }),
    )
    .await;
    assert_eq!(good.status(), StatusCode::CREATED);
    let bad_key = post_with_key(&app.http, &url, "", &json!({})).await;
    assert_eq!(bad_key.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_requests_with_one_key_create_one_customer() {
    let app = TestApp::start().await;
    let url = app.url("/customers");
    let body = json!({ "name": "Racer", "email": "racer@mail.com" });
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (http, url, body) = (app.http.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let response = post_with_key(&http, &url, "race", &body).await;
                let status = response.status();
                let location = response.headers()[header::LOCATION].clone();
                (status, location)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::CREATED),
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|(_, l)| *l == answers[0].1),
        "{answers:?}"
    );
    let found = app.get_json("/customers/search/byName?name=racer").await;
    assert_eq!(found["page"]["totalElements"], 1);
    app.stop().await;
}

#[tokio::test]
async fn a_key_is_forgotten_after_its_retention() {
    let app = TestApp::start_with(&[("factura.idempotency.retention", "1s")]).await;
    let url = app.url("/customers");
    let body = json!({ "name": "Ada", "email": "ada@mail.com" });
    let first = post_with_key(&app.http, &url, "key-4", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    // Within the second it is replayed; once it expired, the same request is done anew (and
    // is now a duplicate e-mail).
    let http = app.http.clone();
    eventually(
        "the key to expire",
        std::time::Duration::from_secs(10),
        || async {
            let again = post_with_key(&http, &url, "key-4", &body).await;
            (again.status() == StatusCode::CONFLICT).then_some(())
        },
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_bad_retention_stops_the_start_with_the_key_named() {
    let database = TestDatabase::new();
    let settings = testkit::test_settings(
        &customer_service::SERVICE,
        &database,
        &[("factura.idempotency.retention", "forever")],
    );
    let context = platform::ServiceContext::new(settings);
    let error = (customer_service::SERVICE.build)(context)
        .await
        .expect_err("the start is refused");
    assert!(platform::settings::is_configuration_error(&error));
    assert!(
        format!("{error:#}").contains("factura.idempotency.retention"),
        "{error:#}"
    );
    database.drop_database().await;
}

#[tokio::test]
async fn two_instances_on_one_database_share_their_keys() {
    let first = TestService::start(&customer_service::SERVICE, &[]).await;
    let second =
        TestService::start_with_database(&customer_service::SERVICE, &[], first.database.shared())
            .await;
    let http = reqwest::Client::new();
    let body = json!({ "name": "Ada", "email": "ada@mail.com" });
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let url = if i % 2 == 0 {
                first.url("/customers")
            } else {
                second.url("/customers")
            };
            let (http, body) = (http.clone(), body.clone());
            tokio::spawn(async move { post_with_key(&http, &url, "shared", &body).await.status() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::CREATED);
    }
    let page: Value = http
        .get(second.url("/customers/search/byName?name=ada"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["page"]["totalElements"], 1);
    second.stop().await;
    first.stop().await;
}
