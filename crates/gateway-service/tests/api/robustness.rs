//! Streaming both ways, protocol upgrades, and bad input: malformed requests, huge headers,
//! slow clients, path tricks.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::helpers::{Backend, Gateway, client};

async fn gateway_to(b: &Backend) -> Gateway {
    Gateway::start(&[
        ("spring.cloud.gateway.routes[0].id", "b"),
        ("spring.cloud.gateway.routes[0].uri", &b.base()),
        ("spring.cloud.gateway.routes[0].predicates[0]", "Path=/**"),
    ])
    .await
}

#[tokio::test]
async fn request_bodies_stream_to_the_backend_before_they_end() {
    let b = Backend::start("b", 0).await;
    let gw = gateway_to(&b).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let chunk = vec![b'a'; 256 * 1024];
    stream
        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(&chunk).await.unwrap();
    stream.write_all(b"\r\n").await.unwrap();
    // The backend sees the first chunk while the client still holds the rest back.
    let mut received = b.received.clone();
    tokio::time::timeout(
        Duration::from_secs(10),
        received.wait_for(|n| *n >= chunk.len()),
    )
    .await
    .expect("the first chunk reached the backend before the body ended")
    .unwrap();
    // Then 32 MiB more, streamed.
    for _ in 0..128 {
        stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(&chunk).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with(&(129 * chunk.len()).to_string()), "{text}");
    gw.stop().await;
}

#[tokio::test]
async fn response_bodies_stream_to_the_client_as_they_come() {
    let b = Backend::start("b", 0).await;
    let gw = gateway_to(&b).await;
    let mut response = client().get(gw.url("/gated")).send().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), response.chunk())
        .await
        .expect("the first chunk arrives while the backend holds the rest")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first;");
    b.release.notify_one();
    let rest = response.chunk().await.unwrap().unwrap();
    assert_eq!(&rest[..], b"rest");
    // A large download arrives whole.
    let mut big = client().get(gw.url("/big/48")).send().await.unwrap();
    let mut total = 0;
    while let Some(chunk) = big.chunk().await.unwrap() {
        total += chunk.len();
    }
    assert_eq!(total, 48 * 1024 * 1024);
    gw.stop().await;
}

#[tokio::test]
async fn upgrades_are_tunnelled() {
    let b = Backend::start("b", 0).await;
    let gw = gateway_to(&b).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");
    stream.write_all(b"ping through the tunnel").await.unwrap();
    let mut echoed = [0u8; 23];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echoed, b"ping through the tunnel");
    gw.stop().await;
}

#[tokio::test]
async fn bad_input_gets_clear_statuses_and_others_keep_being_served() {
    let b = Backend::start("b", 0).await;
    let gw = gateway_to(&b).await;
    // Slow clients that never finish their headers hold a connection each, nothing more.
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    let malformed = testkit::raw_http(gw.addr, "GARBAGE\r\n\r\n").await;
    assert_eq!(testkit::raw_status(&malformed), 400, "{malformed}");
    let bad_header = testkit::raw_http(
        gw.addr,
        "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(testkit::raw_status(&bad_header), 400, "{bad_header}");
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Huge: {}\r\nConnection: close\r\n\r\n",
        "h".repeat(1024 * 1024)
    );
    let huge = testkit::raw_http(gw.addr, &huge).await;
    assert!(
        [431, 400].contains(&testkit::raw_status(&huge)) || huge.is_empty(),
        "{huge:.200}"
    );
    for (path, status) in [
        ("/a/../actuator/health", 400),
        ("/a/%2e%2e/b", 400),
        ("/a%2Fb", 400),
        ("/a/%00", 400),
    ] {
        let r = testkit::raw_http(
            gw.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(testkit::raw_status(&r), status, "{path}: {r}");
    }
    let echo: serde_json::Value = client()
        .get(gw.url("//double//slashes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["path"], "/double/slashes");
    // Everyone else is still served while the slow clients hang.
    for _ in 0..20 {
        assert_eq!(
            client().get(gw.url("/fine")).send().await.unwrap().status(),
            200
        );
    }
    drop(slow);
    gw.stop().await;
}

#[tokio::test]
async fn http2_clients_are_served_and_backends_get_http1() {
    let b = Backend::start("b", 0).await;
    let gw = gateway_to(&b).await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for _ in 0..3 {
        let r = h2.get(gw.url("/over/h2?x=1")).send().await.unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 200);
        let echo: serde_json::Value = r.json().await.unwrap();
        assert_eq!(echo["path"], "/over/h2");
        assert_eq!(
            echo["headers"]["x-forwarded-host"][0],
            gw.addr.to_string(),
            "the HTTP/2 authority stands in for Host"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_second_gateway_cannot_share_the_port() {
    let gw = Gateway::start(&[]).await;
    let port = gw.addr.port().to_string();
    let settings = testkit::test_settings(
        &gateway_service::SERVICE,
        &testkit::TestDatabase::sqlite(),
        &[("server.port", &port)],
    );
    let second = gateway_service::build(platform::ServiceContext::new(settings)).await;
    let error = second.expect_err("the port is taken");
    assert!(format!("{error:#}").contains("cannot listen"), "{error:#}");
    assert_eq!(
        client()
            .get(gw.url("/actuator/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    gw.stop().await;
}
