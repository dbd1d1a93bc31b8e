//! A fleet started all at once, as compose or Kubernetes start it: all six in the same instant,
//! and the worst case of it, billing and the gateway up (and already answering) before
//! customer-service and inventory-service have registered.
//! With Spring's default registry fetch interval (30 s) their registry copies would not know the
//! late services for half a minute; the discovery client fetches at once when asked for an
//! application it does not know, and "no instance yet" does not open billing's breakers.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use testkit::{TestService, as_pairs, eventually, registered_with};

#[tokio::test]
async fn a_fleet_started_together_serves_bills_within_5_s_of_every_service_being_healthy() {
    let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
    let mut props = registered_with(discovery.addr);
    // Spring's default: the registry copy refreshed every 30 s, so only an on-demand fetch
    // can find a service that registered after the first one.
    props.push((
        "eureka.client.registry-fetch-interval-seconds".into(),
        "30".into(),
    ));
    let props = as_pairs(&props);
    let (billing, gateway) = tokio::join!(
        TestService::start(&billing_service::SERVICE, &props),
        TestService::start(&gateway_service::SERVICE, &props),
    );
    let http = reqwest::Client::new();
    let order = json!({ "customerId": 1, "productItems": [{ "productId": 1, "quantity": 1 }] });
    // Clients that come too early: more calls than billing's breakers need to judge (5).
    for _ in 0..6 {
        let response = http
            .post(gateway.url("/bills"))
            .json(&order)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    let (customers, inventory) = tokio::join!(
        TestService::start(&customer_service::SERVICE, &props),
        TestService::start(&inventory_service::SERVICE, &props),
    );
    let every = [&discovery, &billing, &gateway, &customers, &inventory];
    eventually("every service healthy", Duration::from_secs(20), || async {
        for service in every {
            let health = http
                .get(service.url("/actuator/health"))
                .send()
                .await
                .ok()?;
            if health.status() != StatusCode::OK {
                return None;
            }
        }
        Some(())
    })
    .await;
    first_bill_within_5_s(&http, &gateway, &order, "").await;
    for service in [gateway, billing, customers, inventory, discovery] {
        service.stop().await;
    }
}

#[tokio::test]
async fn five_services_started_at_the_same_instant_serve_bills_within_5_s_of_all_healthy() {
    // discovery-service's socket is bound first so that everyone can be told where it is;
    // then all six start at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut props = registered_with(listener.local_addr().unwrap());
    props.push((
        "eureka.client.registry-fetch-interval-seconds".into(),
        "30".into(),
    ));
    let props = as_pairs(&props);
    let (discovery, customers, inventory, billing, gateway) = tokio::join!(
        TestService::start_on(listener, &discovery_service::SERVICE, &[]),
        TestService::start(&customer_service::SERVICE, &props),
        TestService::start(&inventory_service::SERVICE, &props),
        TestService::start(&billing_service::SERVICE, &props),
        TestService::start(&gateway_service::SERVICE, &props),
    );
    let http = reqwest::Client::new();
    let every = [&discovery, &customers, &inventory, &billing, &gateway];
    eventually("every service healthy", Duration::from_secs(20), || async {
        for service in every {
            let health = http
                .get(service.url("/actuator/health"))
                .send()
                .await
                .ok()?;
            if health.status() != StatusCode::OK {
                return None;
            }
        }
        Some(())
    })
    .await;
    first_bill_within_5_s(
        &http,
        &gateway,
        &json!({ "customerId": 1, "productItems": [{ "productId": 1, "quantity": 1 }] }),
        "simultaneous start: ",
    )
    .await;
    for service in [gateway, billing, customers, inventory, discovery] {
        service.stop().await;
    }
}

/// Forwards TCP connections to `target`, counting the requests whose first line starts with
/// `request_line` (e.g. `GET /eureka/apps/delta`).
async fn counting_forwarder(
    target: std::net::SocketAddr,
    request_line: &'static str,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::{Arc, atomic::AtomicUsize};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upstream = async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = client_read.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]);
                        let requests = text
                            .split("\r\n")
                            .filter(|line| line.starts_with(request_line))
                            .count();
                        counted.fetch_add(requests, std::sync::atomic::Ordering::Relaxed);
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = server_write.shutdown().await;
                };
                let downstream = async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    let _ = client_write.shutdown().await;
                };
                tokio::join!(upstream, downstream);
            });
        }
    });
    (addr, count)
}

#[tokio::test]
async fn lookups_of_an_unknown_service_fetch_the_registry_at_most_once_a_second() {
    let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
    let (forwarder, deltas) = counting_forwarder(discovery.addr, "GET /eureka/apps/delta").await;
    let mut props = registered_with(forwarder);
    props.push((
        "eureka.client.registry-fetch-interval-seconds".into(),
        "30".into(),
    ));
    let customers = TestService::start(&customer_service::SERVICE, &as_pairs(&props)).await;
    let balancer = platform::balancer::LoadBalancer::new(customers.registry.clone());
    eventually(
        "customer-service finds itself in the registry",
        Duration::from_secs(10),
        || async {
            (!balancer
                .candidates_or_fetch("CUSTOMER-SERVICE")
                .await
                .is_empty())
            .then_some(())
        },
    )
    .await;
    let before = deltas.load(std::sync::atomic::Ordering::Relaxed);
    let started = tokio::time::Instant::now();
    // 20 callers, each asking 10 times for a service nobody registered, for about 3 s.
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let balancer = balancer.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    assert!(balancer.candidates_or_fetch("NOBODY").await.is_empty());
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    let elapsed = started.elapsed();
    let fetches = deltas.load(std::sync::atomic::Ordering::Relaxed) - before;
    println!("200 lookups in {elapsed:?} cost {fetches} registry fetches");
    assert!(fetches >= 1, "the lookups asked for fetches");
    let allowed = elapsed.as_secs() as usize + 2;
    assert!(
        fetches <= allowed,
        "at most one on-demand fetch a second: {fetches} in {elapsed:?}"
    );
    customers.stop().await;
    discovery.stop().await;
}

/// `POST /bills` through the gateway is accepted within 5 s of every service being healthy
/// (now); prints how long it took.
async fn first_bill_within_5_s(
    http: &reqwest::Client,
    gateway: &TestService,
    order: &serde_json::Value,
    label: &str,
) {
    let healthy_at = tokio::time::Instant::now();
    eventually(
        "POST /bills through the gateway accepted",
        Duration::from_secs(5),
        || async {
            let response = http
                .post(gateway.url("/bills"))
                .json(order)
                .send()
                .await
                .ok()?;
            (response.status() == StatusCode::CREATED).then_some(())
        },
    )
    .await;
    println!(
        "{label}first bill accepted {:?} after every service was healthy",
        healthy_at.elapsed()
    );
}
