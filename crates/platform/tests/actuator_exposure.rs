//! Which actuator endpoints answer over HTTP, with Spring Boot's keys and defaults: only
//! `health` (status alone) unless `management.endpoints.web.exposure.include` says more,
//! `management.endpoint.<id>.access` / `.enabled` narrowing it, and a service with a user
//! (`spring.security.user.*`) keeping everything but health for that user.

use axum::Router;
use base64::Engine as _;
use platform::{
    ServiceContext,
    actuator::Health,
    settings::{PropertySource, Settings},
};
use serde_json::{Value, json};

/// A bare platform service with `properties`, a `db`-like component with details, running
/// until the returned token is cancelled.
async fn service(properties: &[(&str, &str)]) -> (String, tokio_util::sync::CancellationToken) {
    let mut pairs = vec![
        ("server.port", "0"),
        ("server.address", "127.0.0.1"),
        ("spring.application.name", "probe"),
        ("eureka.client.enabled", "false"),
        ("spring.cloud.config.enabled", "false"),
    ];
    pairs.extend_from_slice(properties);
    let settings = Settings::from_sources(vec![PropertySource::new(
        "test",
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )]);
    let context = ServiceContext::new(settings);
    context.health.register("db", || async {
        Health::up(json!({ "database": "SQLite" }))
    });
    let app = context.into_application(Router::new()).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let stop = app.shutdown_token();
    tokio::spawn(app.run());
    (base, stop)
}

