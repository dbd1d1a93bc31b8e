//! Route filters, compiled once from their definitions.
//!
//! Most filters change the request on its way up (`pre`: paths, headers, query) or the response
//! on its way back (`post`: headers, status). Three wrap the call itself and are run by the
//! proxy: `Retry`, `CircuitBreaker` and `RequestRateLimiter`. `RedirectTo`, `RequestSize` and
//! `RequestHeaderSize` answer without calling the backend.

use std::{fmt::Write as _, sync::Arc};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header},
};

use crate::{
    args::{parse_size, parse_status},
    definition::{Definition, DefinitionError},
    java_regex::{JavaRegex, Replacement},
    pattern::Variables,
    predicate::query_pairs,
    resilience::{BreakerFilter, LimiterFilter, RetryFilter},
};

/// The request as filters see and change it.
#[derive(Debug)]
pub struct Exchange {
    /// The method.
    pub method: Method,
    /// The path sent upstream (percent-encoded); filters rewrite it.
    pub path: String,
    /// The query string sent upstream.
    pub query: Option<String>,
    /// The headers sent upstream.
    pub headers: HeaderMap,
    /// Variables captured by Path/Host predicates.
    pub vars: Variables,
    /// `PreserveHostHeader`: send the client's Host.
    pub preserve_host: bool,
    /// `SetRequestHostHeader`: send this Host.
    pub host_override: Option<HeaderValue>,
}

/// One compiled filter.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Drop N leading path segments.
    StripPrefix(usize),
    /// Prepend a (templated) prefix.
    PrefixPath(String),
    /// Regex replace on the path.
    RewritePath(JavaRegex, Replacement),
    /// Replace the path with a template.
    SetPath(String),
    /// Append a request header value.
    AddRequestHeader(HeaderName, String),
    /// Add request headers that are absent.
    AddRequestHeadersIfNotPresent(Vec<(HeaderName, String)>),
    /// Replace a request header.
    SetRequestHeader(HeaderName, String),
    /// Remove a request header.
    RemoveRequestHeader(HeaderName),
    /// Copy a request header's values under another name.
    MapRequestHeader(HeaderName, HeaderName),
    /// Append a query parameter.
    AddRequestParameter(String, String),
    /// Remove a query parameter.
    RemoveRequestParameter(String),
    /// Append a response header value (`override=false`: only when absent).
    AddResponseHeader(HeaderName, String, bool),
    /// Replace a response header.
    SetResponseHeader(HeaderName, String),
    /// Remove a response header.
    RemoveResponseHeader(HeaderName),
    /// Regex replace on a response header's values.
    RewriteResponseHeader(HeaderName, JavaRegex, Replacement),
    /// Answer with this status instead of the upstream's.
    SetStatus(StatusCode),
    /// Redirect without calling the backend.
    RedirectTo {
        /// A 3xx status.
        status: StatusCode,
        /// The Location.
        url: String,
        /// Append the request's query.
        include_params: bool,
    },
    /// Send the client's Host upstream.
    PreserveHostHeader,
    /// Send this Host upstream.
    SetRequestHostHeader(String),
    /// Security headers on responses (minus the disabled ones).
    SecureHeaders(Vec<(HeaderName, &'static str)>),
    /// Keep one value of repeated response headers.
    DedupeResponseHeader(Vec<HeaderName>, Dedupe),
    /// 413 when the declared body is larger.
    RequestSize(u64),
    /// 431 when the headers are larger.
    RequestHeaderSize(u64, String),
    /// Retry the call.
    Retry(Arc<RetryFilter>),
    /// Guard the call with a breaker.
    CircuitBreaker(Arc<BreakerFilter>),
    /// Token-bucket rate limiting.
    RequestRateLimiter(Arc<LimiterFilter>),
    /// `TokenRelay`: the caller's bearer token goes to the backend. The gateway is stateless
    /// (no login session holds a token for the caller), so the token is the one the caller
    /// sent, which every route passes on anyway: accepted, and nothing to do.
    TokenRelay,
}

/// `DedupeResponseHeader` strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedupe {
    /// Keep the first value.
    RetainFirst,
    /// Keep the last value.
    RetainLast,
    /// Keep each distinct value once.
    RetainUnique,
}

