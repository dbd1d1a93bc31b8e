//! customer-service over real HTTP: the Spring Data REST contract, end to end, on SQLite (and on
//! PostgreSQL when `TEST_DATABASE_URL` is set).

mod helpers;

mod bad_input;
mod collection;
mod concurrency;
mod conditional;
mod docs;
mod idempotency;
mod items;
mod search;
mod security;
