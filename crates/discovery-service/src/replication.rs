//! Peer replication: discovery nodes keep each other's registries in step, as Eureka servers do.
//!
//! * **Peers** are this node's own `eureka.client.service-url.defaultZone` list minus itself
//!   (itself = `eureka.server.my-url`, or an entry whose port is ours on a local host name).
//! * **Outgoing.** The registry hands every change a client made *directly* here (register,
//!   renew, cancel, status override and its removal) to the replicator. It batches them (≤ 250
//!   tasks or 500 ms), keeps only the last task per (action, instance), and POSTs the batch to
//!   every peer's `peerreplication/batch/`. A heartbeat the peer answers 404 is followed by a
//!   Register with our copy; a 409 carries the peer's newer copy, which we adopt. Network errors
//!   are retried twice, then the batch is dropped for that peer (heartbeats recur).
//! * **Incoming.** Batch items and single calls carrying `x-netflix-discovery-replication: true`
//!   are applied as replications: never forwarded again (no loops), and conflicts are decided by
//!   the newer `lastDirtyTimestamp`.
//! * **Start-up sync.** A node fetches `apps` from its peers and registers everything as a
//!   replication, retrying `eureka.server.registry-sync-retries` times while no peer answers. It
//!   serves meanwhile.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use platform::discovery::{
    client::ServerUrl,
    model::{self, Format, InstanceInfo, Status},
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    registry::{Registry, RenewOutcome},
    task::{Action, ReplicationTask},
};

/// The header that marks a call as coming from a peer.
pub const REPLICATION_HEADER: &str = "x-netflix-discovery-replication";
/// Most tasks per batch.
const MAX_BATCH: usize = 250;
/// Longest a task waits for its batch to fill.
const MAX_BATCH_DELAY: Duration = Duration::from_millis(500);

/// One entry of a batch answer's `responseList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemResponse {
    /// The status the item would have had as a single call.
    pub status_code: u16,
    /// For a 409: our copy of the instance, which the peer adopts.
    pub entity: Option<InstanceInfo>,
}

impl ItemResponse {
    fn code(status_code: u16) -> Self {
        Self {
            status_code,
            entity: None,
        }
    }

    fn found(found: bool) -> Self {
        Self::code(if found { 200 } else { 404 })
    }
}

/// The answer to `POST peerreplication/batch/`, one entry per item in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAnswer {
    /// The entries.
    pub responses: Vec<ItemResponse>,
}

/// XStream's element names for the batch answer (the Java classes' names).
const XML_LIST: &str = "com.netflix.eureka.cluster.protocol.ReplicationListResponse";
const XML_ITEM: &str = "com.netflix.eureka.cluster.protocol.ReplicationInstanceResponse";

impl BatchAnswer {
    /// `{"responseList":[{"statusCode":200},{"statusCode":409,"responseEntity":{…}}]}`.
    pub fn to_json(&self) -> Value {
        let list: Vec<Value> = self
            .responses
            .iter()
            .map(|r| match &r.entity {
                Some(entity) => json!({
                    "statusCode": r.status_code,
                    "responseEntity": model::instance_json_value(entity),
                }),
                None => json!({"statusCode": r.status_code}),
            })
            .collect();
        json!({"responseList": list})
    }

    /// The answer as JSON, or as the Java server's XML (named after its classes).
    pub fn write(&self, format: Format) -> Vec<u8> {
        match format {
            Format::Json => self.to_json().to_string().into_bytes(),
            Format::Xml => {
                let mut out = format!("<{XML_LIST}><responseList>").into_bytes();
                for response in &self.responses {
                    out.extend_from_slice(
                        format!(
                            "<{XML_ITEM}><statusCode>{}</statusCode>",
                            response.status_code
                        )
                        .as_bytes(),
                    );
                    if let Some(entity) = &response.entity {
                        out.extend_from_slice(&model::write_instance_as(entity, "responseEntity"));
                    }
                    out.extend_from_slice(format!("</{XML_ITEM}>").as_bytes());
                }
                out.extend_from_slice(format!("</responseList></{XML_LIST}>").as_bytes());
                out
            }
        }
    }
}

