//! discovery-service over real HTTP: the Eureka protocol, the platform client, the third-party
//! clients, peer replication and the dashboard. One test binary (faster to link).

mod helpers;

mod bad_input;
mod client;
mod dashboard;
mod interop;
mod peers;
mod protocol;
