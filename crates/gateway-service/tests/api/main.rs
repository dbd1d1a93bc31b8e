//! gateway-service against real backends: test servers started here, our customer-service, and
//! a real discovery-service.

mod actuator;
mod console;
mod discovery;
mod faults;
mod filters;
mod helpers;
mod resilience;
mod robustness;
mod routing;
mod security;
mod tls;