async fn status(
    method: reqwest::Method,
    url: impl reqwest::IntoUrl,
    auth: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.unwrap();
    let code = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (code, body)
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn by_default_only_health_answers_and_only_with_its_status() {
    let (base, stop) = service(&[]).await;
    let (code, health) = status(
        reqwest::Method::GET,
        &format!("{base}/actuator/health"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        health,
        json!({ "status": "UP" }),
        "no components, no details"
    );
    for path in ["/actuator/info", "/actuator/prometheus"] {
        let (code, _) = status(reqwest::Method::GET, &format!("{base}{path}"), None).await;
        assert_eq!(code, 404, "{path} is not exposed by default");
    }
    let (code, _) = status(
        reqwest::Method::POST,
        &format!("{base}/actuator/refresh"),
        None,
    )
    .await;
    assert_eq!(code, 404, "refresh is not exposed by default");
    let (_, index) = status(reqwest::Method::GET, &format!("{base}/actuator"), None).await;
    let mut links: Vec<&String> = index["_links"].as_object().unwrap().keys().collect();
    links.sort();
    assert_eq!(links, ["health", "self"]);
    stop.cancel();
}

#[tokio::test]
async fn include_exclude_and_access_decide_what_is_mapped() {
    let (base, stop) = service(&[
        ("management.endpoints.web.exposure.include", "*"),
        ("management.endpoints.web.exposure.exclude", "prometheus"),
        ("management.endpoint.refresh.access", "read-only"),
    ])
    .await;
    let get = |path: &str| status(reqwest::Method::GET, format!("{base}{path}"), None);
    assert_eq!(get("/actuator/info").await.0, 200);
    assert_eq!(get("/actuator/prometheus").await.0, 404, "excluded");
    let (code, _) = status(
        reqwest::Method::POST,
        &format!("{base}/actuator/refresh"),
        None,
    )
    .await;
    assert_eq!(
        code, 404,
        "refresh has only a write operation: read-only maps nothing"
    );
    stop.cancel();

    let (base, stop) = service(&[
        ("management.endpoints.web.exposure.include[0]", "health"),
        ("management.endpoints.web.exposure.include[1]", "refresh"),
        ("management.endpoints.web.exposure.include[2]", "info"),
        ("management.endpoint.info.enabled", "false"),
    ])
    .await;
    let (code, body) = status(
        reqwest::Method::POST,
        &format!("{base}/actuator/refresh"),
        None,
    )
    .await;
    assert_eq!(
        (code, body),
        (200, json!([])),
        "no config server: nothing changed"
    );
    let (code, _) = status(reqwest::Method::GET, &format!("{base}/actuator/info"), None).await;
    assert_eq!(
        code, 404,
        "the older `enabled: false` still turns an endpoint off"
    );
    stop.cancel();
}

#[tokio::test]
async fn with_a_user_everything_but_health_needs_it_and_details_show_when_authorized() {
    let (base, stop) = service(&[
        ("management.endpoints.web.exposure.include", "*"),
        ("management.endpoint.health.show-details", "when-authorized"),
        ("spring.security.user.name", "ops"),
        ("spring.security.user.password", "s3cret"),
    ])
    .await;
    let user = basic("ops", "s3cret");
    let health = format!("{base}/actuator/health");
    let (code, anonymous) = status(reqwest::Method::GET, &health, None).await;
    assert_eq!((code, anonymous), (200, json!({ "status": "UP" })));
    let (_, wrong) = status(reqwest::Method::GET, &health, Some(&basic("ops", "no"))).await;
    assert_eq!(
        wrong,
        json!({ "status": "UP" }),
        "wrong credentials are anonymous"
    );
    let (_, authorized) = status(reqwest::Method::GET, &health, Some(&user)).await;
    assert_eq!(
        authorized["components"]["db"]["details"]["database"],
        "SQLite"
    );

    let refresh = format!("{base}/actuator/refresh");
    assert_eq!(status(reqwest::Method::POST, &refresh, None).await.0, 401);
    assert_eq!(
        status(reqwest::Method::POST, &refresh, Some(&user)).await.0,
        200
    );
    let info = format!("{base}/actuator/info");
    assert_eq!(status(reqwest::Method::GET, &info, None).await.0, 401);
    assert_eq!(
        status(reqwest::Method::GET, &info, Some(&user)).await.0,
        200
    );
    stop.cancel();
}

#[tokio::test]
async fn components_without_details_and_a_bad_value_refused_by_key() {
    let (base, stop) = service(&[("management.endpoint.health.show-components", "always")]).await;
    let (_, health) = status(
        reqwest::Method::GET,
        &format!("{base}/actuator/health"),
        None,
    )
    .await;
    assert_eq!(
        health,
        json!({ "status": "UP", "components": { "db": { "status": "UP" }, "ping": { "status": "UP" } } })
    );
    stop.cancel();

    let settings = Settings::from_pairs(&[
        ("server.port", "0"),
        ("server.address", "127.0.0.1"),
        ("eureka.client.enabled", "false"),
        ("management.endpoint.gateway.access", "sometimes"),
    ]);
    let error = ServiceContext::new(settings)
        .into_application(Router::new())
        .await
        .unwrap_err();
    let text = format!("{error:#}");
    assert!(
        text.contains("management.endpoint.gateway.access"),
        "{text}"
    );
    assert!(text.contains("read-only"), "{text}");
    assert!(platform::settings::is_configuration_error(&error));
}

#[tokio::test]
async fn a_failed_refresh_says_so_without_the_servers_address_or_the_clients_words() {
    // Port 1 on loopback: nothing listens there.
    let (base, stop) = service(&[
        ("management.endpoints.web.exposure.include", "refresh"),
        ("spring.cloud.config.enabled", "true"),
        (
            "spring.config.import",
            "optional:configserver:http://127.0.0.1:1",
        ),
        ("spring.cloud.config.watch.enabled", "false"),
    ])
    .await;
    let (code, body) = status(
        reqwest::Method::POST,
        format!("{base}/actuator/refresh"),
        None,
    )
    .await;
    assert_eq!(code, 503, "{body}");
    let text = body.to_string();
    assert!(text.contains("refresh failed"), "{text}");
    assert!(
        !text.contains("127.0.0.1") && !text.contains(":1") && !text.contains("error sending"),
        "{text}"
    );
    stop.cancel();
}