/// Applies one replicated task here.
fn apply(registry: &Registry, task: ReplicationTask) -> ItemResponse {
    match task.action {
        Action::Register => match task.instance {
            Some(instance) => match instance.validate_for_register(&instance.app) {
                Ok(()) => {
                    registry.register(instance, true);
                    ItemResponse::code(200)
                }
                Err(_) => ItemResponse::code(400),
            },
            None => ItemResponse::code(400),
        },
        Action::Heartbeat => match registry.renew(
            &task.app,
            &task.id,
            true,
            task.last_dirty_timestamp,
            task.overridden_status,
        ) {
            RenewOutcome::Renewed => ItemResponse::code(200),
            RenewOutcome::NotFound => ItemResponse::code(404),
            RenewOutcome::Conflict(ours) => ItemResponse {
                status_code: 409,
                entity: Some(*ours),
            },
        },
        Action::Cancel => ItemResponse::found(registry.cancel(&task.app, &task.id, true)),
        Action::StatusUpdate => match task.status {
            Some(status) => ItemResponse::found(registry.set_status_override(
                &task.app,
                &task.id,
                status,
                task.last_dirty_timestamp,
                true,
            )),
            None => ItemResponse::code(400),
        },
        Action::DeleteStatusOverride => ItemResponse::found(registry.delete_status_override(
            &task.app,
            &task.id,
            task.status.unwrap_or(Status::Unknown),
            task.last_dirty_timestamp,
            true,
        )),
    }
}

/// Handles `POST peerreplication/batch/`: `{"replicationList":[…]}` in, one response per item
/// in order out.
///
/// A 409 carries our copy of the instance as it stands once the whole batch is applied (the
/// Java server serializes its live instance after the batch, so a later item of the same batch
/// — a newer heartbeat storing the peer's override — shows in it too).
pub fn apply_batch(registry: &Registry, body: &Value) -> Result<BatchAnswer, String> {
    let items = body
        .get("replicationList")
        .and_then(Value::as_array)
        .ok_or("expected {\"replicationList\":[…]}")?;
    let mut responses: Vec<ItemResponse> = items
        .iter()
        .map(|item| match ReplicationTask::from_json(item) {
            Ok(task) => apply(registry, task),
            Err(reason) => {
                tracing::debug!(%reason, "unreadable replication item");
                ItemResponse::code(400)
            }
        })
        .collect();
    for response in &mut responses {
        if let Some(entity) = &mut response.entity
            && let Some(current) = registry.instance(&entity.app, &entity.effective_id())
        {
            *entity = current;
        }
    }
    Ok(BatchAnswer { responses })
}

// === peers ===

/// One peer node and what we last saw of it.
#[derive(Debug)]
pub struct Peer {
    /// Its Eureka base URL.
    pub url: ServerUrl,
    available: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl Peer {
    fn new(url: ServerUrl) -> Self {
        Self {
            url,
            available: AtomicBool::new(false),
            last_error: Mutex::new(None),
        }
    }

    /// Whether the last exchange with it succeeded.
    pub fn is_available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    fn mark(&self, result: Result<(), String>) {
        self.available.store(result.is_ok(), Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = result.err();
        }
    }
}

/// The peers of this node, known once its port is bound.
#[derive(Debug, Default)]
pub struct PeerSet {
    peers: RwLock<Vec<Arc<Peer>>>,
}

impl PeerSet {
    /// The current peers.
    pub fn list(&self) -> Vec<Arc<Peer>> {
        self.peers.read().map(|p| p.clone()).unwrap_or_default()
    }

    fn set(&self, peers: Vec<Arc<Peer>>) {
        if let Ok(mut current) = self.peers.write() {
            *current = peers;
        }
    }
}

/// `defaultZone` entries that are not this node.
pub fn peer_urls(zone: &[String], my_url: Option<&str>, local: SocketAddr) -> Vec<ServerUrl> {
    let own_names: HashSet<String> = [
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "[::1]".to_owned(),
        "0.0.0.0".to_owned(),
        local.ip().to_string(),
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_ascii_lowercase())
            .unwrap_or_default(),
    ]
    .into_iter()
    .collect();
    let my = my_url.and_then(|u| ServerUrl::parse(u).ok());
    zone.iter()
        .filter_map(|raw| match ServerUrl::parse(raw) {
            Ok(url) => Some(url),
            Err(error) => {
                tracing::warn!(%error, "ignoring an unreadable peer URL");
                None
            }
        })
        .filter(|url| {
            if let Some(my) = &my {
                return url.base != my.base;
            }
            let Ok(parsed) = url::Url::parse(&url.base) else {
                return false;
            };
            let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
            let port = parsed.port_or_known_default().unwrap_or(0);
            !(port == local.port() && own_names.contains(&host))
        })
        .collect()
}

