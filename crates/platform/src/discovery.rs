//! Service discovery, the Eureka way: the wire model shared with the discovery-service, the
//! client every service runs, and the local registry cache other code queries.
//!
//! * [`model`]: `InstanceInfo`, `Applications`, lenient JSON/XML reading, Java-shaped writing.
//! * [`client`]: register, renew, fetch (full then deltas), cancel, server failover.
//! * [`cache`]: the fetched registry (`up_instances("CUSTOMER-SERVICE")`) without a network call.

pub mod cache;
pub mod client;
pub mod model;
mod xml;

pub use cache::RegistryCache;
pub use model::{Application, Applications, Format, InstanceInfo, Status};
