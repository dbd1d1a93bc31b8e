//! Time-driven registry behaviour on paused tokio time: expiry, eviction, self-preservation,
//! delta retention, status resolution, conflicts.

use std::{sync::Arc, time::Duration};

use platform::discovery::model::{ActionType, Format, InstanceInfo, Status, read_applications};
use tokio_util::sync::CancellationToken;

use super::*;

fn instance(app: &str, n: u16) -> InstanceInfo {
    let mut i = InstanceInfo::new(app, &format!("host{n}"), "127.0.0.1", 8000 + n);
    i.instance_id = Some(format!("host{n}:{}:{}", app.to_ascii_lowercase(), 8000 + n));
    i
}

fn with_lease(mut i: InstanceInfo, renewal: i64, duration: i64) -> InstanceInfo {
    i.lease_info.renewal_interval_in_secs = renewal;
    i.lease_info.duration_in_secs = duration;
    i
}

fn id(app: &str, n: u16) -> String {
    format!("host{n}:{}:{}", app.to_ascii_lowercase(), 8000 + n)
}

#[tokio::test(start_paused = true)]
async fn a_silent_instance_leaves_within_duration_plus_eviction_interval() {
    let registry = Arc::new(Registry::new(RegistryConfig {
        eviction_interval: Duration::from_secs(10),
        ..RegistryConfig::default()
    }));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(registry.clone().housekeeping(shutdown.clone()));
    registry.register(with_lease(instance("a", 1), 5, 15), false);
    // Renewals keep it.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            registry.renew("A", &id("a", 1), false, None, None),
            RenewOutcome::Renewed
        );
    }
    assert!(registry.instance("A", &id("a", 1)).is_some());
    // Silence: expired after 15 s, evicted by the next 10 s tick at the latest.
    tokio::time::sleep(Duration::from_secs(15 + 10 + 1)).await;
    assert!(registry.application("A").is_none(), "evicted");
    let delta = registry.delta();
    assert_eq!(
        delta.applications[0].instances[0].action_type,
        Some(ActionType::Deleted)
    );
    shutdown.cancel();
    task.await.expect("housekeeping stops");
}

