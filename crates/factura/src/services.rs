//! The services `factura` knows, in the order `up` starts them (dependencies first).

use anyhow::bail;
use platform::ServiceDefinition;

/// Every service, dependencies first.
pub(crate) const ALL: &[ServiceDefinition] = &[
    config_service::SERVICE,
    discovery_service::SERVICE,
    customer_service::SERVICE,
    inventory_service::SERVICE,
    billing_service::SERVICE,
    gateway_service::SERVICE,
];

/// The service called `name`.
pub(crate) fn find(name: &str) -> anyhow::Result<&'static ServiceDefinition> {
    if let Some(definition) = ALL.iter().find(|d| d.name == name) {
        return Ok(definition);
    }
    let known: Vec<&str> = ALL.iter().map(|d| d.name).collect();
    bail!("unknown service `{name}`; available: {}", known.join(", "))
}
