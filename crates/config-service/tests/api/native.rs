//! Protocol tests on the folder (native) backend.

use serde_json::json;

use crate::helpers::*;

const APPLICATION_YML: &str = "\
shared: from-application
global:
  params:
    p1: 10
    p2: 20
list:
  - a
  - b
  - c
---
spring:
  config:
    activate:
      on-profile: dev
doc: application-dev-document
";

fn repo() -> tempfile::TempDir {
    folder(&[
        ("application.yml", APPLICATION_YML),
        (
            "application-dev.properties",
            "shared=from-application-dev\nport=8000\n",
        ),
        (
            "billing-service.yml",
            "billing:\n  rate: 0.19\n  enabled: true\nlist:\n  - x\nurl: http://host:${port}/${missing}/${dflt:fallback}\n",
        ),
        ("billing-service-dev.yml", "billing:\n  rate: 0.2\n"),
        ("billing-service-prod.yml", "billing:\n  rate: 0.3\n"),
        ("nginx.conf", "listen ${port};\n"),
        ("nginx-dev.conf", "listen dev ${port};\n"),
        ("broken.yml", "a: [1, 2\n"),
        ("master/billing-service.yml", "from-label-dir: master\n"),
        ("feature/billing-service.yml", "from-label-dir: feature\n"),
    ])
}

#[tokio::test]
async fn environment_json_has_springs_shape_precedence_and_types() {
    let dir = repo();
    let server = native_server(dir.path(), &[]).await;
    let env = get_json(&server, "/billing-service/dev").await;
    assert_eq!(env["name"], "billing-service");
    assert_eq!(env["profiles"], json!(["dev"]));
    assert_eq!(env["label"], serde_json::Value::Null);
    assert_eq!(env["version"], serde_json::Value::Null);
    assert_eq!(env["state"], serde_json::Value::Null);
    let abs = std::path::absolute(dir.path())
        .unwrap()
        .display()
        .to_string();
    let root = format!("file:{abs}/");
    // Documents of a multi-document file carry Boot's ConfigData names, as Spring serves them.
    let document = |n: usize| {
        format!(
            "Config resource 'file [{abs}/application.yml]' via location '{root}' (document #{n})"
        )
    };
    assert_eq!(
        source_names(&env, &root),
        vec![
            "billing-service-dev.yml".to_owned(),
            "application-dev.properties".to_owned(),
            "master/billing-service.yml".to_owned(),
            "billing-service.yml".to_owned(),
            document(1),
            document(0),
        ]
    );
    // YAML keeps its types; .properties values are strings.
    assert_eq!(first_value(&env, "billing.rate"), Some(json!(0.2)));
    assert_eq!(first_value(&env, "billing.enabled"), Some(json!(true)));
    assert_eq!(first_value(&env, "global.params.p1"), Some(json!(10)));
    assert_eq!(first_value(&env, "port"), Some(json!("8000")));
    assert_eq!(first_value(&env, "list[0]"), Some(json!("x")));
    // The Environment endpoint never resolves placeholders.
    assert_eq!(
        first_value(&env, "url"),
        Some(json!("http://host:${port}/${missing}/${dflt:fallback}"))
    );
    // The last profile listed wins.
    let env = get_json(&server, "/billing-service/dev,prod").await;
    assert_eq!(first_value(&env, "billing.rate"), Some(json!(0.3)));
    // The npm client sends the comma percent-encoded.
    let env = get_json(&server, "/billing-service/prod%2Cdev").await;
    assert_eq!(first_value(&env, "billing.rate"), Some(json!(0.2)));
    server.stop().await;
}

