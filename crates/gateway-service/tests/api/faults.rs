//! Faults on either side of the gateway, answered with the status that names the side at fault:
//! a frozen backend is a 504 after the response timeout, a client's malformed body a 400 from
//! the gateway itself, a backend's refusal of a body (413, 400) passed on as it is; error
//! bodies name no internal address and repeat no library error text.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::helpers::{Backend, Gateway, client};

/// Generous bound on every answer the tests wait for (the timeouts they set are ~1 s).
const CHECKED_AT: Duration = Duration::from_secs(10);

fn route(index: usize, id: &str, uri: &str, path: &str) -> Vec<(String, String)> {
    let key = |k: &str| format!("spring.cloud.gateway.routes[{index}].{k}");
    vec![
        (key("id"), id.to_owned()),
        (key("uri"), uri.to_owned()),
        (key("predicates[0]"), format!("Path={path}")),
    ]
}

/// A backend that is there and never answers: its socket is listening, nothing accepts (what
/// a SIGSTOPped process looks like from the network).
fn frozen_backend() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Sends `head` and `body` over a raw connection (ignoring a server that stops reading) and
/// returns what came back.
async fn raw_exchange(addr: std::net::SocketAddr, head: String, body: Vec<u8>) -> String {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        if write.write_all(head.as_bytes()).await.is_ok() {
            let _ = write.write_all(&body).await;
        }
        write
    });
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(CHECKED_AT, read.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no end of the answer within {CHECKED_AT:?}"),
        }
        let text = String::from_utf8_lossy(&received);
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            });
            if length.is_some_and(|n| rest.len() >= n) {
                break;
            }
        }
    }
    drop(writer);
    String::from_utf8_lossy(&received).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_frozen_backend_is_a_504_after_the_configured_response_timeout() {
    let frozen = frozen_backend();
    let frozen_uri = format!("http://{}", frozen.local_addr().unwrap());
    let mut props = route(0, "frozen", &frozen_uri, "/frozen/**");
    props.extend(route(1, "frozen-fast", &frozen_uri, "/fast/**"));
    props.push((
        "spring.cloud.gateway.routes[1].metadata.response-timeout".into(),
        "300".into(),
    ));
    props.push((
        "spring.cloud.gateway.httpclient.response-timeout".into(),
        "1500ms".into(),
    ));
    props.push(("server.error.include-message".into(), "always".into()));
    let gw = Gateway::start(&testkit::as_pairs(&props)).await;
    let http = client();
    for (path, configured) in [
        ("/frozen/x", Duration::from_millis(1500)),
        ("/fast/x", Duration::from_millis(300)),
    ] {
        let started = Instant::now();
        let response = tokio::time::timeout(CHECKED_AT, http.get(gw.url(path)).send())
            .await
            .expect("answered, not hung")
            .unwrap();
        let took = started.elapsed();
        assert_eq!(response.status(), 504, "{path}");
        assert!(
            took >= configured,
            "{path} answered before its timeout: {took:?}"
        );
        let body = response.text().await.unwrap();
        assert!(!body.contains("127.0.0.1"), "no internal address: {body}");
    }
    gw.stop().await;
    drop(frozen);
}

#[tokio::test]
async fn a_malformed_chunked_body_is_a_400_from_the_gateway_not_a_502() {
    let backend = Backend::start("b", 0).await;
    let mut props = route(0, "b", &backend.base(), "/**");
    props.push(("server.error.include-message".into(), "always".into()));
    let gw = Gateway::start(&testkit::as_pairs(&props)).await;
    let head = "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_owned();
    let answer = raw_exchange(
        gw.addr,
        head,
        b"5\r\nhello\r\nzz\r\nnot a chunk\r\n".to_vec(),
    )
    .await;
    assert_eq!(status_of(&answer), 400, "{answer}");
    let lower = answer.to_ascii_lowercase();
    for leak in ["127.0.0.1", "hyper", "error trying", "invalid chunk"] {
        assert!(
            !lower.contains(leak),
            "names no internals ({leak}): {answer}"
        );
    }
    gw.stop().await;
    backend.kill().await;
}

