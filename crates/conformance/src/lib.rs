//! The conformance suite's harness: the Spring originals run beside factura's servers and are
//! the oracle.
//!
//! - [`spring`] builds the Spring reference apps of `conformance/spring/` once per machine and
//!   starts them as child processes on free ports;
//! - [`compare`] sends the same scripted request to both servers, normalises what legitimately
//!   differs (hosts, ports, times, generated ids) and compares status, the headers that carry
//!   meaning, and bodies as trees (JSON and XML);
//! - [`fleet`] puts Spring apps and factura services on one fleet's discovery and config
//!   servers, for the mixed-fleet journeys.
//!
//! The tests in `tests/` use both, one file per protocol, plus the mixed-fleet and
//! Spring-client journeys.

pub mod compare;
pub mod fleet;
pub mod spring;
