//! customer-service as an OAuth2 resource server (`spring.security.oauth2.resourceserver.jwt.*`)
//! against a test-own provider on loopback (testkit::oidc): tokens by role, every way a token
//! is refused (RFC 6750 answers), ES256/PS256, key rotation and its floor, a key server that
//! is down, and settings that cannot be used.

use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode, header};
use serde_json::{Value, json};
use testkit::oidc::{
    Algorithm, SigningKey, TestIssuer, hs256_token, now, tampered, unsigned_token,
};

const ISSUER_URI: &str = "spring.security.oauth2.resourceserver.jwt.issuer-uri";

async fn protected(issuer: &TestIssuer, extra: &[(&str, &str)]) -> testkit::TestService {
    let mut properties = vec![(ISSUER_URI, issuer.issuer())];
    properties.extend_from_slice(extra);
    testkit::TestService::start(&customer_service::SERVICE, &properties).await
}

async fn get(service: &testkit::TestService, path: &str, token: Option<&str>) -> Response {
    let mut request = Client::new().get(service.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("GET")
}

async fn post(service: &testkit::TestService, token: Option<&str>) -> Response {
    let mut request = Client::new()
        .post(service.url("/customers"))
        .json(&json!({"name": "Zoe", "email": format!("zoe{}@mail.com", now())}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("POST")
}

fn challenge(response: &Response) -> String {
    response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A 401 for a refused token: RFC 6750's `invalid_token` challenge, our error body, and not a
/// word of the token in either.
async fn assert_invalid_token(response: Response, token: &str, why: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    let challenge = challenge(&response);
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{why}: {challenge}"
    );
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["status"], 401, "{why}: {body}");
    assert_eq!(body["path"], "/customers", "{why}: {body}");
    let signature = token.rsplit('.').next().unwrap_or_default();
    let text = format!("{challenge}{body}");
    assert!(
        signature.len() < 8 || !text.contains(signature),
        "{why}: the token is echoed: {text}"
    );
}

#[tokio::test]
async fn reads_need_a_token_writes_need_the_admin_role_and_health_stays_open() {
    let issuer = TestIssuer::start().await;
    let service = protected(&issuer, &[]).await;
    let clerk = issuer.token("clerk", &["USER"]);
    let admin = issuer.token("admin", &["ADMIN"]);

    let anonymous = get(&service, "/customers", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&anonymous),
        "Bearer",
        "no token, no error attributes"
    );
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(
        (body["status"].clone(), body["path"].clone()),
        (json!(401), json!("/customers"))
    );
    assert_eq!(
        post(&service, None).await.status(),
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(
        get(&service, "/customers/1", Some(&clerk)).await.status(),
        StatusCode::OK
    );
    let refused = post(&service, Some(&clerk)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        challenge(&refused).starts_with("Bearer error=\"insufficient_scope\""),
        "{}",
        challenge(&refused)
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["status"], 403);
    assert_eq!(
        post(&service, Some(&admin)).await.status(),
        StatusCode::CREATED
    );

    // Probes need no token; Basic credentials are not a bearer token (anonymous).
    assert_eq!(
        get(&service, "/actuator/health", None).await.status(),
        StatusCode::OK
    );
    let basic = Client::new()
        .get(service.url("/customers"))
        .basic_auth("user", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    // The HAL root and the API documents follow the one switch (off by default).
    assert_eq!(
        get(&service, "/", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&service, "/v3/api-docs", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let open = protected(&issuer, &[("factura.security.public-api-docs", "true")]).await;
    for path in ["/", "/profile/customers", "/v3/api-docs"] {
        assert_eq!(
            get(&open, path, None).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    assert_eq!(
        get(&open, "/customers", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    open.stop().await;
    service.stop().await;
}

#[tokio::test]
async fn every_kind_of_bad_token_is_refused_with_invalid_token() {
    let issuer = TestIssuer::start().await;
    let service = protected(
        &issuer,
        &[(
            "spring.security.oauth2.resourceserver.jwt.audiences",
            "factura, console",
        )],
    )
    .await;
    let key = issuer.current_key();
    let claims = |extra: Value| issuer.claims("clerk", &["USER"], extra);
    let aud = json!({"aud": ["account", "factura"]});
    let valid = key.sign(&claims(aud.clone()));
    assert_eq!(
        get(&service, "/customers", Some(&valid)).await.status(),
        StatusCode::OK
    );
    // Within the 60 s clock skew, an expired token still passes.
    let just_expired = key.sign(&claims(json!({"aud": "factura", "exp": now() - 20})));
    assert_eq!(
        get(&service, "/customers", Some(&just_expired))
            .await
            .status(),
        StatusCode::OK
    );

    let tampered = tampered(
        &valid,
        &claims(json!({"aud": "factura", "realm_access": {"roles": ["ADMIN"]}})),
    );
    let cases = [
        (
            "expired",
            key.sign(&claims(json!({"aud": "factura", "exp": now() - 120}))),
        ),
        (
            "not yet valid",
            key.sign(&claims(json!({"aud": "factura", "nbf": now() + 120}))),
        ),
        (
            "wrong issuer",
            key.sign(&claims(
                json!({"aud": "factura", "iss": "http://127.0.0.1:1/realms/other"}),
            )),
        ),
        (
            "no issuer",
            key.sign(&claims(json!({"aud": "factura", "iss": null}))),
        ),
        (
            "wrong audience",
            key.sign(&claims(json!({"aud": "someone-else"}))),
        ),
        ("no audience", key.sign(&claims(Value::Null))),
        ("tampered signature", tampered),
        ("alg none", unsigned_token(&claims(aud.clone()))),
        (
            "HS256 signed with the public key",
            hs256_token(
                &claims(aud.clone()),
                key.public_key_pem().as_bytes(),
                &key.kid,
            ),
        ),
        ("not a JWT", "abc.def".to_owned()),
        (
            "signed by another key with the same kid",
            SigningKey::generate(&key.kid, Algorithm::RS256).sign(&claims(aud.clone())),
        ),
    ];
    for (why, token) in &cases {
        let response = get(&service, "/customers", Some(token)).await;
        assert_invalid_token(response, token, why).await;
    }
    // An invalid token is refused even where no token is needed, as in Spring.
    let expired = &cases[0].1;
    let response = get(&service, "/actuator/health", Some(expired)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let malformed = Client::new()
        .get(service.url("/customers"))
        .header(header::AUTHORIZATION, "Bearer not a token")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&malformed).contains("invalid_token"));
    service.stop().await;
}

#[tokio::test]
async fn es256_and_ps256_pass_when_configured_and_only_then() {
    for algorithm in [Algorithm::ES256, Algorithm::PS256] {
        let issuer = TestIssuer::with_key(SigningKey::generate("k1", algorithm)).await;
        let default_algorithms = protected(&issuer, &[]).await;
        let token = issuer.token("admin", &["ADMIN"]);
        let response = get(&default_algorithms, "/customers", Some(&token)).await;
        assert_invalid_token(response, &token, "RS256 only by default").await;
        default_algorithms.stop().await;

        let configured = protected(
            &issuer,
            &[(
                "spring.security.oauth2.resourceserver.jwt.jws-algorithms",
                "RS256, ES256, PS256",
            )],
        )
        .await;
        let response = post(&configured, Some(&token)).await;
        let why = format!("{algorithm:?}: {}", challenge(&response));
        assert_eq!(response.status(), StatusCode::CREATED, "{why}");
        configured.stop().await;
    }
}

#[tokio::test]
async fn a_rotated_key_is_fetched_and_unknown_kids_wait_for_the_floor() {
    let issuer = TestIssuer::start().await;
    let service = protected(&issuer, &[("factura.security.jwks-refetch-floor", "200ms")]).await;
    let old = issuer.token("clerk", &["USER"]);
    assert_eq!(
        get(&service, "/customers", Some(&old)).await.status(),
        StatusCode::OK
    );
    assert_eq!(issuer.jwks_fetches(), 1, "one fetch, then the cached set");
    assert_eq!(
        get(&service, "/customers", Some(&old)).await.status(),
        StatusCode::OK
    );
    assert_eq!(issuer.jwks_fetches(), 1);

    issuer.rotate(SigningKey::generate("k2", Algorithm::RS256));
    let new = issuer.token("clerk", &["USER"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = get(&service, "/customers", Some(&new)).await.status();
        if status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key was never fetched"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    service.stop().await;

    // With Spring's 30 s floor, a flood of unknown kids right after a fetch costs no fetch.
    let service = protected(&issuer, &[]).await;
    assert_eq!(
        get(&service, "/customers", Some(&new)).await.status(),
        StatusCode::OK
    );
    let fetched = issuer.jwks_fetches();
    let stranger = SigningKey::generate("k-unknown", Algorithm::RS256);
    for _ in 0..20 {
        let token = stranger.sign(&issuer.claims("mallory", &["ADMIN"], Value::Null));
        let response = get(&service, "/customers", Some(&token)).await;
        assert_invalid_token(response, &token, "unknown kid").await;
    }
    assert_eq!(
        issuer.jwks_fetches(),
        fetched,
        "the floor holds back refetches"
    );
    service.stop().await;
}

#[tokio::test]
async fn a_key_server_that_is_down_refuses_unknown_keys_and_keeps_known_ones() {
    let issuer = TestIssuer::start().await;
    let service = protected(&issuer, &[("factura.security.jwks-refetch-floor", "0")]).await;
    let known = issuer.token("clerk", &["USER"]);
    assert_eq!(
        get(&service, "/customers", Some(&known)).await.status(),
        StatusCode::OK
    );
    issuer.stop();
    let stranger = SigningKey::generate("k-new", Algorithm::RS256);
    let unknown = stranger.sign(&issuer.claims("clerk", &["USER"], Value::Null));
    let started = Instant::now();
    let response = get(&service, "/customers", Some(&unknown)).await;
    assert_invalid_token(response, &unknown, "unknown key, key server down").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered within the fetch's 5 s bound, not hung"
    );
    assert_eq!(
        get(&service, "/customers", Some(&known)).await.status(),
        StatusCode::OK
    );
    service.stop().await;

    // A service whose provider was never reachable answers 401 too, and starts anyway.
    let never = protected(&issuer, &[]).await;
    let response = get(&never, "/customers", Some(&known)).await;
    assert_invalid_token(response, &known, "provider never reached").await;
    assert_eq!(
        get(&never, "/actuator/health", None).await.status(),
        StatusCode::OK
    );
    never.stop().await;
}

#[tokio::test]
async fn settings_that_cannot_be_used_stop_the_start_naming_the_key() {
    for (key, value, named) in [
        (ISSUER_URI, "keycloak:8080/realms/x", "issuer-uri"),
        (
            "spring.security.oauth2.resourceserver.jwt.jws-algorithms",
            "HS256",
            "jws-algorithms",
        ),
        ("factura.security.rules[0].access", "permit-all", "paths"),
        (
            "factura.security.jwks-refetch-floor",
            "soon",
            "jwks-refetch-floor",
        ),
    ] {
        let database = testkit::TestDatabase::new();
        let mut properties = vec![(key, value)];
        if key != ISSUER_URI {
            properties.push((ISSUER_URI, "http://127.0.0.1:9/realms/x"));
        }
        let settings = testkit::test_settings(&customer_service::SERVICE, &database, &properties);
        let error = (customer_service::SERVICE.build)(platform::ServiceContext::new(settings))
            .await
            .expect_err("refused");
        assert!(
            platform::settings::is_configuration_error(&error),
            "{error:#}"
        );
        let text = format!("{error:#}");
        assert!(text.contains(named), "{text}");
    }
}

#[tokio::test]
async fn keys_from_jwk_set_uri_and_a_discovery_document_that_names_another_issuer() {
    let issuer = TestIssuer::start().await;
    // jwk-set-uri alone: the keys from there, no issuer check (Spring's `withJwkSetUri`), the
    // principal from the configured claim.
    let keys_only = testkit::TestService::start(
        &customer_service::SERVICE,
        &[
            (
                "spring.security.oauth2.resourceserver.jwt.jwk-set-uri",
                issuer.jwk_set_uri().as_str(),
            ),
            (
                "spring.security.oauth2.resourceserver.jwt.principal-claim-name",
                "preferred_username",
            ),
        ],
    )
    .await;
    let elsewhere = issuer.current_key().sign(&issuer.claims(
        "clerk",
        &["USER"],
        json!({"iss": "http://127.0.0.1:1/realms/other", "preferred_username": "clerk"}),
    ));
    assert_eq!(
        get(&keys_only, "/customers", Some(&elsewhere))
            .await
            .status(),
        StatusCode::OK
    );
    keys_only.stop().await;

    // An issuer-uri whose discovery document names another issuer is not trusted: no key is
    // taken from it, every token is refused.
    let slashed = format!("{}/", issuer.issuer());
    let mismatched = testkit::TestService::start(
        &customer_service::SERVICE,
        &[(ISSUER_URI, slashed.as_str())],
    )
    .await;
    let token = issuer.token("clerk", &["USER"]);
    let response = get(&mismatched, "/customers", Some(&token)).await;
    assert_invalid_token(response, &token, "discovery names another issuer").await;
    assert_eq!(
        issuer.jwks_fetches(),
        1,
        "only the jwk-set-uri service fetched keys"
    );
    mismatched.stop().await;
}

/// The actuator under a resource server: health's details for authorized callers only
/// (`when-authorized`, narrowed by `management.endpoint.health.roles`), and an exposed write
/// (`refresh`) for the ADMIN role, not for any valid token.
#[tokio::test]
async fn health_details_for_authorized_callers_and_actuator_writes_for_admins() {
    let issuer = TestIssuer::start().await;
    let service = protected(
        &issuer,
        &[
            ("management.endpoint.health.show-details", "when-authorized"),
            ("management.endpoint.health.roles", "OPS"),
            (
                "management.endpoints.web.exposure.include",
                "health,refresh",
            ),
        ],
    )
    .await;
    let health = |token: Option<String>| {
        let service = &service;
        async move {
            let response = get(service, "/actuator/health", token.as_deref()).await;
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(health(None).await, json!({ "status": "UP" }), "anonymous");
    assert_eq!(
        health(Some(issuer.token("user", &["USER"]))).await,
        json!({ "status": "UP" }),
        "a token without the role"
    );
    let ops = health(Some(issuer.token("ops", &["OPS"]))).await;
    assert_eq!(ops["components"]["db"]["status"], "UP", "{ops}");
    assert!(ops["components"]["db"]["details"].is_object(), "{ops}");

    let refresh = |token: Option<String>| {
        let service = &service;
        async move {
            let mut request = Client::new().post(service.url("/actuator/refresh"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().status()
        }
    };
    assert_eq!(refresh(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(Some(issuer.token("user", &["USER"]))).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        refresh(Some(issuer.token("admin", &["ADMIN"]))).await,
        StatusCode::OK
    );
    service.stop().await;
}
