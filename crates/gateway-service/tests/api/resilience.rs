//! Retry, CircuitBreaker with fallback, RequestRateLimiter in memory and in Redis, and a
//! backend killed under load.

use std::{sync::atomic::Ordering, time::Duration};

use serde_json::Value;

use testkit::as_pairs;

use crate::helpers::{Backend, Gateway, client};

fn p(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

#[tokio::test]
async fn retry_repeats_failed_gets_but_not_posts() {
    let flaky = Backend::start("flaky", 2).await;
    let props = vec![
        p("spring.cloud.gateway.routes[0].id", "flaky"),
        p("spring.cloud.gateway.routes[0].uri", &flaky.base()),
        p(
            "spring.cloud.gateway.routes[0].predicates[0]",
            "Path=/flaky",
        ),
        p(
            "spring.cloud.gateway.routes[0].filters[0]",
            "Retry=3,INTERNAL_SERVER_ERROR,GET,1ms,5ms,2,true",
        ),
    ];
    let mut props = props;
    props.push(p(
        crate::helpers::ACTUATOR_OPEN.0,
        crate::helpers::ACTUATOR_OPEN.1,
    ));
    let gw = Gateway::start(&as_pairs(&props)).await;
    let c = client();
    let r = c.get(gw.url("/flaky")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");
    assert_eq!(
        flaky.calls.load(Ordering::Relaxed),
        3,
        "two failures, then success"
    );

    let again = Backend::start("flaky", 1).await;
    gw.set("spring.cloud.gateway.routes[0].uri", &again.base());
    testkit::eventually("the new uri in force", Duration::from_secs(10), || {
        let c = c.clone();
        let url = gw.url("/actuator/gateway/routes/flaky");
        let want = again.base();
        async move {
            let v: Value = c.get(url).send().await.ok()?.json().await.ok()?;
            (v["uri"] == want.as_str()).then_some(())
        }
    })
    .await;
    let post = c.post(gw.url("/flaky")).body("x").send().await.unwrap();
    assert_eq!(post.status(), 500, "POST is not retried by default");
    assert_eq!(again.calls.load(Ordering::Relaxed), 1);
    gw.stop().await;
}

#[tokio::test]
async fn circuit_breaker_falls_back_then_opens() {
    let fallback = Backend::start("fallback", 0).await;
    // Held but not listening: connections to it are refused.
    let dead_port = testkit::ReservedPort::new();
    let dead = dead_port.port();
    let cb = "resilience4j.circuitbreaker.instances.inventoryCB";
    let props = vec![
        p("spring.cloud.gateway.routes[0].id", "inventory"),
        p(
            "spring.cloud.gateway.routes[0].uri",
            &format!("http://127.0.0.1:{dead}"),
        ),
        p(
            "spring.cloud.gateway.routes[0].predicates[0]",
            "Path=/inventory/**",
        ),
        p(
            "spring.cloud.gateway.routes[0].filters[0].name",
            "CircuitBreaker",
        ),
        p(
            "spring.cloud.gateway.routes[0].filters[0].args.name",
            "inventoryCB",
        ),
        p(
            "spring.cloud.gateway.routes[0].filters[0].args.fallbackUri",
            "forward:/fallback/inventory",
        ),
        p("spring.cloud.gateway.routes[1].id", "fallback"),
        p("spring.cloud.gateway.routes[1].uri", &fallback.base()),
        p(
            "spring.cloud.gateway.routes[1].predicates[0]",
            "Path=/fallback/**",
        ),
        p("spring.cloud.gateway.routes[2].id", "guarded"),
        p(
            "spring.cloud.gateway.routes[2].uri",
            &format!("http://127.0.0.1:{dead}"),
        ),
        p(
            "spring.cloud.gateway.routes[2].predicates[0]",
            "Path=/guarded/**",
        ),
        p(
            "spring.cloud.gateway.routes[2].filters[0]",
            "CircuitBreaker=guardedCB",
        ),
        p(&format!("{cb}.sliding-window-size"), "2"),
        p(&format!("{cb}.minimum-number-of-calls"), "2"),
        p(
            "resilience4j.circuitbreaker.instances.guardedCB.sliding-window-size",
            "2",
        ),
        p(
            "resilience4j.circuitbreaker.instances.guardedCB.minimum-number-of-calls",
            "2",
        ),
        // The error bodies below are read for their message.
        p("server.error.include-message", "always"),
    ];
    let gw = Gateway::start(&as_pairs(&props)).await;
    let c = client();
    for _ in 0..3 {
        let r = c.get(gw.url("/inventory/products")).send().await.unwrap();
        assert_eq!(r.status(), 200, "answered by the fallback");
        let echo: Value = r.json().await.unwrap();
        assert_eq!(echo["backend"], "fallback");
        assert_eq!(echo["path"], "/fallback/inventory");
    }
    let first = c.get(gw.url("/guarded/x")).send().await.unwrap().status();
    assert_eq!(first, 502, "a failure without fallback passes through");
    let _ = c.get(gw.url("/guarded/x")).send().await.unwrap();
    let open = c.get(gw.url("/guarded/x")).send().await.unwrap();
    assert_eq!(open.status(), 503, "the open breaker refuses at once");
    let body: Value = open.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("guardedCB"));
    gw.stop().await;
}

fn limited_route(id: &str, uri: &str, redis: bool) -> Vec<(String, String)> {
    let mut props = vec![
        p("spring.cloud.gateway.routes[0].id", id),
        p("spring.cloud.gateway.routes[0].uri", uri),
        p(
            "spring.cloud.gateway.routes[0].predicates[0]",
            "Path=/limited/**",
        ),
        p(
            "spring.cloud.gateway.routes[0].filters[0].name",
            "RequestRateLimiter",
        ),
        p(
            "spring.cloud.gateway.routes[0].filters[0].args.redis-rate-limiter.replenishRate",
            "1",
        ),
        p(
            "spring.cloud.gateway.routes[0].filters[0].args.redis-rate-limiter.burstCapacity",
            "3",
        ),
    ];
    if redis {
        props.push(p("spring.data.redis.host", "127.0.0.1"));
        props.push(p("spring.data.redis.port", "6379"));
    }
    props
}

async fn statuses(url: &str, n: usize) -> Vec<u16> {
    let c = client();
    let mut out = Vec::new();
    for _ in 0..n {
        let r = c.get(url).send().await.unwrap();
        out.push(r.status().as_u16());
    }
    out
}

#[tokio::test]
async fn rate_limiter_in_memory_answers_429_with_headers() {
    let b = Backend::start("b", 0).await;
    let gw = Gateway::start(&as_pairs(&limited_route("limited", &b.base(), false))).await;
    let c = client();
    let first = c.get(gw.url("/limited/x")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-remaining"], "2");
    assert_eq!(first.headers()["x-ratelimit-burst-capacity"], "3");
    assert_eq!(first.headers()["x-ratelimit-replenish-rate"], "1");
    assert_eq!(first.headers()["x-ratelimit-requested-tokens"], "1");
    // The bucket refills at 1/s, so at most one more token can appear during this burst.
    let rest = statuses(&gw.url("/limited/x"), 5).await;
    assert!(rest.contains(&429), "{rest:?}");
    assert!(rest.iter().filter(|s| **s == 200).count() <= 3, "{rest:?}");
    gw.stop().await;
}

#[tokio::test]
async fn rate_limiter_in_redis_is_shared_by_two_gateways() {
    let b = Backend::start("b", 0).await;
    let id = format!("limited-{}-{}", std::process::id(), b.port());
    let props = limited_route(&id, &b.base(), true);
    let one = Gateway::start(&as_pairs(&props)).await;
    let two = Gateway::start(&as_pairs(&props)).await;
    let c = client();
    let first = c.get(one.url("/limited/x")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.headers()["x-ratelimit-remaining"],
        "2",
        "Redis answered (not fail-open -1)"
    );
    let mut all = statuses(&two.url("/limited/x"), 3).await;
    all.extend(statuses(&one.url("/limited/x"), 3).await);
    let passed = all.iter().filter(|s| **s == 200).count();
    assert!(all.contains(&429), "{all:?}");
    assert!(
        passed <= 4,
        "one bucket of 3 (+1/s) across both gateways: {all:?}"
    );
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn a_backend_killed_under_load_costs_only_in_flight_requests() {
    let one = Backend::start("one", 0).await;
    let two = Backend::start("two", 0).await;
    let props = vec![
        p("spring.cloud.gateway.routes[0].id", "load"),
        p("spring.cloud.gateway.routes[0].uri", "lb://LOAD-SERVICE"),
        p(
            "spring.cloud.gateway.routes[0].predicates[0]",
            "Path=/load/**",
        ),
    ];
    let gw = Gateway::start(&as_pairs(&props)).await;
    gw.register(&[("load-service", &[one.port(), two.port()])]);
    let url = gw.url("/load/x");
    let c = client();
    let workers = 8;
    let per_worker = 150;
    let kill_after = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut handles = Vec::new();
    for w in 0..workers {
        let (c, url, kill) = (c.clone(), url.clone(), kill_after.clone());
        handles.push(tokio::spawn(async move {
            let mut codes = Vec::with_capacity(per_worker);
            for i in 0..per_worker {
                if w == 0 && i == per_worker / 3 {
                    kill.notify_one();
                }
                let code = match c.get(&url).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                codes.push(code);
            }
            codes
        }));
    }
    kill_after.notified().await;
    two.kill().await;
    let mut codes = Vec::new();
    for h in handles {
        codes.extend(h.await.unwrap());
    }
    let failed: Vec<u16> = codes.iter().copied().filter(|c| *c != 200).collect();
    eprintln!(
        "backend killed under load: {} requests, {} failed ({:.2}%), statuses seen {:?}",
        codes.len(),
        failed.len(),
        failed.len() as f64 * 100.0 / codes.len() as f64,
        failed
    );
    assert!(
        failed.iter().all(|c| [502, 503].contains(c)),
        "clients only saw gateway errors: {failed:?}"
    );
    assert!(
        failed.len() <= workers,
        "at most the requests in flight on the killed instance"
    );
    for _ in 0..10 {
        assert_eq!(
            c.get(&url).send().await.unwrap().status(),
            200,
            "the survivor takes everything"
        );
    }
    gw.stop().await;
}
