//! The shared runtime of every factura service: the role Spring Boot and Spring Cloud's client
//! libraries play in the original system.
//!
//! * [`settings`]: Spring-style layered properties (defaults, `application.yml`, environment,
//!   flags) with relaxed binding, bound per section into typed structs ([`Settings::bind`]);
//!   the one duration parser (Spring's `DurationStyle`) and the one `${…}` resolver.
//! * [`resilience`]: the one circuit breaker (Resilience4j's), with the time-limited form the
//!   gateway uses.
//! * [`app`]: a service's lifecycle: context, bound application, graceful stop; [`started`]:
//!   the live settings and the handle background tasks get (shared with the tasks `app` starts).
//! * [`config_client`]: the config-server client: remote sources at start, `POST
//!   /actuator/refresh`, and the watch that applies repository changes by itself; also the
//!   Environment wire types the config-service serves.
//! * [`discovery`]: the Eureka client (register, renew, fetch) and the one Eureka wire model;
//!   [`balancer`]: round robin over a service's UP instances, fetching the registry at once
//!   for a service not known yet; [`service_client`]: the OpenFeign role (calls with
//!   failover, timeouts and a circuit breaker per remote service).
//! * [`cipher`]: Spring's symmetric `{cipher}` format (shared with the config-service).
//! * [`server`]: the common HTTP middleware stack and stop signals; [`tls`]: the one TLS stack
//!   (`server.ssl.*` and SSL bundles for serving, one trust section for every client).
//! * [`actuator`]: `/actuator/health`, `/info`, `/prometheus`; [`metrics`]: the registry
//!   behind `/prometheus`; [`telemetry`]: logging set-up and request spans.
//! * [`security`]: HTTP Basic with `spring.security.user.*` (discovery and config); the OAuth2
//!   resource server (JWT, JWKS, authorization rules) and client credentials; [`pattern`]:
//!   Spring's path patterns (security rules, gateway predicates).
//! * [`error`]: the one error type and the one place error bodies are written.
//! * [`db`]: SQLite or PostgreSQL through one pool type, migrations.
//! * [`hal`] and [`resource`]: HAL links and the generic Spring Data REST resource that
//!   customer and inventory services (and billing) declare their entities with.
//! * [`idempotency`]: `Idempotency-Key` on POSTs, keys kept in the service's database.
//! * [`money`], [`time`]: exact amounts and Spring's timestamp format.

pub mod actuator;
pub mod app;
pub mod balancer;
pub mod cipher;
pub mod config_client;
pub mod db;
pub mod discovery;
pub mod error;
pub mod hal;
pub mod idempotency;
pub mod metrics;
pub mod money;
pub mod pattern;
pub mod resilience;
pub mod resource;
pub mod security;
pub mod server;
pub mod service_client;
pub mod settings;
pub mod started;
pub mod telemetry;
pub mod time;
pub mod tls;

pub use app::{Application, ServiceContext, ServiceDefinition};
pub use error::ApiError;
pub use settings::Settings;
