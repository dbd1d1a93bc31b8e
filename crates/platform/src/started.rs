//! What a running service shares with the code around it: its live [`SharedSettings`] and the
//! [`Started`] handle background tasks receive once the port is bound.
//!
//! Kept apart from [`crate::app`] so that the tasks `app` starts (the config watch, the discovery
//! client) depend on these two types only, not on `app` itself: no import circle.

use std::{net::SocketAddr, sync::Arc};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{actuator::HealthRegistry, settings::Settings};

/// The live settings of a running service; a refresh replaces them and notifies subscribers.
#[derive(Debug, Clone)]
pub struct SharedSettings(Arc<watch::Sender<Settings>>);

impl SharedSettings {
    /// Shares `settings`.
    pub fn new(settings: Settings) -> Self {
        Self(Arc::new(watch::Sender::new(settings)))
    }

    /// The settings now in force.
    pub fn current(&self) -> Settings {
        self.0.borrow().clone()
    }

    /// Puts new settings in force.
    pub fn replace(&self, settings: Settings) {
        self.0.send_replace(settings);
    }

    /// A receiver that sees every replacement.
    pub fn subscribe(&self) -> watch::Receiver<Settings> {
        self.0.subscribe()
    }
}

/// What is handed to a background task when the service has bound its port.
#[derive(Debug, Clone)]
pub struct Started {
    /// The address the service listens on (the real port when 0 was asked for).
    pub local_addr: SocketAddr,
    /// Cancelled when the service stops; tasks must return soon after.
    pub shutdown: CancellationToken,
    /// The service's live settings.
    pub settings: SharedSettings,
    /// The service's health components.
    pub health: HealthRegistry,
}
