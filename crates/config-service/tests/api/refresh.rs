//! The client side: services loading from the config server at start, `POST /actuator/refresh`,
//! and automatic propagation of a committed change to every running instance.

use serde_json::json;
use testkit::TestService;

use crate::helpers::*;

async fn customer_instance(config: &TestService, extra: &[(&str, &str)]) -> TestService {
    let import = format!("configserver:http://{}", config.addr);
    let mut properties = vec![
        ("spring.cloud.config.enabled", "true"),
        ("spring.config.import", import.as_str()),
    ];
    properties.extend_from_slice(extra);
    TestService::start(&customer_service::SERVICE, &properties).await
}

async fn params(service: &TestService) -> serde_json::Value {
    get_json(service, "/configtest1").await
}

const PARAMS: &str = "global:\n  params:\n    p1: 10\n    p2: 20\n";

#[tokio::test]
async fn a_commit_reaches_every_running_instance_by_itself() {
    let repo = GitRepo::new();
    repo.commit(&[("application.yml", PARAMS)], "first");
    let config = git_server(&repo, &[]).await;
    let a = customer_instance(&config, &[]).await;
    let b = customer_instance(&config, &[]).await;
    assert_eq!(params(&a).await, json!({"p1": 10, "p2": 20}));
    assert_eq!(params(&b).await, json!({"p1": 10, "p2": 20}));

    repo.commit(
        &[(
            "application.yml",
            "global:\n  params:\n    p1: 11\n    p2: 22\n",
        )],
        "new params",
    );
    for instance in [&a, &b] {
        testkit::eventually("the new values are in force", PROPAGATION, || async {
            (params(instance).await == json!({"p1": 11, "p2": 22})).then_some(())
        })
        .await;
    }

    // An instance that was down when the change was made loads it when it comes back.
    b.stop().await;
    repo.commit(
        &[(
            "application.yml",
            "global:\n  params:\n    p1: 12\n    p2: 24\n",
        )],
        "while b was down",
    );
    testkit::eventually("a sees the newest values", PROPAGATION, || async {
        (params(&a).await == json!({"p1": 12, "p2": 24})).then_some(())
    })
    .await;
    let b = customer_instance(&config, &[]).await;
    assert_eq!(params(&b).await, json!({"p1": 12, "p2": 24}));
    a.stop().await;
    b.stop().await;
    config.stop().await;
}

#[tokio::test]
async fn post_actuator_refresh_applies_and_reports_the_changed_keys() {
    let repo = GitRepo::new();
    repo.commit(
        &[
            ("application.yml", PARAMS),
            ("customer-service.yml", "removed.soon: x\n"),
        ],
        "first",
    );
    let config = git_server(&repo, &[]).await;
    let service = customer_instance(
        &config,
        &[
            ("spring.cloud.config.watch.enabled", "false"),
            (
                "management.endpoints.web.exposure.include",
                "health,refresh",
            ),
        ],
    )
    .await;
    let refresh = || async {
        let response = reqwest::Client::new()
            .post(service.url("/actuator/refresh"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Vec<String>>().await.unwrap()
    };
    assert_eq!(refresh().await, Vec::<String>::new());

    let second = repo.commit(
        &[(
            "application.yml",
            "global:\n  params:\n    p1: 10\n    p2: 21\n",
        )],
        "p2",
    );
    std::fs::remove_file(repo.dir.path().join("customer-service.yml")).unwrap();
    repo.commit(&[], "remove customer-service.yml");
    // Wait until the server has fetched, then refresh once.
    testkit::eventually("the server has the commits", PROPAGATION, || async {
        let env = get_json(&config, "/customer-service/default").await;
        (env["version"] != second.as_str() && first_value(&env, "removed.soon").is_none())
            .then_some(())
    })
    .await;
    assert_eq!(params(&service).await, json!({"p1": 10, "p2": 20}));
    let changed = refresh().await;
    assert_eq!(
        changed,
        vec![
            "config.client.version".to_owned(),
            "global.params.p2".to_owned(),
            "removed.soon".to_owned(),
        ]
    );
    assert_eq!(params(&service).await, json!({"p1": 10, "p2": 21}));
    assert_eq!(refresh().await, Vec::<String>::new());
    service.stop().await;
    config.stop().await;
}

#[tokio::test]
async fn a_folder_change_reaches_a_running_service() {
    let dir = folder(&[("application.yml", PARAMS)]);
    let config = native_server(dir.path(), &[]).await;
    let service = customer_instance(&config, &[]).await;
    assert_eq!(params(&service).await, json!({"p1": 10, "p2": 20}));
    write(
        dir.path(),
        "customer-service.yml",
        "global:\n  params:\n    p1: 99\n",
    );
    testkit::eventually("the saved file is in force", PROPAGATION, || async {
        (params(&service).await == json!({"p1": 99, "p2": 20})).then_some(())
    })
    .await;
    service.stop().await;
    config.stop().await;
}

#[tokio::test]
async fn a_required_config_server_that_is_missing_fails_start_with_a_clear_message() {
    // Held but not listening: connections to it are refused.
    let closed = testkit::ReservedPort::new();
    let port = closed.port();
    let bootstrap = |import: String| platform::settings::Bootstrap {
        defaults: vec![
            ("spring.application.name".into(), "customer-service".into()),
            ("spring.cloud.config.retry.max-attempts".into(), "2".into()),
            (
                "spring.cloud.config.retry.initial-interval".into(),
                "10".into(),
            ),
        ],
        config_file: None,
        args: vec![format!("--spring.config.import={import}")],
        use_environment: false,
    };
    let error =
        platform::app::load_settings(&bootstrap(format!("configserver:http://127.0.0.1:{port}")))
            .await
            .expect_err("a required server that is down fails the start");
    let message = format!("{error:#}");
    assert!(message.contains("after 2 attempts"), "{message}");
    assert!(message.contains("optional:"), "{message}");

    let settings = platform::app::load_settings(&bootstrap(format!(
        "optional:configserver:http://127.0.0.1:{port}"
    )))
    .await
    .expect("an optional server may be missing");
    assert_eq!(settings.get("config.client.version"), None);
}

#[tokio::test]
async fn the_config_service_itself_never_imports_from_a_config_server() {
    let settings =
        platform::app::load_settings(&config_service::SERVICE.bootstrap(Vec::new())).await;
    let settings = settings.expect("loads without a config server");
    assert!(
        platform::config_client::ClientConfig::from_settings(&settings)
            .unwrap()
            .is_none()
    );
}
