//! The bounds every service holds its connections to, tried as a hostile client would: a
//! connection that sends nothing, a head trickled byte by byte, an idle keep-alive connection, a
//! body that stops half-way, headers over `server.max-http-request-header-size`, and more
//! connections than `server.tomcat.max-connections`. Real sockets on loopback.

use std::time::{Duration, Instant};

use axum::{Router, body::Bytes, routing::post};
use platform::{
    ServiceContext,
    settings::{PropertySource, Settings},
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// How long any one check may take: far above the 1 s timeouts the tests configure.
const CHECKED_AT: Duration = Duration::from_secs(10);

struct Service {
    addr: std::net::SocketAddr,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Service {
    async fn start(properties: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("server.port", "0"),
            ("server.address", "127.0.0.1"),
            ("spring.application.name", "probe"),
            ("eureka.client.enabled", "false"),
        ];
        all.extend_from_slice(properties);
        let settings = Settings::from_sources(vec![PropertySource::new(
            "test",
            all.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )]);
        let routes = Router::new().route(
            "/echo",
            post(|body: Bytes| async move { body.len().to_string() }),
        );
        let app = ServiceContext::new(settings)
            .into_application(routes)
            .await
            .unwrap();
        let addr = app.local_addr();
        let stop = app.shutdown_token();
        let task = tokio::spawn(app.run());
        Self { addr, stop, task }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Reads until the server closes the connection (or fails it); what it sent, and when.
async fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(CHECKED_AT, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "still open after {CHECKED_AT:?}; received {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

/// The status of the first response in `text`.
fn status(text: &str) -> u16 {
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_trickles_its_head_is_closed_within_the_connection_timeout()
 {
    let service = Service::start(&[("server.tomcat.connection-timeout", "1s")]).await;
    let mut silent = service.connect().await;
    let (answer, after) = read_until_closed(&mut silent).await;
    assert_eq!(answer, "", "closed without an answer");
    assert!(
        after >= Duration::from_millis(900),
        "not before its timeout: {after:?}"
    );

    // A head sent one byte every 200 ms never completes; the trickle does not extend the wait.
    let mut trickling = service.connect().await;
    trickling
        .write_all(b"GET /actuator/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let closed = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if trickling.write_all(b"a").await.is_err() {
            break started.elapsed();
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), trickling.read(&mut probe)).await
        {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < CHECKED_AT,
            "the trickling head is still being read"
        );
    };
    assert!(closed < CHECKED_AT, "{closed:?}");
    service.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let service = Service::start(&[
        ("server.tomcat.connection-timeout", "30s"),
        ("server.tomcat.keep-alive-timeout", "1s"),
    ])
    .await;
    let mut stream = service.connect().await;
    stream
        .write_all(b"GET /actuator/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert_eq!(status(&String::from_utf8_lossy(&buf[..n])), 200);
    // Kept alive, then idle: closed after 1 s although the connection timeout is 30 s.
    let (rest, after) = read_until_closed(&mut stream).await;
    assert!(!rest.contains("HTTP/1.1"), "{rest}");
    assert!(after < Duration::from_secs(25), "{after:?}");
    service.stop().await;
}

#[tokio::test]
async fn a_request_body_that_stops_half_way_is_not_waited_for_beyond_the_connection_timeout() {
    let service = Service::start(&[("server.tomcat.connection-timeout", "1s")]).await;
    let mut stream = service.connect().await;
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let (answer, after) = read_until_closed(&mut stream).await;
    assert!(
        answer.is_empty() || (400..500).contains(&status(&answer)),
        "a 4xx or a closed connection, not a handler waiting forever: {answer}"
    );
    assert!(after < CHECKED_AT, "{after:?}");
    // The whole body in time is fine.
    let mut stream = service.connect().await;
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd",
        )
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut stream).await;
    assert_eq!(status(&answer), 200, "{answer}");
    assert!(answer.ends_with("\r\n\r\n4"), "{answer}");
    service.stop().await;
}

async fn get_with_header(service: &Service, bytes: usize) -> u16 {
    let mut stream = service.connect().await;
    let request = format!(
        "GET /actuator/health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(bytes)
    );
    let _ = stream.write_all(request.as_bytes()).await;
    status(&read_until_closed(&mut stream).await.0)
}

#[tokio::test]
async fn headers_over_max_http_request_header_size_are_431() {
    let service = Service::start(&[]).await;
    assert_eq!(
        get_with_header(&service, 6 * 1024).await,
        200,
        "under Spring's 8KB"
    );
    assert_eq!(get_with_header(&service, 100 * 1024).await, 431);
    service.stop().await;
    let service = Service::start(&[("server.max-http-request-header-size", "32KB")]).await;
    assert_eq!(get_with_header(&service, 24 * 1024).await, 200);
    assert_eq!(get_with_header(&service, 40 * 1024).await, 431);
    service.stop().await;
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_until_one_closes() {
    let service = Service::start(&[
        ("server.tomcat.max-connections", "2"),
        ("server.tomcat.connection-timeout", "30s"),
    ])
    .await;
    let first = service.connect().await;
    let _second = service.connect().await;
    // The third is queued by the kernel, not served.
    let mut third = service.connect().await;
    third
        .write_all(b"GET /actuator/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_millis(500), third.peek(&mut buf)).await;
    assert!(waited.is_err(), "served beyond max-connections");
    drop(first);
    let (answer, _) = read_until_closed(&mut third).await;
    assert_eq!(status(&answer), 200, "served once a slot is free: {answer}");
    service.stop().await;
}
