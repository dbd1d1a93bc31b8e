//! The Eureka REST surface against a real node: status codes, empty bodies, shapes in JSON and
//! XML, both base paths, deltas and hash codes, overrides, metadata, VIPs, the batch endpoint.

use platform::discovery::model::{Format, read_applications, read_instance};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn register_then_read_back_in_json_and_xml_under_both_base_paths() {
    let node = discovery(&[]).await;
    let base = eureka(&node);
    let response = register(
        &base,
        "customer-service",
        &instance_body("customer-service", "h1", 8081),
    )
    .await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.expect("body").is_empty());

    let apps = apps_json(&base).await;
    let applications = &apps["applications"];
    assert_eq!(applications["versions__delta"], "1");
    assert_eq!(applications["apps__hashcode"], "UP_1_");
    let app = &applications["application"][0];
    assert_eq!(app["name"], "CUSTOMER-SERVICE");
    let instance = &app["instance"][0];
    assert!(app["instance"].is_array(), "always an array");
    assert_eq!(instance["instanceId"], "h1:customer-service:8081");
    assert_eq!(instance["port"], json!({"$": 8081, "@enabled": "true"}));
    assert_eq!(instance["isCoordinatingDiscoveryServer"], "false");
    assert_eq!(instance["lastDirtyTimestamp"], "1700000000000");
    assert_eq!(instance["actionType"], "ADDED");
    assert_eq!(
        instance["dataCenterInfo"]["@class"],
        "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"
    );
    assert!(
        instance["leaseInfo"]["registrationTimestamp"]
            .as_i64()
            .expect("number")
            > 0
    );

    // No Accept: XML, which py_eureka_client parses.
    let response = http()
        .get(format!("{base}apps"))
        .send()
        .await
        .expect("xml call");
    assert_eq!(response.headers()["content-type"], "application/xml");
    let xml = response.text().await.expect("xml body");
    assert!(xml.starts_with("<applications>"), "{xml}");
    assert!(xml.contains("<port enabled=\"true\">8081</port>"));
    let parsed = read_applications(xml.as_bytes(), Format::Xml).expect("our XML reads back");
    assert_eq!(
        parsed.applications[0].instances[0].effective_id(),
        "h1:customer-service:8081"
    );

    // /eureka/v2/, lower-case app, percent-encoded id, trailing slash, doubled slash.
    for path in [
        "/eureka/v2/apps/customer-service/h1%3Acustomer-service%3A8081/",
        "/eureka//apps/CUSTOMER-SERVICE/h1:customer-service:8081",
        "/eureka/v2/instances/h1:customer-service:8081",
    ] {
        let response = http()
            .get(node.url(path))
            .header("accept", "application/json")
            .send()
            .await
            .expect("instance call");
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["instance"]["app"], "CUSTOMER-SERVICE", "{path}");
    }
    let one = http()
        .get(node.url("/eureka/v2/apps/customer-service"))
        .send()
        .await
        .expect("app call")
        .bytes()
        .await
        .expect("body");
    assert!(
        String::from_utf8_lossy(&one).starts_with("<application><name>CUSTOMER-SERVICE</name>")
    );
    node.stop().await;
}

#[tokio::test]
async fn register_accepts_xml_and_the_minimal_js_shape() {
    let node = discovery(&[]).await;
    let base = eureka(&node);
    let xml = r#"<instance><instanceId>x:xml-svc:1</instanceId><hostName>x</hostName><app>XML-SVC</app>
        <ipAddr>10.0.0.1</ipAddr><status>UP</status><overriddenstatus>UNKNOWN</overriddenstatus>
        <port enabled="true">1</port><securePort enabled="false">443</securePort><countryId>1</countryId>
        <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>
        <metadata><my__key>v</my__key></metadata><vipAddress>xml-svc</vipAddress></instance>"#;
    let response = http()
        .post(format!("{base}apps/XML-SVC"))
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .expect("register xml");
    assert_eq!(response.status(), 204);
    let js = json!({"instance": {"app": "js-svc", "hostName": "jshost", "ipAddr": "10.0.0.2",
        "port": {"$": 3000, "@enabled": true}, "vipAddress": "js-svc",
        "dataCenterInfo": {"name": "MyOwn"}, "status": "UP"}});
    assert_eq!(register(&base, "js-svc", &js).await.status(), 204);

    let apps = apps_json(&base).await;
    assert_eq!(apps["applications"]["apps__hashcode"], "UP_2_");
    let xml_instance = http()
        .get(format!("{base}apps/XML-SVC/x:xml-svc:1"))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    let instance = read_instance(&xml_instance, Format::Xml).expect("xml instance");
    assert_eq!(instance.metadata["my_key"], "v");
    // js sends no instanceId: the host name is the id.
    assert_eq!(
        instance_status(&base, "JS-SVC", "jshost").await.as_deref(),
        Some("UP")
    );
    node.stop().await;
}

