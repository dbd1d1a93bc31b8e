//! https git remotes, the most common Spring Cloud Config set-up: a hosted repository with a
//! token as the password. The remote is git's own `git http-backend` behind testkit's TLS front
//! with basic auth; its certificate comes from a CA the test makes. What is checked: the clone
//! and later fetches over TLS, the CA trusted by setting and by `skip-ssl-validation`, an
//! untrusted CA and a wrong token refused with clear errors, and the token never appearing in a
//! log line, an error body or a health report.

use std::sync::{Arc, Mutex, OnceLock};

use platform::ServiceContext;
use serde_json::json;
use testkit::{TestDatabase, git_http::GitHttpServer, test_settings, tls::TestCa};

use crate::helpers::*;

const TOKEN: &str = "ghp_T0kenThatMustNeverBeLogged";

/// Everything this test binary logs, at every level, for the never-logged assertions.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&logs);
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || LogWriter(Arc::clone(&writer)))
            .try_init();
        logs
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs_contain(needle: &str) -> bool {
    let logs = captured_logs();
    let logs = logs.lock().unwrap();
    String::from_utf8_lossy(&logs).contains(needle)
}

/// A repository served over https by a certificate of `ca`, for `x-access-token:<TOKEN>`.
async fn https_remote(ca: &TestCa, files: &[(&str, &str)]) -> (GitRepo, GitHttpServer) {
    let repo = GitRepo::new();
    repo.commit(files, "first");
    let certificate = ca.server("git-server");
    let remote =
        GitHttpServer::start(repo.dir.path(), "x-access-token", TOKEN, Some(&certificate)).await;
    assert!(remote.url.starts_with("https://"));
    (repo, remote)
}

fn git_settings<'a>(url: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("spring.cloud.config.server.git.uri", url),
        ("spring.cloud.config.server.git.username", "x-access-token"),
        ("spring.cloud.config.server.git.password", password),
        // The tests read why the repository is unavailable in health's details.
        ("management.endpoint.health.show-details", "always"),
    ]
}