/// The filter names known, for `/actuator/gateway/routefilters`.
pub const NAMES: &[&str] = &[
    "AddRequestHeader",
    "AddRequestHeadersIfNotPresent",
    "AddRequestParameter",
    "AddResponseHeader",
    "CircuitBreaker",
    "DedupeResponseHeader",
    "MapRequestHeader",
    "PrefixPath",
    "PreserveHostHeader",
    "RedirectTo",
    "RemoveRequestHeader",
    "RemoveRequestParameter",
    "RemoveResponseHeader",
    "RequestHeaderSize",
    "RequestRateLimiter",
    "RequestSize",
    "Retry",
    "RewritePath",
    "RewriteResponseHeader",
    "SecureHeaders",
    "SetPath",
    "SetRequestHeader",
    "SetRequestHostHeader",
    "SetResponseHeader",
    "SetStatus",
    "StripPrefix",
    "TokenRelay",
];

const SECURE_HEADERS: &[(&str, &str)] = &[
    ("x-xss-protection", "1 ; mode=block"),
    ("strict-transport-security", "max-age=631138519"),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'self' https:; font-src 'self' https: data:; img-src 'self' https: data:; object-src 'none'; script-src https:; style-src 'self' https: 'unsafe-inline'",
    ),
    ("x-download-options", "noopen"),
    ("x-permitted-cross-domain-policies", "none"),
];

fn bad(what: String) -> DefinitionError {
    DefinitionError(what)
}

fn required<'a>(d: &'a Definition, names: &[&str], pos: usize) -> Result<&'a str, DefinitionError> {
    d.arg(names, pos)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad(format!("{} needs `{}`", d.name, names[0])))
}

fn header_name(text: &str) -> Result<HeaderName, DefinitionError> {
    HeaderName::from_bytes(text.trim().as_bytes())
        .map_err(|_| bad(format!("`{text}` is not a header name")))
}

/// Java's replacement syntax as YAML writes it: `$\{name}` means `${name}`.
/// Replaces `{name}` with captured variables (unknown names stay as written).
pub fn expand(template: &str, vars: &Variables) -> String {
    expand_with(template, vars, |value, out| out.push_str(value))
}

/// Like [`expand`] for a path: the (decoded) values are percent-encoded again where a path
/// needs it, `/` kept, as Spring's `UriTemplate` expands SetPath's template.
pub fn expand_path(template: &str, vars: &Variables) -> String {
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'!')
        .remove(b'$')
        .remove(b'&')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')')
        .remove(b'*')
        .remove(b'+')
        .remove(b',')
        .remove(b';')
        .remove(b'=')
        .remove(b':')
        .remove(b'@')
        .remove(b'/');
    expand_with(template, vars, |value, out| {
        out.extend(percent_encoding::utf8_percent_encode(value, PATH));
    })
}

