//! `GET /bills/revenue`: the bills' revenue summed exactly on the server — overall, this
//! month, per calendar month and for the top products — without the cancelled ones.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::System;

/// 2026-03-15T12:00:00Z.
const MARCH_15: i64 = 1_773_576_000_000;

#[tokio::test]
async fn revenue_sums_every_bill_but_the_cancelled_by_month_and_product() {
    let system = System::start(1).await;
    system.complete_full_bill(1).await; // the seed: 2,450.00 today
    let (status, march, _) = system
        .post_bill(
            json!({ "customerId": 2, "billingDate": MARCH_15, "productItems": [
            { "productId": 1, "quantity": 2, "discount": 0.1 } ] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{march}");
    let (status, cancelled, _) = system
        .post_bill(json!({ "customerId": 3, "productItems": [
            { "productId": 3, "quantity": 5 } ] }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cancelled}");
    let cancel = reqwest::Client::new()
        .post(
            system
                .billing
                .url(&format!("/bills/{}/cancel", cancelled["id"])),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), StatusCode::OK);

    let (status, revenue) = system.get("/bills/revenue").await;
    assert_eq!(status, StatusCode::OK, "{revenue}");
    // 890 × 2 × 0.9 = 1,602.00 in March; the seed's 2,450.00 this month.
    assert_eq!(revenue["total"], json!(4052.0));
    assert_eq!(revenue["thisMonth"], json!(2450.0));
    let this_month = chrono::Utc::now().format("%Y-%m").to_string();
    assert_eq!(
        revenue["months"],
        json!([
            { "month": "2026-03", "total": 1602.0, "bills": 1 },
            { "month": this_month, "total": 2450.0, "bills": 1 },
        ])
    );
    assert_eq!(
        revenue["products"],
        json!([
            { "productId": 1, "quantity": 3, "amount": 2492.0 },
            { "productId": 2, "quantity": 2, "amount": 840.0 },
            { "productId": 3, "quantity": 3, "amount": 720.0 },
        ])
    );
    assert!(
        revenue["_links"]["self"]["href"]
            .as_str()
            .unwrap()
            .ends_with("/bills/revenue")
    );

    let (_, top) = system.get("/bills/revenue?top=1").await;
    assert_eq!(top["products"].as_array().unwrap().len(), 1);
    for bad in ["0", "101", "many"] {
        let (status, body) = system.get(&format!("/bills/revenue?top={bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "top={bad}: {body}");
    }
    system.stop().await;
}
