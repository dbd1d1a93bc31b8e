//! Route predicates: Path, Method, Header, Host, Query, Cookie, After/Before/Between,
//! RemoteAddr, XForwardedRemoteAddr and Weight, compiled once from their definitions.

use std::net::IpAddr;

use axum::http::{HeaderMap, Method, header};
use chrono::{DateTime, FixedOffset, Utc};

use crate::{
    definition::{Definition, DefinitionError},
    java_regex::JavaRegex,
    pattern::{Pattern, Variables},
};

/// What predicates look at.
#[derive(Debug)]
pub struct RequestView<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path, percent-encoded as received.
    pub path: &'a str,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The host (`Host` header or HTTP/2 authority), with port when given.
    pub host: Option<&'a str>,
    /// The peer's address.
    pub peer: Option<IpAddr>,
}

/// One compiled predicate.
#[derive(Debug, Clone)]
pub enum Predicate {
    /// `Path=/a/**, /b/{id}`.
    Path {
        /// The patterns (any may match).
        patterns: Vec<Pattern>,
        /// Whether `/a/` matches `/a`.
        trailing_slash: bool,
    },
    /// `Method=GET,POST`.
    Method(Vec<Method>),
    /// `Header=X-Id, \d+`.
    Header(String, Option<JavaRegex>),
    /// `Host=**.example.org`.
    Host(Vec<Pattern>),
    /// `Query=name, regex`.
    Query(String, Option<JavaRegex>),
    /// `Cookie=name, regex`.
    Cookie(String, JavaRegex),
    /// `After=datetime`.
    After(Moment),
    /// `Before=datetime`.
    Before(Moment),
    /// `Between=datetime1, datetime2`.
    Between(Moment, Moment),
    /// `RemoteAddr=10.0.0.0/8, 127.0.0.1`.
    RemoteAddr(Vec<Cidr>),
    /// `XForwardedRemoteAddr=…`: the last `X-Forwarded-For` entry.
    XForwardedRemoteAddr(Vec<Cidr>),
    /// `Weight=group, 8`: decided per request by the route table.
    Weight {
        /// The group.
        group: String,
        /// This route's weight.
        weight: u32,
    },
}

/// The predicate names known, for `/actuator/gateway/routepredicates`.
pub const NAMES: &[&str] = &[
    "After",
    "Before",
    "Between",
    "Cookie",
    "Header",
    "Host",
    "Method",
    "Path",
    "Query",
    "RemoteAddr",
    "XForwardedRemoteAddr",
    "Weight",
];

fn bad(what: &str) -> DefinitionError {
    DefinitionError(what.to_owned())
}

/// A Java `matches` regex: the whole value must match.
pub fn full_regex(text: &str) -> Result<JavaRegex, DefinitionError> {
    JavaRegex::new(text)
}

fn required<'a>(d: &'a Definition, names: &[&str], pos: usize) -> Result<&'a str, DefinitionError> {
    d.arg(names, pos)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad(&format!("{} needs `{}`", d.name, names[0])))
}

fn optional_regex(
    d: &Definition,
    names: &[&str],
    pos: usize,
) -> Result<Option<JavaRegex>, DefinitionError> {
    d.arg(names, pos)
        .filter(|v| !v.is_empty())
        .map(full_regex)
        .transpose()
}

