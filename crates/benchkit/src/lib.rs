//! Benchmark support. The `bare-http` binary is the HTTP ceiling of the machine: the same
//! tokio + hyper + axum stack as the services, answering a fixed JSON body with no middleware,
//! no database and no logging. Load benchmarks run it side by side with the real service in one
//! run and report the ratio, which means something on a shared, noisy machine.

/// The fixed body, shaped and sized like a small customer item.
pub const FIXED_BODY: &str = r#"{"id":1,"name":"Hassan","email":"hassan@mail.com","_links":{"self":{"href":"http://localhost:8081/customers/1"},"customer":{"href":"http://localhost:8081/customers/1"}}}"#;
