//! A smart-HTTP git server for tests: git's own `git http-backend`, run as CGI behind a small
//! axum front that demands HTTP basic auth, over plain http or over TLS (the front is served
//! through `platform::tls`, the same acceptor every service uses).

use std::{
    path::{Path, PathBuf},
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
use platform::{Settings, settings::PropertySource, tls::ServerTls};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::tls::CertFiles;

/// A running git server holding one bare repository, `config.git`.
#[derive(Debug)]
pub struct GitHttpServer {
    /// `http(s)://127.0.0.1:<port>/config.git`.
    pub url: String,
    state: Arc<GitHttp>,
    _root: tempfile::TempDir,
}

#[derive(Debug)]
struct GitHttp {
    root: PathBuf,
    authorization: String,
    hang: AtomicBool,
    held: AtomicUsize,
    refused: AtomicUsize,
}

impl GitHttpServer {
    /// Serves a bare clone of the repository at `source` for `user:password` only; over TLS
    /// with `certificate` when given.
    pub async fn start(
        source: &Path,
        user: &str,
        password: &str,
        certificate: Option<&CertFiles>,
    ) -> Self {
        let root = tempfile::tempdir().expect("temporary directory");
        let target = root.path().join("config.git");
        let status = std::process::Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(source)
            .arg(&target)
            .status()
            .expect("git runs");
        assert!(status.success(), "bare clone of {}", source.display());
        let state = Arc::new(GitHttp {
            root: root.path().to_owned(),
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            hang: AtomicBool::new(false),
            held: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let router = Router::new().fallback(cgi).with_state(Arc::clone(&state));
        let tls = certificate.map(|files| {
            let settings =
                Settings::from_sources(vec![PropertySource::new("git-server", files.server_ssl())]);
            ServerTls::from_settings(&settings)
                .expect("server.ssl settings")
                .expect("TLS enabled")
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        tokio::spawn(async move {
            let limits = Settings::from_pairs(&[])
                .bind("server")
                .expect("the default connection limits");
            let _ = platform::server::serve(
                listener,
                tls.as_ref(),
                router,
                limits,
                tokio_util::sync::CancellationToken::new(),
            )
            .await;
        });
        Self {
            url: format!("{scheme}://127.0.0.1:{}/config.git", addr.port()),
            state,
            _root: root,
        }
    }

    /// The bare repository served.
    pub fn repository(&self) -> PathBuf {
        self.state.root.join("config.git")
    }

    /// While `true`, every request is held without an answer (a hung remote).
    pub fn hang(&self, hang: bool) {
        self.state.hang.store(hang, Ordering::Release);
    }

    /// Requests that arrived while hanging.
    pub fn held(&self) -> usize {
        self.state.held.load(Ordering::Acquire)
    }

    /// Requests answered 401 (no or wrong credentials).
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::Acquire)
    }
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
        server.refused.fetch_add(1, Ordering::AcqRel);
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