impl Predicate {
    /// Compiles a definition.
    pub fn compile(d: &Definition) -> Result<Self, DefinitionError> {
        Ok(match d.name.as_str() {
            "Path" => {
                let mut args = d.list(&["patterns", "pattern"], 0);
                let mut trailing_slash = d
                    .arg(
                        &["matchTrailingSlash", "matchOptionalTrailingSeparator"],
                        usize::MAX,
                    )
                    .is_none_or(|v| !v.eq_ignore_ascii_case("false"));
                if d.is_shortcut()
                    && let Some(last) = args.last()
                    && (last.eq_ignore_ascii_case("true") || last.eq_ignore_ascii_case("false"))
                {
                    trailing_slash = last.eq_ignore_ascii_case("true");
                    args.pop();
                }
                if args.is_empty() {
                    return Err(bad("Path needs at least one pattern"));
                }
                let patterns = args
                    .iter()
                    .map(|p| Pattern::path(p).map_err(|e| bad(&e.to_string())))
                    .collect::<Result<_, _>>()?;
                Self::Path {
                    patterns,
                    trailing_slash,
                }
            }
            "Method" => {
                let methods = d
                    .list(&["methods", "method"], 0)
                    .iter()
                    .map(|m| {
                        Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes())
                            .map_err(|_| bad(&format!("`{m}` is not an HTTP method")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if methods.is_empty() {
                    return Err(bad("Method needs at least one method"));
                }
                Self::Method(methods)
            }
            "Header" => Self::Header(
                required(d, &["header", "name"], 0)?.to_owned(),
                optional_regex(d, &["regexp"], 1)?,
            ),
            "Host" => {
                let patterns = d
                    .list(&["patterns", "pattern"], 0)
                    .iter()
                    .map(|p| Pattern::host(p).map_err(|e| bad(&e.to_string())))
                    .collect::<Result<Vec<_>, _>>()?;
                if patterns.is_empty() {
                    return Err(bad("Host needs at least one pattern"));
                }
                Self::Host(patterns)
            }
            "Query" => Self::Query(
                required(d, &["param"], 0)?.to_owned(),
                optional_regex(d, &["regexp"], 1)?,
            ),
            "Cookie" => Self::Cookie(
                required(d, &["name"], 0)?.to_owned(),
                full_regex(required(d, &["regexp"], 1)?)?,
            ),
            "After" => Self::After(Moment::parse(required(d, &["datetime"], 0)?)?),
            "Before" => Self::Before(Moment::parse(required(d, &["datetime"], 0)?)?),
            "Between" => Self::Between(
                Moment::parse(required(d, &["datetime1"], 0)?)?,
                Moment::parse(required(d, &["datetime2"], 1)?)?,
            ),
            "RemoteAddr" | "XForwardedRemoteAddr" => {
                let sources = d
                    .list(&["sources", "source"], 0)
                    .iter()
                    .map(|s| Cidr::parse(s))
                    .collect::<Result<Vec<_>, _>>()?;
                if sources.is_empty() {
                    return Err(bad("RemoteAddr needs at least one address"));
                }
                if d.name == "RemoteAddr" {
                    Self::RemoteAddr(sources)
                } else {
                    Self::XForwardedRemoteAddr(sources)
                }
            }
            "Weight" => {
                let group = required(d, &["group"], 0)?.to_owned();
                let weight = required(d, &["weight"], 1)?
                    .parse()
                    .map_err(|_| bad("Weight needs an integer weight"))?;
                Self::Weight { group, weight }
            }
            other => return Err(bad(&format!("unknown predicate `{other}`"))),
        })
    }

    /// Tests the request; Weight is decided by the caller and answers true here.
    pub fn test(&self, request: &RequestView<'_>, variables: &mut Variables) -> bool {
        match self {
            Self::Path {
                patterns,
                trailing_slash,
            } => patterns
                .iter()
                .any(|p| p.matches(request.path, *trailing_slash, variables)),
            Self::Method(methods) => methods.contains(request.method),
            Self::Header(name, regex) => {
                let mut values = request.headers.get_all(name.as_str()).iter();
                match regex {
                    None => values.next().is_some(),
                    Some(regex) => values.any(|v| v.to_str().is_ok_and(|v| regex.matches(v))),
                }
            }
            Self::Host(patterns) => {
                let Some(host) = request.host else {
                    return false;
                };
                let bare = strip_port(host);
                patterns.iter().any(|p| {
                    p.matches(host, false, variables)
                        || (!p.as_str().contains(':') && p.matches(bare, false, variables))
                })
            }
            Self::Query(param, regex) => query_pairs(request.query)
                .filter(|(k, _)| k == param)
                .any(|(_, v)| regex.as_ref().is_none_or(|r| r.matches(&v))),
            Self::Cookie(name, regex) => {
                cookies(request.headers).any(|(k, v)| k == name && regex.matches(v))
            }
            Self::After(t) => Utc::now() > t.at,
            Self::Before(t) => Utc::now() < t.at,
            Self::Between(a, b) => {
                let now = Utc::now();
                now > a.at && now < b.at
            }
            Self::RemoteAddr(sources) => request
                .peer
                .is_some_and(|ip| sources.iter().any(|c| c.contains(ip))),
            Self::XForwardedRemoteAddr(sources) => request
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .last()
                .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
                .or(request.peer)
                .is_some_and(|ip| sources.iter().any(|c| c.contains(ip))),
            Self::Weight { .. } => true,
        }
    }

    /// The actuator's description, in Spring's words.
    pub fn describe(&self) -> String {
        let list = |items: Vec<&str>| format!("[{}]", items.join(", "));
        match self {
            Self::Path {
                patterns,
                trailing_slash,
            } => format!(
                "Paths: {}, match trailing slash: {trailing_slash}",
                list(patterns.iter().map(Pattern::as_str).collect())
            ),
            Self::Method(methods) => {
                format!(
                    "Methods: {}",
                    list(methods.iter().map(Method::as_str).collect())
                )
            }
            Self::Header(name, regex) => format!(
                "Header: {name} regexp={}",
                regex.as_ref().map_or("null", |r| r.as_str())
            ),
            Self::Host(patterns) => format!(
                "Hosts: {}",
                list(patterns.iter().map(Pattern::as_str).collect())
            ),
            Self::Query(param, regex) => format!(
                "Query: param={param} regexp={}",
                regex.as_ref().map_or("null", |r| r.as_str())
            ),
            Self::Cookie(name, regex) => format!("Cookie: name={name} regexp={}", regex.as_str()),
            Self::After(t) => format!("After: {}", t.written),
            Self::Before(t) => format!("Before: {}", t.written),
            Self::Between(a, b) => format!("Between: {} and {}", a.written, b.written),
            Self::RemoteAddr(s) | Self::XForwardedRemoteAddr(s) => format!(
                "RemoteAddrs: {}",
                list(s.iter().map(|c| c.text.as_str()).collect())
            ),
            Self::Weight { group, weight } => format!("Weight: {group} {weight}"),
        }
    }
}

/// A point in time as a datetime predicate names it: the instant, and the text as written
/// (Spring's actuator shows the zone id, `…-07:00[America/Denver]`).
#[derive(Debug, Clone)]
pub struct Moment {
    /// The instant.
    pub at: DateTime<FixedOffset>,
    /// As configured.
    pub written: String,
}

impl Moment {
    fn parse(text: &str) -> Result<Self, DefinitionError> {
        Ok(Self {
            at: parse_datetime(text)?,
            written: text.trim().to_owned(),
        })
    }
}

/// `host` without a trailing `:port`.
pub fn strip_port(host: &str) -> &str {
    if host.ends_with(']') {
        return host;
    }
    match host.rsplit_once(':') {
        Some((bare, port)) if port.chars().all(|c| c.is_ascii_digit()) => bare,
        _ => host,
    }
}

/// Decoded `(name, value)` pairs of a query string.
pub fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
}

fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim(), v.trim().trim_matches('"')))
        })
}

