//! `Idempotency-Key` on `POST /bills`: the whole bill is made once, whatever the retries.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::System;

async fn post(system: &System, key: &str, body: &Value) -> (StatusCode, Option<String>, String) {
    let response = system
        .http
        .post(system.billing.url("/bills"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    (status, location, response.text().await.unwrap())
}

#[tokio::test]
async fn twenty_concurrent_posts_with_one_key_make_one_bill() {
    let system = System::start(1).await;
    system.complete_full_bill(1).await;
    let before = system.bill_count().await;
    let body = json!({ "customerId": 2, "productItems": [ { "productId": 2, "quantity": 1 } ] });
    let system = std::sync::Arc::new(system);
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (system, body) = (system.clone(), body.clone());
            tokio::spawn(async move { post(&system, "bill-once", &body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    eprintln!(
        "20 concurrent POST /bills with one Idempotency-Key answered in {:?}",
        started.elapsed()
    );
    let first = &answers[0];
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.2);
    for answer in &answers {
        assert_eq!(answer, first, "every answer is the first one");
    }
    assert_eq!(system.bill_count().await, before + 1);

    let other = json!({ "customerId": 2, "productItems": [ { "productId": 2, "quantity": 2 } ] });
    let (status, _, text) = post(&system, "bill-once", &other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert_eq!(system.bill_count().await, before + 1);
    std::sync::Arc::into_inner(system).unwrap().stop().await;
}
