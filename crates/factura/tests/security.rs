//! The whole system secured by a real identity provider: Keycloak (testkit::keycloak, realm
//! `factura`), and `factura up -- --spring.profiles.active=security` — the README's one line —
//! pointed at it. Tokens by role through the gateway (its edge and every service behind it
//! check them), the caller's token relayed gateway → billing → customer, the seed bill made with
//! billing's client-credentials token, and the console's PKCE client as the realm defines it.
//! One Keycloak for the binary: it takes up to a minute to start on a loaded machine.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{start_up, wait_for_line};
use testkit::{eventually, keycloak::Keycloak};

/// Below the ephemeral range (32768 on), so no client socket can hold one of its ports.
const OFFSET: u16 = 21_000;

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("an answer");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_whole_system_under_keycloak() {
    let keycloak = Keycloak::start().await;
    let http = reqwest::Client::new();

    // The realm's console client is public and takes PKCE S256 sign-ins back to any loopback
    // port under /console/ only.
    let auth = format!("{}/protocol/openid-connect/auth", keycloak.issuer());
    let sign_in = |redirect: &str| {
        http.get(&auth).query(&[
            ("client_id", "factura-console"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", redirect),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ])
    };
    let login = sign_in("http://127.0.0.1:4321/console/callback")
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK, "the login page");
    let elsewhere = sign_in("http://127.0.0.1:4321/other").send().await.unwrap();
    assert_eq!(
        elsewhere.status(),
        StatusCode::BAD_REQUEST,
        "redirects outside /console/"
    );

    let data = tempfile::tempdir().unwrap();
    let issuer = format!(
        "--spring.security.oauth2.resourceserver.jwt.issuer-uri={}",
        keycloak.issuer()
    );
    let args = [
        "--",
        "--spring.profiles.active=security",
        issuer.as_str(),
        "--eureka.client.registry-fetch-interval-seconds=0.5",
        "--eureka.instance.lease-renewal-interval-in-seconds=1",
    ]
    .map(str::to_owned);
    let (up, lines) = start_up(OFFSET, data.path(), &args);
    wait_for_line(&lines, "Press Ctrl-C to stop", Duration::from_secs(180));
    let gateway = format!("http://127.0.0.1:{}", 9999 + OFFSET);

    let clerk = keycloak.user_token("clerk", "clerk").await;
    let admin = keycloak.user_token("admin", "admin").await;

    // The gateway's edge: no token, no entry; a forged one neither.
    let (status, body) = send(http.get(format!("{gateway}/customers"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let forged = format!("{}x", &clerk[..clerk.len() - 1]);
    let (status, _) = send(
        http.get(format!("{gateway}/customers"))
            .bearer_auth(&forged),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Probes stay open.
    let (status, _) = send(http.get(format!("{gateway}/actuator/health"))).await;
    assert_eq!(status, StatusCode::OK);

    // Reads as a clerk, through the gateway to customer-service (which checks again).
    let page: Value = eventually("customers as a clerk", Duration::from_secs(30), || async {
        let (status, body) =
            send(http.get(format!("{gateway}/customers")).bearer_auth(&clerk)).await;
        (status == StatusCode::OK).then_some(body)
    })
    .await;
    assert_eq!(page["page"]["totalElements"], 3, "{page}");
    // Behind the gateway, a service refuses a caller without a token too.
    let customers = format!("http://127.0.0.1:{}", 8081 + OFFSET);
    let (status, _) = send(http.get(format!("{customers}/customers"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Writes: a clerk is refused (403 insufficient_scope), an admin is not.
    let eve = json!({"name": "Eve", "email": "eve@mail.com"});
    let response = http
        .post(format!("{gateway}/customers"))
        .bearer_auth(&clerk)
        .json(&eve)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let (status, body) = send(
        http.post(format!("{gateway}/customers"))
            .bearer_auth(&admin)
            .json(&eve),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The seed bill was made at start-up with no caller: billing's client-credentials token
    // (its service account holds ADMIN, which the stock reservation needs).
    let full: Value = eventually(
        "the seed bill, complete, read as a clerk",
        Duration::from_secs(60),
        || async {
            let (status, body) = send(
                http.get(format!("{gateway}/fullBill/1"))
                    .bearer_auth(&clerk),
            )
            .await;
            (status == StatusCode::OK && body["complete"] == true).then_some(body)
        },
    )
    .await;
    // Complete means billing reached customer and inventory with the clerk's token (both
    // refuse anonymous calls): gateway → billing → customer.
    assert_eq!(full["customer"]["name"], "Hassan", "{full}");
    assert!(
        full["productItems"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
    );

    // A bill as the admin: billing checks the customer and reserves stock with the admin's token.
    let (status, body) = send(
        http.post(format!("{gateway}/bills"))
            .bearer_auth(&admin)
            .json(&json!({"customerId": 1, "productItems": [{"productId": 2, "quantity": 1}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The service account's token, as billing gets it, is accepted by every service.
    let service_token = keycloak.client_token().await;
    let (status, _) = send(
        http.get(format!("{customers}/customers/1"))
            .bearer_auth(&service_token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    up.terminate().await;
}
