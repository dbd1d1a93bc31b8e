//! The registry: applications → instances → leases, with Eureka's semantics.
//!
//! * **Register** (§5.1 of the protocol notes): the stored copy wins when its `lastDirtyTimestamp`
//!   is newer; a non-UNKNOWN `overriddenStatus` in the body is adopted when none is recorded; the
//!   status is resolved (§5.2); an `ADDED` delta entry is recorded.
//! * **Renew**: restarts the lease clock; 404 when the lease is unknown or its status resolves to
//!   UNKNOWN, or the caller's `lastDirtyTimestamp` is newer than ours; 409 with our copy when a
//!   peer's is older.
//! * **Expiry**: a lease expires `durationInSecs` after its last renewal (not Netflix's 2×: their
//!   doubling is a kept bug), and the eviction task, every `eureka.server.eviction-interval-timer-in-ms`,
//!   removes expired leases. So a silent instance leaves within its lease duration plus one
//!   eviction interval.
//! * **Self-preservation** (documented rule). The expected renewals per minute are computed from
//!   the registered leases' own renewal intervals (`Σ 60/interval`), and the threshold T is that
//!   sum × `eureka.server.renewal-percent-threshold` (0.85), floored. When the renewals received in
//!   the previous full minute, R, are ≤ T, the registry suspects a network partition and stops
//!   evicting — **unless the set of expired leases is small**: at most
//!   `max(1, ⌊registered × (1 − threshold)⌋)` leases expired at once is ordinary churn, not a
//!   partition, and they are evicted anyway. Netflix's arithmetic (with ≤ 5 instances the
//!   registry never evicts) would otherwise keep one dead instance forever in a small system.
//!   `eureka.server.enable-self-preservation=false` evicts every expired lease regardless.
//! * **Overrides** (`PUT/DELETE …/status`) renew the lease; as in Eureka, an override to the
//!   status the instance already has records nothing, and deleting an override when none is
//!   recorded changes nothing (the `value=` fallback only replaces an override).
//! * **Expired, not yet evicted**: listed in the registry, and served by single-instance reads
//!   while expiry is suspended (self-preservation), hidden from them while expiry is enabled.
//! * **Deltas**: register, status changes and cancels/evictions are kept for
//!   `eureka.server.retention-time-in-ms-in-delta-queue` (180 s); renewals are not changes. A
//!   delta's `versions__delta` counts delta payload builds, as Eureka's response cache does.
//!
//! All state sits behind one `std::sync::RwLock`, never held across an `.await`. Lease
//! arithmetic uses `tokio::time::Instant`, so tests run it on paused time; wall-clock epoch
//! milliseconds appear only in the wire timestamps.

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{
        Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use platform::discovery::model::{
    self, ActionType, Application, Applications, Format, InstanceInfo, LeaseInfo, LeasedInstance,
    Status, apps_hashcode, now_millis,
};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::{
    payload::{ChunkWriter, Payload},
    task::{Action, ReplicationTask},
};

/// Tunables, from `eureka.server.*`.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `enable-self-preservation` (true).
    pub self_preservation: bool,
    /// `renewal-percent-threshold` (0.85).
    pub renewal_percent_threshold: f64,
    /// `eviction-interval-timer-in-ms` (60 s).
    pub eviction_interval: Duration,
    /// `retention-time-in-ms-in-delta-queue` (180 s).
    pub delta_retention: Duration,
    /// `response-cache-update-interval-ms` (30 s): how stale lease timestamps in a cached full
    /// registry may be. Any registration change invalidates the cache at once.
    pub response_cache_ttl: Duration,
    /// How long an unused status override is kept (1 h).
    pub override_expiry: Duration,
    /// How long after start the dashboard may warn about self-preservation (5 min).
    pub warning_grace: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            self_preservation: true,
            renewal_percent_threshold: 0.85,
            eviction_interval: Duration::from_secs(60),
            delta_retention: Duration::from_secs(180),
            response_cache_ttl: Duration::from_secs(30),
            override_expiry: Duration::from_secs(3600),
            warning_grace: Duration::from_secs(300),
        }
    }
}

/// Default lease duration when a client sends none (or 0).
const DEFAULT_DURATION_SECS: i64 = 90;
/// Default renewal interval when a client sends none (or 0).
const DEFAULT_RENEWAL_SECS: i64 = 30;
/// How many past registrations and cancellations the dashboard remembers.
const HISTORY: usize = 1000;

