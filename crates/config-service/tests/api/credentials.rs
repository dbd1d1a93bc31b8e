//! HTTP git remotes: `…git.username/password` against a real smart-HTTP git server
//! (`git http-backend` behind a small CGI bridge that demands HTTP basic auth), and a remote
//! that stops answering.

use std::{
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::*;

struct GitHttp {
    root: PathBuf,
    authorization: String,
    /// While set, every request is held without an answer (a hung remote).
    hang: AtomicBool,
    /// Requests that arrived while hanging.
    held: AtomicUsize,
}

async fn cgi(State(server): State<Arc<GitHttp>>, request: Request) -> Response {
    if server.hang.load(Ordering::Acquire) {
        server.held.fetch_add(1, Ordering::AcqRel);
        while server.hang.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let authorized = request
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == server.authorization.as_bytes());
    if !authorized {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"git\""),
        );
        return response;
    }
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let (content_type, content_encoding, protocol) = {
        let headers = request.headers();
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        (
            text("content-type"),
            text("content-encoding"),
            text("git-protocol"),
        )
    };
    let body = to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &server.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path)
        .env("REQUEST_METHOD", method)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", content_encoding)
        .env("GIT_PROTOCOL", protocol)
        .env("REMOTE_USER", "config")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("git http-backend");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let mut output = Vec::new();
    let _ = stdout.read_to_end(&mut output).await;
    let _ = writer.await;
    let _ = child.wait().await;
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, skip)) = split else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut response = Response::new(Body::from(output[end + skip..].to_vec()));
    for line in String::from_utf8_lossy(&output[..end]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            if let Some(code) = value.split_whitespace().next().and_then(|c| c.parse().ok()) {
                *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            }
        } else if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(name),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Serves `repo` as `http://…/config.git`, for `user:password` only.
async fn serve(
    repo: &GitRepo,
    user: &str,
    password: &str,
) -> (String, Arc<GitHttp>, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let source = repo.dir.path().display().to_string();
    let target = root.path().join("config.git").display().to_string();
    repo.git(&["clone", "-q", "--bare", &source, &target]);
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let state = Arc::new(GitHttp {
        root: root.path().to_owned(),
        authorization,
        hang: AtomicBool::new(false),
        held: AtomicUsize::new(0),
    });
    let shared = Arc::clone(&state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/config.git", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(cgi).with_state(state)).await;
    });
    (url, shared, root)
}

#[tokio::test]
async fn http_remotes_are_cloned_with_the_configured_credentials() {
    let repo = GitRepo::new();
    repo.commit(&[("application.yml", "a: over-http\n")], "first");
    let (url, _remote, _root) = serve(&repo, "config", "s3cret").await;

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
    let (url, remote, _root) = serve(&repo, "config", "s3cret").await;
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

    remote.hang.store(true, Ordering::Release);
    testkit::eventually(
        "a background fetch is stuck on the remote",
        PROPAGATION,
        || async { (remote.held.load(Ordering::Acquire) > 0).then_some(()) },
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
    remote.hang.store(false, Ordering::Release);
    server.stop().await;
}