fn expand_with(template: &str, vars: &Variables, put: impl Fn(&str, &mut String)) -> String {
    if !template.contains('{') {
        return template.to_owned();
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars.get(name) {
                    Some(value) => put(value, &mut out),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn flag(d: &Definition, names: &[&str], pos: usize, default: bool) -> bool {
    d.arg(names, pos)
        .map_or(default, |v| v.trim().eq_ignore_ascii_case("true"))
}

impl Filter {
    /// Compiles a definition; `route_id` names breakers and limiter buckets by default.
    pub fn compile(d: &Definition, route_id: &str) -> Result<Self, DefinitionError> {
        Ok(match d.name.as_str() {
            "StripPrefix" => Self::StripPrefix(
                d.arg(&["parts"], 0)
                    .unwrap_or("1")
                    .trim()
                    .parse()
                    .map_err(|_| bad("StripPrefix needs a number of parts".into()))?,
            ),
            "PrefixPath" => Self::PrefixPath(required(d, &["prefix"], 0)?.to_owned()),
            "RewritePath" => {
                let regex = JavaRegex::new(required(d, &["regexp"], 0)?)?;
                let replacement = regex.replacement(d.arg(&["replacement"], 1).unwrap_or(""))?;
                Self::RewritePath(regex, replacement)
            }
            "SetPath" => Self::SetPath(required(d, &["template"], 0)?.to_owned()),
            "AddRequestHeader" => Self::AddRequestHeader(
                header_name(required(d, &["name"], 0)?)?,
                d.arg(&["value"], 1).unwrap_or("").to_owned(),
            ),
            "AddRequestHeadersIfNotPresent" => {
                let mut headers = Vec::new();
                for item in d.list(&["headers"], 0) {
                    let (name, value) = item
                        .split_once(':')
                        .ok_or_else(|| bad(format!("`{item}` is not Name:value")))?;
                    headers.push((header_name(name)?, value.trim().to_owned()));
                }
                Self::AddRequestHeadersIfNotPresent(headers)
            }
            "SetRequestHeader" => Self::SetRequestHeader(
                header_name(required(d, &["name"], 0)?)?,
                d.arg(&["value"], 1).unwrap_or("").to_owned(),
            ),
            "RemoveRequestHeader" => {
                Self::RemoveRequestHeader(header_name(required(d, &["name"], 0)?)?)
            }
            "MapRequestHeader" => Self::MapRequestHeader(
                header_name(required(d, &["fromHeader"], 0)?)?,
                header_name(required(d, &["toHeader"], 1)?)?,
            ),
            "AddRequestParameter" => Self::AddRequestParameter(
                required(d, &["name"], 0)?.to_owned(),
                d.arg(&["value"], 1).unwrap_or("").to_owned(),
            ),
            "RemoveRequestParameter" => {
                Self::RemoveRequestParameter(required(d, &["name"], 0)?.to_owned())
            }
            "AddResponseHeader" => Self::AddResponseHeader(
                header_name(required(d, &["name"], 0)?)?,
                d.arg(&["value"], 1).unwrap_or("").to_owned(),
                flag(d, &["override"], 2, true),
            ),
            "SetResponseHeader" => Self::SetResponseHeader(
                header_name(required(d, &["name"], 0)?)?,
                d.arg(&["value"], 1).unwrap_or("").to_owned(),
            ),
            "RemoveResponseHeader" => {
                Self::RemoveResponseHeader(header_name(required(d, &["name"], 0)?)?)
            }
            "RewriteResponseHeader" => {
                let regex = JavaRegex::new(required(d, &["regexp"], 1)?)?;
                let replacement = regex.replacement(d.arg(&["replacement"], 2).unwrap_or(""))?;
                Self::RewriteResponseHeader(
                    header_name(required(d, &["name"], 0)?)?,
                    regex,
                    replacement,
                )
            }
            "SetStatus" => Self::SetStatus(parse_status(required(d, &["status"], 0)?)?),
            "RedirectTo" => {
                let status = parse_status(required(d, &["status"], 0)?)?;
                if !status.is_redirection() {
                    return Err(bad(format!("RedirectTo needs a 3xx status, not {status}")));
                }
                Self::RedirectTo {
                    status,
                    url: required(d, &["url"], 1)?.to_owned(),
                    include_params: flag(d, &["includeRequestParams"], 2, false),
                }
            }
            "PreserveHostHeader" => Self::PreserveHostHeader,
            "TokenRelay" => Self::TokenRelay,
            "SetRequestHostHeader" => {
                Self::SetRequestHostHeader(required(d, &["host"], 0)?.to_owned())
            }
            "SecureHeaders" => {
                let disabled: Vec<String> = d
                    .list(&["disable"], 0)
                    .into_iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect();
                Self::SecureHeaders(
                    SECURE_HEADERS
                        .iter()
                        .filter(|(name, _)| !disabled.iter().any(|d| d == name))
                        .map(|(name, value)| (HeaderName::from_static(name), *value))
                        .collect(),
                )
            }
            "DedupeResponseHeader" => {
                let names = required(d, &["name"], 0)?
                    .split_whitespace()
                    .map(header_name)
                    .collect::<Result<Vec<_>, _>>()?;
                let strategy = match d
                    .arg(&["strategy"], 1)
                    .unwrap_or("RETAIN_FIRST")
                    .trim()
                    .to_ascii_uppercase()
                    .as_str()
                {
                    "RETAIN_FIRST" => Dedupe::RetainFirst,
                    "RETAIN_LAST" => Dedupe::RetainLast,
                    "RETAIN_UNIQUE" => Dedupe::RetainUnique,
                    other => return Err(bad(format!("unknown dedupe strategy `{other}`"))),
                };
                Self::DedupeResponseHeader(names, strategy)
            }
            "RequestSize" => {
                Self::RequestSize(parse_size(d.arg(&["maxSize"], 0).unwrap_or("5MB"))?)
            }
            "RequestHeaderSize" => Self::RequestHeaderSize(
                parse_size(required(d, &["maxSize"], 0)?)?,
                d.arg(&["errorHeaderName"], 1)
                    .unwrap_or("errorMessage")
                    .to_owned(),
            ),
            "Retry" => Self::Retry(Arc::new(RetryFilter::compile(d)?)),
            "CircuitBreaker" => {
                Self::CircuitBreaker(Arc::new(BreakerFilter::compile(d, route_id)?))
            }
            "RequestRateLimiter" => {
                Self::RequestRateLimiter(Arc::new(LimiterFilter::compile(d, route_id)?))
            }
            other => return Err(bad(format!("unknown filter `{other}`"))),
        })
    }

    /// The request phase; `Some(response)` answers at once without calling the backend.
    pub fn pre(&self, ex: &mut Exchange) -> Option<Response<Body>> {
        match self {
            Self::StripPrefix(parts) => {
                let segments: Vec<&str> = ex.path.split('/').skip(1).skip(*parts).collect();
                let mut path = String::with_capacity(ex.path.len());
                for s in &segments {
                    path.push('/');
                    path.push_str(s);
                }
                if path.is_empty() {
                    path.push('/');
                }
                ex.path = path;
            }
            Self::PrefixPath(prefix) => {
                ex.path = format!("{}{}", expand_path(prefix, &ex.vars), ex.path);
            }
            Self::RewritePath(regex, replacement) => {
                ex.path = regex.replace_all(&ex.path, replacement).into_owned();
                if !ex.path.starts_with('/') {
                    ex.path.insert(0, '/');
                }
            }
            Self::SetPath(template) => ex.path = expand_path(template, &ex.vars),
            Self::AddRequestHeader(name, value) => {
                if let Ok(v) = HeaderValue::from_str(&expand(value, &ex.vars)) {
                    ex.headers.append(name.clone(), v);
                }
            }
            Self::AddRequestHeadersIfNotPresent(headers) => {
                for (name, value) in headers {
                    if !ex.headers.contains_key(name)
                        && let Ok(v) = HeaderValue::from_str(&expand(value, &ex.vars))
                    {
                        ex.headers.insert(name.clone(), v);
                    }
                }
            }
            Self::SetRequestHeader(name, value) => {
                if let Ok(v) = HeaderValue::from_str(&expand(value, &ex.vars)) {
                    ex.headers.insert(name.clone(), v);
                }
            }
            Self::RemoveRequestHeader(name) => {
                ex.headers.remove(name);
            }
            Self::MapRequestHeader(from, to) => {
                let values: Vec<HeaderValue> = ex.headers.get_all(from).iter().cloned().collect();
                for v in values {
                    ex.headers.append(to.clone(), v);
                }
            }
            Self::AddRequestParameter(name, value) => {
                let pair = format!(
                    "{}={}",
                    encode_component(&expand(name, &ex.vars)),
                    encode_component(&expand(value, &ex.vars))
                );
                ex.query = Some(match ex.query.take().filter(|q| !q.is_empty()) {
                    Some(q) => format!("{q}&{pair}"),
                    None => pair,
                });
            }
            Self::RemoveRequestParameter(name) => {
                if let Some(query) = ex.query.take() {
                    let kept: Vec<&str> = query
                        .split('&')
                        .filter(|pair| {
                            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
                            query_pairs(Some(key))
                                .next()
                                .is_none_or(|(k, _)| &k != name)
                        })
                        .collect();
                    ex.query = (!kept.is_empty()).then(|| kept.join("&"));
                }
            }
            Self::RedirectTo {
                status,
                url,
                include_params,
            } => {
                let mut location = expand(url, &ex.vars);
                if *include_params && let Some(q) = ex.query.as_deref().filter(|q| !q.is_empty()) {
                    location.push(if location.contains('?') { '&' } else { '?' });
                    location.push_str(q);
                }
                let mut response = Response::new(Body::empty());
                *response.status_mut() = *status;
                if let Ok(v) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, v);
                }
                return Some(response);
            }
            Self::PreserveHostHeader => ex.preserve_host = true,
            Self::TokenRelay => {}
            Self::SetRequestHostHeader(host) => {
                ex.host_override = HeaderValue::from_str(&expand(host, &ex.vars)).ok();
            }
            Self::RequestSize(max) => {
                let length = ex
                    .headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if let Some(length) = length.filter(|l| l > max) {
                    let message = format!(
                        "Request size is larger than permissible limit. Request size is {} where permissible limit is {}",
                        human_size(length),
                        human_size(*max)
                    );
                    // Spring answers with the status and the header only.
                    let mut response = Response::new(Body::empty());
                    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                    if let Ok(v) = HeaderValue::from_str(&message) {
                        response.headers_mut().insert("errormessage", v);
                    }
                    return Some(response);
                }
            }
            Self::RequestHeaderSize(max, error_header) => {
                // Each header on its own (its name and all its values), as Spring counts; the
                // first one over the limit is named.
                let oversized = ex.headers.keys().find_map(|name| {
                    let size = name.as_str().len() as u64
                        + ex.headers
                            .get_all(name)
                            .iter()
                            .map(|v| v.len() as u64)
                            .sum::<u64>();
                    (size > *max).then(|| (name.as_str().to_owned(), size))
                });
                if let Some((name, size)) = oversized {
                    let message = format!(
                        "Request Header/s size is larger than permissible limit ({max}B). Request Header/s size for '{name}' is {size}B."
                    );
                    let mut response = Response::new(Body::empty());
                    *response.status_mut() = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
                    if let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(error_header.as_bytes()),
                        HeaderValue::from_str(&message),
                    ) {
                        response.headers_mut().insert(n, v);
                    }
                    return Some(response);
                }
            }
            _ => {}
        }
        None
    }

    /// The response phase.
    pub fn post(&self, vars: &Variables, response: &mut Response<Body>) {
        let headers = response.headers_mut();
        match self {
            Self::AddResponseHeader(name, value, override_existing) => {
                if !*override_existing && headers.contains_key(name) {
                    return;
                }
                if let Ok(v) = HeaderValue::from_str(&expand(value, vars)) {
                    headers.append(name.clone(), v);
                }
            }
            Self::SetResponseHeader(name, value) => {
                if let Ok(v) = HeaderValue::from_str(&expand(value, vars)) {
                    headers.insert(name.clone(), v);
                }
            }
            Self::RemoveResponseHeader(name) => {
                headers.remove(name);
            }
            Self::RewriteResponseHeader(name, regex, replacement) => {
                let values: Vec<HeaderValue> = headers
                    .get_all(name)
                    .iter()
                    .map(|v| {
                        let text = String::from_utf8_lossy(v.as_bytes());
                        let new = regex.replace_all(&text, replacement);
                        HeaderValue::from_str(&new).unwrap_or_else(|_| v.clone())
                    })
                    .collect();
                headers.remove(name);
                for v in values {
                    headers.append(name.clone(), v);
                }
            }
            Self::SecureHeaders(list) => {
                for (name, value) in list {
                    if !headers.contains_key(name) {
                        headers.insert(name.clone(), HeaderValue::from_static(value));
                    }
                }
            }
            Self::DedupeResponseHeader(names, strategy) => {
                for name in names {
                    dedupe(headers, name, *strategy);
                }
            }
            Self::SetStatus(status) => *response.status_mut() = *status,
            _ => {}
        }
    }

    /// The actuator's description, in the words of Spring's filter factories' `toString`
    /// (e.g. `[[StripPrefix parts = 1], order = 1]`); `route_id` is the route's, which Retry
    /// names.
    pub fn describe(definition: &Definition, order: usize, route_id: &str) -> String {
        let d = definition;
        let arg = |names: &[&str], pos: usize| d.arg(names, pos).unwrap_or("").trim().to_owned();
        let name_value = || format!(" {} = '{}'", arg(&["name"], 0), arg(&["value"], 1));
        let content = match d.name.as_str() {
            "StripPrefix" => format!(" parts = {}", d.arg(&["parts"], 0).unwrap_or("1").trim()),
            "PrefixPath" => format!(" prefix = '{}'", arg(&["prefix"], 0)),
            "RewritePath" => format!(
                " {} = '{}'",
                arg(&["regexp"], 0),
                arg(&["replacement"], 1).replace("$\\", "$")
            ),
            "SetPath" => format!(" template = '{}'", arg(&["template"], 0)),
            "AddRequestHeader"
            | "SetRequestHeader"
            | "AddResponseHeader"
            | "SetResponseHeader"
            | "AddRequestParameter" => name_value(),
            "AddRequestHeadersIfNotPresent" => {
                let pairs: Vec<String> = d
                    .list(&["headers"], 0)
                    .iter()
                    .filter_map(|h| h.split_once(':'))
                    .map(|(n, v)| format!("{} = '{}'", n.trim(), v.trim()))
                    .collect();
                format!(" {}", pairs.join(", "))
            }
            "RemoveRequestHeader" | "RemoveResponseHeader" | "RemoveRequestParameter" => {
                format!(" name = '{}'", arg(&["name"], 0))
            }
            "MapRequestHeader" => format!(
                " fromHeader = '{}', toHeader = '{}'",
                arg(&["fromHeader"], 0),
                arg(&["toHeader"], 1)
            ),
            "RewriteResponseHeader" => format!(
                " name = '{}', regexp = '{}', replacement = '{}'",
                arg(&["name"], 0),
                arg(&["regexp"], 1),
                arg(&["replacement"], 2)
            ),
            "DedupeResponseHeader" => {
                let strategy = arg(&["strategy"], 1);
                let strategy = if strategy.is_empty() {
                    "RETAIN_FIRST".to_owned()
                } else {
                    strategy.to_ascii_uppercase()
                };
                format!(" {} = {strategy}", arg(&["name"], 0))
            }
            "SetStatus" => format!(" status = '{}'", arg(&["status"], 0)),
            "RedirectTo" => {
                let include = arg(&["includeRequestParams"], 2);
                format!(
                    " {} = {}, includeRequestParams = {}",
                    arg(&["status"], 0),
                    arg(&["url"], 1),
                    if include.eq_ignore_ascii_case("true") {
                        "true"
                    } else {
                        "false"
                    }
                )
            }
            "SetRequestHostHeader" => format!("'{}'", arg(&["host"], 0)),
            "RequestSize" => format!(
                " max = {}B",
                d.arg(&["maxSize"], 0)
                    .and_then(|v| parse_size(v).ok())
                    .unwrap_or(5_000_000)
            ),
            "RequestHeaderSize" => format!(
                " maxSize = {}B",
                d.arg(&["maxSize"], 0)
                    .and_then(|v| parse_size(v).ok())
                    .unwrap_or(16_000)
            ),
            "Retry" => {
                let list = |names: &[&str], pos: usize, default: &str| -> Vec<String> {
                    let mut items = if d.is_shortcut() {
                        d.arg(names, pos)
                            .map(|v| vec![v.trim().to_owned()])
                            .unwrap_or_default()
                    } else {
                        d.list(names, usize::MAX)
                    };
                    items.retain(|i| !i.is_empty());
                    if items.is_empty() && !default.is_empty() {
                        items = default.split(',').map(|s| s.trim().to_owned()).collect();
                    }
                    items
                };
                let statuses: Vec<String> = list(&["statuses"], 1, "")
                    .iter()
                    .filter_map(|s| parse_status(s).ok())
                    .map(|s| format!("{} {}", s.as_u16(), status_name(s)))
                    .collect();
                let shown = |items: Vec<String>| {
                    if items.is_empty() {
                        "list[[empty]]".to_owned()
                    } else {
                        format!("list[{}]", items.join(", "))
                    }
                };
                let methods = list(&["methods"], 2, "GET")
                    .into_iter()
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                format!(
                    " routeId = '{route_id}', retries = {}, series = {}, statuses = {}, methods = {}, exceptions = {}",
                    d.arg(&["retries"], 0).unwrap_or("3").trim(),
                    shown(list(&["series"], usize::MAX, "SERVER_ERROR")),
                    shown(statuses),
                    shown(methods),
                    shown(list(
                        &["exceptions"],
                        usize::MAX,
                        "IOException, TimeoutException"
                    )),
                )
            }
            "CircuitBreaker" => {
                let name = d
                    .arg(&["name"], 0)
                    .map_or("[null]".to_owned(), |n| format!("'{}'", n.trim()));
                let fallback = d
                    .arg(&["fallbackUri"], 1)
                    .map_or("[null]".to_owned(), |f| f.trim().to_owned());
                return format!(
                    "[[SpringCloudCircuitBreakerResilience4JFilterFactory name = {name}, fallback = {fallback}], order = {order}]"
                );
            }
            _ => {
                let mut args = String::new();
                for (i, (k, v)) in d.args.iter().enumerate() {
                    args.push_str(if i == 0 { " " } else { ", " });
                    match k.strip_prefix("_genkey_") {
                        Some(_) => args.push_str(v),
                        None => {
                            let _ = write!(args, "{k} = {v}");
                        }
                    }
                }
                args
            }
        };
        format!("[[{}{content}], order = {order}]", d.name)
    }
}

