//! Proxied requests in the gateway's `/actuator/prometheus`, as Spring Cloud Gateway's
//! `GatewayMetricsFilter` publishes them: the timer `spring.cloud.gateway.requests`
//! (`spring_cloud_gateway_requests_seconds_count`/`_sum`) tagged `routeId`, `routeUri`,
//! `outcome`, `status`, `httpStatusCode` and `httpMethod`. Every request a route matched is
//! counted, whatever answered it: the backend, a filter, or the gateway for a failed call
//! (a 502 or 504 shows here with its route).

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use platform::metrics::{TimerFamily, TimerLabels, escape_label};

/// The metric's name in Prometheus form.
pub const NAME: &str = "spring_cloud_gateway_requests_seconds";

/// What identifies a route in the metric, shared by every request it serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteTags {
    /// `routeId`.
    pub id: String,
    /// `routeUri`, as configured (`lb://CUSTOMER-SERVICE`).
    pub uri: String,
}

/// One series: a route, a method and a status.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProxiedRequest {
    /// The route that matched.
    pub route: Arc<RouteTags>,
    /// `httpMethod`.
    pub method: Method,
    /// `httpStatusCode`, and from it `status` and `outcome`.
    pub status: u16,
}

impl TimerLabels for ProxiedRequest {
    fn write(&self, out: &mut String) {
        use std::fmt::Write as _;
        let status = StatusCode::from_u16(self.status).ok();
        let name = status.and_then(|s| s.canonical_reason()).map_or_else(
            || self.status.to_string(),
            |r| {
                r.to_ascii_uppercase()
                    .replace([' ', '-'], "_")
                    .replace('\'', "")
            },
        );
        // Spring's `HttpStatus.Series` names.
        let outcome = match self.status {
            100..=199 => "INFORMATIONAL",
            200..=299 => "SUCCESSFUL",
            300..=399 => "REDIRECTION",
            400..=499 => "CLIENT_ERROR",
            500..=599 => "SERVER_ERROR",
            _ => "UNKNOWN",
        };
        let _ = write!(
            out,
            "httpMethod=\"{}\",httpStatusCode=\"{}\",outcome=\"{outcome}\",routeId=\"{}\",routeUri=\"{}\",status=\"{}\"",
            escape_label(self.method.as_str()),
            self.status,
            escape_label(&self.route.id),
            escape_label(&self.route.uri),
            escape_label(&name),
        );
    }
}

/// The gateway's proxied-request timer.
pub type RequestMetrics = TimerFamily<ProxiedRequest>;

/// An empty timer, to be added to the service's metrics.
pub fn request_metrics() -> Arc<RequestMetrics> {
    Arc::new(TimerFamily::new(NAME))
}
