//! `/actuator/health` reflects the database for real: UP while it answers, DOWN with 503 once
//! it cannot be reached, on a service built from the platform's own parts.

use axum::Router;
use platform::{
    ServiceContext,
    db::{DataSourceSettings, Database},
    settings::{PropertySource, Settings},
};

#[tokio::test]
async fn health_turns_down_with_503_when_the_database_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("health.db").display());
    let db = Database::connect(&DataSourceSettings::from_url(&url))
        .await
        .unwrap();
    let settings = Settings::from_sources(vec![PropertySource::new(
        "test",
        [
            ("server.port", "0"),
            ("server.address", "127.0.0.1"),
            ("spring.application.name", "probe"),
            ("management.endpoint.health.show-details", "always"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )]);
    let context = ServiceContext::new(settings);
    db.register_health(&context.health);
    let app = context.into_application(Router::new()).await.unwrap();
    let url = format!("http://{}/actuator/health", app.local_addr());
    let stop = app.shutdown_token();
    let server = tokio::spawn(app.run());

    let up = reqwest::get(&url).await.unwrap();
    assert_eq!(up.status(), 200);
    let body: serde_json::Value = up.json().await.unwrap();
    assert_eq!(body["status"], "UP");
    assert_eq!(body["components"]["db"]["details"]["database"], "SQLite");

    db.close().await;
    let down = reqwest::get(&url).await.unwrap();
    assert_eq!(down.status(), 503);
    let body: serde_json::Value = down.json().await.unwrap();
    assert_eq!(body["status"], "DOWN");
    assert_eq!(body["components"]["db"]["status"], "DOWN");
    assert!(body["components"]["db"]["details"]["error"].is_string());

    stop.cancel();
    server.await.unwrap().unwrap();
}
