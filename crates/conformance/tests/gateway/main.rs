//! Spring Cloud Gateway against factura's gateway-service: the same route properties, the same
//! registry and the same echo backend; every request is sent to both and compared — what the
//! client got (status, headers, body) and, through the echo, what the backend saw.
//!
//! Two set-ups, each its own Spring JVM: [`routes`] (static routes: every predicate and filter
//! factory in shortcut and expanded form, Java regex syntax, encoded paths, forwarded headers,
//! global CORS, error answers, the actuator, plus the discovery locator's defaults) and
//! [`locator`] (the discovery locator with its own predicates, filters, include-expression and
//! url-expression).

mod backend;
mod fleet;
mod locator;
mod routes;
