//! Logging: `tracing` with an `EnvFilter` (`RUST_LOG`, default `info`), one line per event.
//!
//! Every request runs in a span carrying its method, route and `x-request-id` (see
//! [`crate::server`]), so all lines a request produces can be found by its id.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn"));
    let _ = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .compact()
        .try_init();
}
