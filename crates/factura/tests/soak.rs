//! A soak test bounded in time: `factura up` (two customer and two inventory instances, one
//! billing) under mixed traffic through the gateway — reads, customer creations, bill
//! creations, full invoices — while an instance is SIGKILLed every `FACTURA_SOAK_KILL_EVERY`
//! seconds (default 30) and the supervisor restarts it. It runs `FACTURA_SOAK_SECONDS`
//! (default 120), then checks that every write the gateway acknowledged (201) can be read
//! back, and prints requests, errors, kills, restarts and writes checked. On PostgreSQL when
//! `TEST_DATABASE_URL` is set, else on SQLite.
//!
//! `FACTURA_SOAK_SECONDS=20 FACTURA_SOAK_KILL_EVERY=6 cargo test -p factura --test soak -- --nocapture`

mod support;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use nix::{sys::signal::Signal, unistd::Pid};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{pid_of_instance, start_up, wait_for_line};

fn seconds_from_env(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default),
    )
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    requests: AtomicUsize,
    errors: AtomicUsize,
    /// Errors by request and answer (`POST /bills 503`, `GET /fullBill/1 no answer`).
    kinds: Mutex<std::collections::BTreeMap<String, usize>>,
    /// Acknowledged writes: (the item's path, what must be read back).
    writes: Mutex<Vec<(String, Value)>>,
}

impl Tally {
    /// Counts one request; a failure is recorded with what it was.
    fn answered(
        &self,
        request: &str,
        answer: &Result<reqwest::Response, reqwest::Error>,
        ok: bool,
    ) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
            let what = match answer {
                Ok(r) => r.status().as_u16().to_string(),
                Err(_) => "no answer".into(),
            };
            *self
                .kinds
                .lock()
                .unwrap()
                .entry(format!("{request} {what}"))
                .or_default() += 1;
        }
    }
}

/// Whether the answer is `expected`.
fn is(answer: &Result<reqwest::Response, reqwest::Error>, expected: StatusCode) -> bool {
    answer.as_ref().is_ok_and(|r| r.status() == expected)
}

/// One client's loop of mixed requests until `running` turns false.
async fn client(id: usize, gateway: String, running: Arc<AtomicBool>, tally: Arc<Tally>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut n = 0usize;
    while running.load(Ordering::Relaxed) {
        n += 1;
        match n % 5 {
            0 => {
                // A customer, with an e-mail no other write uses.
                let email = format!("soak-{id}-{n}@mail.com");
                let body = json!({ "name": format!("Soak {id} {n}"), "email": email });
                let created = http
                    .post(format!("{gateway}/customers"))
                    .json(&body)
                    .send()
                    .await;
                let ok = is(&created, StatusCode::CREATED);
                tally.answered("POST /customers", &created, ok);
                if let (true, Ok(r)) = (ok, created) {
                    let created: Value = r.json().await.unwrap_or(Value::Null);
                    if let Some(id) = created["id"].as_i64() {
                        tally
                            .writes
                            .lock()
                            .unwrap()
                            .push((format!("/customers/{id}"), json!({ "email": email })));
                    }
                }
            }
            1 => {
                let order =
                    json!({ "customerId": 1, "productItems": [{ "productId": 2, "quantity": 1 }] });
                let created = http
                    .post(format!("{gateway}/bills"))
                    .json(&order)
                    .send()
                    .await;
                let ok = is(&created, StatusCode::CREATED);
                tally.answered("POST /bills", &created, ok);
                if let (true, Ok(r)) = (ok, created) {
                    let bill: Value = r.json().await.unwrap_or(Value::Null);
                    if let Some(id) = bill["id"].as_i64() {
                        tally
                            .writes
                            .lock()
                            .unwrap()
                            .push((format!("/bills/{id}"), json!({ "customerId": 1 })));
                    }
                }
            }
            2 => {
                let answer = http.get(format!("{gateway}/fullBill/1")).send().await;
                let ok = is(&answer, StatusCode::OK);
                tally.answered("GET /fullBill/1", &answer, ok);
            }
            3 => {
                let answer = http
                    .get(format!("{gateway}/products?sort=price,desc"))
                    .send()
                    .await;
                let ok = is(&answer, StatusCode::OK);
                tally.answered("GET /products?sort=price,desc", &answer, ok);
            }
            _ => {
                let answer = http.get(format!("{gateway}/customers/1")).send().await;
                let ok = is(&answer, StatusCode::OK);
                tally.answered("GET /customers/1", &answer, ok);
            }
        }
    }
}

/// The item at `url` (`None` when it is not there), waiting out transient failures.
async fn read_back(http: &reqwest::Client, url: &str) -> Option<Value> {
    testkit::eventually(
        &format!("{url} readable"),
        Duration::from_secs(30),
        || async {
            let r = http.get(url).send().await.ok()?;
            match r.status() {
                StatusCode::OK => Some(Some(r.json::<Value>().await.ok()?)),
                StatusCode::NOT_FOUND => Some(None),
                _ => None,
            }
        },
    )
    .await
}