#[tokio::test(start_paused = true)]
async fn self_preservation_holds_a_mass_expiry_but_not_a_single_death() {
    let registry = Registry::new(RegistryConfig::default());
    for n in 0..10 {
        registry.register(instance("a", n), false);
    }
    // One full minute of healthy renewals: R = 20 > T = floor(10 × 2 × 0.85) = 17.
    tokio::time::advance(Duration::from_secs(30)).await;
    for n in 0..10 {
        registry.renew("A", &id("a", n), false, None, None);
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    for n in 0..10 {
        registry.renew("A", &id("a", n), false, None, None);
    }
    registry.roll_renewal_minute();
    assert_eq!(registry.renews_last_minute(), 20);
    assert_eq!(registry.renews_threshold(), 17);
    assert!(registry.lease_expiration_enabled());

    // A partition: nobody renews for two minutes. R drops to 0, every lease expires — all held.
    tokio::time::advance(Duration::from_secs(60)).await;
    registry.roll_renewal_minute();
    tokio::time::advance(Duration::from_secs(60)).await;
    registry.roll_renewal_minute();
    assert!(!registry.lease_expiration_enabled());
    assert_eq!(
        registry.evict_expired(),
        0,
        "mass expiry is held by self-preservation"
    );
    assert_eq!(registry.instances().len(), 10);

    // The partition heals for nine of them; one really died. Its single expiry is churn.
    for n in 1..10 {
        registry.renew("A", &id("a", n), false, None, None);
    }
    assert_eq!(registry.evict_expired(), 1);
    assert!(registry.instance("A", &id("a", 0)).is_none());
    assert_eq!(registry.instances().len(), 9);
}

#[tokio::test(start_paused = true)]
async fn a_single_dead_instance_in_a_small_system_is_evicted() {
    let registry = Registry::new(RegistryConfig::default());
    registry.register(instance("solo", 1), false);
    tokio::time::advance(Duration::from_secs(91)).await;
    assert!(
        !registry.lease_expiration_enabled(),
        "Netflix's rule alone would keep it"
    );
    assert_eq!(registry.evict_expired(), 1);
    assert!(registry.applications().applications.is_empty());
}

#[tokio::test(start_paused = true)]
async fn self_preservation_off_evicts_everything_expired() {
    let registry = Registry::new(RegistryConfig {
        self_preservation: false,
        ..RegistryConfig::default()
    });
    for n in 0..5 {
        registry.register(with_lease(instance("a", n), 1, 3), false);
    }
    tokio::time::advance(Duration::from_secs(4)).await;
    assert_eq!(registry.evict_expired(), 5);
}

#[tokio::test(start_paused = true)]
async fn delta_keeps_changes_for_the_retention_time_only() {
    let registry = Registry::new(RegistryConfig::default());
    registry.register(instance("a", 1), false);
    registry.register(instance("b", 2), false);
    let delta = registry.delta();
    assert_eq!(delta.applications.len(), 2);
    assert_eq!(delta.apps_hashcode, "UP_2_");
    let version: u64 = delta.versions_delta.parse().expect("a counter");

    tokio::time::advance(Duration::from_secs(100)).await;
    assert!(registry.cancel("B", &id("b", 2), false));
    // Renewals are not changes.
    registry.renew("A", &id("a", 1), false, None, None);
    let delta = registry.delta();
    assert_eq!(delta.applications.len(), 2);
    assert!(delta.versions_delta.parse::<u64>().expect("counter") > version);
    assert_eq!(
        delta.apps_hashcode, "UP_1_",
        "the hash covers the full registry"
    );

    tokio::time::advance(Duration::from_secs(81)).await;
    let delta = registry.delta();
    assert_eq!(
        delta.applications.len(),
        1,
        "the registration aged out, the cancel did not"
    );
    assert_eq!(
        delta.applications[0].instances[0].action_type,
        Some(ActionType::Deleted)
    );
    tokio::time::advance(Duration::from_secs(100)).await;
    assert!(registry.delta().applications.is_empty());
}

#[tokio::test(start_paused = true)]
async fn overrides_win_and_their_removal_forces_a_reregistration() {
    let registry = Registry::new(RegistryConfig::default());
    registry.register(instance("a", 1), false);
    assert!(registry.set_status_override("A", &id("a", 1), Status::OutOfService, None, false));
    assert_eq!(
        registry.instance("A", &id("a", 1)).expect("there").status,
        Status::OutOfService
    );
    // The client keeps saying UP; the override wins on renew and on re-register.
    assert_eq!(
        registry.renew("A", &id("a", 1), false, None, None),
        RenewOutcome::Renewed
    );
    registry.register(instance("a", 1), false);
    let stored = registry.instance("A", &id("a", 1)).expect("there");
    assert_eq!(
        (stored.status, stored.overridden_status),
        (Status::OutOfService, Status::OutOfService)
    );
    // Removing it without a value: UNKNOWN → the next heartbeat is 404 → the client re-registers.
    assert!(registry.delete_status_override("A", &id("a", 1), Status::Unknown, None, false));
    assert_eq!(
        registry.renew("A", &id("a", 1), false, None, None),
        RenewOutcome::NotFound
    );
    registry.register(instance("a", 1), false);
    assert_eq!(
        registry.instance("A", &id("a", 1)).expect("there").status,
        Status::Up
    );
    assert!(!registry.set_status_override("A", "nobody", Status::Down, None, false));
}

#[tokio::test(start_paused = true)]
async fn newer_last_dirty_timestamps_win() {
    let registry = Registry::new(RegistryConfig::default());
    let mut newer = instance("a", 1);
    newer.last_dirty_timestamp = 2_000;
    newer.metadata.insert("v".into(), "new".into());
    registry.register(newer, true);
    let mut older = instance("a", 1);
    older.last_dirty_timestamp = 1_000;
    older.metadata.insert("v".into(), "old".into());
    registry.register(older, true);
    assert_eq!(
        registry.instance("A", &id("a", 1)).expect("there").metadata["v"],
        "new"
    );

    // A peer's heartbeat with an older timestamp: 409 with our copy.
    match registry.renew("A", &id("a", 1), true, Some(1_000), None) {
        RenewOutcome::Conflict(ours) => assert_eq!(ours.last_dirty_timestamp, 2_000),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // A newer one: 404 (send the registration); equal: 200.
    assert_eq!(
        registry.renew("A", &id("a", 1), true, Some(3_000), None),
        RenewOutcome::NotFound
    );
    assert_eq!(
        registry.renew("A", &id("a", 1), true, Some(2_000), None),
        RenewOutcome::Renewed
    );
    // A client's own older timestamp is not a conflict.
    assert_eq!(
        registry.renew("A", &id("a", 1), false, Some(1_000), None),
        RenewOutcome::Renewed
    );
}

#[tokio::test(start_paused = true)]
async fn cached_payloads_follow_changes() {
    let registry = Registry::new(RegistryConfig::default());
    let empty = registry.payload(false, Format::Json, false).to_bytes();
    let apps = read_applications(&empty, Format::Json).expect("json");
    assert!(apps.applications.is_empty());
    assert_eq!(apps.versions_delta, "1");
    registry.register(instance("a", 1), false);
    let full = read_applications(
        &registry.payload(false, Format::Xml, false).to_bytes(),
        Format::Xml,
    )
    .expect("xml");
    assert_eq!(full.apps_hashcode, "UP_1_");
    assert_eq!(full.applications[0].instances.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn vip_lookups_match_comma_lists() {
    let registry = Registry::new(RegistryConfig::default());
    let mut i = instance("a", 1);
    i.vip_address = Some("alpha, beta".into());
    registry.register(i, false);
    registry.register(instance("b", 2), false);
    let found = registry.vip("beta", false);
    assert_eq!(found.versions_delta, "-1");
    assert_eq!(found.applications.len(), 1);
    assert_eq!(found.apps_hashcode, "UP_1_");
    assert!(registry.vip("nothing", true).applications.is_empty());
}