#[tokio::test]
async fn flat_formats_merge_replace_lists_and_resolve_placeholders() {
    let dir = repo();
    let server = native_server(dir.path(), &[]).await;
    let (status, properties) = get(&server, "/billing-service-dev.properties").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = properties.lines().collect();
    assert!(lines.contains(&"billing.rate: 0.2"), "{properties}");
    assert!(
        lines.contains(&"shared: from-application-dev"),
        "{properties}"
    );
    assert!(
        lines.contains(&"url: http://host:8000/${missing}/fallback"),
        "{properties}"
    );
    // billing-service.yml's one-element list replaces application.yml's three elements.
    assert!(lines.contains(&"list[0]: x"), "{properties}");
    assert!(!properties.contains("list[1]"), "{properties}");
    // Spring keeps a document's profile condition among its properties.
    assert!(
        lines.contains(&"spring.config.activate.on-profile: dev"),
        "{properties}"
    );

    let (_, unresolved) = get(
        &server,
        "/billing-service-dev.properties?resolvePlaceholders=false",
    )
    .await;
    assert!(unresolved.contains("url: http://host:${port}/${missing}/${dflt:fallback}"));

    let json = get_json(&server, "/billing-service-dev.json").await;
    assert_eq!(json["billing"]["rate"], json!(0.2));
    assert_eq!(json["global"]["params"]["p2"], json!(20));
    assert_eq!(json["list"], json!(["x"]));

    let (status, yaml) = get(&server, "/billing-service-dev.yml").await;
    assert_eq!(status, 200);
    assert!(yaml.contains("billing:\n  rate: 0.2"), "{yaml}");
    let (_, yaml_alias) = get(&server, "/billing-service-dev.yaml").await;
    assert_eq!(yaml, yaml_alias);
    // With a label in front.
    let (status, labelled) = get(&server, "/master/billing-service-dev.yml").await;
    assert_eq!(status, 200);
    assert!(labelled.contains("from-label-dir: master"), "{labelled}");
    server.stop().await;
}

#[tokio::test]
async fn label_directories_outrank_the_location_and_unknown_labels_are_ignored() {
    let dir = repo();
    let server = native_server(dir.path(), &[]).await;
    let env = get_json(&server, "/billing-service/default/feature").await;
    assert_eq!(env["label"], "feature");
    assert_eq!(first_value(&env, "from-label-dir"), Some(json!("feature")));
    let env = get_json(&server, "/billing-service/default/no-such-label").await;
    assert_eq!(first_value(&env, "from-label-dir"), None);
    assert_eq!(first_value(&env, "billing.rate"), Some(json!(0.19)));
    server.stop().await;
}