struct Lease {
    /// Shared with delta entries and registry snapshots; copied only when it changes while
    /// shared.
    instance: Arc<InstanceInfo>,
    registered_ms: i64,
    last_renewal_ms: i64,
    service_up_ms: i64,
    last_renewal: Instant,
    duration: Duration,
}

impl Lease {
    fn is_expired(&self, now: Instant) -> bool {
        now > self.last_renewal + self.duration
    }

    fn lease_info(&self) -> LeaseInfo {
        LeaseInfo {
            registration_timestamp: self.registered_ms,
            last_renewal_timestamp: self.last_renewal_ms,
            service_up_timestamp: self.service_up_ms,
            eviction_timestamp: 0,
            ..self.instance.lease_info
        }
    }

    /// The instance as the wire shows it, lease timestamps filled in.
    fn view(&self) -> InstanceInfo {
        let mut instance = (*self.instance).clone();
        instance.lease_info = self.lease_info();
        instance
    }

    fn entry(&self) -> Entry {
        Entry {
            instance: self.instance.clone(),
            lease: self.lease_info(),
        }
    }

    fn edit(&mut self) -> &mut InstanceInfo {
        Arc::make_mut(&mut self.instance)
    }
}

/// An instance as of some moment: the shared data and its lease facts.
#[derive(Clone)]
struct Entry {
    instance: Arc<InstanceInfo>,
    lease: LeaseInfo,
}

impl Entry {
    fn leased(&self) -> LeasedInstance<'_> {
        LeasedInstance {
            instance: &self.instance,
            lease: &self.lease,
        }
    }

    fn view(&self) -> InstanceInfo {
        let mut instance = (*self.instance).clone();
        instance.lease_info = self.lease;
        instance
    }
}

struct Change {
    at: Instant,
    entry: Entry,
}

struct Override {
    status: Status,
    touched: Instant,
}

#[derive(Default)]
struct Inner {
    apps: BTreeMap<String, BTreeMap<String, Lease>>,
    overrides: HashMap<String, Override>,
    recent: VecDeque<Change>,
    /// Bumped on every change that clients can see (not on renewals).
    generation: u64,
    history: VecDeque<(i64, &'static str, String)>,
}

impl Inner {
    fn lease(&self, app: &str, id: &str) -> Option<&Lease> {
        self.apps.get(app)?.get(id)
    }

    fn lease_mut(&mut self, app: &str, id: &str) -> Option<&mut Lease> {
        self.apps.get_mut(app)?.get_mut(id)
    }

    fn count(&self) -> usize {
        self.apps.values().map(BTreeMap::len).sum()
    }

