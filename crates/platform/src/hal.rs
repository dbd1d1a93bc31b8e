//! HAL+JSON building blocks and the absolute base URL that links are made from.
//!
//! Links are absolute, as Spring HATEOAS makes them. Their scheme, host, port and path prefix
//! come from the request: `X-Forwarded-Proto/Host/Port/Prefix` when the service honours
//! forwarded headers (the default, `server.forward-headers-strategy=framework`), so a resource
//! fetched through the gateway links back through the gateway; otherwise the `Host` header.

use std::convert::Infallible;

use axum::{extract::FromRequestParts, http::request::Parts};
use serde::Serialize;

/// `application/hal+json`, the default representation of the data services.
pub const HAL_JSON: &str = "application/hal+json";

/// Whether `X-Forwarded-*` headers shape links; installed as a request extension by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardedHeaders(pub bool);

/// The scheme requests arrive with (`https` on a TLS port); installed as a request extension by
/// the server, the default of links when no `X-Forwarded-Proto` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestScheme(pub &'static str);

/// The absolute URL prefix of this service as the client sees it, e.g.
/// `http://localhost:9999/customer-service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// The base URL for a request with these headers.
    pub fn from_parts(parts: &Parts) -> Self {
        let honour = parts
            .extensions
            .get::<ForwardedHeaders>()
            .is_none_or(|f| f.0);
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(',').next().unwrap_or("").trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let host_header = header("host").filter(|h| is_safe_host(h));
        let (scheme, host, port, prefix) = if honour {
            let scheme = header("x-forwarded-proto")
                .filter(|p| p.eq_ignore_ascii_case("http") || p.eq_ignore_ascii_case("https"))
                .map(|p| p.to_ascii_lowercase());
            let forwarded_host = header("x-forwarded-host").filter(|h| is_safe_host(h));
            let port = header("x-forwarded-port").filter(|p| p.parse::<u16>().is_ok());
            let prefix = header("x-forwarded-prefix").filter(|p| is_safe_prefix(p));
            (scheme, forwarded_host.or(host_header), port, prefix)
        } else {
            (None, host_header, None, None)
        };
        let scheme = scheme.unwrap_or_else(|| {
            let served = parts.extensions.get::<RequestScheme>();
            served.map_or("http", |s| s.0).to_owned()
        });
        let mut host = host.unwrap_or_else(|| "localhost".to_owned());
        if let Some(port) = port {
            host = with_port(&host, &port, &scheme);
        }
        let prefix = prefix
            .map(|p| p.trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let prefix = if prefix.is_empty() || prefix.starts_with('/') {
            prefix
        } else {
            format!("/{prefix}")
        };
        Self(format!("{scheme}://{host}{prefix}"))
    }

    /// A base URL given directly (tests, clients).
    pub fn new(base: impl Into<String>) -> Self {
        Self(base.into().trim_end_matches('/').to_owned())
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn href(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The base itself, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

fn with_port(host: &str, port: &str, scheme: &str) -> String {
    let bare = match host.rfind(':') {
        Some(i) if !host.ends_with(']') => &host[..i],
        _ => host,
    };
    let default = matches!((scheme, port), ("http", "80") | ("https", "443"));
    if default {
        bare.to_owned()
    } else {
        format!("{bare}:{port}")
    }
}

/// Host names and `host:port` only: nothing that could smuggle a path or markup into links.
fn is_safe_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'))
}

fn is_safe_prefix(prefix: &str) -> bool {
    prefix.len() <= 255
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~'))
        && !prefix.contains("..")
}

/// A HAL link: `{"href": …}` or `{"href": …, "templated": true}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Link {
    /// Absolute URL, possibly an RFC 6570 template.
    pub href: String,
    /// Present and true only for templates.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub templated: bool,
}

impl Link {
    /// A plain link.
    pub fn new(href: impl Into<String>) -> Self {
        Self {
            href: href.into(),
            templated: false,
        }
    }

    /// A templated link such as `…/customers{?page,size,sort}`.
    pub fn templated(href: impl Into<String>) -> Self {
        Self {
            href: href.into(),
            templated: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn base(headers: &[(&str, &str)], honour: bool) -> String {
        let mut builder = Request::builder().uri("/customers");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let (mut parts, ()) = builder.body(()).unwrap().into_parts();
        parts.extensions.insert(ForwardedHeaders(honour));
        BaseUrl::from_parts(&parts).0
    }

    #[test]
    fn host_header_without_forwarding() {
        assert_eq!(
            base(&[("host", "localhost:8081")], true),
            "http://localhost:8081"
        );
    }

    #[test]
    fn forwarded_headers_point_back_through_the_gateway() {
        let headers = [
            ("host", "10.0.0.5:8081"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "api.example.com"),
            ("x-forwarded-port", "8443"),
            ("x-forwarded-prefix", "/customer-service/"),
        ];
        assert_eq!(
            base(&headers, true),
            "https://api.example.com:8443/customer-service"
        );
        assert_eq!(base(&headers, false), "http://10.0.0.5:8081");
    }

    #[test]
    fn default_ports_are_dropped_and_hostile_values_ignored() {
        let headers = [
            ("host", "localhost:8081"),
            ("x-forwarded-host", "evil.com/<script>"),
            ("x-forwarded-port", "80"),
        ];
        assert_eq!(base(&headers, true), "http://localhost");
    }
}
