//! The client-credentials grant against a test-own provider (testkit::oidc): the token is asked
//! for once and reused, renewed before it expires, with Basic client authentication (Spring's
//! default), the token endpoint found through the provider's discovery document; a provider
//! that refuses says so without the secret.

use std::time::Duration;

use platform::{Settings, security::client::ClientCredentials};
use testkit::oidc::TestIssuer;

fn settings(issuer: &TestIssuer, secret: &str) -> Settings {
    let registration = "spring.security.oauth2.client.registration.factura";
    Settings::from_pairs(&[
        (&format!("{registration}.client-id"), "billing-service"),
        (&format!("{registration}.client-secret"), secret),
        (
            &format!("{registration}.authorization-grant-type"),
            "client_credentials",
        ),
        (
            "spring.security.oauth2.client.provider.factura.issuer-uri",
            issuer.issuer(),
        ),
    ])
}

#[tokio::test]
async fn a_token_is_reused_and_renewed_before_it_expires() {
    let issuer = TestIssuer::start().await;
    // Lives 2 s: renewed half-way (a minute early for tokens that live longer).
    issuer.set_token_lifetime(2);
    let client = ClientCredentials::from_settings(&settings(&issuer, "billing-secret"))
        .unwrap()
        .expect("a registration");
    let first = client.token().await.unwrap();
    assert_eq!(client.token().await.unwrap(), first, "cached");
    assert_eq!(issuer.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let renewed = client.token().await.unwrap();
    assert_eq!(issuer.token_requests(), 2, "renewed past half its life");
    assert_ne!(renewed, first);
}

#[tokio::test]
async fn a_refusal_names_the_registration_and_not_the_secret() {
    let issuer = TestIssuer::start().await;
    let client = ClientCredentials::from_settings(&settings(&issuer, "wrong-secret-value"))
        .unwrap()
        .expect("a registration");
    let error = client.token().await.unwrap_err();
    assert!(
        error.contains("factura") && error.contains("401"),
        "{error}"
    );
    assert!(!error.contains("wrong-secret-value"), "{error}");
    assert_eq!(issuer.token_requests(), 0);
}