#[tokio::test]
async fn soak_mixed_traffic_through_the_gateway_with_an_instance_killed_every_30_s() {
    let length = seconds_from_env("FACTURA_SOAK_SECONDS", 120);
    let kill_every = seconds_from_env("FACTURA_SOAK_KILL_EVERY", 30);
    let offset = 17_000;
    let data = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = [
        "--scale",
        "customer-service=2",
        "--scale",
        "inventory-service=2",
    ]
    .map(str::to_owned)
    .to_vec();
    let admin = testkit::postgres_server();
    let database = admin.as_ref().map(|url| {
        let server = url.rsplit_once('/').map_or(url.as_str(), |(s, _)| s);
        format!("{server}/soak{}", std::process::id())
    });
    if let Some(url) = &database {
        args.extend(["--database".to_owned(), url.clone()]);
    }
    args.extend(
        [
            "--",
            // Dead instances leave the registries within seconds, as in the faults tests.
            "--eureka.client.registry-fetch-interval-seconds=1",
            "--eureka.instance.lease-renewal-interval-in-seconds=1",
            "--eureka.instance.lease-expiration-duration-in-seconds=3",
            "--eureka.server.eviction-interval-timer-in-ms=1000",
            "--eureka.server.response-cache-update-interval-ms=500",
        ]
        .map(str::to_owned),
    );
    let (up, lines) = start_up(offset, data.path(), &args);
    wait_for_line(&lines, "Press Ctrl-C to stop", Duration::from_secs(120));
    // The supervisor's reports, counted as they come.
    let restarts = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));
    {
        let (restarts, log) = (restarts.clone(), log.clone());
        std::thread::spawn(move || {
            for line in lines {
                if line.contains(" is back: healthy on port ") {
                    restarts.fetch_add(1, Ordering::Relaxed);
                }
                if line.starts_with("factura:") {
                    log.lock().unwrap().push(line);
                }
            }
        });
    }
    let gateway = format!("http://127.0.0.1:{}", 9999 + offset);
    let http = reqwest::Client::new();
    testkit::eventually(
        "bills served through the gateway",
        Duration::from_secs(30),
        || async {
            let r = http
                .get(format!("{gateway}/fullBill/1"))
                .send()
                .await
                .ok()?;
            (r.status() == StatusCode::OK).then_some(())
        },
    )
    .await;

    let running = Arc::new(AtomicBool::new(true));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..4)
        .map(|id| tokio::spawn(client(id, gateway.clone(), running.clone(), tally.clone())))
        .collect();
    let started = Instant::now();
    // Customer, inventory, billing in turn; the extra instances (port 0) and the first ones
    // (well-known ports) alternately.
    let victims = [
        ("customer-service", 0),
        ("inventory-service", 8082 + offset),
        ("billing-service", 8083 + offset),
        ("customer-service", 8081 + offset),
        ("inventory-service", 0),
    ];
    let mut kills = 0usize;
    let mut next_kill = started + kill_every;
    while started.elapsed() < length {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if Instant::now() >= next_kill {
            let (service, port) = victims[kills % victims.len()];
            if let Some(pid) = pid_of_instance(up.id(), service, port) {
                nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
                kills += 1;
            }
            next_kill += kill_every;
        }
    }
    running.store(false, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let elapsed = started.elapsed();
    testkit::eventually(
        "every killed instance restarted",
        Duration::from_secs(60),
        || async { (restarts.load(Ordering::Relaxed) >= kills).then_some(()) },
    )
    .await;

    // Zero lost writes: every acknowledged write reads back, through the gateway (by eight
    // readers at once).
    let writes = tally.writes.lock().unwrap().clone();
    let mut readers = tokio::task::JoinSet::new();
    for share in writes.chunks(writes.len().div_ceil(8).max(1)) {
        let (share, http, gateway) = (share.to_vec(), http.clone(), gateway.clone());
        readers.spawn(async move {
            let mut lost = Vec::new();
            for (path, expected) in share {
                let found = read_back(&http, &format!("{gateway}{path}")).await;
                let matches = found.as_ref().is_some_and(|item| {
                    expected
                        .as_object()
                        .unwrap()
                        .iter()
                        .all(|(k, v)| item.get(k) == Some(v))
                });
                if !matches {
                    lost.push((path, found));
                }
            }
            lost
        });
    }
    let mut lost = Vec::new();
    while let Some(share) = readers.join_next().await {
        lost.extend(share.unwrap());
    }
    let requests = tally.requests.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    println!(
        "soak: {:.0} s, {requests} requests through the gateway, {errors} errors ({:.2} %), {kills} instances killed, {} restarted, {} writes checked, {} lost",
        elapsed.as_secs_f64(),
        100.0 * errors as f64 / requests.max(1) as f64,
        restarts.load(Ordering::Relaxed),
        writes.len(),
        lost.len()
    );
    println!(
        "soak errors by request and answer: {:?}",
        tally.kinds.lock().unwrap()
    );
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(requests > 100, "the traffic ran ({requests} requests)");
    assert!(!writes.is_empty(), "writes were made");
    assert!(
        kills as u64 >= length.as_secs() / kill_every.as_secs().max(1) - 1,
        "an instance was killed every {kill_every:?}: {kills}"
    );
    let log = log.lock().unwrap().join("\n");
    assert!(
        !log.contains("keeps failing"),
        "the supervisor never gave up: {log}"
    );
    let status = up.terminate().await;
    assert!(status.success(), "a clean stop: {status}");
    if let (Some(admin), Some(url)) = (admin, database) {
        let prefix = url.rsplit('/').next().unwrap();
        for service in ["customer_service", "inventory_service", "billing_service"] {
            testkit::TestDatabase::drop_named(&admin, &format!("{prefix}_{service}")).await;
        }
    }
}