/// Settings of replication.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// Peer base URLs.
    pub peers: Vec<ServerUrl>,
    /// `eureka.server.registry-sync-retries` (5).
    pub sync_retries: u32,
    /// `eureka.server.registry-sync-retry-wait-ms` (2 s).
    pub sync_wait: Duration,
    /// `eureka.server.peer-node-read-timeout-ms` (5 s; Netflix's 200 ms is too tight under load).
    pub peer_timeout: Duration,
    /// Trust for `https://` peers: the platform's `factura.ssl.client.*`.
    pub tls: platform::tls::ClientTlsSettings,
}

/// Starts replication: installs the sender in `registry`, syncs from peers, then forwards
/// batches until `shutdown`.
pub async fn run(
    registry: Arc<Registry>,
    peer_set: Arc<PeerSet>,
    config: ReplicationConfig,
    shutdown: CancellationToken,
) {
    if config.peers.is_empty() {
        return;
    }
    let peers: Vec<Arc<Peer>> = config
        .peers
        .into_iter()
        .map(|u| Arc::new(Peer::new(u)))
        .collect();
    peer_set.set(peers.clone());
    let built = config
        .tls
        .reqwest_builder()
        .map_err(|e| e.to_string())
        .and_then(|builder| {
            builder
                .connect_timeout(Duration::from_secs(1))
                .timeout(config.peer_timeout)
                .build()
                .map_err(|e| e.to_string())
        });
    let http = match built {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "replication disabled: cannot build its HTTP client");
            return;
        }
    };
    let (sender, receiver) = mpsc::channel(10_000);
    registry.set_replication(sender);
    tracing::info!(peers = ?peers.iter().map(|p| p.url.base.as_str()).collect::<Vec<_>>(), "replicating to peers");
    let sync = sync_from_peers(
        &registry,
        &peers,
        &http,
        config.sync_retries,
        config.sync_wait,
        &shutdown,
    );
    let forward = forward(&registry, &peers, &http, receiver, &shutdown);
    tokio::join!(sync, forward);
}

async fn sync_from_peers(
    registry: &Registry,
    peers: &[Arc<Peer>],
    http: &reqwest::Client,
    retries: u32,
    wait: Duration,
    shutdown: &CancellationToken,
) {
    for attempt in 0..=retries {
        for peer in peers {
            let mut request = http
                .get(format!("{}apps/", peer.url.base))
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some((user, password)) = &peer.url.credentials {
                request = request.basic_auth(user, Some(password));
            }
            let result = async {
                let response = request.send().await.map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("answered {}", response.status()));
                }
                let body = response.bytes().await.map_err(|e| e.to_string())?;
                model::read_applications(&body, Format::Json).map_err(|e| e.to_string())
            }
            .await;
            match result {
                Ok(apps) => {
                    peer.mark(Ok(()));
                    let mut count = 0;
                    for instance in apps.applications.into_iter().flat_map(|a| a.instances) {
                        if instance.validate_for_register(&instance.app).is_ok() {
                            registry.register(instance, true);
                            count += 1;
                        }
                    }
                    tracing::info!(peer = %peer.url.base, count, "registry synced from peer");
                    return;
                }
                Err(error) => {
                    peer.mark(Err(error.clone()));
                    tracing::debug!(peer = %peer.url.base, %error, attempt, "cannot sync from peer");
                }
            }
        }
        if attempt < retries {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
    tracing::info!("no peer answered the start-up sync; starting with an empty registry");
}

async fn forward(
    registry: &Registry,
    peers: &[Arc<Peer>],
    http: &reqwest::Client,
    mut receiver: mpsc::Receiver<ReplicationTask>,
    shutdown: &CancellationToken,
) {
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => return,
            task = receiver.recv() => match task {
                Some(task) => task,
                None => return,
            },
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + MAX_BATCH_DELAY;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(task)) => batch.push(task),
                Ok(None) | Err(_) => break,
            }
        }
        let batch = dedupe(batch);
        // Peers are few; one after another keeps this simple while the per-peer timeout bounds
        // the wait.
        for peer in peers {
            send_batch(registry, peer, http, &batch).await;
        }
    }
}

/// Keeps the last task per (action, app, id), in the order of those last occurrences.
fn dedupe(batch: Vec<ReplicationTask>) -> Vec<ReplicationTask> {
    let mut seen = HashSet::new();
    let mut kept: Vec<ReplicationTask> = batch
        .into_iter()
        .rev()
        .filter(|t| seen.insert((t.action, t.app.clone(), t.id.clone())))
        .collect();
    kept.reverse();
    kept
}

