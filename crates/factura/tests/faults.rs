//! Faults of the running system, measured on what a client of the gateway sees: instances
//! killed under load and restarted by `factura up`, a service that keeps failing, discovery and
//! config-service going away and coming back.

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};
use reqwest::StatusCode;
use serde_json::Value;
use support::{pid_of_instance, start_up, wait_for_line};
use testkit::eventually;

async fn customer_instance_ports(http: &reqwest::Client, discovery: &str) -> Vec<u16> {
    let Ok(response) = http
        .get(format!("{discovery}/eureka/apps/CUSTOMER-SERVICE"))
        .header("accept", "application/json")
        .send()
        .await
    else {
        return Vec::new();
    };
    let body: Value = response.json().await.unwrap_or(Value::Null);
    body["application"]["instance"]
        .as_array()
        .map(|instances| {
            instances
                .iter()
                .filter_map(|i| i["port"]["$"].as_u64())
                .map(|p| p as u16)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn sigkill_of_one_of_two_instances_under_load_through_the_gateway() {
    let offset = 14_000;
    let data = tempfile::tempdir().unwrap();
    let lease_seconds = 3;
    let args: Vec<String> = [
        "--scale",
        "customer-service=2",
        "--",
        "--eureka.client.registry-fetch-interval-seconds=0.5",
        "--eureka.instance.lease-renewal-interval-in-seconds=1",
        "--eureka.instance.lease-expiration-duration-in-seconds=3",
        "--eureka.server.eviction-interval-timer-in-ms=1000",
        "--eureka.server.response-cache-update-interval-ms=500",
    ]
    .map(str::to_owned)
    .to_vec();
    let (up, lines) = start_up(offset, data.path(), &args);
    wait_for_line(&lines, "Press Ctrl-C to stop", Duration::from_secs(120));
    let http = reqwest::Client::new();
    let gateway = format!("http://127.0.0.1:{}", 9999 + offset);
    let discovery = support::discovery_url(data.path(), 8761 + offset);
    let ports = eventually(
        "two customer instances registered",
        Duration::from_secs(20),
        || async {
            let ports = customer_instance_ports(&http, &discovery).await;
            (ports.len() == 2).then_some(ports)
        },
    )
    .await;
    let victim = *ports
        .iter()
        .find(|p| **p != 8081 + offset)
        .expect("the extra instance");
    let pid =
        pid_of_instance(up.id(), "customer-service", 0).expect("the extra instance's process");
    eventually(
        "the gateway routes to customers",
        Duration::from_secs(20),
        || async {
            let response = http
                .get(format!("{gateway}/customers/1"))
                .send()
                .await
                .ok()?;
            (response.status() == StatusCode::OK).then_some(())
        },
    )
    .await;

    // Steady load: four clients in a loop until told to stop.
    let running = Arc::new(AtomicBool::new(true));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (http, url, running, ok, failed) = (
                http.clone(),
                format!("{gateway}/customers/1"),
                running.clone(),
                ok.clone(),
                failed.clone(),
            );
            tokio::spawn(async move {
                while running.load(Ordering::Relaxed) {
                    match http.get(&url).timeout(Duration::from_secs(5)).send().await {
                        Ok(r) if r.status() == StatusCode::OK => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let killed_at = tokio::time::Instant::now();

    // The documented bound: lease duration + eviction interval + registry cache + one fetch.
    let bound = Duration::from_secs(lease_seconds)
        + Duration::from_millis(1000 + 500 + 500)
        + Duration::from_secs(3);
    eventually("the dead instance leaves the registry", bound, || async {
        let ports = customer_instance_ports(&http, &discovery).await;
        (!ports.contains(&victim)).then_some(())
    })
    .await;
    let gone_after = killed_at.elapsed();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!(
        "under load: {ok} requests answered, {failed} failed; dead instance gone from the registry after {gone_after:?}"
    );
    assert!(ok > 100, "the load ran ({ok} answered)");
    assert!(
        failed <= 5,
        "at most a handful of failures while the lease runs out, saw {failed} of {}",
        ok + failed
    );
    assert_eq!(
        http.get(format!("{gateway}/customers/1"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // The supervisor reported the death and started the extra instance again, on a port of its own.
    wait_for_line(&lines, "customer-service is back", Duration::from_secs(60));
    eventually(
        "two customer instances registered again",
        Duration::from_secs(20),
        || async { (customer_instance_ports(&http, &discovery).await.len() == 2).then_some(()) },
    )
    .await;

    // The only instance of a service crashes: it is restarted, and the others serve meanwhile.
    let up_pid = up.id();
    let pid =
        pid_of_instance(up_pid, "inventory-service", 8082 + offset).expect("inventory's process");
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let output = wait_for_line(&lines, "inventory-service is back", Duration::from_secs(60));
    let text = output.join("\n");
    assert!(
        text.contains("inventory-service on port") && text.contains("exited unexpectedly"),
        "{text}"
    );
    assert!(
        text.contains("restarting inventory-service in 1 s"),
        "{text}"
    );
    assert_eq!(
        http.get(format!("{gateway}/customers/1"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "the other services kept serving"
    );
    eventually(
        "products served again through the gateway",
        Duration::from_secs(20),
        || async {
            let response = http
                .get(format!("{gateway}/products/1"))
                .send()
                .await
                .ok()?;
            (response.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
    assert!(
        nix::sys::signal::kill(Pid::from_raw(up_pid as i32), None).is_ok(),
        "factura up is still running"
    );
    let status = up.terminate().await;
    assert!(status.success(), "a clean stop after recoveries: {status}");
}

#[tokio::test]
async fn a_frozen_service_is_a_504_and_one_that_keeps_failing_stops_the_system_saying_why() {
    let offset = 15_000;
    let data = tempfile::tempdir().unwrap();
    let args = [
        "--max-restarts",
        "2",
        "--",
        "--spring.cloud.gateway.httpclient.response-timeout=2s",
    ]
    .map(str::to_owned)
    .to_vec();
    let (up, lines) = start_up(offset, data.path(), &args);
    wait_for_line(&lines, "Press Ctrl-C to stop", Duration::from_secs(120));
    let port = 8081 + offset;
    let pid = pid_of_instance(up.id(), "customer-service", port).expect("customer's process");
    let http = reqwest::Client::new();
    let customer = format!("http://127.0.0.1:{}/customers/1", 9999 + offset);
    eventually(
        "customers through the gateway",
        Duration::from_secs(20),
        || async {
            let response = http.get(&customer).send().await.ok()?;
            (response.status() == StatusCode::OK).then_some(())
        },
    )
    .await;

    // Frozen (SIGSTOP): the gateway answers 504 after its 2 s response timeout, not never.
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
    let started = std::time::Instant::now();
    let frozen = http
        .get(&customer)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("answered within 10 s");
    assert_eq!(frozen.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGCONT).unwrap();
    assert_eq!(
        http.get(&customer).send().await.unwrap().status(),
        StatusCode::OK
    );

    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    // Its port taken by someone else: every restart fails.
    let blocker = eventually(
        "the dead instance's port is free",
        Duration::from_secs(5),
        || async { std::net::TcpListener::bind(("0.0.0.0", port)).ok() },
    )
    .await;
    // The reason comes last, after everything stopped (on stderr: the stdout lines before it
    // may still be on their way, so everything left is read once the process is gone).
    let mut output = wait_for_line(&lines, "keeps failing", Duration::from_secs(60));
    let status = up.wait().await;
    assert!(!status.success(), "factura up fails: {status}");
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) {
        output.push(line);
    }
    let text = output.join("\n");
    assert!(
        text.contains("restarting customer-service in 1 s"),
        "{text}"
    );
    assert!(
        text.contains("restarting customer-service in 2 s"),
        "{text}"
    );
    assert!(
        text.contains("cannot listen on"),
        "the restarts' own words: {text}"
    );
    assert!(
        text.contains("customer-service keeps failing") && text.contains("--max-restarts 2"),
        "{text}"
    );
    assert!(text.contains("all services stopped"), "{text}");
    assert!(support::port_is_free(9999 + offset), "the rest stopped");
    drop(blocker);
}

async fn registered_apps(http: &reqwest::Client, discovery_port: u16) -> Vec<String> {
    let Ok(response) = http
        .get(format!("http://127.0.0.1:{discovery_port}/eureka/apps"))
        .header("accept", "application/json")
        .send()
        .await
    else {
        return Vec::new();
    };
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let mut apps: Vec<String> = body["applications"]["application"]
        .as_array()
        .map(|apps| {
            apps.iter()
                .filter_map(|a| a["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    apps.sort();
    apps
}

#[tokio::test]
async fn a_restarted_discovery_service_is_repopulated_and_routing_never_stops() {
    let discovery = testkit::TestService::start_killable(&discovery_service::SERVICE, &[]).await;
    // The new discovery-service comes back where the killed one listened.
    let port = discovery.addr.port();
    let on_port = [("server.port", port.to_string())];
    let discovery_props: Vec<(&str, &str)> =
        on_port.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let props = testkit::registered_with(([127, 0, 0, 1], port).into());
    let customers =
        testkit::TestService::start(&customer_service::SERVICE, &testkit::as_pairs(&props)).await;
    let gateway =
        testkit::TestService::start(&gateway_service::SERVICE, &testkit::as_pairs(&props)).await;
    let http = reqwest::Client::new();
    let through_gateway = gateway.url("/customers/1");
    eventually(
        "the gateway routes to customers",
        Duration::from_secs(20),
        || async {
            let response = http.get(&through_gateway).send().await.ok()?;
            (response.status() == StatusCode::OK).then_some(())
        },
    )
    .await;

    discovery.kill();
    for _ in 0..20 {
        let response = http.get(&through_gateway).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "routing continues from the cached registry"
        );
    }

    // A new, empty discovery-service on the same address. Until every service has re-registered,
    // the gateway must keep routing from what it knew.
    let discovery =
        testkit::TestService::start(&discovery_service::SERVICE, &discovery_props).await;
    let restarted = tokio::time::Instant::now();
    let mut failures = 0;
    loop {
        let response = http.get(&through_gateway).send().await.unwrap();
        if response.status() != StatusCode::OK {
            failures += 1;
        }
        let apps = registered_apps(&http, port).await;
        if apps == ["CUSTOMER-SERVICE", "GATEWAY-SERVICE"] {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(20),
            "services did not re-register: {apps:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..20 {
        if http.get(&through_gateway).send().await.unwrap().status() != StatusCode::OK {
            failures += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        failures, 0,
        "requests through the gateway failed while discovery came back"
    );
    gateway.stop().await;
    customers.stop().await;
    discovery.stop().await;
}

#[tokio::test]
async fn a_service_started_while_config_service_is_down_picks_up_central_settings_later() {
    // config-service's address, reserved (bound, not listening: connections are refused)
    // until it starts there.
    let reserved = testkit::ReservedPort::new();
    let config_port = reserved.port();
    let import = format!("optional:configserver:http://127.0.0.1:{config_port}");
    let customers = testkit::TestService::start(
        &customer_service::SERVICE,
        &[
            ("spring.cloud.config.enabled", "true"),
            ("spring.config.import", import.as_str()),
            ("spring.cloud.config.watch.delay", "500"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let configtest = customers.url("/configtest1");
    let before: Value = http
        .get(&configtest)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(before["p1"], 10, "started on defaults: {before}");

    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config-repo");
    let repo = repo.display().to_string();
    let listener = reserved.listen();
    let config = testkit::TestService::start_on(
        listener,
        &config_service::SERVICE,
        &[(
            "spring.cloud.config.server.native.search-locations",
            repo.as_str(),
        )],
    )
    .await;
    eventually(
        "the central settings arrive",
        Duration::from_secs(20),
        || async {
            let now: Value = http.get(&configtest).send().await.ok()?.json().await.ok()?;
            (now["p1"] == 10).then_some(())
        },
    )
    .await;
    customers.stop().await;
    config.stop().await;
}