#[tokio::test]
async fn a_backend_refusing_a_body_is_passed_on_with_its_own_status() {
    let customers = testkit::TestService::start(&customer_service::SERVICE, &[]).await;
    let props = route(
        0,
        "customers",
        &format!("http://{}", customers.addr),
        "/customers/**",
    );
    let gw = Gateway::start(&testkit::as_pairs(&props)).await;
    // 30 MB, chunked, refused by customer-service's 1 MiB limit while it is still arriving.
    let chunk = vec![b'a'; 64 * 1024];
    let mut body = Vec::with_capacity(31 << 20);
    for _ in 0..480 {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_owned();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(status_of(
            &raw_exchange(gw.addr, head.clone(), body.clone()).await,
        ));
    }
    assert_eq!(statuses, [413; 5], "every run gets the backend's 413");
    let malformed = client()
        .post(gw.url("/customers"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        malformed.status(),
        400,
        "the backend's 400 for a malformed JSON body"
    );
    gw.stop().await;
    customers.stop().await;
}

#[tokio::test]
async fn headers_over_8kb_are_431_at_the_gateway_as_in_spring_boot() {
    let backend = Backend::start("b", 0).await;
    let props = route(0, "b", &backend.base(), "/**");
    let gw = Gateway::start(&testkit::as_pairs(&props)).await;
    let head = |size: usize| {
        format!(
            "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(size)
        )
    };
    assert_eq!(
        status_of(&raw_exchange(gw.addr, head(4 * 1024), Vec::new()).await),
        200
    );
    assert_eq!(
        status_of(&raw_exchange(gw.addr, head(100 * 1024), Vec::new()).await),
        431
    );
    gw.stop().await;
    backend.kill().await;
}

#[tokio::test]
async fn a_backend_frozen_half_way_through_its_answer_ends_the_exchange_after_the_response_timeout()
{
    // Answers a head and the first bytes of a 1 MB body, then freezes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frozen = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nfirst bytes")
                .await;
            held.push(stream);
        }
    });
    let mut props = route(0, "frozen", &format!("http://{addr}"), "/**");
    props.push((
        "spring.cloud.gateway.httpclient.response-timeout".into(),
        "1s".into(),
    ));
    let gw = Gateway::start(&testkit::as_pairs(&props)).await;
    let response = client().get(gw.url("/x")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(CHECKED_AT, response.bytes())
        .await
        .expect("the exchange ends instead of hanging");
    assert!(body.is_err(), "the truncated answer is reported as such");
    gw.stop().await;
    frozen.abort();
}

#[tokio::test]
async fn a_backend_that_never_accepts_the_connection_is_a_504_after_the_route_connect_timeout() {
    // A listen backlog of one, filled: further connection attempts get no answer at all.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = socket.listen(0).unwrap();
    let addr = full.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    let mut props = route(0, "full", &format!("http://{addr}"), "/**");
    props.push((
        "spring.cloud.gateway.routes[0].metadata.connect-timeout".into(),
        "500".into(),
    ));
    let gw = Gateway::start(&testkit::as_pairs(&props)).await;
    let started = Instant::now();
    let response = tokio::time::timeout(CHECKED_AT, client().get(gw.url("/x")).send())
        .await
        .expect("answered, not hung")
        .unwrap();
    assert_eq!(response.status(), 504, "after {:?}", started.elapsed());
    gw.stop().await;
    drop((full, fillers));
}

#[tokio::test]
async fn proxied_requests_are_counted_by_route_status_and_outcome_in_prometheus() {
    let backend = Backend::start("b", 0).await;
    let frozen = frozen_backend();
    let frozen_uri = format!("http://{}", frozen.local_addr().unwrap());
    let mut props = route(0, "b", &backend.base(), "/b/**,/status/**");
    props.extend(route(1, "frozen", &frozen_uri, "/frozen/**"));
    props.push((
        "spring.cloud.gateway.httpclient.response-timeout".into(),
        "300ms".into(),
    ));
    props.push((
        crate::helpers::ACTUATOR_OPEN.0.into(),
        crate::helpers::ACTUATOR_OPEN.1.into(),
    ));
    let gw = Gateway::start(&testkit::as_pairs(&props)).await;
    let http = client();
    for _ in 0..2 {
        assert_eq!(http.get(gw.url("/b/x")).send().await.unwrap().status(), 200);
    }
    assert_eq!(
        http.post(gw.url("/status/404"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        http.get(gw.url("/frozen/x")).send().await.unwrap().status(),
        504
    );
    let text = http
        .get(gw.url("/actuator/prometheus"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let b = backend.base();
    for expected in [
        format!(
            r#"spring_cloud_gateway_requests_seconds_count{{httpMethod="GET",httpStatusCode="200",outcome="SUCCESSFUL",routeId="b",routeUri="{b}",status="OK"}} 2"#
        ),
        format!(
            r#"spring_cloud_gateway_requests_seconds_count{{httpMethod="POST",httpStatusCode="404",outcome="CLIENT_ERROR",routeId="b",routeUri="{b}",status="NOT_FOUND"}} 1"#
        ),
        format!(
            r#"spring_cloud_gateway_requests_seconds_count{{httpMethod="GET",httpStatusCode="504",outcome="SERVER_ERROR",routeId="frozen",routeUri="{frozen_uri}",status="GATEWAY_TIMEOUT"}} 1"#
        ),
    ] {
        assert!(text.contains(&expected), "missing {expected}\nin:\n{text}");
    }
    assert!(text.contains("# TYPE spring_cloud_gateway_requests_seconds summary"));
    gw.stop().await;
    backend.kill().await;
    drop(frozen);
}