/// Spring's `ZonedDateTime` text (`2017-01-20T17:42:47.789-07:00[America/Denver]`) or epoch
/// milliseconds.
pub fn parse_datetime(text: &str) -> Result<DateTime<FixedOffset>, DefinitionError> {
    let text = text.trim();
    if let Ok(millis) = text.parse::<i64>() {
        return DateTime::from_timestamp_millis(millis)
            .map(|t| t.fixed_offset())
            .ok_or_else(|| bad(&format!("`{text}` is out of range")));
    }
    let without_zone = match text.find('[') {
        Some(i) => &text[..i],
        None => text,
    };
    DateTime::parse_from_rfc3339(without_zone)
        .map_err(|e| bad(&format!("`{text}` is not a date-time with offset: {e}")))
}

/// An address block (`10.0.0.0/8`) or one address.
#[derive(Debug, Clone)]
pub struct Cidr {
    text: String,
    network: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parses `a.b.c.d[/n]` or an IPv6 address with optional prefix length.
    pub fn parse(text: &str) -> Result<Self, DefinitionError> {
        let text = text.trim();
        let (address, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| bad(&format!("`{text}` is not an IP address or CIDR block")))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| bad(&format!("`{text}` has a bad prefix length")))?,
            None => max,
        };
        Ok(Self {
            text: text.to_owned(),
            network,
            bits,
        })
    }

    /// Whether `ip` is inside the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(
            Cidr::parse("127.0.0.1")
                .unwrap()
                .contains("::ffff:127.0.0.1".parse().unwrap())
        );
        assert!(Cidr::parse("10.0.0.0/40").is_err());
    }

    #[test]
    fn zoned_datetimes() {
        let t = parse_datetime("2017-01-20T17:42:47.789-07:00[America/Denver]").unwrap();
        assert_eq!(t.timestamp(), 1_484_959_367);
        assert!(parse_datetime("yesterday").is_err());
    }
}
