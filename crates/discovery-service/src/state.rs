//! What the HTTP handlers of the API and the dashboard share: the registry, the peers, and the
//! facts fixed at start. Its own module so that the API and the dashboard depend on it and not
//! on each other.

use std::sync::Arc;

use crate::{registry::Registry, replication::PeerSet};

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The registry.
    pub registry: Arc<Registry>,
    /// Peer nodes (filled in once the port is bound).
    pub peers: Arc<PeerSet>,
    /// `spring.security.user.name`/`password`, when the registry is protected.
    pub auth: Option<(String, String)>,
    /// Static facts for the dashboard.
    pub dashboard: DashboardInfo,
    /// Largest accepted request body (`factura.max-body-bytes`).
    pub max_body_bytes: usize,
}

/// Facts fixed at start.
#[derive(Debug, Clone)]
pub struct DashboardInfo {
    /// Whether the dashboard is served.
    pub enabled: bool,
    /// `eureka.environment` (`test`).
    pub environment: String,
    /// `eureka.datacenter` (`default`).
    pub datacenter: String,
    /// Seconds between automatic refreshes.
    pub refresh_seconds: u64,
}
