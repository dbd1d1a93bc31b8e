//! Protocol tests on the git backend, against repositories made by the test.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn labels_are_branches_tags_and_commits_and_version_is_the_commit() {
    let repo = GitRepo::new();
    let first = repo.commit(
        &[
            ("application.yml", "global:\n  params:\n    p1: 1\n"),
            ("billing-service.properties", "rate=0.19\n"),
        ],
        "first",
    );
    repo.git(&["tag", "v1"]);
    repo.git(&["tag", "-a", "v1-annotated", "-m", "annotated"]);
    let second = repo.commit(
        &[("application.yml", "global:\n  params:\n    p1: 2\n")],
        "second",
    );
    repo.git(&["checkout", "-q", "-b", "feature/x"]);
    let feature = repo.commit(&[("billing-service.properties", "rate=0.5\n")], "feature");
    repo.git(&["checkout", "-q", "main"]);

    let server = git_server(&repo, &[]).await;
    let env = get_json(&server, "/billing-service/default").await;
    assert_eq!(env["version"], second.as_str());
    assert_eq!(env["label"], serde_json::Value::Null);
    assert_eq!(first_value(&env, "global.params.p1"), Some(json!(2)));
    assert_eq!(
        source_names(&env, &format!("{}/", repo.uri())),
        vec!["billing-service.properties", "application.yml"]
    );

    for (label, version, p1, rate) in [
        ("main", second.as_str(), 2, "0.19"),
        ("v1", first.as_str(), 1, "0.19"),
        ("v1-annotated", first.as_str(), 1, "0.19"),
        ("feature(_)x", feature.as_str(), 2, "0.5"),
        ("feature%2Fx", feature.as_str(), 2, "0.5"),
        (&first[..7], first.as_str(), 1, "0.19"),
        (first.as_str(), first.as_str(), 1, "0.19"),
    ] {
        let env = get_json(&server, &format!("/billing-service/default/{label}")).await;
        assert_eq!(env["version"], version, "label {label}");
        assert_eq!(
            first_value(&env, "global.params.p1"),
            Some(json!(p1)),
            "label {label}"
        );
        assert_eq!(
            first_value(&env, "rate"),
            Some(json!(rate)),
            "label {label}"
        );
    }
    let env = get_json(&server, "/billing-service/default/feature(_)x").await;
    assert_eq!(env["label"], "feature/x");

    let (status, body) = get(&server, "/billing-service/default/no-such-branch").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = get(&server, "/billing-service/default/deadbeefdead").await;
    assert_eq!(status, 404);
    let (status, yaml) = get(&server, "/v1/billing-service-default.yml").await;
    assert_eq!(status, 200);
    assert!(yaml.contains("p1: 1"), "{yaml}");
    let (status, _) = get(&server, "/nope/billing-service-default.yml").await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn a_new_commit_is_served_after_the_next_fetch_and_the_remote_may_vanish() {
    let repo = GitRepo::new();
    repo.commit(&[("application.yml", "a: 1\n")], "first");
    let server = git_server(&repo, &[]).await;
    assert_eq!(
        first_value(&get_json(&server, "/x/default").await, "a"),
        Some(json!(1))
    );

    let second = repo.commit(&[("application.yml", "a: 2\n")], "second");
    testkit::eventually("the new commit is served", PROPAGATION, || async {
        let env = get_json(&server, "/x/default").await;
        (env["version"] == second.as_str() && first_value(&env, "a") == Some(json!(2)))
            .then_some(())
    })
    .await;

    // The remote disappears: the last good snapshot keeps being served.
    let gone = repo.dir.path().with_extension("moved");
    std::fs::rename(repo.dir.path(), &gone).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let env = get_json(&server, "/x/default").await;
    assert_eq!(env["version"], second.as_str());
    std::fs::rename(&gone, repo.dir.path()).unwrap();
    server.stop().await;
}

#[tokio::test]
async fn search_paths_with_application_placeholders_outrank_the_root() {
    let repo = GitRepo::new();
    repo.commit(
        &[
            ("application.yml", "where: root\n"),
            ("billing-service/application.yml", "where: app-dir\n"),
            ("shared-1/application.yml", "glob: matched\n"),
        ],
        "layout",
    );
    let server = git_server(
        &repo,
        &[(
            "spring.cloud.config.server.git.search-paths",
            "{application},shared-*",
        )],
    )
    .await;
    let env = get_json(&server, "/billing-service/default").await;
    assert_eq!(first_value(&env, "where"), Some(json!("app-dir")));
    assert_eq!(first_value(&env, "glob"), Some(json!("matched")));
    let env = get_json(&server, "/other/default").await;
    assert_eq!(first_value(&env, "where"), Some(json!("root")));
    server.stop().await;
}