/// Spring's `HttpStatus` enum name (`INTERNAL_SERVER_ERROR`).
fn status_name(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("")
        .to_ascii_uppercase()
        .replace([' ', '-'], "_")
        .replace('\'', "")
}

fn dedupe(headers: &mut HeaderMap, name: &HeaderName, strategy: Dedupe) {
    // Comma-joined values count as several, as Spring splits them.
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if values.len() < 2 {
        return;
    }
    let kept: Vec<String> = match strategy {
        Dedupe::RetainFirst => values.into_iter().take(1).collect(),
        Dedupe::RetainLast => values.into_iter().last().into_iter().collect(),
        Dedupe::RetainUnique => {
            let mut unique: Vec<String> = Vec::new();
            for v in values {
                if !unique.contains(&v) {
                    unique.push(v);
                }
            }
            unique
        }
    };
    headers.remove(name);
    for v in kept {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.append(name.clone(), v);
        }
    }
}

fn human_size(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MB {
        format!("{:.1} MB", bytes as f64 / MB)
    } else if bytes >= 1024 {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// Percent-encodes a query component.
pub fn encode_component(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse_duration;
    use std::time::Duration;

    fn exchange(path: &str, query: Option<&str>) -> Exchange {
        Exchange {
            method: Method::GET,
            path: path.into(),
            query: query.map(Into::into),
            headers: HeaderMap::new(),
            vars: Variables::new(),
            preserve_host: false,
            host_override: None,
        }
    }

    fn run(shortcut: &str, ex: &mut Exchange) -> Option<Response<Body>> {
        let d = Definition::parse_shortcut(shortcut).unwrap();
        Filter::compile(&d, "r").unwrap().pre(ex)
    }

    #[test]
    fn path_rewrites() {
        let mut ex = exchange("/name/blue/red", None);
        run("StripPrefix=2", &mut ex);
        assert_eq!(ex.path, "/red");
        run("StripPrefix=3", &mut ex);
        assert_eq!(ex.path, "/");
        let mut ex = exchange("/hello", None);
        run("PrefixPath=/mypath", &mut ex);
        assert_eq!(ex.path, "/mypath/hello");
        let mut ex = exchange("/red/blue", None);
        run("RewritePath=/red/?(?<segment>.*), /$\\{segment}", &mut ex);
        assert_eq!(ex.path, "/blue");
        let mut ex = exchange("/api/products/7", None);
        ex.vars.insert("id".into(), "7".into());
        run("SetPath=/products/{id}", &mut ex);
        assert_eq!(ex.path, "/products/7");
    }

    #[test]
    fn query_parameters() {
        let mut ex = exchange("/", Some("a=1"));
        run("AddRequestParameter=red, blue value", &mut ex);
        assert_eq!(ex.query.as_deref(), Some("a=1&red=blue%20value"));
        run("RemoveRequestParameter=a", &mut ex);
        assert_eq!(ex.query.as_deref(), Some("red=blue%20value"));
    }

    #[test]
    fn sizes_statuses_and_durations() {
        assert_eq!(parse_size("5MB").unwrap(), 5 * 1024 * 1024);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(
            parse_status("BAD_GATEWAY").unwrap(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(parse_status("418").unwrap().as_u16(), 418);
        assert_eq!(parse_status("PAYLOAD_TOO_LARGE").unwrap().as_u16(), 413);
        assert_eq!(parse_duration("10ms").unwrap(), Duration::from_millis(10));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("PT1S").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("250").unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn dedupe_strategies() {
        let mut headers = HeaderMap::new();
        headers.append("a", HeaderValue::from_static("x"));
        headers.append("a", HeaderValue::from_static("y, x"));
        let name = HeaderName::from_static("a");
        let mut h = headers.clone();
        dedupe(&mut h, &name, Dedupe::RetainFirst);
        assert_eq!(h.get_all("a").iter().count(), 1);
        assert_eq!(h["a"], "x");
        let mut h = headers.clone();
        dedupe(&mut h, &name, Dedupe::RetainLast);
        assert_eq!(h["a"], "x");
        dedupe(&mut headers, &name, Dedupe::RetainUnique);
        assert_eq!(headers.get_all("a").iter().count(), 2);
    }
}
