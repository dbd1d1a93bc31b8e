//! The service's local copy of the registry: what load-balanced clients and the gateway query,
//! without a network call, and what the discovery client keeps fresh (full fetch, then deltas).
//!
//! A full fetch does not drop an instance the cache knows until that instance's lease would
//! have run out ([`keep_unexpired`]): a discovery-service that restarts comes back empty and
//! only learns of each instance at its next renewal, and routing must not stop meanwhile. A dead
//! instance kept this way costs a refused connection, which balancers skip.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use tokio::sync::watch;

use super::model::{ActionType, Application, Applications, InstanceInfo, Status};

/// The UP instances of each application (upper-cased name), sorted by instance id: what load
/// balancing reads on every call, so it is built once per registry change, not per request.
type UpIndex = HashMap<String, Arc<[InstanceInfo]>>;

/// A shared, cheaply cloned view of the registry; subscribers see every replacement.
#[derive(Debug, Clone)]
pub struct RegistryCache {
    current: Arc<watch::Sender<Arc<Applications>>>,
    up: Arc<RwLock<Arc<UpIndex>>>,
    fetches: Arc<FetchRequests>,
}

/// Asks from lookups that found nothing to the discovery client that fills the cache: a
/// caller looking for an application the cache does not know wakes the client for an
/// immediate fetch (which the client rate-limits) and waits for it to finish.
#[derive(Debug, Default)]
struct FetchRequests {
    /// Set while a discovery client keeps this cache fresh; without one nobody would answer.
    fetcher: std::sync::atomic::AtomicBool,
    /// Wakes the client.
    wanted: tokio::sync::Notify,
    /// How many fetches the client has finished (successful or not).
    finished: watch::Sender<u64>,
    /// When the last one finished.
    last_finished: std::sync::Mutex<Option<tokio::time::Instant>>,
}

/// The shortest gap between fetches that lookups of unknown applications ask for: a burst
/// of calls for a service nobody registered costs one registry fetch a second at most, and a
/// lookup within a second of a fetch is answered from it without waiting.
pub const ON_DEMAND_FETCH_GAP: std::time::Duration = std::time::Duration::from_secs(1);

impl Default for RegistryCache {
    fn default() -> Self {
        Self::new()
    }
}

impl RegistryCache {
    /// An empty cache (nothing fetched yet).
    pub fn new() -> Self {
        Self {
            current: Arc::new(watch::Sender::new(Arc::new(Applications::default()))),
            up: Arc::default(),
            fetches: Arc::default(),
        }
    }

