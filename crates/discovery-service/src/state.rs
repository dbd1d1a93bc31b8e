//! What the HTTP handlers of the API and the dashboard share: the registry, the peers, and the
//! facts fixed at start. Its own module so that the API and the dashboard depend on it and not
//! on each other.

use std::sync::Arc;

use crate::{registry::Registry, replication::PeerSet, settings::DashboardSettings};

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The registry.
    pub registry: Arc<Registry>,
    /// Peer nodes (filled in once the port is bound).
    pub peers: Arc<PeerSet>,
    /// `spring.security.user.name`/`password`, when the registry is protected.
    pub auth: Option<(String, String)>,
    /// What the dashboard shows and where.
    pub dashboard: DashboardSettings,
    /// Largest accepted request body (`factura.max-body-bytes`).
    pub max_body_bytes: usize,
}
