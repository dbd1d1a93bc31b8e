//! Every route filter, through a real proxied exchange.

use serde_json::Value;

use testkit::as_pairs;

use crate::helpers::{Backend, Gateway, client};

/// One route to `uri` on `path` with these filters (shortcut strings).
fn route_with(i: usize, uri: &str, path: &str, filters: &[&str]) -> Vec<(String, String)> {
    let mut props = vec![
        (
            format!("spring.cloud.gateway.routes[{i}].id"),
            format!("r{i}"),
        ),
        (
            format!("spring.cloud.gateway.routes[{i}].uri"),
            uri.to_owned(),
        ),
        (
            format!("spring.cloud.gateway.routes[{i}].predicates[0]"),
            format!("Path={path}"),
        ),
    ];
    for (j, f) in filters.iter().enumerate() {
        props.push((
            format!("spring.cloud.gateway.routes[{i}].filters[{j}]"),
            (*f).to_owned(),
        ));
    }
    props
}

#[tokio::test]
async fn path_filters_rewrite_what_the_backend_sees() {
    let b = Backend::start("b", 0).await;
    let mut props = Vec::new();
    props.extend(route_with(0, &b.base(), "/strip/**", &["StripPrefix=2"]));
    props.extend(route_with(
        1,
        &b.base(),
        "/hello/**",
        &["PrefixPath=/mypath"],
    ));
    props.extend(route_with(
        2,
        &b.base(),
        "/red/**",
        &["RewritePath=/red/?(?<segment>.*), /$\\{segment}"],
    ));
    props.extend(route_with(
        3,
        &b.base(),
        "/api/products/{id}",
        &["SetPath=/products/{id}"],
    ));
    let gw = Gateway::start(&as_pairs(&props)).await;
    let c = client();
    let path = |url: String| {
        let c = c.clone();
        async move {
            let echo: Value = c.get(url).send().await.unwrap().json().await.unwrap();
            (
                echo["path"].as_str().unwrap().to_owned(),
                echo["headers"]["x-forwarded-prefix"][0]
                    .as_str()
                    .map(str::to_owned),
            )
        }
    };
    assert_eq!(
        path(gw.url("/strip/blue/red")).await,
        ("/red".into(), Some("/strip/blue".into()))
    );
    assert_eq!(
        path(gw.url("/hello/x")).await,
        ("/mypath/hello/x".into(), None)
    );
    assert_eq!(
        path(gw.url("/red/blue/green")).await,
        ("/blue/green".into(), Some("/red".into()))
    );
    assert_eq!(
        path(gw.url("/api/products/7")).await,
        ("/products/7".into(), Some("/api".into()))
    );
    gw.stop().await;
}

