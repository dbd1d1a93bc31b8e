//! Global CORS, as `spring.cloud.gateway.globalcors.cors-configurations.'[/**]'.*` configures
//! it, decided the way Spring's `DefaultCorsProcessor` does once a route matched: every answer
//! on a configured path varies by `Origin, Access-Control-Request-Method,
//! Access-Control-Request-Headers`; preflights are answered by the gateway; a refused origin,
//! method or header gets an empty 403; allowed requests get the `Access-Control-*` headers.
//! A preflight that no route matches is refused, unless
//! `globalcors.add-to-simple-url-handler-mapping=true` lets the configuration answer it.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header},
};
use platform::Settings;
use regex::Regex;

use crate::{definition::gateway_section, pattern::Pattern};

/// One path pattern's CORS rules.
#[derive(Debug, Clone, Default)]
struct Rule {
    origins: Vec<String>,
    origin_patterns: Vec<Regex>,
    methods: Vec<String>,
    headers: Vec<String>,
    exposed: Vec<String>,
    credentials: bool,
    max_age: Option<u64>,
}

/// The global CORS configuration.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    rules: Vec<(Pattern, Rule)>,
    /// `add-to-simple-url-handler-mapping`: preflights on paths no route matches are answered.
    pub answers_unrouted_preflights: bool,
}

/// What CORS decided for a request.
#[derive(Debug)]
pub enum CorsDecision {
    /// Not a CORS request, or no rule covers the path.
    NotCors,
    /// Answer now (a preflight, or a refused origin).
    Respond(Response<Body>),
    /// Proxy, then add these headers to the response.
    Allow(Vec<(header::HeaderName, HeaderValue)>),
}

const FIELDS: &[&str] = &[
    "allowedoriginpatterns",
    "allowedorigins",
    "allowedmethods",
    "allowedheaders",
    "exposedheaders",
    "allowcredentials",
    "maxage",
];