    fn record(&mut self, entry: Entry, retention: Duration) {
        let now = Instant::now();
        while let Some(front) = self.recent.front() {
            if now.duration_since(front.at) > retention {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        self.recent.push_back(Change { at: now, entry });
        self.generation += 1;
    }

    fn remember(&mut self, what: &'static str, key: String) {
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((now_millis(), what, key));
    }
}

/// What a renewal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenewOutcome {
    /// 200.
    Renewed,
    /// 404: register again.
    NotFound,
    /// 409 (replication only): our copy is newer; the peer should adopt it.
    Conflict(Box<InstanceInfo>),
}

/// The registry of one discovery node.
pub struct Registry {
    config: RegistryConfig,
    inner: RwLock<Inner>,
    renewals_current: AtomicU64,
    renewals_last_minute: AtomicU64,
    minute_started: Mutex<Instant>,
    started: Instant,
    replication: OnceLock<mpsc::Sender<ReplicationTask>>,
    payloads: Mutex<HashMap<(bool, Format), CachedPayload>>,
    /// `versions__delta` of deltas: counts delta payload builds, as Eureka's response cache does.
    delta_version: AtomicU64,
}

/// The registry (or a delta) as shared entries, ready to serialize without the lock.
struct Snapshot {
    apps_hashcode: String,
    applications: Vec<(String, Vec<Entry>)>,
}

impl Snapshot {
    fn to_applications(&self, versions_delta: &str) -> Applications {
        Applications {
            versions_delta: versions_delta.to_owned(),
            apps_hashcode: self.apps_hashcode.clone(),
            applications: self
                .applications
                .iter()
                .map(|(name, entries)| Application {
                    name: name.clone(),
                    instances: entries.iter().map(Entry::view).collect(),
                })
                .collect(),
        }
    }
}

struct CachedPayload {
    generation: u64,
    built: Instant,
    body: Payload,
    /// `body` gzip-compressed, made on the first request that accepts gzip.
    gzipped: Option<Payload>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("instances", &self.read().count())
            .finish_non_exhaustive()
    }
}

/// Resolves the effective status (§5.2): the instance's own DOWN/STARTING/UNKNOWN; else the
/// recorded override; else, for a client's own call, an existing UP/OUT_OF_SERVICE; else its own.
fn resolve_status(
    own: Status,
    recorded: Option<Status>,
    existing: Option<Status>,
    replicated: bool,
) -> Status {
    if matches!(own, Status::Down | Status::Starting | Status::Unknown) {
        return own;
    }
    if let Some(status) = recorded {
        return status;
    }
    if !replicated && let Some(existing @ (Status::Up | Status::OutOfService)) = existing {
        return existing;
    }
    own
}

/// Figures for the dashboard and `/actuator`-style reporting.
#[derive(Debug, Clone)]
pub struct RegistryStats {
    /// Registered instances.
    pub instances: usize,
    /// T: renewals per minute below which self-preservation engages.
    pub renews_threshold: u64,
    /// R: renewals received in the previous full minute.
    pub renews_last_minute: u64,
    /// Whether expired leases are evicted now (false while self-preservation holds them).
    pub lease_expiration_enabled: bool,
    /// Whether self-preservation is configured.
    pub self_preservation: bool,
    /// Whether the dashboard shows the emergency banner.
    pub below_threshold_warning: bool,
    /// Time since this registry started.
    pub uptime: Duration,
}

impl Registry {
    /// An empty registry.
    pub fn new(config: RegistryConfig) -> Self {
        let now = Instant::now();
        Self {
            config,
            inner: RwLock::new(Inner::default()),
            renewals_current: AtomicU64::new(0),
            renewals_last_minute: AtomicU64::new(0),
            minute_started: Mutex::new(now),
            started: now,
            replication: OnceLock::new(),
            payloads: Mutex::new(HashMap::new()),
            delta_version: AtomicU64::new(0),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Routes this node's own changes to the peer replicator.
    pub(crate) fn set_replication(&self, sender: mpsc::Sender<ReplicationTask>) {
        let _ = self.replication.set(sender);
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn replicate(&self, task: ReplicationTask) {
        if let Some(sender) = self.replication.get() {
            // A full queue means peers are far behind; dropping is safe because heartbeats recur
            // and a peer that misses a registration answers the next heartbeat with 404.
            let _ = sender.try_send(task);
        }
    }

    // === client operations ===

    /// Registers (or re-registers) `instance`. It must have passed `validate_for_register`.
    pub fn register(&self, mut instance: InstanceInfo, replicated: bool) {
        instance.app = instance.app.to_ascii_uppercase();
        let app = instance.app.clone();
        let id = instance.effective_id();
        let now_ms = now_millis();
        let replicated_copy;
        {
            let mut inner = self.write();
            let existing = inner.lease(&app, &id);
            let mut service_up_ms = 0;
            let mut registered_ms = now_ms;
            let mut existing_status = None;
            if let Some(lease) = existing {
                service_up_ms = lease.service_up_ms;
                registered_ms = lease.registered_ms;
                existing_status = Some(lease.instance.status);
                if lease.instance.last_dirty_timestamp > instance.last_dirty_timestamp {
                    tracing::debug!(%app, %id, "stored instance is newer than the registration; keeping it");
                    instance = (*lease.instance).clone();
                }
            }
            if instance.overridden_status != Status::Unknown && !inner.overrides.contains_key(&id) {
                inner.overrides.insert(
                    id.clone(),
                    Override {
                        status: instance.overridden_status,
                        touched: Instant::now(),
                    },
                );
            }
            let recorded = inner.overrides.get_mut(&id).map(|o| {
                o.touched = Instant::now();
                o.status
            });
            instance.status =
                resolve_status(instance.status, recorded, existing_status, replicated);
            instance.overridden_status = recorded.unwrap_or(Status::Unknown);
            if instance.status == Status::Up && service_up_ms == 0 {
                service_up_ms = now_ms;
            }
            if instance.lease_info.duration_in_secs <= 0 {
                instance.lease_info.duration_in_secs = DEFAULT_DURATION_SECS;
            }
            if instance.lease_info.renewal_interval_in_secs <= 0 {
                instance.lease_info.renewal_interval_in_secs = DEFAULT_RENEWAL_SECS;
            }
            instance.action_type = Some(ActionType::Added);
            instance.last_updated_timestamp = now_ms;
            let duration = Duration::from_secs(instance.lease_info.duration_in_secs.unsigned_abs());
            let lease = Lease {
                instance: Arc::new(instance),
                registered_ms,
                last_renewal_ms: now_ms,
                service_up_ms,
                last_renewal: Instant::now(),
                duration,
            };
            replicated_copy =
                (!replicated && self.replication.get().is_some()).then(|| lease.view());
            inner.record(lease.entry(), self.config.delta_retention);
            inner
                .apps
                .entry(app.clone())
                .or_default()
                .insert(id.clone(), lease);
            inner.remember("registered", format!("{app}({id})"));
        }
        tracing::debug!(%app, %id, replicated, "registered");
        if let Some(copy) = replicated_copy {
            self.replicate(ReplicationTask::register(copy));
        }
    }

    /// Renews a lease. `last_dirty` is the caller's `lastDirtyTimestamp`, `overridden` a peer's
    /// recorded override.
    pub fn renew(
        &self,
        app: &str,
        id: &str,
        replicated: bool,
        last_dirty: Option<i64>,
        overridden: Option<Status>,
    ) -> RenewOutcome {
        // Clients send the app upper-cased; only allocate when one does not (the hot path).
        let app: Cow<'_, str> = if app.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Owned(app.to_ascii_uppercase())
        } else {
            Cow::Borrowed(app)
        };
        let outcome;
        let heartbeat;
        {
            let mut inner = self.write();
            let recorded = inner.overrides.get_mut(id).map(|o| {
                o.touched = Instant::now();
                o.status
            });
            let Some(lease) = inner.lease_mut(&app, id) else {
                return RenewOutcome::NotFound;
            };
            let own = lease.instance.status;
            let resolved = resolve_status(own, recorded, Some(own), replicated);
            if resolved == Status::Unknown {
                return RenewOutcome::NotFound;
            }
            if lease.instance.status != resolved {
                lease.edit().status = resolved;
            }
            lease.last_renewal = Instant::now();
            lease.last_renewal_ms = now_millis();
            self.renewals_current.fetch_add(1, Ordering::Relaxed);
            let stored = lease.instance.last_dirty_timestamp;
            outcome = match last_dirty {
                Some(incoming) if incoming > stored => {
                    if replicated && let Some(status) = overridden.filter(|s| *s != Status::Unknown)
                    {
                        lease.edit().overridden_status = status;
                        inner.overrides.insert(
                            id.to_owned(),
                            Override {
                                status,
                                touched: Instant::now(),
                            },
                        );
                    }
                    RenewOutcome::NotFound
                }
                Some(incoming) if incoming < stored && replicated => {
                    RenewOutcome::Conflict(Box::new(lease.view()))
                }
                _ => RenewOutcome::Renewed,
            };
            heartbeat =
                (!replicated && self.replication.get().is_some()).then(|| ReplicationTask {
                    action: Action::Heartbeat,
                    app: app.to_string(),
                    id: id.to_owned(),
                    last_dirty_timestamp: Some(stored),
                    status: Some(resolved),
                    overridden_status: recorded,
                    instance: None,
                });
        }
        if let Some(task) = heartbeat {
            self.replicate(task);
        }
        outcome
    }

    /// Cancels a lease; false when it is unknown.
    pub fn cancel(&self, app: &str, id: &str, replicated: bool) -> bool {
        let app = app.to_ascii_uppercase();
        if !self.remove(&app, id, "cancelled") {
            return false;
        }
        if !replicated {
            self.replicate(ReplicationTask::simple(Action::Cancel, &app, id));
        }
        true
    }

    fn remove(&self, app: &str, id: &str, why: &'static str) -> bool {
        let mut inner = self.write();
        let Some(instances) = inner.apps.get_mut(app) else {
            return false;
        };
        let Some(lease) = instances.remove(id) else {
            return false;
        };
        if instances.is_empty() {
            inner.apps.remove(app);
        }
        inner.overrides.remove(id);
        let mut entry = lease.entry();
        let now_ms = now_millis();
        let deleted = Arc::make_mut(&mut entry.instance);
        deleted.action_type = Some(ActionType::Deleted);
        deleted.last_updated_timestamp = now_ms;
        entry.lease.eviction_timestamp = now_ms;
        inner.record(entry, self.config.delta_retention);
        inner.remember(why, format!("{app}({id})"));
        tracing::debug!(%app, %id, why, "lease removed");
        true
    }

    /// `PUT …/status?value=S`: records an override; false when the lease is unknown.
    pub fn set_status_override(
        &self,
        app: &str,
        id: &str,
        status: Status,
        last_dirty: Option<i64>,
        replicated: bool,
    ) -> bool {
        let app = app.to_ascii_uppercase();
        let ldt;
        {
            let mut inner = self.write();
            let Some(lease) = inner.lease_mut(&app, id) else {
                return false;
            };
            lease.last_renewal = Instant::now();
            lease.last_renewal_ms = now_millis();
            ldt = lease
                .instance
                .last_dirty_timestamp
                .max(last_dirty.unwrap_or(0));
            // As Eureka: an override to the status the instance already has records nothing.
            if lease.instance.status != status {
                let instance = lease.edit();
                instance.overridden_status = status;
                instance.status = status;
                instance.last_dirty_timestamp = ldt;
                instance.action_type = Some(ActionType::Modified);
                instance.last_updated_timestamp = now_millis();
                let entry = lease.entry();
                inner.record(entry, self.config.delta_retention);
                inner.overrides.insert(
                    id.to_owned(),
                    Override {
                        status,
                        touched: Instant::now(),
                    },
                );
            }
        }
        if !replicated {
            let mut task = ReplicationTask::simple(Action::StatusUpdate, &app, id);
            task.status = Some(status);
            task.last_dirty_timestamp = Some(ldt);
            self.replicate(task);
        }
        true
    }

    /// `DELETE …/status[?value=S]`: drops the override and sets the status to `fallback`
    /// (UNKNOWN by default, so the next heartbeat gets 404 and the client re-registers).
    pub fn delete_status_override(
        &self,
        app: &str,
        id: &str,
        fallback: Status,
        last_dirty: Option<i64>,
        replicated: bool,
    ) -> bool {
        let app = app.to_ascii_uppercase();
        let ldt;
        {
            let mut inner = self.write();
            if inner.lease(&app, id).is_none() {
                return false;
            }
            let recorded = inner.overrides.remove(id).is_some();
            let Some(lease) = inner.lease_mut(&app, id) else {
                return false;
            };
            lease.last_renewal = Instant::now();
            lease.last_renewal_ms = now_millis();
            // As Eureka: with no override recorded there is nothing to remove, and the status
            // stays as it is (the fallback only replaces an override).
            if !recorded {
                ldt = lease.instance.last_dirty_timestamp;
                drop(inner);
                if !replicated {
                    let mut task = ReplicationTask::simple(Action::DeleteStatusOverride, &app, id);
                    task.status = Some(fallback);
                    task.last_dirty_timestamp = Some(ldt);
                    self.replicate(task);
                }
                return true;
            }
            let instance = lease.edit();
            instance.overridden_status = Status::Unknown;
            instance.status = fallback;
            if let Some(incoming) = last_dirty {
                instance.last_dirty_timestamp = instance.last_dirty_timestamp.max(incoming);
            }
            ldt = instance.last_dirty_timestamp;
            instance.action_type = Some(ActionType::Modified);
            instance.last_updated_timestamp = now_millis();
            let entry = lease.entry();
            inner.record(entry, self.config.delta_retention);
        }
        if !replicated {
            let mut task = ReplicationTask::simple(Action::DeleteStatusOverride, &app, id);
            task.status = Some(fallback);
            task.last_dirty_timestamp = Some(ldt);
            self.replicate(task);
        }
        true
    }

    /// `PUT …/metadata?k=v`: merges metadata (a re-registration as far as deltas and peers go).
    pub fn update_metadata(&self, app: &str, id: &str, entries: Vec<(String, String)>) -> bool {
        let app = app.to_ascii_uppercase();
        let view;
        {
            let mut inner = self.write();
            let Some(lease) = inner.lease_mut(&app, id) else {
                return false;
            };
            let instance = lease.edit();
            for (key, value) in entries {
                instance.metadata.insert(key, value);
            }
            instance.action_type = Some(ActionType::Added);
            instance.last_updated_timestamp = now_millis();
            view = lease.view();
            let entry = lease.entry();
            inner.record(entry, self.config.delta_retention);
        }
        self.replicate(ReplicationTask::register(view));
        true
    }

    // === reads ===

    /// One instance of one app. An expired lease not yet evicted is still served while
    /// expiry is suspended (self-preservation), as Eureka does: it is in the registry clients
    /// fetch, so a single read agrees with it.
    pub fn instance(&self, app: &str, id: &str) -> Option<InstanceInfo> {
        let visible = self.lease_visibility();
        self.read()
            .lease(&app.to_ascii_uppercase(), id)
            .filter(|lease| visible(lease))
            .map(Lease::view)
    }

    /// The instance with this id in any app (same expiry rule as [`Self::instance`]).
    pub fn instance_anywhere(&self, id: &str) -> Option<InstanceInfo> {
        let visible = self.lease_visibility();
        self.read()
            .apps
            .values()
            .find_map(|instances| instances.get(id))
            .filter(|lease| visible(lease))
            .map(Lease::view)
    }

    /// Whether a lease is served by single-instance reads: unexpired, or expiry suspended.
    /// Decided before the registry lock is taken (the expiry rule reads the registry itself).
    fn lease_visibility(&self) -> impl Fn(&Lease) -> bool {
        let expiry_enabled = self.lease_expiration_enabled();
        let now = Instant::now();
        move |lease| !(expiry_enabled && lease.is_expired(now))
    }

    /// One application, if it has instances.
    pub fn application(&self, app: &str) -> Option<Application> {
        let inner = self.read();
        let name = app.to_ascii_uppercase();
        let instances = inner.apps.get(&name)?;
        Some(Application {
            name,
            instances: instances.values().map(Lease::view).collect(),
        })
    }

    /// The whole registry (`versions__delta` "1").
    pub fn applications(&self) -> Applications {
        let (_, snapshot) = self.snapshot();
        snapshot.to_applications("1")
    }

    /// The full registry as shared entries, taken under the read lock (reference counts only);
    /// serializing happens after the lock is released.
    fn snapshot(&self) -> (u64, Snapshot) {
        let inner = self.read();
        let applications = inner
            .apps
            .iter()
            .map(|(name, instances)| (name.clone(), instances.values().map(Lease::entry).collect()))
            .collect();
        let hash = apps_hashcode(
            inner
                .apps
                .values()
                .flat_map(|instances| instances.values().map(|l| l.instance.status)),
        );
        (
            inner.generation,
            Snapshot {
                apps_hashcode: hash,
                applications,
            },
        )
    }

    /// The changes of the retention window, one entry per instance (its last change), and the
    /// full registry's hash code at the same moment.
    pub fn delta(&self) -> Applications {
        let (_, snapshot) = self.delta_snapshot();
        snapshot.to_applications(&self.next_delta_version().to_string())
    }

    fn next_delta_version(&self) -> u64 {
        self.delta_version.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn delta_snapshot(&self) -> (u64, Snapshot) {
        let inner = self.read();
        let now = Instant::now();
        let mut latest: BTreeMap<(&str, String), &Entry> = BTreeMap::new();
        for change in inner
            .recent
            .iter()
            .filter(|c| now.duration_since(c.at) <= self.config.delta_retention)
        {
            let instance = &change.entry.instance;
            latest.insert(
                (instance.app.as_str(), instance.effective_id()),
                &change.entry,
            );
        }
        let mut applications: Vec<(String, Vec<Entry>)> = Vec::new();
        for ((app, _), entry) in latest {
            match applications.last_mut() {
                Some((name, entries)) if name == app => entries.push(entry.clone()),
                _ => applications.push((app.to_owned(), vec![entry.clone()])),
            }
        }
        let hash = apps_hashcode(
            inner
                .apps
                .values()
                .flat_map(|instances| instances.values().map(|l| l.instance.status)),
        );
        (
            inner.generation,
            Snapshot {
                apps_hashcode: hash,
                applications,
            },
        )
    }

    /// Instances whose (secure) VIP address list contains `vip`; `versions__delta` "-1", hash
    /// over the matches only.
    pub fn vip(&self, vip: &str, secure: bool) -> Applications {
        let inner = self.read();
        let mut applications = Vec::new();
        for (name, instances) in &inner.apps {
            let matching: Vec<InstanceInfo> = instances
                .values()
                .filter(|lease| {
                    let mut vips = if secure {
                        Box::new(lease.instance.secure_vip_addresses())
                            as Box<dyn Iterator<Item = &str>>
                    } else {
                        Box::new(lease.instance.vip_addresses())
                    };
                    vips.any(|v| v.eq_ignore_ascii_case(vip))
                })
                .map(Lease::view)
                .collect();
            if !matching.is_empty() {
                applications.push(Application {
                    name: name.clone(),
                    instances: matching,
                });
            }
        }
        let hash = apps_hashcode(
            applications
                .iter()
                .flat_map(|a| a.instances.iter().map(|i| i.status)),
        );
        Applications {
            versions_delta: "-1".into(),
            apps_hashcode: hash,
            applications,
        }
    }

    /// The full registry (`delta` false) or the delta, serialized (gzip-compressed when
    /// `gzip`), from a cache that any change invalidates and that lease timestamps refresh every
    /// `response_cache_ttl`.
    pub fn payload(&self, delta: bool, format: Format, gzip: bool) -> Payload {
        // Held while building, so that concurrent fetchers wait for one build, not start many.
        let mut cache = self.payloads.lock().unwrap_or_else(|p| p.into_inner());
        let generation = self.read().generation;
        let fresh = cache.get(&(delta, format)).is_some_and(|cached| {
            cached.generation == generation
                && cached.built.elapsed() < self.config.response_cache_ttl
        });
        if !fresh {
            let cached = self.build_payload(delta, format);
            // Drop the old payload before keeping the new one: at most one copy per kind stays.
            cache.remove(&(delta, format));
            cache.insert((delta, format), cached);
        }
        let Some(cached) = cache.get_mut(&(delta, format)) else {
            return Payload::default();
        };
        if !gzip {
            return cached.body.clone();
        }
        let body = &cached.body;
        cached.gzipped.get_or_insert_with(|| body.gzip()).clone()
    }

    fn build_payload(&self, delta: bool, format: Format) -> CachedPayload {
        let (generation, snapshot) = if delta {
            self.delta_snapshot()
        } else {
            self.snapshot()
        };
        let versions = if delta {
            self.next_delta_version().to_string()
        } else {
            "1".to_owned()
        };
        let borrowed: Vec<(&str, Vec<LeasedInstance<'_>>)> = snapshot
            .applications
            .iter()
            .map(|(name, entries)| (name.as_str(), entries.iter().map(Entry::leased).collect()))
            .collect();
        let mut writer = ChunkWriter::default();
        // Writing into memory cannot fail.
        let _ = model::write_registry_to(
            &mut writer,
            &versions,
            &snapshot.apps_hashcode,
            &borrowed,
            format,
        );
        CachedPayload {
            generation,
            built: Instant::now(),
            body: writer.finish(),
            gzipped: None,
        }
    }

    /// Every registered instance (for peer sync answers and the dashboard).
    pub fn instances(&self) -> Vec<InstanceInfo> {
        self.read()
            .apps
            .values()
            .flat_map(|instances| instances.values().map(Lease::view))
            .collect()
    }

    /// Recent registrations and cancellations, newest first: (epoch ms, what, `APP(id)`).
    pub fn history(&self) -> Vec<(i64, &'static str, String)> {
        self.read().history.iter().rev().cloned().collect()
    }

    // === leases over time ===

    /// T: the renewals per minute the registered leases should send, × the threshold percentage.
    pub fn renews_threshold(&self) -> u64 {
        let expected: f64 = self
            .read()
            .apps
            .values()
            .flat_map(BTreeMap::values)
            .map(|lease| 60.0 / lease.instance.lease_info.renewal_interval_in_secs.max(1) as f64)
            .sum();
        (expected * self.config.renewal_percent_threshold).floor() as u64
    }

    /// R: renewals counted in the previous full minute.
    pub fn renews_last_minute(&self) -> u64 {
        self.renewals_last_minute.load(Ordering::Relaxed)
    }

    /// Closes the current renewal-counting minute if it is over.
    pub fn roll_renewal_minute(&self) {
        let mut started = self
            .minute_started
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let elapsed = started.elapsed();
        if elapsed >= Duration::from_secs(60) {
            let count = self.renewals_current.swap(0, Ordering::Relaxed);
            // If more than one minute passed unobserved, the previous full minute saw nothing.
            let last = if elapsed >= Duration::from_secs(120) {
                0
            } else {
                count
            };
            self.renewals_last_minute.store(last, Ordering::Relaxed);
            *started = Instant::now();
        }
    }

    /// Whether, ignoring the small-churn exception, expired leases would be evicted now.
    pub fn lease_expiration_enabled(&self) -> bool {
        if !self.config.self_preservation {
            return true;
        }
        let threshold = self.renews_threshold();
        threshold > 0 && self.renews_last_minute() > threshold
    }

    /// Removes expired leases as the self-preservation rule allows; returns how many.
    pub fn evict_expired(&self) -> usize {
        let now = Instant::now();
        let (expired, registered) = {
            let inner = self.read();
            let expired: Vec<(String, String)> = inner
                .apps
                .iter()
                .flat_map(|(app, instances)| {
                    instances
                        .iter()
                        .filter(|(_, lease)| lease.is_expired(now))
                        .map(|(id, _)| (app.clone(), id.clone()))
                })
                .collect();
            (expired, inner.count())
        };
        if expired.is_empty() {
            return 0;
        }
        let churn =
            ((registered as f64) * (1.0 - self.config.renewal_percent_threshold)).floor() as usize;
        let small = expired.len() <= churn.max(1);
        if !(self.lease_expiration_enabled() || small) {
            tracing::warn!(
                expired = expired.len(),
                registered,
                renews_last_minute = self.renews_last_minute(),
                renews_threshold = self.renews_threshold(),
                "self-preservation: renewals are below the threshold; not evicting expired leases"
            );
            return 0;
        }
        let mut evicted = 0;
        for (app, id) in expired {
            // Evictions are not replicated: every node evicts on its own clock.
            if self.remove(&app, &id, "evicted") {
                tracing::info!(%app, %id, "lease expired; instance evicted");
                evicted += 1;
            }
        }
        evicted
    }

    fn prune(&self) {
        let now = Instant::now();
        let mut inner = self.write();
        let retention = self.config.delta_retention;
        while let Some(front) = inner.recent.front() {
            if now.duration_since(front.at) > retention {
                inner.recent.pop_front();
            } else {
                break;
            }
        }
        let expiry = self.config.override_expiry;
        inner
            .overrides
            .retain(|_, o| now.duration_since(o.touched) <= expiry);
    }

    /// Runs eviction, renewal counting and delta pruning until `shutdown`.
    pub async fn housekeeping(self: Arc<Self>, shutdown: CancellationToken) {
        let mut eviction = tokio::time::interval_at(
            Instant::now() + self.config.eviction_interval,
            self.config.eviction_interval,
        );
        eviction.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut minute = tokio::time::interval_at(
            Instant::now() + Duration::from_secs(60),
            Duration::from_secs(60),
        );
        minute.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = minute.tick() => self.roll_renewal_minute(),
                _ = eviction.tick() => {
                    self.roll_renewal_minute();
                    self.evict_expired();
                }
                _ = prune.tick() => self.prune(),
            }
        }
    }

    /// Figures for the dashboard.
    pub fn stats(&self) -> RegistryStats {
        let renews_threshold = self.renews_threshold();
        let renews_last_minute = self.renews_last_minute();
        let lease_expiration_enabled = self.lease_expiration_enabled();
        let uptime = self.started.elapsed();
        RegistryStats {
            instances: self.read().count(),
            renews_threshold,
            renews_last_minute,
            lease_expiration_enabled,
            self_preservation: self.config.self_preservation,
            below_threshold_warning: self.config.self_preservation
                && renews_last_minute <= renews_threshold
                && renews_threshold > 0
                && uptime > self.config.warning_grace,
            uptime,
        }
    }
}

#[cfg(test)]
mod tests;