async fn post_batch(
    peer: &Peer,
    http: &reqwest::Client,
    tasks: &[ReplicationTask],
) -> Result<Vec<Value>, String> {
    let body =
        json!({"replicationList": tasks.iter().map(ReplicationTask::to_json).collect::<Vec<_>>()});
    let mut delay = Duration::from_millis(100);
    let mut last_error = String::new();
    for _ in 0..3 {
        let mut request = http
            .post(format!("{}peerreplication/batch/", peer.url.base))
            .header(REPLICATION_HEADER, "true")
            // The answer is negotiated: without this a Java peer answers XML.
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body);
        if let Some((user, password)) = &peer.url.credentials {
            request = request.basic_auth(user, Some(password));
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                let value: Value = response.json().await.map_err(|e| e.to_string())?;
                return Ok(value
                    .get("responseList")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default());
            }
            Ok(response) if response.status().is_server_error() => {
                last_error = format!("answered {}", response.status());
                delay = Duration::from_secs(1);
            }
            Ok(response) => return Err(format!("answered {}", response.status())),
            Err(error) => last_error = error.to_string(),
        }
        tokio::time::sleep(delay).await;
    }
    Err(last_error)
}

async fn send_batch(
    registry: &Registry,
    peer: &Peer,
    http: &reqwest::Client,
    tasks: &[ReplicationTask],
) {
    let responses = match post_batch(peer, http, tasks).await {
        Ok(responses) => {
            peer.mark(Ok(()));
            responses
        }
        Err(error) => {
            tracing::debug!(peer = %peer.url.base, %error, tasks = tasks.len(), "replication batch dropped");
            peer.mark(Err(error));
            return;
        }
    };
    let mut follow_up = Vec::new();
    for (task, response) in tasks.iter().zip(responses) {
        let status = response
            .get("statusCode")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match (task.action, status) {
            (Action::Heartbeat, 404) => {
                if let Some(ours) = registry.instance(&task.app, &task.id) {
                    follow_up.push(ReplicationTask::register(ours));
                }
            }
            (Action::Heartbeat, 409) => {
                let Some(theirs) = response
                    .get("responseEntity")
                    .and_then(|tree| model::instance_from_tree(tree, Format::Json).ok())
                else {
                    continue;
                };
                let overridden = theirs.overridden_status;
                let (app, id) = (theirs.app.clone(), theirs.effective_id());
                registry.register(theirs, true);
                if overridden != Status::Unknown {
                    registry.set_status_override(&app, &id, overridden, None, true);
                }
            }
            _ => {}
        }
    }
    if !follow_up.is_empty()
        && let Err(error) = post_batch(peer, http, &follow_up).await
    {
        tracing::debug!(peer = %peer.url.base, %error, "re-registration on peer failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_exclude_this_node() {
        let zone = vec![
            "http://localhost:8761/eureka/".to_owned(),
            "http://127.0.0.1:8762/eureka/".to_owned(),
            "http://user:pw@peer3:8763/eureka".to_owned(),
        ];
        let peers = peer_urls(&zone, None, "0.0.0.0:8761".parse().expect("addr"));
        let bases: Vec<&str> = peers.iter().map(|p| p.base.as_str()).collect();
        assert_eq!(
            bases,
            ["http://127.0.0.1:8762/eureka/", "http://peer3:8763/eureka/"]
        );
        assert_eq!(peers[1].credentials, Some(("user".into(), "pw".into())));
        let mine = peer_urls(
            &zone,
            Some("http://peer3:8763/eureka/"),
            "0.0.0.0:1".parse().expect("addr"),
        );
        assert_eq!(mine.len(), 2);
    }

    #[test]
    fn tasks_round_trip_and_dedupe_keeps_the_last() {
        let mut instance = InstanceInfo::new("billing", "h2", "10.0.0.2", 8083);
        instance.instance_id = Some("h2:billing:8083".into());
        let task = ReplicationTask::register(instance.clone());
        let back = ReplicationTask::from_json(&task.to_json()).expect("reads back");
        assert_eq!(back.action, Action::Register);
        assert_eq!(back.instance, Some(instance));
        let mut first = ReplicationTask::simple(Action::Heartbeat, "A", "1");
        first.last_dirty_timestamp = Some(1);
        let mut second = first.clone();
        second.last_dirty_timestamp = Some(2);
        let kept = dedupe(vec![
            first,
            ReplicationTask::simple(Action::Cancel, "A", "2"),
            second,
        ]);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].last_dirty_timestamp, Some(2));
        assert!(ReplicationTask::from_json(&json!({"action": "Explode"})).is_err());
    }
}