impl Cors {
    /// Reads the configuration under either gateway prefix.
    pub fn from_settings(settings: &Settings) -> Self {
        let mut by_pattern: indexmap::IndexMap<String, Vec<(String, String)>> =
            indexmap::IndexMap::new();
        for prefix in [crate::definition::OLD_PREFIX, crate::definition::NEW_PREFIX] {
            for (key, value) in
                settings.with_prefix(&format!("{prefix}.globalcors.cors-configurations"))
            {
                // `/**.allowedorigins.0` → (`/**`, `allowedorigins`)
                let Some((pattern, field)) = FIELDS.iter().find_map(|f| {
                    let needle = format!(".{f}");
                    let at = key.find(&needle)?;
                    Some((
                        key[..at].trim_start_matches('.').to_owned(),
                        (*f).to_owned(),
                    ))
                }) else {
                    continue;
                };
                by_pattern.entry(pattern).or_default().push((field, value));
            }
        }
        let split = |v: &str| -> Vec<String> {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let mut rules = Vec::new();
        for (pattern, fields) in by_pattern {
            let Ok(pattern) = Pattern::path(&pattern) else {
                tracing::warn!(%pattern, "ignoring CORS configuration with a bad path pattern");
                continue;
            };
            let mut rule = Rule::default();
            for (field, value) in fields {
                match field.as_str() {
                    "allowedorigins" => rule.origins.extend(split(&value)),
                    "allowedoriginpatterns" => {
                        for p in split(&value) {
                            let regex = format!("^{}$", regex::escape(&p).replace("\\*", ".*"));
                            if let Ok(r) = Regex::new(&regex) {
                                rule.origin_patterns.push(r);
                            }
                        }
                    }
                    "allowedmethods" => rule
                        .methods
                        .extend(split(&value).into_iter().map(|m| m.to_ascii_uppercase())),
                    "allowedheaders" => rule
                        .headers
                        .extend(split(&value).into_iter().map(|h| h.to_ascii_lowercase())),
                    "exposedheaders" => rule.exposed.extend(split(&value)),
                    "allowcredentials" => {
                        rule.credentials = value.trim().eq_ignore_ascii_case("true")
                    }
                    "maxage" => rule.max_age = value.trim().parse().ok(),
                    _ => {}
                }
            }
            if rule.methods.is_empty() {
                rule.methods = vec!["GET".into(), "HEAD".into()];
            }
            rules.push((pattern, rule));
        }
        let answers_unrouted_preflights = gateway_section(settings, "globalcors")
            .flag("add-to-simple-url-handler-mapping", false)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "ignoring a CORS setting");
                false
            });
        Self {
            rules,
            answers_unrouted_preflights,
        }
    }

    /// Whether any rule is configured.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The `Vary` values every answer on `path` carries when a rule covers it.
    pub fn vary_for(&self, path: &str) -> Vec<(header::HeaderName, HeaderValue)> {
        let mut vars = crate::pattern::Variables::new();
        if !self
            .rules
            .iter()
            .any(|(p, _)| p.matches(path, true, &mut vars))
        {
            return Vec::new();
        }
        VARY.iter()
            .map(|v| (header::VARY, HeaderValue::from_static(v)))
            .collect()
    }

    /// Decides for a request on `path`, which came to the gateway as `host`.
    pub fn decide(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        host: Option<&str>,
    ) -> CorsDecision {
        let mut vars = crate::pattern::Variables::new();
        let Some((_, rule)) = self
            .rules
            .iter()
            .find(|(p, _)| p.matches(path, true, &mut vars))
        else {
            return CorsDecision::NotCors;
        };
        let mut out: Vec<(header::HeaderName, HeaderValue)> = VARY
            .iter()
            .map(|v| (header::VARY, HeaderValue::from_static(v)))
            .collect();
        let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
            return CorsDecision::Allow(out);
        };
        if host.is_some_and(|host| is_same_origin(origin, host)) {
            return CorsDecision::Allow(out);
        }
        let preflight = method == Method::OPTIONS
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let any_origin = rule.origins.iter().any(|o| o == "*");
        let origin_ok = any_origin
            || rule.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
            || rule.origin_patterns.iter().any(|r| r.is_match(origin));
        if !origin_ok {
            return CorsDecision::Respond(forbidden(out));
        }
        let allow_origin = if any_origin && !rule.credentials {
            HeaderValue::from_static("*")
        } else {
            match HeaderValue::from_str(origin) {
                Ok(v) => v,
                Err(_) => return CorsDecision::Respond(forbidden(out)),
            }
        };
        out.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin));
        if rule.credentials {
            out.push((
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ));
        }
        if !preflight {
            if !rule.exposed.is_empty()
                && let Ok(v) = HeaderValue::from_str(&rule.exposed.join(", "))
            {
                out.push((header::ACCESS_CONTROL_EXPOSE_HEADERS, v));
            }
            return CorsDecision::Allow(out);
        }
        let requested = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .unwrap_or("")
            .to_ascii_uppercase();
        let method_ok = rule.methods.iter().any(|m| m == "*" || *m == requested);
        let requested_headers: Vec<String> = headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let headers_ok = requested_headers
            .iter()
            .all(|h| rule.headers.iter().any(|a| a == "*" || a == h));
        if !method_ok || !headers_ok {
            let vary = out.into_iter().filter(|(n, _)| n == header::VARY).collect();
            return CorsDecision::Respond(forbidden(vary));
        }
        let methods = if rule.methods.iter().any(|m| m == "*") {
            requested.clone()
        } else {
            rule.methods.join(",")
        };
        if let Ok(v) = HeaderValue::from_str(&methods) {
            out.push((header::ACCESS_CONTROL_ALLOW_METHODS, v));
        }
        if !requested_headers.is_empty()
            && let Ok(v) = HeaderValue::from_str(&requested_headers.join(", "))
        {
            out.push((header::ACCESS_CONTROL_ALLOW_HEADERS, v));
        }
        if let Some(age) = rule.max_age {
            out.push((header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age)));
        }
        let mut response = Response::new(Body::empty());
        response.headers_mut().extend(out);
        CorsDecision::Respond(response)
    }
}

/// What Spring's CORS processor adds to every answer on a configured path.
const VARY: [&str; 3] = [
    "Origin",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
];

/// Adds CORS headers to an answer; a `Vary` value already there (from a forward that went
/// through CORS already) is not repeated.
pub fn add_headers(headers: &mut HeaderMap, cors: Vec<(header::HeaderName, HeaderValue)>) {
    for (name, value) in cors {
        if name == header::VARY && headers.get_all(header::VARY).iter().any(|v| v == value) {
            continue;
        }
        headers.append(name, value);
    }
}

/// Whether a preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// `Origin: http://host[:port]` naming the gateway itself is not a CORS request.
fn is_same_origin(origin: &str, host: &str) -> bool {
    let Some(authority) = origin.strip_prefix("http://") else {
        return false;
    };
    let default_port = |a: &str| {
        if a.contains(':') {
            a.to_ascii_lowercase()
        } else {
            format!("{}:80", a.to_ascii_lowercase())
        }
    };
    default_port(authority) == default_port(host)
}

/// The empty 403 Spring answers to a refused CORS request.
pub fn forbidden(headers: Vec<(header::HeaderName, HeaderValue)>) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().extend(headers);
    response
}
