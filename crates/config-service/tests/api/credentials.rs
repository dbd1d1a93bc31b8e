//! HTTP git remotes: `…git.username/password` against a real smart-HTTP git server
//! (`git http-backend` behind testkit's CGI bridge that demands HTTP basic auth), and a remote
//! that stops answering.

use serde_json::json;
use testkit::git_http::GitHttpServer;

use crate::helpers::*;

/// Serves `repo` as `http://…/config.git`, for `user:password` only.
async fn serve(repo: &GitRepo, user: &str, password: &str) -> GitHttpServer {
    GitHttpServer::start(repo.dir.path(), user, password, None).await
}

#[tokio::test]
async fn http_remotes_are_cloned_with_the_configured_credentials() {
    let repo = GitRepo::new();
    repo.commit(&[("application.yml", "a: over-http\n")], "first");
    let remote = serve(&repo, "config", "s3cret").await;
    let url = remote.url.clone();

    let server = testkit::TestService::start(
        &config_service::SERVICE,
        &[
            ("spring.cloud.config.server.git.uri", url.as_str()),
            ("spring.cloud.config.server.git.username", "config"),
            ("spring.cloud.config.server.git.password", "s3cret"),
        ],
    )
    .await;
    let env = get_json(&server, "/x/default").await;
    assert_eq!(first_value(&env, "a"), Some(json!("over-http")));
    assert_eq!(
        env["propertySources"][0]["name"],
        format!("{url}/application.yml")
    );
    server.stop().await;

    // Wrong credentials: the repository is unavailable (404) and health says why; the server
    // itself keeps answering.
    let server = testkit::TestService::start(
        &config_service::SERVICE,
        &[
            ("spring.cloud.config.server.git.uri", url.as_str()),
            ("spring.cloud.config.server.git.username", "config"),
            ("spring.cloud.config.server.git.password", "wrong"),
            ("management.endpoint.health.show-details", "always"),
        ],
    )
    .await;
    let (status, body) = get(&server, "/x/default").await;
    assert_eq!(status, 404, "{body}");
    let (status, health) = get(&server, "/actuator/health").await;
    assert_eq!(status, 503, "{health}");
    assert!(
        health.contains("config.git"),
        "the reason names the remote: {health}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_hung_remote_never_blocks_requests_the_last_snapshot_can_answer() {
    let repo = GitRepo::new();
    let first = repo.commit(&[("application.yml", "a: 1\n")], "first");
    let remote = serve(&repo, "config", "s3cret").await;
    let url = remote.url.clone();
    let server = testkit::TestService::start(
        &config_service::SERVICE,
        &[
            ("spring.cloud.config.server.git.uri", url.as_str()),
            ("spring.cloud.config.server.git.username", "config"),
            ("spring.cloud.config.server.git.password", "s3cret"),
            ("spring.cloud.config.server.git.refresh-rate", "1"),
            ("spring.cloud.config.server.git.timeout", "30"),
        ],
    )
    .await;
    assert_eq!(
        get_json(&server, "/x/default").await["version"],
        first.as_str()
    );

    remote.hang(true);
    testkit::eventually(
        "a background fetch is stuck on the remote",
        PROPAGATION,
        || async { (remote.held() > 0).then_some(()) },
    )
    .await;
    // The fetch hangs (for up to 30 s); requests are still answered from the last snapshot.
    for path in [
        "/x/default",
        "/x/dev",
        "/x-default.properties",
        "/actuator/health",
    ] {
        let (status, body) = get(&server, path).await;
        assert_eq!(status, 200, "GET {path} while the remote hangs: {body}");
    }
    remote.hang(false);
    server.stop().await;
}