#[tokio::test]
async fn heartbeats_and_cancels_answer_with_empty_bodies() {
    let node = discovery(&[]).await;
    let base = eureka(&node);
    register(&base, "a", &instance_body("a", "h", 1)).await;
    let client = http();
    let renew = client
        .put(format!(
            "{base}apps/A/h:a:1?status=UP&lastDirtyTimestamp=1700000000000"
        ))
        .header("accept", "application/json")
        .send()
        .await
        .expect("renew");
    assert_eq!(renew.status(), 200);
    assert!(renew.bytes().await.expect("body").is_empty());

    // A client whose dirty timestamp is newer than ours must re-register: 404, no body.
    let newer = client
        .put(format!(
            "{base}apps/A/h:a:1?lastDirtyTimestamp=1800000000000"
        ))
        .send()
        .await
        .expect("renew");
    assert_eq!(newer.status(), 404);

    let unknown = client
        .put(format!("{base}apps/A/nobody"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("renew");
    assert_eq!(unknown.status(), 404);
    assert!(unknown.headers().get("content-type").is_none());
    assert!(
        unknown.bytes().await.expect("body").is_empty(),
        "Spring's client chokes on a body"
    );

    let cancel = client
        .delete(format!("{base}apps/A/h:a:1"))
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancel.status(), 200);
    assert!(cancel.bytes().await.expect("body").is_empty());
    let again = client
        .delete(format!("{base}apps/A/h:a:1"))
        .send()
        .await
        .expect("cancel");
    assert_eq!(again.status(), 404);
    let gone = client
        .get(format!("{base}apps/A"))
        .send()
        .await
        .expect("get");
    assert_eq!(gone.status(), 404);
    assert_eq!(
        apps_json(&base).await["applications"]["application"],
        json!([])
    );
    node.stop().await;
}

#[tokio::test]
async fn status_overrides_metadata_and_deltas() {
    let node = discovery(&[]).await;
    let base = eureka(&node);
    let client = http();
    register(&base, "a", &instance_body("a", "h", 1)).await;
    register(&base, "a", &instance_body("a", "h2", 2)).await;

    let put = client
        .put(format!(
            "{base}apps/A/h:a:1/status?value=OUT_OF_SERVICE&lastDirtyTimestamp=1700000000000"
        ))
        .send()
        .await
        .expect("override");
    assert_eq!(put.status(), 200);
    let instance: Value = client
        .get(format!("{base}apps/A/h:a:1"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(instance["instance"]["status"], "OUT_OF_SERVICE");
    assert_eq!(instance["instance"]["overriddenStatus"], "OUT_OF_SERVICE");

    let delta: Value = client
        .get(format!("{base}apps/delta"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("delta")
        .json()
        .await
        .expect("json");
    assert_eq!(
        delta["applications"]["apps__hashcode"],
        "OUT_OF_SERVICE_1_UP_1_"
    );
    let entries = delta["applications"]["application"][0]["instance"]
        .as_array()
        .expect("array");
    let modified = entries
        .iter()
        .find(|i| i["instanceId"] == "h:a:1")
        .expect("in delta");
    assert_eq!(modified["actionType"], "MODIFIED");

    // Metadata merges (first value of each parameter).
    let meta = client
        .put(format!(
            "{base}apps/A/h:a:1/metadata?zone=eu&zone=us&weight=3"
        ))
        .send()
        .await
        .expect("metadata");
    assert_eq!(meta.status(), 200);
    let instance: Value = client
        .get(format!("{base}apps/A/h:a:1"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(instance["instance"]["metadata"]["zone"], "eu");
    assert_eq!(instance["instance"]["metadata"]["management.port"], "1");

    // Removing the override without a value: UNKNOWN, so the next heartbeat is 404.
    let delete = client
        .delete(format!("{base}apps/A/h:a:1/status"))
        .send()
        .await
        .expect("delete");
    assert_eq!(delete.status(), 200);
    let renew = client
        .put(format!("{base}apps/A/h:a:1"))
        .send()
        .await
        .expect("renew");
    assert_eq!(renew.status(), 404);
    // Unknown instances: 404.
    for request in [
        client.put(format!("{base}apps/A/zzz/status?value=UP")),
        client.delete(format!("{base}apps/A/zzz/status")),
        client.put(format!("{base}apps/A/zzz/metadata?a=b")),
        client.get(format!("{base}apps/A/zzz")),
        client.get(format!("{base}instances/zzz")),
    ] {
        assert_eq!(request.send().await.expect("call").status(), 404);
    }
    node.stop().await;
}

#[tokio::test]
async fn vips_always_answer() {
    let node = discovery(&[]).await;
    let base = eureka(&node);
    register(&base, "billing", &instance_body("billing", "h", 8083)).await;
    let found: Value = http()
        .get(format!("{base}vips/billing"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("vips")
        .json()
        .await
        .expect("json");
    assert_eq!(found["applications"]["versions__delta"], "-1");
    assert_eq!(
        found["applications"]["application"][0]["instance"][0]["app"],
        "BILLING"
    );
    let none = http()
        .get(format!("{base}svips/nothing"))
        .send()
        .await
        .expect("svips");
    assert_eq!(none.status(), 200);
    node.stop().await;
}

#[tokio::test]
async fn the_batch_endpoint_answers_item_by_item() {
    let node = discovery(&[]).await;
    let base = eureka(&node);
    let mut peer_instance = instance_body("billing", "h2", 8083)["instance"].clone();
    peer_instance["lastDirtyTimestamp"] = json!(1_700_000_000_000_i64);
    let batch = json!({"replicationList": [
        {"appName": "BILLING", "id": "h2:billing:8083", "lastDirtyTimestamp": 1_700_000_000_000_i64,
         "status": "UP", "instanceInfo": peer_instance, "action": "Register"},
        {"appName": "BILLING", "id": "h2:billing:8083", "lastDirtyTimestamp": 1_700_000_000_000_i64,
         "status": "UP", "action": "Heartbeat"},
        {"appName": "BILLING", "id": "h2:billing:8083", "lastDirtyTimestamp": 1_600_000_000_000_i64,
         "status": "UP", "action": "Heartbeat"},
        {"appName": "BILLING", "id": "h2:billing:8083", "lastDirtyTimestamp": 1_800_000_000_000_i64,
         "status": "UP", "action": "Heartbeat"},
        {"appName": "CUSTOMER", "id": "nobody", "action": "Cancel"},
        {"appName": "X", "id": "y", "action": "Teleport"}
    ]});
    let response: Value = http()
        .post(format!("{base}peerreplication/batch/"))
        .header("x-netflix-discovery-replication", "true")
        .header("accept", "application/json")
        .json(&batch)
        .send()
        .await
        .expect("batch")
        .json()
        .await
        .expect("json");
    let codes: Vec<u64> = response["responseList"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["statusCode"].as_u64().expect("code"))
        .collect();
    assert_eq!(codes, [200, 200, 409, 404, 404, 400]);
    assert_eq!(
        response["responseList"][2]["responseEntity"]["instanceId"], "h2:billing:8083",
        "a 409 carries our newer copy"
    );
    assert_eq!(instance_ids(&base, "BILLING").await, ["h2:billing:8083"]);
    node.stop().await;
}

#[tokio::test]
async fn basic_auth_protects_the_registry_but_not_the_actuator() {
    let node = discovery(&[
        ("spring.security.user.name", "eureka"),
        ("spring.security.user.password", "s3cret"),
    ])
    .await;
    let base = eureka(&node);
    let body = instance_body("a", "h", 1);
    assert_eq!(register(&base, "a", &body).await.status(), 401);
    let with_auth = http()
        .post(format!("{base}apps/A"))
        .basic_auth("eureka", Some("s3cret"))
        .json(&body)
        .send()
        .await
        .expect("register");
    assert_eq!(with_auth.status(), 204);
    let wrong = http()
        .get(format!("{base}apps"))
        .basic_auth("eureka", Some("nope"))
        .send()
        .await
        .expect("get");
    assert_eq!(wrong.status(), 401);
    let health = http()
        .get(node.url("/actuator/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    node.stop().await;
}