#[tokio::test]
async fn profile_and_label_placeholders_expand_per_profile_and_to_the_default_label() {
    let repo = GitRepo::new();
    repo.commit(
        &[
            (
                "application.yml",
                "where: root
",
            ),
            (
                "profiles/dev/application.yml",
                "dev-dir: true
",
            ),
            (
                "profiles/prod/application.yml",
                "prod-dir: true
",
            ),
            (
                "labels/main/application.yml",
                "label-dir: main
",
            ),
        ],
        "layout",
    );
    let server = git_server(
        &repo,
        &[(
            "spring.cloud.config.server.git.search-paths",
            "profiles/{profile},labels/{label}",
        )],
    )
    .await;
    // One search path per profile (not `profiles/dev,prod`), later profiles first.
    let env = get_json(&server, "/app/dev,prod").await;
    let names = source_names(&env, &format!("{}/", repo.uri()));
    assert_eq!(
        names,
        [
            "labels/main/application.yml",
            "profiles/prod/application.yml",
            "profiles/dev/application.yml",
            "application.yml",
        ]
    );
    // No label: `{label}` is the default label.
    assert_eq!(first_value(&env, "label-dir"), Some(json!("main")));
    server.stop().await;
}

#[tokio::test]
async fn the_default_label_main_falls_back_to_master() {
    let repo = GitRepo::new();
    repo.git(&["checkout", "-q", "-b", "master"]);
    let master = repo.commit(&[("application.yml", "a: 1\n")], "on master");
    let server = git_server(&repo, &[]).await;
    for path in ["/app/default", "/app/default/main", "/app/default/master"] {
        let env = get_json(&server, path).await;
        assert_eq!(env["version"], master.as_str(), "{path}");
    }
    server.stop().await;
    // Without the fallback, or with another default label, `main` is unknown.
    let server = git_server(
        &repo,
        &[("spring.cloud.config.server.git.try-master-branch", "false")],
    )
    .await;
    assert_eq!(get(&server, "/app/default").await.0, 404);
    server.stop().await;
    let server = git_server(
        &repo,
        &[("spring.cloud.config.server.git.default-label", "trunk")],
    )
    .await;
    assert_eq!(get(&server, "/app/default").await.0, 404);
    assert_eq!(get(&server, "/app/default/main").await.0, 404);
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_remote_is_a_404_and_health_down_while_the_server_stays_up() {
    let missing = tempfile::tempdir().unwrap();
    let uri = format!("file://{}/nothing-here", missing.path().display());
    let server = testkit::TestService::start(
        &config_service::SERVICE,
        &[
            ("spring.cloud.config.server.git.uri", uri.as_str()),
            ("spring.cloud.config.server.git.refresh-rate", "1"),
        ],
    )
    .await;
    let (status, body) = get(&server, "/app/default").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No such repository"), "{body}");
    assert_eq!(get(&server, "/actuator/health").await.0, 503);

    // The repository appears later: the background fetch clones it.
    let repo = GitRepo::new();
    repo.commit(&[("application.yml", "a: late\n")], "late");
    std::fs::rename(repo.dir.path(), missing.path().join("nothing-here")).unwrap();
    testkit::eventually("the late repository is served", PROPAGATION, || async {
        let (status, body) = get(&server, "/app/default").await;
        (status == 200 && body.contains("late")).then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn the_monitor_webhook_fetches_at_once_and_names_the_services() {
    let repo = GitRepo::new();
    repo.commit(&[("application.yml", "a: 1\n")], "first");
    // refresh-rate -1: never fetch by itself, so only the webhook can bring the commit in.
    let server = git_server(
        &repo,
        &[("spring.cloud.config.server.git.refresh-rate", "-1")],
    )
    .await;
    let second = repo.commit(&[("foo-dev.yml", "a: 2\n")], "second");
    let client = reqwest::Client::new();
    let response = client
        .post(server.url("/monitor"))
        .header("x-github-event", "push")
        .header("content-type", "application/json")
        .body(r#"{"commits":[{"added":["foo-dev.yml"],"modified":["application.yml"],"removed":[]}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!(["foo-dev", "foo", "*"])
    );
    testkit::eventually("the pushed commit is served", PROPAGATION, || async {
        let env = get_json(&server, "/foo/dev").await;
        (env["version"] == second.as_str()).then_some(())
    })
    .await;
    let form = client
        .post(server.url("/monitor"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("path=billing-service")
        .send()
        .await
        .unwrap();
    assert_eq!(
        form.json::<serde_json::Value>().await.unwrap(),
        json!(["billing-service", "billing"])
    );
    let unknown = client
        .post(server.url("/monitor"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    server.stop().await;
}
