//! Static routes, predicates, proxy headers, load balancing and failure statuses.

use serde_json::Value;

use testkit::as_pairs;

use crate::helpers::{Backend, Gateway, client};

fn route(i: usize, id: &str, uri: &str, predicates: &[&str]) -> Vec<(String, String)> {
    let mut props = vec![
        (
            format!("spring.cloud.gateway.routes[{i}].id"),
            id.to_owned(),
        ),
        (
            format!("spring.cloud.gateway.routes[{i}].uri"),
            uri.to_owned(),
        ),
    ];
    for (j, p) in predicates.iter().enumerate() {
        props.push((
            format!("spring.cloud.gateway.routes[{i}].predicates[{j}]"),
            (*p).to_owned(),
        ));
    }
    props
}

#[tokio::test]
async fn static_route_proxies_with_forwarded_headers_and_without_hop_by_hop() {
    let backend = Backend::start("echo", 0).await;
    let props = route(0, "echo", &backend.base(), &["Path=/echo/**"]);
    let gw = Gateway::start(&as_pairs(&props)).await;
    let response = client()
        .post(gw.url("/echo/a/b?x=1&y=two"))
        .header("connection", "x-secret")
        .header("x-secret", "dropped")
        .header("keep-alive", "timeout=5")
        .header("x-kept", "yes")
        .header("x-forwarded-host", "evil.example")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo/a/b");
    assert_eq!(echo["query"], "x=1&y=two");
    assert_eq!(echo["body"], "hello");
    let h = &echo["headers"];
    assert!(
        h.get("x-secret").is_none(),
        "headers named by Connection are hop-by-hop"
    );
    assert!(h.get("keep-alive").is_none());
    assert_eq!(h["x-kept"][0], "yes");
    assert_eq!(
        h["host"][0],
        backend.addr.to_string(),
        "the backend's Host, not the client's"
    );
    assert_eq!(h["x-forwarded-for"][0], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"][0], "http");
    assert_eq!(
        h["x-forwarded-host"][0],
        gw.addr.to_string(),
        "untrusted X-Forwarded-* replaced"
    );
    assert_eq!(h["x-forwarded-port"][0], gw.addr.port().to_string());
    assert!(h.get("x-forwarded-prefix").is_none());
    assert!(
        h.get("x-request-id").is_some(),
        "the request id crosses the hop"
    );
    gw.stop().await;
}

#[tokio::test]
async fn predicates_select_routes_in_order_and_unmatched_is_404() {
    let a = Backend::start("a", 0).await;
    let b = Backend::start("b", 0).await;
    let mut props = Vec::new();
    props.extend(route(
        0,
        "by-method",
        &a.base(),
        &["Path=/p/**", "Method=DELETE,PUT"],
    ));
    props.extend(route(
        1,
        "by-header",
        &a.base(),
        &["Path=/p/**", "Header=X-Tenant, \\d+"],
    ));
    props.extend(route(
        2,
        "by-query",
        &a.base(),
        &["Path=/p/**", "Query=green, pu.*"],
    ));
    props.extend(route(
        3,
        "by-cookie",
        &a.base(),
        &["Path=/p/**", "Cookie=flavor, ch.p"],
    ));
    props.extend(route(4, "by-host", &a.base(), &["Host=**.example.org"]));
    props.extend(route(
        5,
        "by-remote",
        &a.base(),
        &["Path=/local/**", "RemoteAddr=10.0.0.0/8"],
    ));
    props.extend(route(
        6,
        "expired",
        &a.base(),
        &[
            "Path=/p/**",
            "Before=2017-01-20T17:42:47.789-07:00[America/Denver]",
        ],
    ));
    props.extend(route(7, "window", &a.base(), &["Path=/window/**", "Between=2017-01-20T17:42:47.789-07:00[America/Denver], 2999-01-21T17:42:47.789-07:00[America/Denver]"]));
    props.extend(route(
        8,
        "started",
        &a.base(),
        &["Path=/after/**", "After=2999-01-20T17:42:47.789-07:00"],
    ));
    props.extend(route(9, "vars", &a.base(), &["Path=/v/{segment}"]));
    props.extend(route(10, "fallthrough", &b.base(), &["Path=/p/**"]));
    props.push(("spring.cloud.gateway.routes[0].order".into(), "-5".into()));
    let gw = Gateway::start(&as_pairs(&props)).await;
    let c = client();
    let backend_of = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        (status, body["backend"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(
        backend_of(c.put(gw.url("/p/1")).send().await.unwrap()).await,
        (200, "a".into())
    );
    assert_eq!(
        backend_of(c.get(gw.url("/p/1")).send().await.unwrap()).await,
        (200, "b".into())
    );
    assert_eq!(
        backend_of(
            c.get(gw.url("/p/1"))
                .header("X-Tenant", "42")
                .send()
                .await
                .unwrap()
        )
        .await,
        (200, "a".into())
    );
    assert_eq!(
        backend_of(
            c.get(gw.url("/p/1"))
                .header("X-Tenant", "abc")
                .send()
                .await
                .unwrap()
        )
        .await,
        (200, "b".into())
    );
    assert_eq!(
        backend_of(c.get(gw.url("/p/1?green=purple")).send().await.unwrap()).await,
        (200, "a".into())
    );
    assert_eq!(
        backend_of(c.get(gw.url("/p/1?green=red")).send().await.unwrap()).await,
        (200, "b".into())
    );
    assert_eq!(
        backend_of(
            c.get(gw.url("/p/1"))
                .header("Cookie", "a=1; flavor=chip")
                .send()
                .await
                .unwrap()
        )
        .await,
        (200, "a".into())
    );
    assert_eq!(
        backend_of(
            c.get(gw.url("/anything"))
                .header("Host", "www.example.org")
                .send()
                .await
                .unwrap()
        )
        .await,
        (200, "a".into())
    );
    assert_eq!(
        c.get(gw.url("/local/x")).send().await.unwrap().status(),
        404,
        "127.0.0.1 is not in 10/8"
    );
    assert_eq!(
        c.get(gw.url("/window/x")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        c.get(gw.url("/after/x")).send().await.unwrap().status(),
        404
    );
    assert_eq!(
        c.get(gw.url("/v/seven")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        c.get(gw.url("/v/seven/eight"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let missing = c.get(gw.url("/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["path"], "/nowhere");
    gw.stop().await;
}

#[tokio::test]
async fn the_new_property_prefix_wins_and_expanded_arguments_work() {
    let a = Backend::start("old", 0).await;
    let b = Backend::start("new", 0).await;
    let old = route(0, "old", &a.base(), &["Path=/x/**"]);
    let new: Vec<(String, String)> = vec![
        (
            "spring.cloud.gateway.server.webflux.routes[0].id".into(),
            "new".into(),
        ),
        (
            "spring.cloud.gateway.server.webflux.routes[0].uri".into(),
            b.base(),
        ),
        (
            "spring.cloud.gateway.server.webflux.routes[0].predicates[0].name".into(),
            "Path".into(),
        ),
        (
            "spring.cloud.gateway.server.webflux.routes[0].predicates[0].args.patterns[0]".into(),
            "/x/**".into(),
        ),
        (
            "spring.cloud.gateway.server.webflux.routes[0].filters[0].name".into(),
            "StripPrefix".into(),
        ),
        (
            "spring.cloud.gateway.server.webflux.routes[0].filters[0].args.parts".into(),
            "1".into(),
        ),
    ];
    let mut props = old;
    props.extend(new);
    let gw = Gateway::start(&as_pairs(&props)).await;
    let echo: Value = client()
        .get(gw.url("/x/y"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["backend"], "new");
    assert_eq!(echo["path"], "/y");
    assert_eq!(echo["headers"]["x-forwarded-prefix"][0], "/x");
    gw.stop().await;
}

#[tokio::test]
async fn balanced_routes_rotate_and_move_past_refused_instances() {
    let one = Backend::start("one", 0).await;
    let two = Backend::start("two", 0).await;
    // Held but not listening: connections to it are refused.
    let dead_port = testkit::ReservedPort::new();
    let dead = dead_port.port();
    let mut props = route(0, "echo", "lb://ECHO-SERVICE", &["Path=/echo/**"]);
    // The error body below is read for its message.
    props.push(("server.error.include-message".into(), "always".into()));
    let gw = Gateway::start(&as_pairs(&props)).await;
    let c = client();
    let missing = c.get(gw.url("/echo/1")).send().await.unwrap();
    assert_eq!(missing.status(), 503, "no instance registered");
    let body: Value = missing.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("ECHO-SERVICE"));

    gw.register(&[("echo-service", &[one.port(), dead, two.port()])]);
    let mut seen = Vec::new();
    for _ in 0..9 {
        let r = c.get(gw.url("/echo/1")).send().await.unwrap();
        assert_eq!(r.status(), 200, "a refused instance is skipped");
        let echo: Value = r.json().await.unwrap();
        seen.push(echo["backend"].as_str().unwrap().to_owned());
    }
    assert!(
        seen.contains(&"one".to_owned()) && seen.contains(&"two".to_owned()),
        "{seen:?}"
    );
    // Small bodies are replayed on the next instance too.
    for _ in 0..3 {
        let r = c
            .post(gw.url("/echo/post"))
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let echo: Value = r.json().await.unwrap();
        assert_eq!(echo["body"], "payload");
    }
    gw.register(&[("echo-service", &[dead])]);
    let r = c.get(gw.url("/echo/1")).send().await.unwrap();
    assert_eq!(r.status(), 503, "every instance refused");
    gw.stop().await;
}

#[tokio::test]
async fn broken_slow_and_refused_backends_map_to_502_504_and_502() {
    let slow = Backend::start("slow", 0).await;
    // Held but not listening: connections to it are refused.
    let dead_port = testkit::ReservedPort::new();
    let dead = dead_port.port();
    // A backend that accepts, reads the request and hangs up without answering.
    let broken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let broken_addr = broken.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt as _;
        while let Ok((mut s, _)) = broken.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            drop(s);
        }
    });
    let mut props = route(0, "slow", &slow.base(), &["Path=/slow/**"]);
    // The error bodies below are read for their message.
    props.push(("server.error.include-message".into(), "always".into()));
    props.push((
        "spring.cloud.gateway.routes[0].metadata.response-timeout".into(),
        "200".into(),
    ));
    props.extend(route(
        1,
        "dead",
        &format!("http://127.0.0.1:{dead}"),
        &["Path=/dead/**"],
    ));
    props.extend(route(
        2,
        "broken",
        &format!("http://{broken_addr}"),
        &["Path=/broken/**"],
    ));
    let gw = Gateway::start(&as_pairs(&props)).await;
    let c = client();
    assert_eq!(
        c.get(gw.url("/slow/5000")).send().await.unwrap().status(),
        504
    );
    assert_eq!(c.get(gw.url("/slow/1")).send().await.unwrap().status(), 200);
    let refused = c.get(gw.url("/dead/x")).send().await.unwrap();
    assert_eq!(refused.status(), 502);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("refused"),
        "{body}"
    );
    assert_eq!(
        c.get(gw.url("/broken/x")).send().await.unwrap().status(),
        502
    );
    gw.stop().await;
}