#[tokio::test]
async fn header_and_parameter_filters() {
    let b = Backend::start("b", 0).await;
    let props = route_with(
        0,
        &b.base(),
        "/h/{segment}",
        &[
            "AddRequestHeader=X-Request-Red, blue-{segment}",
            "SetRequestHeader=X-Replaced, new",
            "RemoveRequestHeader=X-Removed",
            "MapRequestHeader=X-From, X-To",
            "AddRequestHeadersIfNotPresent=X-Present:ignored,X-Absent:added",
            "AddRequestParameter=color, {segment}",
            "RemoveRequestParameter=drop",
            "AddResponseHeader=X-Response-Red, Blue",
            "SetResponseHeader=Content-Type, application/x-test",
            "AddResponseHeader=X-Temporary, t",
            "RemoveResponseHeader=X-Temporary",
            "RewriteResponseHeader=X-Response-Red, Bl(ue), gr$1",
            "SecureHeaders",
            "PreserveHostHeader",
        ],
    );
    let gw = Gateway::start(&as_pairs(&props)).await;
    let r = client()
        .get(gw.url("/h/sky?keep=1&drop=2"))
        .header("X-Replaced", "old")
        .header("X-Removed", "x")
        .header("X-From", "mapped")
        .header("X-Present", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    assert_eq!(
        headers["x-response-red"], "grue",
        "Blue rewritten by Bl(ue) -> gr$1"
    );
    assert_eq!(headers["content-type"], "application/x-test");
    assert!(!headers.contains_key("x-temporary"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["strict-transport-security"], "max-age=631138519");
    let echo: Value = r.json().await.unwrap();
    let h = &echo["headers"];
    assert_eq!(h["x-request-red"][0], "blue-sky");
    assert_eq!(h["x-replaced"][0], "new");
    assert!(h.get("x-removed").is_none());
    assert_eq!(h["x-to"][0], "mapped");
    assert_eq!(h["x-present"][0], "kept");
    assert_eq!(h["x-absent"][0], "added");
    assert_eq!(
        h["host"][0],
        gw.addr.to_string(),
        "PreserveHostHeader sends the client's Host"
    );
    assert_eq!(echo["query"], "keep=1&color=sky");
    gw.stop().await;
}

#[tokio::test]
async fn status_redirect_dedupe_size_and_default_filters() {
    let b = Backend::start("b", 0).await;
    let mut props = Vec::new();
    props.extend(route_with(0, &b.base(), "/teapot/**", &["SetStatus=418"]));
    props.extend(route_with(
        1,
        "no://op",
        "/old/**",
        &["RedirectTo=302, https://example.org/new, true"],
    ));
    props.extend(route_with(
        2,
        &b.base(),
        "/dup/**",
        &["DedupeResponseHeader=Access-Control-Allow-Origin, RETAIN_FIRST"],
    ));
    props.extend(route_with(
        3,
        &b.base(),
        "/upload/**",
        &["RequestSize=100B"],
    ));
    props.extend(route_with(
        4,
        &b.base(),
        "/headers/**",
        &["RequestHeaderSize=200B"],
    ));
    props.push((
        "spring.cloud.gateway.default-filters[0]".into(),
        "AddResponseHeader=X-Gateway, factura".into(),
    ));
    let gw = Gateway::start(&as_pairs(&props)).await;
    let c = client();
    let teapot = c.get(gw.url("/teapot/x")).send().await.unwrap();
    assert_eq!(teapot.status(), 418);
    assert_eq!(
        teapot.headers()["x-gateway"],
        "factura",
        "default filters apply to every route"
    );
    let redirect = c.get(gw.url("/old/page?a=1")).send().await.unwrap();
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        redirect.headers()["location"],
        "https://example.org/new?a=1"
    );
    let dup = c.get(gw.url("/dup")).send().await.unwrap();
    assert_eq!(
        dup.headers()
            .get_all("access-control-allow-origin")
            .iter()
            .count(),
        1
    );
    let too_big = c
        .post(gw.url("/upload/x"))
        .body(vec![b'a'; 101])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    assert!(
        too_big.headers()["errormessage"]
            .to_str()
            .unwrap()
            .contains("permissible limit")
    );
    assert_eq!(
        b.calls.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "refused before the backend"
    );
    let fits = c
        .post(gw.url("/upload/x"))
        .body(vec![b'a'; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(fits.status(), 200);
    let long = c
        .get(gw.url("/headers/x"))
        .header("X-Long", "v".repeat(300))
        .send()
        .await
        .unwrap();
    assert_eq!(long.status(), 431);
    assert_eq!(
        c.get(gw.url("/headers/x")).send().await.unwrap().status(),
        200
    );
    gw.stop().await;
}

#[tokio::test]
async fn global_cors_answers_preflights_and_refuses_other_origins() {
    let b = Backend::start("b", 0).await;
    let mut props = route_with(0, &b.base(), "/c/**", &[]);
    let base = "spring.cloud.gateway.globalcors.cors-configurations.[/**]";
    props.push((
        format!("{base}.allowed-origins"),
        "https://app.example".into(),
    ));
    props.push((format!("{base}.allowed-methods[0]"), "GET".into()));
    props.push((format!("{base}.allowed-methods[1]"), "POST".into()));
    props.push((format!("{base}.allowed-headers"), "*".into()));
    props.push((format!("{base}.max-age"), "3600".into()));
    let gw = Gateway::start(&as_pairs(&props)).await;
    let c = client();
    let preflight = c
        .request(reqwest::Method::OPTIONS, gw.url("/c/1"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "X-Custom")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        preflight.headers()["access-control-allow-methods"],
        "GET,POST"
    );
    assert_eq!(preflight.headers()["access-control-max-age"], "3600");
    assert_eq!(
        b.calls.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "preflights stay in the gateway"
    );
    let denied_method = c
        .request(reqwest::Method::OPTIONS, gw.url("/c/1"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(denied_method.status(), 403);
    let actual = c
        .get(gw.url("/c/1"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(actual.status(), 200);
    assert_eq!(
        actual.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = c
        .get(gw.url("/c/1"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    gw.stop().await;
}