#[tokio::test]
async fn an_https_remote_is_cloned_and_fetched_with_a_token_trusting_the_ca_by_setting() {
    captured_logs();
    let ca = TestCa::new("config-ca");
    let (repo, remote) = https_remote(
        &ca,
        &[
            ("application.yml", "greeting: over-https\n"),
            ("shop/billing-service.yml", "vat: 21\n"),
        ],
    )
    .await;
    let ca_file = ca.certificate.display().to_string();
    let basedir = tempfile::tempdir().unwrap();
    let basedir_path = basedir.path().join("clone").display().to_string();
    let mut settings = git_settings(&remote.url, TOKEN);
    settings.extend([
        (
            "factura.ssl.client.trusted-x509-certificates",
            ca_file.as_str(),
        ),
        ("spring.cloud.config.server.git.clone-on-start", "true"),
        ("spring.cloud.config.server.git.force-pull", "true"),
        ("spring.cloud.config.server.git.refresh-rate", "1"),
        ("spring.cloud.config.server.git.timeout", "10"),
        ("spring.cloud.config.server.git.default-label", "main"),
        ("spring.cloud.config.server.git.search-paths", "shop"),
        (
            "spring.cloud.config.server.git.basedir",
            basedir_path.as_str(),
        ),
    ]);
    let server = testkit::TestService::start(&config_service::SERVICE, &settings).await;

    let env = get_json(&server, "/billing-service/default").await;
    assert_eq!(first_value(&env, "greeting"), Some(json!("over-https")));
    assert_eq!(
        first_value(&env, "vat"),
        Some(json!(21)),
        "search-paths: {env}"
    );
    assert_eq!(
        env["propertySources"][1]["name"],
        format!("{}/application.yml", remote.url),
        "{env}"
    );
    assert!(
        std::path::Path::new(&basedir_path).join(".git").exists()
            || std::path::Path::new(&basedir_path).join("HEAD").exists(),
        "the clone lives in basedir"
    );

    // A new commit pushed to the remote is fetched over https within the refresh rate.
    let pushed = repo.commit(&[("application.yml", "greeting: fetched\n")], "second");
    let bare = remote.repository().display().to_string();
    repo.git(&["push", "-q", &bare, "main"]);
    testkit::eventually("the new commit is fetched", PROPAGATION, || async {
        let env = get_json(&server, "/billing-service/default").await;
        (env["version"] == pushed.as_str()).then_some(())
    })
    .await;
    let env = get_json(&server, "/billing-service/default").await;
    assert_eq!(first_value(&env, "greeting"), Some(json!("fetched")));
    server.stop().await;
    assert!(!logs_contain(TOKEN), "the token never reaches a log line");
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_a_clear_error_that_never_shows_the_token() {
    captured_logs();
    let ca = TestCa::new("config-ca");
    let (_repo, remote) = https_remote(&ca, &[("application.yml", "a: 1\n")]).await;
    let ca_file = ca.certificate.display().to_string();
    let wrong = "ghp_WrongT0kenAlsoNeverLogged";
    let with_url_credentials = remote
        .url
        .replace("https://", &format!("https://x-access-token:{wrong}@"));
    for url in [remote.url.as_str(), with_url_credentials.as_str()] {
        let refused_before = remote.refused();
        let mut settings = git_settings(url, wrong);
        settings.push((
            "factura.ssl.client.trusted-x509-certificates",
            ca_file.as_str(),
        ));
        let server = testkit::TestService::start(&config_service::SERVICE, &settings).await;
        let (status, body) = get(&server, "/x/default").await;
        assert_eq!(status, 404, "{body}");
        let (health_status, health) = get(&server, "/actuator/health").await;
        assert_eq!(health_status, 503, "{health}");
        assert!(
            !body.contains(wrong) && !health.contains(wrong),
            "no token in responses: {body} {health}"
        );
        assert!(
            health.contains(&remote.url) && health.to_lowercase().contains("auth"),
            "the health report names the remote and the authentication failure: {health}"
        );
        assert!(
            remote.refused() > refused_before,
            "the remote refused the token"
        );
        server.stop().await;
    }

    // Spring's fail-fast switch: with clone-on-start the service does not start at all.
    let mut settings = git_settings(&remote.url, wrong);
    settings.extend([
        (
            "factura.ssl.client.trusted-x509-certificates",
            ca_file.as_str(),
        ),
        ("spring.cloud.config.server.git.clone-on-start", "true"),
    ]);
    let database = TestDatabase::new();
    let context = ServiceContext::new(test_settings(
        &config_service::SERVICE,
        &database,
        &settings,
    ));
    let error = match (config_service::SERVICE.build)(context).await {
        Ok(_) => panic!("a config server whose clone is refused must not start"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("clone-on-start"), "{error}");
    assert!(!error.contains(wrong), "{error}");
    assert!(
        !logs_contain(wrong),
        "the wrong token never reaches a log line"
    );
    assert!(!logs_contain(TOKEN));
}

#[tokio::test]
async fn an_untrusted_ca_is_refused_unless_ssl_validation_is_skipped() {
    captured_logs();
    let ca = TestCa::new("unknown-ca");
    let (_repo, remote) = https_remote(&ca, &[("application.yml", "a: trusted-anyway\n")]).await;
    let other = TestCa::new("other-ca");
    let other_file = other.certificate.display().to_string();

    // Neither the system's roots nor another CA vouch for the remote's certificate.
    for trust in [None, Some(other_file.as_str())] {
        let mut settings = git_settings(&remote.url, TOKEN);
        if let Some(file) = trust {
            settings.push(("factura.ssl.client.trusted-x509-certificates", file));
        }
        let server = testkit::TestService::start(&config_service::SERVICE, &settings).await;
        let (status, body) = get(&server, "/x/default").await;
        assert_eq!(status, 404, "{body}");
        let (_, health) = get(&server, "/actuator/health").await;
        assert!(
            health.to_lowercase().contains("certificate"),
            "the reason is the certificate: {health}"
        );
        assert_eq!(
            remote.refused(),
            0,
            "nothing was sent before the handshake failed"
        );
        server.stop().await;
    }

    let mut settings = git_settings(&remote.url, TOKEN);
    settings.push(("spring.cloud.config.server.git.skip-ssl-validation", "true"));
    let server = testkit::TestService::start(&config_service::SERVICE, &settings).await;
    let env = get_json(&server, "/x/default").await;
    assert_eq!(first_value(&env, "a"), Some(json!("trusted-anyway")));
    server.stop().await;
}
