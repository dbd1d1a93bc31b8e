//! Bad input gets a clear 4xx with the Java server's reasons, never a 500, and leaves the
//! registry as it was.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn malformed_or_incomplete_registrations_are_refused_with_reasons() {
    let node = discovery(&[("factura.max-body-bytes", "65536")]).await;
    let base = eureka(&node);
    assert_eq!(
        register(&base, "good", &instance_body("good", "h", 1))
            .await
            .status(),
        204
    );
    let client = http();

    let mut cases: Vec<(&str, String, String, u16, &str)> = vec![
        (
            "A",
            "application/json".into(),
            "{\"instance\":{\"app\":".into(),
            400,
            "cannot parse request body",
        ),
        (
            "A",
            "application/xml".into(),
            "<instance><app>A</app>".into(),
            400,
            "cannot parse request body",
        ),
        (
            "A",
            "application/json".into(),
            "[1,2,3]".into(),
            400,
            "cannot parse request body",
        ),
        (
            "A",
            "text/plain".into(),
            "hello".into(),
            415,
            "not supported",
        ),
        (
            "A",
            "application/json".into(),
            // An unknown status reads as UNKNOWN (Java's `InstanceStatus.toEnum`); what is
            // refused is the missing identity.
            "{\"instance\":{\"status\":\"SLEEPY\"}}".into(),
            400,
            "Missing instanceId",
        ),
        (
            "A",
            "application/json".into(),
            "{\"instance\":{\"port\":\"eighty\"}}".into(),
            400,
            "cannot parse request body",
        ),
    ];
    let mut missing = |field: &str, reason: &'static str| {
        let mut body = instance_body("a", "h", 1);
        body["instance"]
            .as_object_mut()
            .expect("object")
            .remove(field);
        cases.push((
            "A",
            "application/json".into(),
            body.to_string(),
            400,
            reason,
        ));
    };
    missing("hostName", "Missing hostname");
    missing("ipAddr", "Missing ip address");
    missing("dataCenterInfo", "Missing dataCenterInfo");
    let mut no_dc_name = instance_body("a", "h", 1);
    no_dc_name["instance"]["dataCenterInfo"] = json!({"@class": "x"});
    cases.push((
        "A",
        "application/json".into(),
        no_dc_name.to_string(),
        400,
        "Missing dataCenterInfo Name",
    ));
    cases.push((
        "OTHER",
        "application/json".into(),
        instance_body("a", "h", 1).to_string(),
        400,
        "Mismatched appName",
    ));
    let mut absurd = instance_body("a", "h", 1);
    absurd["instance"]["leaseInfo"]["durationInSecs"] = json!(999_999_999);
    cases.push((
        "A",
        "application/json".into(),
        absurd.to_string(),
        400,
        "durationInSecs",
    ));
    let mut negative = instance_body("a", "h", 1);
    negative["instance"]["leaseInfo"]["renewalIntervalInSecs"] = json!(-5);
    cases.push((
        "A",
        "application/json".into(),
        negative.to_string(),
        400,
        "renewalIntervalInSecs",
    ));

    for (app, content_type, body, status, reason) in cases {
        let response = client
            .post(format!("{base}apps/{app}"))
            .header("content-type", content_type.as_str())
            .body(body.clone())
            .send()
            .await
            .expect("register");
        assert_eq!(response.status().as_u16(), status, "{body}");
        let text = response.text().await.expect("reason");
        assert!(
            text.contains(reason),
            "{text:?} should mention {reason:?} for {body}"
        );
    }

    // Oversized: 413 before anything is parsed.
    let huge = format!(
        "{{\"instance\":{{\"app\":\"A\",\"metadata\":{{\"k\":\"{}\"}}}}}}",
        "x".repeat(200_000)
    );
    let response = client
        .post(format!("{base}apps/A"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 413);

    // Bad status values, bad methods, unknown paths.
    let bad_status = client
        .put(format!("{base}apps/GOOD/h:good:1/status?value=SLEEPY"))
        .send()
        .await
        .expect("put");
    assert_eq!(bad_status.status(), 400);
    let no_value = client
        .put(format!("{base}apps/GOOD/h:good:1/status"))
        .send()
        .await
        .expect("put");
    assert_eq!(no_value.status(), 400);
    let patch = client
        .patch(format!("{base}apps/GOOD"))
        .send()
        .await
        .expect("patch");
    assert_eq!(patch.status(), 405);
    let unknown = client
        .get(format!("{base}nothing/here/at/all"))
        .send()
        .await
        .expect("get");
    assert_eq!(unknown.status(), 404);
    let batch = client
        .post(format!("{base}peerreplication/batch/"))
        .header("content-type", "application/json")
        .body("{\"replicationList\": 5}")
        .send()
        .await
        .expect("batch");
    assert_eq!(batch.status(), 400);

    // The registry is exactly as before.
    let apps = apps_json(&base).await;
    assert_eq!(apps["applications"]["apps__hashcode"], "UP_1_");
    assert_eq!(instance_ids(&base, "GOOD").await, ["h:good:1"]);
    node.stop().await;
}
