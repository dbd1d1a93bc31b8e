//! Leases that run out under a one-second eviction timer. With self-preservation off both servers
//! stop serving an expired instance, evict it, and report the eviction in the delta. With it on
//! and a handful of instances, Spring's renewal arithmetic keeps expiry off for good; factura
//! evicts anyway when only a few leases expired at once (ordinary churn, not a partition).

use std::time::Duration;

use conformance::compare::{Differential, Probe, Rules, Side};
use serde_json::json;

use super::{instance, read_every_way, register, step, wait};

const ONE_DURATION: &str = "factura expires a lease one lease duration after its last renewal; Netflix's \
    Lease.isExpired adds the duration twice for a renewed lease (a bug kept on purpose, eureka #531), \
    so a dead instance lingers 90 s longer there";

pub(crate) fn departures(rules: Rules) -> Rules {
    rules.depart("renewed lease after one duration*", "*", ONE_DURATION)
}

/// Polls `path` on `side` until it answers `status`.
async fn until_status(d: &Differential, side: &Side, path: &str, status: u16, within: Duration) {
    testkit::eventually(
        &format!("{path} answering {status} on {}", side.base),
        within,
        || async { (d.send(side, &Probe::get(path)).await.status == status).then_some(()) },
    )
    .await;
}

/// Polls the application at `path` on `side` until `remaining` instances are left.
async fn until_evicted(d: &Differential, side: &Side, path: &str, remaining: usize) {
    let probe = Probe::get(path).header("accept", "application/json");
    testkit::eventually(
        &format!("eviction down to {remaining} in {path} on {}", side.base),
        Duration::from_secs(15),
        || async {
            let apps = d.send(side, &probe).await;
            let count = apps.body["application"]["instance"]
                .as_array()
                .map_or(0, Vec::len);
            (count == remaining).then_some(())
        },
    )
    .await;
}

const SMALL_CHURN: &str = "with self-preservation on, factura still evicts when only a few leases \
    expired at once (at most 15% of the registry, at least one): Netflix's threshold arithmetic \
    never evicts in a registry of five instances or fewer, so one dead instance would stay listed \
    forever in a small system";

pub(crate) fn self_preservation_departures(rules: Rules) -> Rules {
    rules.depart("evicted despite self-preservation*", "*", SMALL_CHURN)
}

/// Self-preservation on: Spring keeps the expired lease listed and served; factura evicts it.
pub(crate) async fn self_preservation(d: &Differential) {
    let mut short = instance("theta", "theta-1", 5101);
    short["instance"]["leaseInfo"] = json!({"renewalIntervalInSecs": 1, "durationInSecs": 1});
    step(
        d,
        "register a one-second lease",
        register("THETA", &short),
        204,
    )
    .await;
    step(
        d,
        "register a normal lease",
        register("THETA", &instance("theta", "theta-2", 5102)),
        204,
    )
    .await;
    // Past expiry plus two eviction runs on both.
    wait(Duration::from_millis(3500)).await;
    until_evicted(d, &d.ours, "/eureka/apps/THETA", 1).await;
    read_every_way(
        d,
        "evicted despite self-preservation: instance",
        "/eureka/apps/THETA/theta-1",
    )
    .await;
    read_every_way(
        d,
        "evicted despite self-preservation: application",
        "/eureka/apps/THETA",
    )
    .await;
    read_every_way(
        d,
        "evicted despite self-preservation: delta",
        "/eureka/apps/delta",
    )
    .await;
    read_every_way(
        d,
        "an unexpired lease beside it",
        "/eureka/apps/THETA/theta-2",
    )
    .await;
}

pub(crate) async fn run(d: &Differential) {
    let mut short = instance("eta", "eta-1", 5001);
    short["instance"]["leaseInfo"] = json!({"renewalIntervalInSecs": 1, "durationInSecs": 1});
    step(
        d,
        "register a one-second lease",
        register("ETA", &short),
        204,
    )
    .await;
    step(
        d,
        "register a normal lease",
        register("ETA", &instance("eta", "eta-2", 5002)),
        204,
    )
    .await;
    for side in [&d.ours, &d.spring] {
        until_status(
            d,
            side,
            "/eureka/apps/ETA/eta-1",
            404,
            Duration::from_secs(10),
        )
        .await;
    }
    // Eviction runs after expiry; wait for it on both before reading the registry.
    for side in [&d.ours, &d.spring] {
        until_evicted(d, side, "/eureka/apps/ETA", 1).await;
    }
    read_every_way(d, "404 expired instance", "/eureka/apps/ETA/eta-1").await;
    read_every_way(d, "404 expired instance by id", "/eureka/instances/eta-1").await;
    read_every_way(d, "application after an eviction", "/eureka/apps/ETA").await;
    read_every_way(d, "delta after an eviction", "/eureka/apps/delta").await;
    d.check(
        "404 renew an evicted lease",
        Probe::put("/eureka/apps/ETA/eta-1"),
    )
    .await;

    let mut renewed = instance("eta", "eta-3", 5003);
    renewed["instance"]["leaseInfo"] = json!({"renewalIntervalInSecs": 1, "durationInSecs": 3});
    step(
        d,
        "register a three-second lease",
        register("ETA", &renewed),
        204,
    )
    .await;
    step(d, "renew it", Probe::put("/eureka/apps/ETA/eta-3"), 200).await;
    wait(Duration::from_millis(5000)).await;
    d.check(
        "renewed lease after one duration and an eviction run",
        Probe::get("/eureka/apps/ETA/eta-3").header("accept", "application/json"),
    )
    .await;
    for side in [&d.ours, &d.spring] {
        until_evicted(d, side, "/eureka/apps/ETA", 1).await;
    }
    read_every_way(d, "registry after evictions", "/eureka/apps").await;
}