    /// The UP instances of `app` as [`Self::up_sorted`]; when there are none and a discovery
    /// client fills this cache, asks it for a fetch now and waits (at most `within`) for that
    /// fetch to finish. A service started at the same time as the one it calls learns of it
    /// on its first call, not at the next scheduled fetch.
    pub async fn up_sorted_or_fetch(
        &self,
        app: &str,
        within: std::time::Duration,
    ) -> Arc<[InstanceInfo]> {
        let known = self.up_sorted(app);
        let fresh = || {
            self.fetches
                .last_finished
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|at| at.elapsed() < ON_DEMAND_FETCH_GAP)
        };
        if !known.is_empty()
            || !self
                .fetches
                .fetcher
                .load(std::sync::atomic::Ordering::Relaxed)
            || fresh()
        {
            return known;
        }
        let mut finished = self.fetches.finished.subscribe();
        finished.mark_unchanged();
        self.fetches.wanted.notify_one();
        let _ = tokio::time::timeout(within, finished.changed()).await;
        self.up_sorted(app)
    }

    /// For the discovery client: it keeps this cache fresh from now on.
    pub(crate) fn attach_fetcher(&self) {
        self.fetches
            .fetcher
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// For the discovery client: resolves when a lookup asked for a fetch (at once if one
    /// asked since the last call).
    pub(crate) async fn fetch_wanted(&self) {
        self.fetches.wanted.notified().await;
    }

    /// For the discovery client: one fetch finished; wakes the lookups waiting for it.
    pub(crate) fn fetch_finished(&self) {
        *self
            .fetches
            .last_finished
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(tokio::time::Instant::now());
        self.fetches.finished.send_modify(|count| *count += 1);
    }

    /// The registry as last fetched.
    pub fn snapshot(&self) -> Arc<Applications> {
        self.current.borrow().clone()
    }

    /// A receiver notified on each refresh that changed something.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Applications>> {
        self.current.subscribe()
    }

    /// Every instance of `app` (any status; the name is case-insensitive).
    pub fn instances(&self, app: &str) -> Vec<InstanceInfo> {
        self.current
            .borrow()
            .application(app)
            .map(|a| a.instances.clone())
            .unwrap_or_default()
    }

    /// The instances of `app` whose status is UP: the ones to send traffic to.
    pub fn up_instances(&self, app: &str) -> Vec<InstanceInfo> {
        let mut instances = self.instances(app);
        instances.retain(|i| i.status == Status::Up);
        instances
    }

    /// The UP instances of `app` (case-insensitive), sorted by instance id, shared: no copy.
    pub fn up_sorted(&self, app: &str) -> Arc<[InstanceInfo]> {
        let index = self.up.read().unwrap_or_else(|p| p.into_inner()).clone();
        index
            .get(&app.to_ascii_uppercase())
            .cloned()
            .unwrap_or_else(|| Arc::from([]))
    }

    /// Replaces the whole view (after a full fetch). Every change goes through here.
    pub fn replace(&self, applications: Applications) {
        let changed = {
            let current = self.current.borrow();
            **current != applications
        };
        if changed {
            let index = up_index(&applications);
            *self.up.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(index);
            self.current.send_replace(Arc::new(applications));
        }
    }

    /// Merges a delta; returns false (and changes nothing) when the merged view's hash code
    /// disagrees with the server's, in which case the caller fetches the full registry.
    pub fn apply_delta(&self, delta: &Applications) -> bool {
        let mut merged: Applications = (*self.snapshot()).clone();
        for instance in delta.instances() {
            let id = instance.effective_id();
            let app_name = instance.app.to_ascii_uppercase();
            let position = merged
                .applications
                .iter()
                .position(|a| a.name.eq_ignore_ascii_case(&app_name));
            match instance.action_type {
                Some(ActionType::Deleted) => {
                    if let Some(p) = position {
                        merged.applications[p]
                            .instances
                            .retain(|i| i.effective_id() != id);
                    }
                }
                _ => {
                    let index = match position {
                        Some(p) => p,
                        None => {
                            merged.applications.push(Application {
                                name: app_name,
                                instances: Vec::new(),
                            });
                            merged.applications.len() - 1
                        }
                    };
                    let instances = &mut merged.applications[index].instances;
                    match instances.iter_mut().find(|i| i.effective_id() == id) {
                        Some(existing) => *existing = instance.clone(),
                        None => instances.push(instance.clone()),
                    }
                }
            }
        }
        merged.applications.retain(|a| !a.instances.is_empty());
        merged.apps_hashcode = merged.compute_hashcode();
        if merged.apps_hashcode != delta.apps_hashcode {
            return false;
        }
        merged.versions_delta = delta.versions_delta.clone();
        self.replace(merged);
        true
    }

    /// Drops the instances `delta` reports DELETED (cancelled or evicted) and nothing else; used
    /// before a full fetch, so [`keep_unexpired`] keeps only instances the server never said
    /// were gone.
    pub fn forget_deleted(&self, delta: &Applications) {
        let deleted: std::collections::HashSet<String> = delta
            .instances()
            .filter(|i| i.action_type == Some(ActionType::Deleted))
            .map(InstanceInfo::effective_id)
            .collect();
        if deleted.is_empty() {
            return;
        }
        let mut current = (*self.snapshot()).clone();
        for app in &mut current.applications {
            app.instances
                .retain(|i| !deleted.contains(&i.effective_id()));
        }
        current.applications.retain(|a| !a.instances.is_empty());
        self.replace(current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(app: &str, host: &str, status: Status) -> InstanceInfo {
        let mut i = InstanceInfo::new(app, host, "127.0.0.1", 80);
        i.status = status;
        i
    }

    #[test]
    fn delta_merge_checks_the_hash() {
        let cache = RegistryCache::new();
        cache.replace(Applications {
            versions_delta: "1".into(),
            apps_hashcode: "UP_1_".into(),
            applications: vec![Application {
                name: "A".into(),
                instances: vec![instance("a", "h1", Status::Up)],
            }],
        });
        let mut added = instance("b", "h2", Status::Up);
        added.action_type = Some(ActionType::Added);
        let mut deleted = instance("a", "h1", Status::Up);
        deleted.action_type = Some(ActionType::Deleted);
        let delta = Applications {
            versions_delta: "7".into(),
            apps_hashcode: "UP_1_".into(),
            applications: vec![
                Application {
                    name: "B".into(),
                    instances: vec![added.clone()],
                },
                Application {
                    name: "A".into(),
                    instances: vec![deleted],
                },
            ],
        };
        assert!(cache.apply_delta(&delta));
        assert!(cache.instances("a").is_empty());
        assert_eq!(cache.up_instances("B").len(), 1);

        let wrong = Applications {
            apps_hashcode: "UP_5_".into(),
            applications: vec![Application {
                name: "C".into(),
                instances: vec![added],
            }],
            ..delta
        };
        assert!(!cache.apply_delta(&wrong));
        assert!(
            cache.instances("C").is_empty(),
            "a failed merge changes nothing"
        );
    }
}

fn up_index(applications: &Applications) -> UpIndex {
    applications
        .applications
        .iter()
        .map(|app| {
            let mut up: Vec<(String, InstanceInfo)> = app
                .instances
                .iter()
                .filter(|i| i.status == Status::Up)
                .map(|i| (i.effective_id(), i.clone()))
                .collect();
            up.sort_by(|a, b| a.0.cmp(&b.0));
            let up: Arc<[InstanceInfo]> = up.into_iter().map(|(_, i)| i).collect();
            (app.name.to_ascii_uppercase(), up)
        })
        .collect()
}

/// `fetched`, plus every instance of `previous` that `fetched` no longer lists but whose lease
/// (last renewal + lease duration) has not run out at `now_ms`.
pub fn keep_unexpired(
    previous: &Applications,
    mut fetched: Applications,
    now_ms: i64,
) -> Applications {
    for app in &previous.applications {
        for instance in &app.instances {
            let lease = &instance.lease_info;
            let renewed = lease
                .last_renewal_timestamp
                .max(instance.last_updated_timestamp);
            let expires = renewed.saturating_add(lease.duration_in_secs.saturating_mul(1000));
            if expires <= now_ms || lease.eviction_timestamp > 0 {
                continue;
            }
            let id = instance.effective_id();
            let target = match fetched
                .applications
                .iter()
                .position(|a| a.name.eq_ignore_ascii_case(&app.name))
            {
                Some(i) => &mut fetched.applications[i],
                None => {
                    fetched.applications.push(Application {
                        name: app.name.clone(),
                        instances: Vec::new(),
                    });
                    fetched.applications.last_mut().expect("just pushed")
                }
            };
            if !target.instances.iter().any(|i| i.effective_id() == id) {
                target.instances.push(instance.clone());
            }
        }
    }
    fetched
}

#[cfg(test)]
mod keep_unexpired_tests {
    use super::*;

    fn registry(instances: &[(u16, i64)]) -> Applications {
        Applications {
            applications: vec![Application {
                name: "CUSTOMER-SERVICE".into(),
                instances: instances
                    .iter()
                    .map(|(port, renewed)| {
                        let mut i =
                            InstanceInfo::new("CUSTOMER-SERVICE", "127.0.0.1", "127.0.0.1", *port);
                        i.instance_id = Some(format!("127.0.0.1:customer-service:{port}"));
                        i.lease_info.last_renewal_timestamp = *renewed;
                        i.last_updated_timestamp = *renewed;
                        i.lease_info.duration_in_secs = 90;
                        i
                    })
                    .collect(),
            }],
            ..Applications::default()
        }
    }

    #[test]
    fn a_restarted_server_does_not_erase_instances_with_live_leases() {
        let known = registry(&[(1, 1_000_000), (2, 1_000_000)]);
        let kept = keep_unexpired(&known, Applications::default(), 1_000_000 + 89_000);
        assert_eq!(kept.instances().count(), 2);
        let expired = keep_unexpired(&known, Applications::default(), 1_000_000 + 90_000);
        assert_eq!(expired.instances().count(), 0);
        let partly = keep_unexpired(&known, registry(&[(2, 1_050_000)]), 1_060_000);
        let ports: Vec<u16> = partly.instances().map(|i| i.port.port).collect();
        assert_eq!(ports, [2, 1]);
    }
}