#[tokio::test]
async fn plain_text_resources_prefer_profile_variants_and_resolve_placeholders() {
    let dir = repo();
    let server = native_server(dir.path(), &[]).await;
    let (status, text) = get(&server, "/billing-service/dev/master/nginx.conf").await;
    assert_eq!((status, text.as_str()), (200, "listen dev 8000;\n"));
    let (status, text) = get(&server, "/billing-service/prod/master/nginx.conf").await;
    assert_eq!((status, text.as_str()), (200, "listen ${port};\n"));
    let (status, text) = get(&server, "/billing-service/dev/nginx.conf?useDefaultLabel").await;
    assert_eq!((status, text.as_str()), (200, "listen dev 8000;\n"));
    let (status, _) = get(&server, "/billing-service/dev/master/missing.conf").await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_springs_status_codes_and_the_server_keeps_serving() {
    let dir = repo();
    let server = native_server(dir.path(), &[]).await;
    // Sent verbatim: an HTTP client library would normalise the dot segments away.
    for path in [
        "/app/default/..",
        "/../../etc/passwd/default",
        "/app/default/master/../../x",
    ] {
        let response = testkit::raw_http(
            server.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(
            testkit::raw_status(&response),
            400,
            "GET {path}: {response}"
        );
    }
    for (path, expected) in [
        ("/..%2F..%2Fetc/default", 400),
        ("/app/default/a..b", 400),
        ("/app%23x/default", 400),
        ("/app/de$v", 400),
        ("/app/-dev", 400),
        ("/app/dev,", 400),
        ("/(_)app/default", 400),
        ("/app/default/(_)label", 400),
        ("/billing-service/dev/master/..%2F..%2Fsecret", 400),
        // A repository file that does not parse fails only the requests that need it.
        ("/broken/default", 500),
        ("/broken-default.yml", 500),
        ("/billing-service/default", 200),
        // Unknown applications get the shared sources (Spring's by-design 200).
        ("/no-such-app/default", 200),
        ("/actuator/health", 200),
        // Not an actuator endpoint: Spring serves it as application `actuator`.
        ("/actuator/nothing-here", 200),
        ("/app-only.txt", 404),
    ] {
        let (status, body) = get(&server, path).await;
        assert_eq!(status, expected, "GET {path}: {body}");
        if status >= 400 {
            let error: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
            assert_eq!(error["status"], expected, "{body}");
            assert!(error["path"].is_string(), "{body}");
        }
    }
    let (_, body) = get(&server, "/broken/default").await;
    assert!(
        body.contains("broken.yml"),
        "the message names the file: {body}"
    );
    let unknown = get_json(&server, "/no-such-app/default").await;
    let names = source_names(&unknown, "");
    assert!(
        names.iter().all(|n| n.contains("application.yml")),
        "{names:?}"
    );
    let client = reqwest::Client::new();
    let status = client
        .post(server.url("/billing-service/default"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 405);
    server.stop().await;
}

#[tokio::test]
async fn accept_empty_false_turns_unknown_applications_into_404() {
    let dir = folder(&[("billing-service.yml", "a: 1\n")]);
    let server = native_server(
        dir.path(),
        &[("spring.cloud.config.server.accept-empty", "false")],
    )
    .await;
    assert_eq!(get(&server, "/nobody/default").await.0, 404);
    assert_eq!(get(&server, "/billing-service/default").await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn overrides_come_first() {
    let dir = folder(&[("application.yml", "a: 1\n")]);
    let server = native_server(
        dir.path(),
        &[("spring.cloud.config.server.overrides.a", "forced")],
    )
    .await;
    let env = get_json(&server, "/x/default").await;
    assert_eq!(env["propertySources"][0]["name"], "overrides");
    assert_eq!(first_value(&env, "a"), Some(json!("forced")));
    server.stop().await;
}

#[tokio::test]
async fn a_saved_file_is_served_without_a_restart() {
    let dir = folder(&[("application.yml", "global:\n  params:\n    p1: 1\n")]);
    let server = native_server(dir.path(), &[]).await;
    let env = get_json(&server, "/x/default").await;
    assert_eq!(first_value(&env, "global.params.p1"), Some(json!(1)));
    write(
        dir.path(),
        "application.yml",
        "global:\n  params:\n    p1: 2\n",
    );
    testkit::eventually("the new value is served", PROPAGATION, || async {
        let env = get_json(&server, "/x/default").await;
        (first_value(&env, "global.params.p1") == Some(json!(2))).then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn basic_auth_protects_the_config_routes_but_not_health() {
    let dir = folder(&[("application.yml", "a: 1\n")]);
    let server = native_server(
        dir.path(),
        &[
            ("spring.security.user.name", "config"),
            ("spring.security.user.password", "s3cret"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let anonymous = client.get(server.url("/x/default")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let wrong = client
        .get(server.url("/x/default"))
        .basic_auth("config", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client
        .get(server.url("/x/default"))
        .basic_auth("config", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert_eq!(get(&server, "/actuator/health").await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn the_repositorys_own_config_repo_parses_and_serves_every_service() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config-repo");
    let server = native_server(&dir, &[]).await;
    for service in [
        "config-service",
        "discovery-service",
        "gateway-service",
        "customer-service",
        "inventory-service",
        "billing-service",
    ] {
        for profiles in ["default", "dev", "prod"] {
            let env = get_json(&server, &format!("/{service}/{profiles}")).await;
            assert!(
                first_value(&env, "server.port").is_some(),
                "{service}/{profiles}: {env}"
            );
            assert_eq!(first_value(&env, "global.params.p1"), Some(json!(10)));
        }
    }
    let prod = get_json(&server, "/customer-service/prod").await;
    assert_eq!(
        first_value(&prod, "spring.datasource.url"),
        Some(json!("postgres://postgres@localhost:5432/customers"))
    );
    assert_eq!(
        first_value(&prod, "logging.level.root"),
        Some(json!("warn"))
    );
    let discovery = get_json(&server, "/discovery-service/default").await;
    assert_eq!(
        first_value(&discovery, "eureka.client.register-with-eureka"),
        Some(json!(false))
    );
    server.stop().await;
}
