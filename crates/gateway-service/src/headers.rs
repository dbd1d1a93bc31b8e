//! Header rewriting on the way to the backend and back: hop-by-hop headers dropped both ways,
//! the client's `Host` replaced by the backend's unless `PreserveHostHeader` (or set by
//! `SetRequestHostHeader`), and `X-Forwarded-For/Proto/Host/Port/Prefix` and `Forwarded`
//! written (incoming ones kept only from `trusted-proxies`), so services link back through
//! the gateway.

use std::{borrow::Cow, net::SocketAddr};

use axum::http::{HeaderMap, HeaderName, HeaderValue, header, request::Parts};
use regex::Regex;

use crate::filter::Exchange;

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-authenticate",
    "upgrade",
    "proxy-connection",
];

const X_FORWARDED: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "forwarded",
];

/// Whether the client asks for a protocol switch (`Connection: upgrade` + `Upgrade`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Drops hop-by-hop headers and those `Connection` names; keeps `Upgrade` when tunnelling.
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    let upgrade = keep_upgrade
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten();
    for name in &listed {
        headers.remove(name);
    }
    remove_named(headers, HOP_BY_HOP);
    if let Some(upgrade) = upgrade {
        headers.insert(header::UPGRADE, upgrade);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Removes the headers named in `names` (lower case) with one pass over the map instead of a
/// hashed lookup per name: most requests carry none of them.
fn remove_named(headers: &mut HeaderMap, names: &[&str]) {
    let present: Vec<HeaderName> = headers
        .keys()
        .filter(|k| names.contains(&k.as_str()))
        .cloned()
        .collect();
    for name in present {
        headers.remove(name);
    }
}

/// The `Host` the client addressed.
pub fn host_of(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
}

/// The headers sent upstream: hop-by-hop removed, Host per the filters, `X-Forwarded-*`.
pub fn upstream_headers(
    ex: &mut Exchange,
    scheme: &str,
    original_path: &str,
    host: Option<&str>,
    client: Option<SocketAddr>,
    trusted_proxies: Option<&Regex>,
    upgrade: bool,
) -> HeaderMap {
    let peer = client.map(|c| c.ip());
    // The client's address, written once for the trust check, `Forwarded` and
    // `X-Forwarded-For` (formatting an address is most of what this function costs).
    let peer_text = peer.map(ip_text);
    let mut headers = std::mem::take(&mut ex.headers);
    remove_hop_by_hop(&mut headers, upgrade);
    let trusted = match (trusted_proxies, &peer_text) {
        (Some(regex), Some(ip)) => regex.is_match(ip),
        _ => false,
    };
    if !trusted {
        remove_named(&mut headers, X_FORWARDED);
    }
    // RFC 7239, as Spring's ForwardedHeadersFilter writes it: `proto`, `host`, `for` with the
    // client's port, values quoted when they hold more than a token.
    let mut forwarded = String::with_capacity(64);
    forwarded.push_str("proto=");
    forwarded.push_str(scheme);
    // The Host as it leaves (after SetRequestHostHeader), as Spring reads it.
    let forwarded_host = ex
        .host_override
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .or(host);
    if let Some(host) = forwarded_host {
        forwarded.push_str(";host=");
        forwarded.push_str(&quote_if_needed(host));
    }
    if let (Some(client), Some(ip)) = (client, &peer_text) {
        // An address with its port always holds a `:`, so it is always quoted.
        forwarded.push_str(";for=\"");
        if client.is_ipv6() {
            forwarded.push('[');
            forwarded.push_str(ip);
            forwarded.push(']');
        } else {
            forwarded.push_str(ip);
        }
        forwarded.push(':');
        push_decimal(&mut forwarded, client.port().into());
        forwarded.push('"');
    }
    let mut append = |name: &'static str, value: &str| {
        let name = HeaderName::from_static(name);
        let value = match headers.get(&name).and_then(|v| v.to_str().ok()) {
            Some(existing) if !existing.is_empty() => {
                HeaderValue::from_str(&format!("{existing}, {value}"))
            }
            _ => HeaderValue::from_str(value),
        };
        if let Ok(v) = value {
            headers.insert(name, v);
        }
    };
    append("forwarded", &forwarded);
    if let Some(ip) = &peer_text {
        append("x-forwarded-for", ip);
    }
    append("x-forwarded-proto", scheme);
    if let Some(host) = host {
        append("x-forwarded-host", host);
        let port = match host.rsplit_once(':') {
            Some((_, port)) if !host.ends_with(']') && port.parse::<u16>().is_ok() => port,
            _ if scheme == "https" => "443",
            _ => "80",
        };
        append("x-forwarded-port", port);
    }
    if let Some(prefix) = stripped_prefix(original_path, &ex.path) {
        append("x-forwarded-prefix", prefix);
    }
    if let Some(host) = ex.host_override.take() {
        headers.insert(header::HOST, host);
    } else if !ex.preserve_host {
        headers.remove(header::HOST);
    } else if let Some(h) = host.and_then(|h| HeaderValue::from_str(h).ok()) {
        headers.insert(header::HOST, h);
    }
    headers
}

/// An address as `Display` writes it, without the formatting machinery for IPv4 (the common
/// case on every proxied request).
fn ip_text(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut text = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                push_decimal(&mut text, octet.into());
            }
            text
        }
        std::net::IpAddr::V6(v6) => v6.to_string(),
    }
}

fn push_decimal(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in &digits[i..] {
        out.push(char::from(digit));
    }
}

/// A `Forwarded` value as a token, or quoted when it holds anything else (`:` of a port).
fn quote_if_needed(value: &str) -> Cow<'_, str> {
    let token = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\\\"")))
    }
}

/// The part of the original path a filter removed from its front (`/customer-service` for
/// `/customer-service/customers/1` → `/customers/1`).
fn stripped_prefix<'a>(original: &'a str, now: &str) -> Option<&'a str> {
    if original == now {
        return None;
    }
    let prefix = if now == "/" {
        original.trim_end_matches('/')
    } else {
        original.strip_suffix(now)?
    };
    let prefix = prefix.trim_end_matches('/');
    (!prefix.is_empty() && prefix.starts_with('/')).then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_prefix_is_what_was_stripped() {
        assert_eq!(
            stripped_prefix("/customer-service/customers/1", "/customers/1"),
            Some("/customer-service")
        );
        assert_eq!(
            stripped_prefix("/customer-service", "/"),
            Some("/customer-service")
        );
        assert_eq!(stripped_prefix("/customers/1", "/customers/1"), None);
        assert_eq!(stripped_prefix("/a/b", "/mypath/a/b"), None);
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "10.20.3.4",
            "::1",
            "fe80::1:2",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
        let mut text = String::new();
        push_decimal(&mut text, 0);
        push_decimal(&mut text, 65535);
        assert_eq!(text, "065535");
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
