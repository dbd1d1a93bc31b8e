//! The gateway started in-process with handles on its settings and registry, and small
//! backends for behaviours our services do not have (echo, slow, flaky, streaming, upgrade).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, Request, State},
    http::{HeaderValue, Response, StatusCode, header},
    routing::{any, get},
};
use http_body_util::BodyExt as _;
use platform::discovery::{Application, Applications, InstanceInfo, RegistryCache};
use serde_json::{Value, json};
use testkit::{TestDatabase, TestService};
use tokio::{sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// Opens the actuator's `gateway` endpoint, writes included, and `prometheus` over HTTP: off by
/// default, as in Spring.
pub(crate) const ACTUATOR_OPEN: (&str, &str) = (
    "management.endpoints.web.exposure.include",
    "health,gateway,prometheus",
);

/// A running gateway: testkit's [`TestService`] with the gateway's settings and registry at
/// hand.
pub(crate) struct Gateway {
    pub(crate) addr: SocketAddr,
    pub(crate) registry: RegistryCache,
    service: TestService,
}

impl Gateway {
    /// The gateway with its built-in defaults plus `properties`.
    pub(crate) async fn start(properties: &[(&str, &str)]) -> Self {
        let service = TestService::start_with_database(
            &gateway_service::SERVICE,
            properties,
            TestDatabase::sqlite(),
        )
        .await;
        Self {
            addr: service.addr,
            registry: service.registry.clone(),
            service,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        self.service.url(path)
    }

    /// Puts one more property in force, as a configuration refresh does.
    pub(crate) fn set(&self, key: &str, value: &str) {
        self.service.set(key, value);
    }

    /// Registers `app` at these ports (all UP) in the gateway's registry cache.
    pub(crate) fn register(&self, apps: &[(&str, &[u16])]) {
        let applications = apps
            .iter()
            .map(|(name, ports)| Application {
                name: name.to_ascii_uppercase(),
                instances: ports
                    .iter()
                    .map(|p| {
                        let mut i = InstanceInfo::new(name, "127.0.0.1", "127.0.0.1", *p);
                        i.instance_id = Some(format!("127.0.0.1:{name}:{p}"));
                        i
                    })
                    .collect(),
            })
            .collect();
        self.registry.replace(Applications {
            applications,
            ..Applications::default()
        });
    }

    pub(crate) async fn stop(self) {
        self.service.stop().await;
    }
}

/// A client that ignores proxy environment variables and does not follow redirects.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Waits until `url` answers `status` (routes appear after a refresh).
pub(crate) async fn wait_status(url: &str, status: u16) {
    let client = client();
    testkit::eventually(
        &format!("{url} answering {status}"),
        Duration::from_secs(10),
        || {
            let client = client.clone();
            async move {
                let got = client.get(url).send().await.ok()?.status().as_u16();
                (got == status).then_some(())
            }
        },
    )
    .await;
}

/// A backend started by a test.
pub(crate) struct Backend {
    pub(crate) addr: SocketAddr,
    pub(crate) calls: Arc<AtomicUsize>,
    pub(crate) received: watch::Receiver<usize>,
    pub(crate) release: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct BackendState {
    name: String,
    calls: Arc<AtomicUsize>,
    failures_left: Arc<AtomicUsize>,
    received: Arc<watch::Sender<usize>>,
    release: Arc<tokio::sync::Notify>,
}

impl Backend {
    /// An echo backend called `name`; `/flaky` fails its first `failures` calls with 500.
    pub(crate) async fn start(name: &str, failures: usize) -> Self {
        let (sender, received) = watch::channel(0);
        let state = BackendState {
            name: name.to_owned(),
            calls: Arc::default(),
            failures_left: Arc::new(AtomicUsize::new(failures)),
            received: Arc::new(sender),
            release: Arc::default(),
        };
        let router = Router::new()
            .route("/status/{code}", any(status))
            .route("/slow/{ms}", any(slow))
            .route("/flaky", any(flaky))
            .route("/big/{mib}", get(big))
            .route("/gated", get(gated))
            .route("/upload", any(upload))
            .route("/ws", get(upgrade))
            .route("/dup", get(duplicate_headers))
            .fallback(echo)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        Self {
            addr,
            calls: state.calls,
            received,
            release: state.release,
            shutdown,
            task,
        }
    }

    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops accepting and drops the listener (in-flight exchanges are cut).
    pub(crate) async fn kill(self) {
        self.shutdown.cancel();
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn echo(State(state): State<BackendState>, request: Request) -> Json<Value> {
    state.calls.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let headers = testkit::headers_as_json(&parts.headers, &[]);
    Json(json!({
        "backend": state.name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn status(Path(code): Path<u16>) -> Response<Body> {
    let mut r = Response::new(Body::from(format!("status {code}")));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    r
}

async fn slow(State(state): State<BackendState>, Path(ms): Path<u64>) -> String {
    state.calls.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slept {ms} ms")
}

async fn flaky(State(state): State<BackendState>) -> Response<Body> {
    state.calls.fetch_add(1, Ordering::Relaxed);
    let failed = state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let mut r = Response::new(Body::from(if failed { "failed" } else { "ok" }));
    if failed {
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    r
}

/// `mib` MiB of `x`, streamed in 64 KiB chunks.
async fn big(Path(mib): Path<usize>) -> Body {
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        for _ in 0..mib * 16 {
            if tx.send(chunk.clone()).await.is_err() {
                return;
            }
        }
    });
    Body::new(ChannelBody(rx))
}

/// Sends `first` then waits for the test's release before sending `rest`.
async fn gated(State(state): State<BackendState>) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    tokio::spawn(async move {
        let _ = tx.send(Bytes::from_static(b"first;")).await;
        state.release.notified().await;
        let _ = tx.send(Bytes::from_static(b"rest")).await;
    });
    Body::new(ChannelBody(rx))
}

/// Counts the body as it arrives (published on `received`); answers the total.
async fn upload(State(state): State<BackendState>, request: Request) -> String {
    let mut body = request.into_body();
    let mut total = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(data) = frame.data_ref() {
            total += data.len();
            state.received.send_replace(total);
        }
    }
    total.to_string()
}

/// Answers two values of one header, for DedupeResponseHeader.
async fn duplicate_headers() -> Response<Body> {
    let mut r = Response::new(Body::from("dup"));
    r.headers_mut()
        .append("access-control-allow-origin", HeaderValue::from_static("*"));
    r.headers_mut()
        .append("access-control-allow-origin", HeaderValue::from_static("*"));
    r
}

/// A bare protocol upgrade: answers 101 and echoes every byte back.
async fn upgrade(request: Request) -> Response<Body> {
    let mut request = request;
    let Some(on_upgrade) = request
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
    else {
        return Response::new(Body::from("no upgrade"));
    };
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let io = hyper_util::rt::TokioIo::new(upgraded);
            let (mut reader, mut writer) = tokio::io::split(io);
            let _ = tokio::io::copy(&mut reader, &mut writer).await;
        }
    });
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    r.headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static("echo"));
    r
}

/// A body fed by a channel: chunks go out as they are sent.
pub(crate) struct ChannelBody(pub(crate) tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}
