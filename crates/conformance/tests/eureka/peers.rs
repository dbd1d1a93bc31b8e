//! factura's discovery-service and a Spring Eureka server as peers of each other: a change made
//! on one (register, renew, status override and its removal, cancel) reaches the other.
//!
//! Each names the other in `eureka.client.service-url.defaultZone` at start, but only one port
//! can be known first. So factura's peer URL points at a loopback relay this test holds open
//! (bound on port 0 before anything starts) and that forwards to Spring once Spring is up; the
//! bytes between the servers are theirs, unchanged.

use std::time::Duration;

use conformance::compare::{Differential, Probe, Side};
use serde_json::Value;
use testkit::eventually;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

use super::{instance, ours, rules, spring};

/// How long a change may take to reach the other server (batching ≤ 500 ms on both).
const PROPAGATION: Duration = Duration::from_secs(20);

/// A relay on 127.0.0.1 to a port given later; returns its port and the setter.
async fn relay() -> (u16, watch::Sender<Option<u16>>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let port = listener.local_addr().expect("bound").port();
    let (target_tx, target_rx) = watch::channel(None::<u16>);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut target = target_rx.clone();
            tokio::spawn(async move {
                let Ok(port) = target
                    .wait_for(Option::is_some)
                    .await
                    .map(|p| p.unwrap_or(0))
                else {
                    return;
                };
                if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", port)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (port, target_tx)
}

/// The instance `app/id` as `side` answers it (JSON, not normalised: times are compared), if
/// it has it.
async fn instance_on(_: &Differential, side: &Side, app: &str, id: &str) -> Option<Value> {
    let response = reqwest::Client::new()
        .get(format!("{}/eureka/apps/{app}/{id}", side.base))
        .header("accept", "application/json")
        .send()
        .await
        .ok()
        .filter(|r| r.status() == 200)?;
    let body: Value = response.json().await.ok()?;
    Some(body["instance"].clone())
}

async fn until<F>(d: &Differential, side: &Side, what: &str, app: &str, id: &str, check: F) -> Value
where
    F: Fn(Option<&Value>) -> bool,
{
    eventually(&format!("{what} on {}", side.base), PROPAGATION, || async {
        let found = instance_on(d, side, app, id).await;
        check(found.as_ref()).then(|| found.unwrap_or(Value::Null))
    })
    .await
}

fn status_is(status: &'static str) -> impl Fn(Option<&Value>) -> bool {
    move |found| found.is_some_and(|i| i["status"] == status)
}

pub(crate) async fn run() {
    let (relay_port, spring_port) = relay().await;
    let zone = format!("http://127.0.0.1:{relay_port}/eureka/");
    let ours = ours(&[
        ("eureka.client.service-url.defaultZone", zone.as_str()),
        ("eureka.server.registry-sync-retries", "0"),
    ])
    .await;
    // Something to sync: Spring's start-up sync then finds a non-empty registry at once.
    let client = reqwest::Client::new();
    let answer = client
        .post(ours.url("/eureka/apps/PRESENT"))
        .json(&instance("present", "present-1", 4001))
        .send()
        .await
        .expect("ours answers");
    assert_eq!(answer.status(), 204);
    let our_zone: &'static str =
        Box::leak(format!("http://127.0.0.1:{}/eureka/", ours.addr.port()).into_boxed_str());
    let properties: &'static [(&'static str, &'static str)] = Box::leak(
        vec![
            ("eureka.client.register-with-eureka", "true"),
            ("eureka.client.fetch-registry", "true"),
            ("eureka.client.service-url.defaultZone", our_zone),
            ("eureka.server.use-read-only-response-cache", "false"),
        ]
        .into_boxed_slice(),
    );
    let spring = spring("peer", properties).await;
    spring_port.send_replace(Some(spring.port));
    let d = Differential::new(
        "eureka peers",
        Side::new(&ours.url("")),
        Side::new(&spring.url("")),
        rules(),
    );
    let (ours_side, spring_side) = (d.ours.clone(), d.spring.clone());

    // Start-up sync: Spring copied factura's registry.
    until(
        &d,
        &spring_side,
        "the synced instance",
        "PRESENT",
        "present-1",
        |f| f.is_some(),
    )
    .await;
    d.check(
        "instance synced at start-up",
        Probe::get("/eureka/apps/PRESENT/present-1").header("accept", "application/json"),
    )
    .await;

    // factura → Spring.
    let post = |side: &Side, app: &str, body: Value| {
        let url = format!("{}/eureka/apps/{app}", side.base);
        let client = client.clone();
        async move {
            let status = client
                .post(&url)
                .json(&body)
                .send()
                .await
                .expect("answers")
                .status();
            assert_eq!(status, 204, "register at {url}");
        }
    };
    post(&ours_side, "FROMOURS", instance("fromours", "fo-1", 4101)).await;
    until(
        &d,
        &spring_side,
        "a registration made on factura",
        "FROMOURS",
        "fo-1",
        |f| f.is_some(),
    )
    .await;
    d.check(
        "registration replicated to Spring",
        Probe::get("/eureka/apps/FROMOURS/fo-1").header("accept", "application/json"),
    )
    .await;

    // Spring → factura.
    post(
        &spring_side,
        "FROMSPRING",
        instance("fromspring", "fs-1", 4201),
    )
    .await;
    until(
        &d,
        &ours_side,
        "a registration made on Spring",
        "FROMSPRING",
        "fs-1",
        |f| f.is_some(),
    )
    .await;
    d.check(
        "registration replicated to factura",
        Probe::get("/eureka/apps/FROMSPRING/fs-1").header("accept", "application/json"),
    )
    .await;

    // Renewals: the other side's lastRenewalTimestamp moves.
    for (origin, target, app, id) in [
        (&ours_side, &spring_side, "FROMOURS", "fo-1"),
        (&spring_side, &ours_side, "FROMSPRING", "fs-1"),
    ] {
        let before = instance_on(&d, target, app, id).await.expect("replicated");
        let stamp = |i: &Value| i["leaseInfo"]["lastRenewalTimestamp"].as_i64().unwrap_or(0);
        let before = stamp(&before);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let status = client
            .put(format!("{}/eureka/apps/{app}/{id}", origin.base))
            .send()
            .await
            .expect("answers")
            .status();
        assert_eq!(status, 200, "renew {app} on {}", origin.base);
        until(&d, target, "a replicated renewal", app, id, |f| {
            f.is_some_and(|i| stamp(i) > before)
        })
        .await;
    }

    // Status overrides and their removal, both ways.
    for (origin, target, app, id) in [
        (&ours_side, &spring_side, "FROMOURS", "fo-1"),
        (&spring_side, &ours_side, "FROMSPRING", "fs-1"),
    ] {
        let url = format!("{}/eureka/apps/{app}/{id}/status", origin.base);
        let status = client
            .put(format!("{url}?value=OUT_OF_SERVICE"))
            .send()
            .await
            .expect("answers")
            .status();
        assert_eq!(status, 200);
        until(
            &d,
            target,
            "a replicated override",
            app,
            id,
            status_is("OUT_OF_SERVICE"),
        )
        .await;
        d.check(
            &format!("override replicated from {app}"),
            Probe::get(&format!("/eureka/apps/{app}/{id}")).header("accept", "application/json"),
        )
        .await;
        let status = client
            .delete(format!("{url}?value=UP"))
            .send()
            .await
            .expect("answers")
            .status();
        assert_eq!(status, 200);
        until(
            &d,
            target,
            "a replicated override removal",
            app,
            id,
            status_is("UP"),
        )
        .await;
        d.check(
            &format!("override removal replicated from {app}"),
            Probe::get(&format!("/eureka/apps/{app}/{id}")).header("accept", "application/json"),
        )
        .await;
    }

    // Cancels, both ways.
    for (origin, target, app, id) in [
        (&ours_side, &spring_side, "FROMOURS", "fo-1"),
        (&spring_side, &ours_side, "FROMSPRING", "fs-1"),
    ] {
        let status = client
            .delete(format!("{}/eureka/apps/{app}/{id}", origin.base))
            .send()
            .await
            .expect("answers")
            .status();
        assert_eq!(status, 200);
        until(&d, target, "a replicated cancel", app, id, |f| f.is_none()).await;
        d.check(
            &format!("404 cancel replicated from {app}"),
            Probe::get(&format!("/eureka/apps/{app}/{id}")),
        )
        .await;
    }

    // Spring's own entry, registered by its built-in client with factura.
    eventually(
        "Spring's own registration on factura",
        PROPAGATION,
        || async {
            let apps = d
                .send(
                    &ours_side,
                    &Probe::get("/eureka/apps/EUREKA-SERVER").header("accept", "application/json"),
                )
                .await;
            (apps.status == 200).then_some(())
        },
    )
    .await;
    d.finish();
}
