//! Client-side load balancing, Spring Cloud LoadBalancer's round-robin: which instance of a
//! service a call goes to, chosen from the local registry cache without a network call.
//!
//! [`LoadBalancer::candidates`] answers the UP instances of a service in round-robin order
//! (a shared, pre-sorted list from the registry cache; no copy per call), rotated one step per call, so the first is "the next instance" and the rest are where a
//! retry or a refused connection moves on to. Both the gateway (`lb://SERVICE`) and the
//! service clients (billing → customer/inventory) balance through it.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use crate::discovery::{InstanceInfo, RegistryCache};

/// How long a call for a service the registry cache does not know waits for the fetch it asks
/// for, before it fails as "no instance".
pub const UNKNOWN_SERVICE_FETCH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The UP instances of one service in the order to try them: the next in turn first.
#[derive(Debug, Clone)]
pub struct Candidates {
    instances: Arc<[InstanceInfo]>,
    start: usize,
}

impl Candidates {
    /// Whether no instance is UP.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// How many instances are UP.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// The instances, the next in turn first, then the others in registry order.
    pub fn iter(&self) -> impl Iterator<Item = &InstanceInfo> {
        let (before, after) = self.instances.split_at(self.start);
        after.iter().chain(before)
    }
}

/// Round-robin positions per service over a registry cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LoadBalancer {
    registry: RegistryCache,
    positions: Arc<Mutex<HashMap<String, Arc<AtomicUsize>>>>,
}

impl LoadBalancer {
    /// Balances over the instances `registry` knows.
    pub fn new(registry: RegistryCache) -> Self {
        Self {
            registry,
            positions: Arc::default(),
        }
    }

    /// The registry it balances over.
    pub fn registry(&self) -> &RegistryCache {
        &self.registry
    }

    /// The UP instances of `service` (case-insensitive), starting with the next one in turn.
    /// Empty when none is registered and UP. Costs a lookup and a counter, not a copy.
    pub fn candidates(&self, service: &str) -> Candidates {
        self.rotated(service, self.registry.up_sorted(service))
    }

    /// [`Self::candidates`], and when none is known, the registry fetched at once (waiting at
    /// most [`UNKNOWN_SERVICE_FETCH_WAIT`]) and asked again: a service that registered since the
    /// last scheduled fetch is found on the first call to it.
    pub async fn candidates_or_fetch(&self, service: &str) -> Candidates {
        let instances = self
            .registry
            .up_sorted_or_fetch(service, UNKNOWN_SERVICE_FETCH_WAIT)
            .await;
        self.rotated(service, instances)
    }

    fn rotated(&self, service: &str, instances: Arc<[InstanceInfo]>) -> Candidates {
        let start = match instances.len() {
            0 | 1 => 0,
            n => self.position(service).fetch_add(1, Ordering::Relaxed) % n,
        };
        Candidates { instances, start }
    }

    fn position(&self, service: &str) -> Arc<AtomicUsize> {
        let key = service.to_ascii_uppercase();
        let mut positions = self.positions.lock().unwrap_or_else(|p| p.into_inner());
        positions.entry(key).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{Application, Applications, Status};

    fn registry(ports: &[(u16, Status)]) -> RegistryCache {
        let cache = RegistryCache::new();
        let instances = ports
            .iter()
            .map(|(port, status)| {
                let mut instance =
                    InstanceInfo::new("CUSTOMER-SERVICE", "127.0.0.1", "127.0.0.1", *port);
                instance.status = *status;
                instance
            })
            .collect();
        cache.replace(Applications {
            applications: vec![Application {
                name: "CUSTOMER-SERVICE".into(),
                instances,
            }],
            ..Applications::default()
        });
        cache
    }

    #[test]
    fn rotates_over_up_instances_only() {
        let balancer = LoadBalancer::new(registry(&[
            (1, Status::Up),
            (2, Status::Down),
            (3, Status::Up),
        ]));
        let firsts: Vec<u16> = (0..4)
            .map(|_| {
                balancer
                    .candidates("customer-service")
                    .iter()
                    .next()
                    .unwrap()
                    .port
                    .port
            })
            .collect();
        assert_eq!(firsts, [1, 3, 1, 3]);
        assert_eq!(balancer.candidates("CUSTOMER-SERVICE").len(), 2);
        assert!(balancer.candidates("billing-service").is_empty());
    }
}
