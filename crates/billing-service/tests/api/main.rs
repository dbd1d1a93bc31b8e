//! billing-service against the real thing: a discovery-service, customer-service and
//! inventory-service started on port 0, found through the registry — no mocks of our own
//! services. Fault tests kill instances (their own runtime dies, sockets and all), stand up an
//! instance that never answers, and watch the breaker open and close.

mod helpers;

mod bills;
mod faults;
mod idempotency;
mod lifecycle;
mod numbering;
mod revenue;
mod saga;
mod security;
mod side_doors;
mod tls;
mod vat;
