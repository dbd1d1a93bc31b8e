//! `{cipher}` values and the `/encrypt`, `/decrypt` endpoints.

use serde_json::json;

use crate::helpers::*;

/// "password" encrypted with key `mykey` by Spring (spring-cloud-config's client tests).
const SPRING_VECTOR: &str = "6defc102cd76752fcf4c78231ed82ead85133a09741d9a1442595b4800e2b3d1";

#[tokio::test]
async fn encrypt_and_decrypt_round_trip_in_springs_format() {
    let dir = folder(&[]);
    let server = native_server(dir.path(), &[("encrypt.key", "mykey")]).await;
    let client = reqwest::Client::new();
    let status = get_json(&server, "/encrypt/status").await;
    assert_eq!(status, json!({"status": "OK"}));

    let cipher = client
        .post(server.url("/encrypt"))
        .header("content-type", "text/plain")
        .body("hello world")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cipher.len() >= 64 && cipher.bytes().all(|b| b.is_ascii_hexdigit()),
        "{cipher}"
    );
    let plain = client
        .post(server.url("/decrypt"))
        .header("content-type", "text/plain")
        .body(cipher.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(plain, "hello world");

    // Spring's own ciphertext decrypts here.
    let response = client
        .post(server.url("/decrypt"))
        .header("content-type", "text/plain")
        .body(SPRING_VECTOR)
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "password");

    // curl -d sends a form body ending in `=`.
    let form = client
        .post(server.url("/encrypt/billing-service/default"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a%20b=")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let back = client
        .post(server.url("/decrypt"))
        .header("content-type", "text/plain")
        .body(form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(back, "a b");

    // Tampered ciphertext: 400 INVALID.
    let mut tampered = cipher.into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    tampered[40] = if tampered[40] == b'a' { b'b' } else { b'a' };
    let response = client
        .post(server.url("/decrypt"))
        .header("content-type", "text/plain")
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "INVALID");
    assert_eq!(body["description"], "Text not encrypted with this key");
    let response = client.get(server.url("/key")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn without_a_key_the_endpoints_answer_no_key() {
    let dir = folder(&[]);
    let server = native_server(dir.path(), &[]).await;
    let response = reqwest::Client::new()
        .post(server.url("/encrypt"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "NO_KEY");
    assert_eq!(get(&server, "/encrypt/status").await.0, 404);
    server.stop().await;
}

#[tokio::test]
async fn cipher_values_are_served_decrypted_and_bad_ones_become_invalid_keys() {
    let encryptor = platform::cipher::TextEncryptor::new("mykey", "deadbeef").unwrap();
    let ours = encryptor.encrypt("s3cr3t");
    let dir = folder(&[
        ("application.yml", "db:\n  password: fallback\n"),
        (
            "billing-service.yml",
            &format!(
                "db:\n  password: '{{cipher}}{SPRING_VECTOR}'\nother: '{{cipher}}{ours}'\nbroken: '{{cipher}}{}'\n",
                &ours[..ours.len() - 2]
            ),
        ),
        (
            "inventory-service.yml",
            "db:\n  password: '{cipher}00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff'\n",
        ),
        (
            "billing-service.properties",
            &format!("props.secret={{cipher}}{ours}\n"),
        ),
    ]);
    let server = native_server(dir.path(), &[("encrypt.key", "mykey")]).await;
    let env = get_json(&server, "/billing-service/default").await;
    assert_eq!(first_value(&env, "db.password"), Some(json!("password")));
    assert_eq!(first_value(&env, "other"), Some(json!("s3cr3t")));
    assert_eq!(first_value(&env, "props.secret"), Some(json!("s3cr3t")));
    assert_eq!(first_value(&env, "invalid.broken"), Some(json!("<n/a>")));
    assert_eq!(first_value(&env, "broken"), None);

    // A value that does not decrypt lets the lower source's plain value show through.
    let env = get_json(&server, "/inventory-service/default").await;
    assert_eq!(
        first_value(&env, "invalid.db.password"),
        Some(json!("<n/a>"))
    );
    assert_eq!(first_value(&env, "db.password"), Some(json!("fallback")));
    let (_, properties) = get(&server, "/inventory-service-default.properties").await;
    assert!(properties.contains("db.password: fallback"), "{properties}");
    server.stop().await;

    // With server-side decryption off, clients get the ciphertext.
    let server = native_server(
        dir.path(),
        &[
            ("encrypt.key", "mykey"),
            ("spring.cloud.config.server.encrypt.enabled", "false"),
        ],
    )
    .await;
    let env = get_json(&server, "/billing-service/default").await;
    assert_eq!(
        first_value(&env, "db.password"),
        Some(json!(format!("{{cipher}}{SPRING_VECTOR}")))
    );
    server.stop().await;
}
