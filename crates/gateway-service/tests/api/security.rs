//! The gateway as an OAuth2 resource server at the edge (a test-own provider, testkit::oidc):
//! tokens checked before any route is taken, the caller's `Authorization` passed to the backend
//! as it came, and `TokenRelay` accepted in a route's filters.

use std::sync::atomic::Ordering;

use serde_json::Value;
use testkit::oidc::TestIssuer;

use crate::helpers::{Backend, Gateway, client};

#[tokio::test]
async fn the_edge_checks_tokens_and_passes_the_callers_authorization_on() {
    let issuer = TestIssuer::start().await;
    let backend = Backend::start("echo", 0).await;
    let uri = backend.base();
    let gw = Gateway::start(&[
        (
            "spring.security.oauth2.resourceserver.jwt.issuer-uri",
            issuer.issuer(),
        ),
        ("spring.cloud.gateway.routes[0].id", "echo"),
        ("spring.cloud.gateway.routes[0].uri", uri.as_str()),
        (
            "spring.cloud.gateway.routes[0].predicates[0]",
            "Path=/echo/**",
        ),
        ("spring.cloud.gateway.routes[0].filters[0]", "TokenRelay="),
    ])
    .await;
    let http = client();
    let url = gw.url("/echo/x");

    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["status"], 401, "{body}");
    assert_eq!(
        backend.calls.load(Ordering::Relaxed),
        0,
        "nothing reached the backend"
    );

    let clerk = issuer.token("clerk", &["USER"]);
    let read = http.get(&url).bearer_auth(&clerk).send().await.unwrap();
    assert_eq!(read.status(), 200);
    let echo: Value = read.json().await.unwrap();
    assert_eq!(
        echo["headers"]["authorization"][0],
        format!("Bearer {clerk}"),
        "the caller's token, relayed as it came"
    );
    let write = http.post(&url).bearer_auth(&clerk).send().await.unwrap();
    assert_eq!(write.status(), 403);
    assert!(
        write.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert_eq!(
        backend.calls.load(Ordering::Relaxed),
        1,
        "the refused write went nowhere"
    );
    let admin = issuer.token("admin", &["ADMIN"]);
    let write = http.post(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(write.status(), 200);

    let expired = issuer.current_key().sign(&issuer.claims(
        "clerk",
        &["USER"],
        serde_json::json!({"exp": testkit::oidc::now() - 600}),
    ));
    let refused = http.get(&url).bearer_auth(&expired).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let health = http.get(gw.url("/actuator/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "probes need no token");
    gw.stop().await;
    backend.kill().await;
}
