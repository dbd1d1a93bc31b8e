//! Differential comparison: one scripted request, sent to factura's server and to Spring's,
//! with the answers compared after normalisation.
//!
//! What is compared: the status; the headers that carry meaning ([`MEANINGFUL_HEADERS`]); the
//! body as a tree — JSON as JSON, XML as elements with attributes, children and text, anything
//! else as text; a `Content-Encoding: gzip` body is decoded first (the header itself is
//! compared). What is normalised: each server's own address (and any other string a test
//! registers with [`Side::replace`]) becomes a placeholder, and values under keys that hold
//! times or generated ids ([`Rules::blank_key`]) become `"<any>"` — JSON keys and XML elements
//! of that name alike. Collections a server keeps in hash order (JSON arrays under a key named
//! in [`Rules::unordered_array`], children of XML elements named in
//! [`Rules::unordered_children`]) are compared sorted. A difference that is kept on
//! purpose is declared with [`Rules::depart`], naming the README's departures table; it is
//! counted, not hidden.

use std::{collections::BTreeMap, fmt::Write as _, sync::Mutex};

use serde_json::{Map, Value};

/// The response headers always compared; others only when [`Rules::header`] names them.
/// `Allow` is compared as a set (its methods sorted), since its order carries no meaning.
pub const MEANINGFUL_HEADERS: &[&str] = &[
    "content-type",
    "location",
    "etag",
    "allow",
    "content-encoding",
    "www-authenticate",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-max-age",
];

/// One scripted request, sent the same way to both servers.
#[derive(Debug, Clone)]
pub struct Probe {
    /// HTTP method.
    pub method: reqwest::Method,
    /// Path and query, e.g. `/eureka/apps/CUSTOMER-SERVICE?x=1`.
    pub path: String,
    /// Request headers, in order.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Option<Vec<u8>>,
    /// Send no `Accept` header at all (HTTP client libraries add `Accept: */*` on their own;
    /// Spring Data REST answers writes with a body only when the request has one).
    pub omit_accept: bool,
}

impl Probe {
    /// A request with `method` on `path`.
    pub fn new(method: reqwest::Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
            omit_accept: false,
        }
    }
    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self::new(reqwest::Method::GET, path)
    }
    /// `POST path`.
    pub fn post(path: &str) -> Self {
        Self::new(reqwest::Method::POST, path)
    }
    /// `PUT path`.
    pub fn put(path: &str) -> Self {
        Self::new(reqwest::Method::PUT, path)
    }
    /// `PATCH path`.
    pub fn patch(path: &str) -> Self {
        Self::new(reqwest::Method::PATCH, path)
    }
    /// `DELETE path`.
    pub fn delete(path: &str) -> Self {
        Self::new(reqwest::Method::DELETE, path)
    }
    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    /// Sends the request without any `Accept` header.
    pub fn without_accept(mut self) -> Self {
        self.omit_accept = true;
        self
    }
    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, body: &Value) -> Self {
        self.body_with_type("application/json", body.to_string().into_bytes())
    }
    /// A body with the given content type.
    pub fn body_with_type(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.headers
            .push(("content-type".to_owned(), content_type.to_owned()));
        self.body = Some(body.into());
        self
    }
}

/// What a server answered, after normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// Status code.
    pub status: u16,
    /// The compared headers present, by lower-case name (several values joined by `, `).
    pub headers: BTreeMap<String, String>,
    /// The body as a tree: JSON, XML as elements, text as a string, nothing as null.
    pub body: Value,
}

/// One of the two servers under comparison.
#[derive(Debug, Clone)]
pub struct Side {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    replacements: Vec<(String, String)>,
}

impl Side {
    /// The server at `base` (`http://127.0.0.1:PORT`); its own authority in any string becomes
    /// `{server}`, its port alone `{port}` where it stands as a port (after a colon).
    pub fn new(base: &str) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        let authority = base
            .split_once("://")
            .map_or(base.as_str(), |(_, rest)| rest)
            .to_owned();
        let mut side = Self {
            base,
            replacements: Vec::new(),
        };
        if let Some((host, port)) = authority.rsplit_once(':') {
            side.replacements
                .push((authority.clone(), "{server}".into()));
            if host == "127.0.0.1" {
                side.replacements
                    .push((format!("localhost:{port}"), "{server}".into()));
            }
        }
        side
    }

    /// Also replaces `from` with `to` in every string this side answers (longer strings
    /// should be registered first).
    pub fn replace(mut self, from: &str, to: &str) -> Self {
        self.replacements.push((from.to_owned(), to.to_owned()));
        self
    }

    fn normalise_text(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (from, to) in &self.replacements {
            if !from.is_empty() && text.contains(from.as_str()) {
                text = text.replace(from.as_str(), to);
            }
        }
        text
    }
}

/// What is normalised away, and what is kept different on purpose.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    blank_keys: Vec<String>,
    unordered_arrays: Vec<String>,
    unordered_children: Vec<String>,
    blank_paths: Vec<String>,
    unordered_paths: Vec<String>,
    departures: Vec<Departure>,
    headers: Vec<String>,
    patterns: Vec<(regex::Regex, String)>,
}

/// A difference kept on purpose; listed in the README's "Deliberate departures" table.
#[derive(Debug, Clone)]
pub struct Departure {
    /// A scenario name, or a prefix ending in `*` (`*` alone: every scenario).
    pub scenario: String,
    /// A difference path as reported (`status`, `header content-type`, `body/a/0/b`); each `*`
    /// matches any run of characters (`body/propertySources/*/name`, `body*`).
    pub path: String,
    /// Why users gain from the difference (the README row it matches).
    pub reason: String,
}

impl Rules {
    /// Values under object key `key` (anywhere in a body), and the text of XML elements named
    /// `key`, become `"<any>"` on both sides.
    pub fn blank_key(mut self, key: &str) -> Self {
        self.blank_keys.push(key.to_owned());
        self
    }

    /// JSON arrays under key `key` are compared in a canonical order rather than as written
    /// (collections a server keeps in hash order, e.g. the Java Eureka server's applications).
    pub fn unordered_array(mut self, key: &str) -> Self {
        self.unordered_arrays.push(key.to_owned());
        self
    }

    /// The children of XML elements named `element` are compared in a canonical order (by
    /// element name, then content) rather than as written.
    pub fn unordered_children(mut self, element: &str) -> Self {
        self.unordered_children.push(element.to_owned());
        self
    }

    /// Also compares response header `name` (beyond [`MEANINGFUL_HEADERS`]), for protocols
    /// whose meaning lies in headers of their own (a gateway's AddResponseHeader).
    pub fn header(mut self, name: &str) -> Self {
        self.headers.push(name.to_ascii_lowercase());
        self
    }

    /// Replaces every match of `pattern` with `to` in every string (header values, body text,
    /// JSON strings and keys) on both sides, after each side's own replacements: for values
    /// that differ by nature, such as a client's ephemeral port or an object's hash code.
    pub fn normalise(mut self, pattern: &str, to: &str) -> Self {
        let regex = regex::Regex::new(pattern).expect("a valid normalisation pattern");
        self.patterns.push((regex, to.to_owned()));
        self
    }

    fn compared_headers(&self) -> impl Iterator<Item = &str> {
        MEANINGFUL_HEADERS
            .iter()
            .copied()
            .chain(self.headers.iter().map(String::as_str))
    }

    fn normalise_text(&self, side: &Side, text: &str) -> String {
        let mut text = side.normalise_text(text);
        for (pattern, to) in &self.patterns {
            if pattern.is_match(&text) {
                text = pattern.replace_all(&text, to.as_str()).into_owned();
            }
        }
        text
    }

    /// The value at body path `pattern` (as differences are reported, `body/message`; `*`
    /// segments allowed, see [`Rules::depart`]) becomes `"<any>"` on both sides where present:
    /// for human-readable text that two implementations word differently, while its presence
    /// is still compared.
    pub fn blank_path(mut self, pattern: &str) -> Self {
        self.blank_paths.push(pattern.to_owned());
        self
    }

    /// The array at body path `pattern` is compared as a multiset: both sides' elements are
    /// sorted by their JSON text first (for lists whose order the server does not define, such
    /// as Spring's validation errors, collected from a hash set).
    pub fn unordered(mut self, pattern: &str) -> Self {
        self.unordered_paths.push(pattern.to_owned());
        self
    }

    /// Keeps differences at `path` in `scenario` (or `*`), for `reason`.
    pub fn depart(mut self, scenario: &str, path: &str, reason: &str) -> Self {
        self.departures.push(Departure {
            scenario: scenario.to_owned(),
            path: path.to_owned(),
            reason: reason.to_owned(),
        });
        self
    }

    fn departure(&self, scenario: &str, difference_path: &str) -> Option<&Departure> {
        self.departures.iter().find(|d| {
            let scenario_matches = match d.scenario.strip_suffix('*') {
                Some(prefix) => scenario.starts_with(prefix),
                None => d.scenario == scenario,
            };
            scenario_matches && wildcard_match(&d.path, difference_path)
        })
    }
}

/// Whether departure path `pattern` covers `path`. Segments are split at `/`: a `*` segment
/// stands for any one segment (`body/productItems/*/amount`), and a last segment ending in `*`
/// for any rest of the path (`body/_links*`, `body/page/*`).
fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    for (i, segment) in pattern.iter().enumerate() {
        if i + 1 == pattern.len()
            && let Some(prefix) = segment.strip_suffix('*')
        {
            return path.len() > i && path[i..].join("/").starts_with(prefix);
        }
        match path.get(i) {
            Some(_) if *segment == "*" => {}
            Some(actual) if actual == segment => {}
            _ => return false,
        }
    }
    pattern.len() == path.len()
}

/// One difference between the two answers.
#[derive(Debug, Clone)]
pub struct Difference {
    /// Where: `status`, `header NAME`, or `body/...`.
    pub path: String,
    /// factura's value.
    pub ours: String,
    /// Spring's value.
    pub spring: String,
}

#[derive(Debug, Default)]
struct Tally {
    scenarios: usize,
    differing: Vec<(String, Vec<Difference>)>,
    departed: Vec<(String, Difference, String)>,
}

/// A differential run over one protocol: both servers, the rules, and a tally of every
/// scenario compared.
#[derive(Debug)]
pub struct Differential {
    /// What is compared (`eureka`, `config`, ...), for the report.
    pub protocol: String,
    /// factura's server.
    pub ours: Side,
    /// Spring's server.
    pub spring: Side,
    /// Normalisation and departures.
    pub rules: Rules,
    client: reqwest::Client,
    tally: Mutex<Tally>,
}

impl Differential {
    /// Compares `ours` with `spring` under `rules`.
    pub fn new(protocol: &str, ours: Side, spring: Side, rules: Rules) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Self {
            protocol: protocol.to_owned(),
            ours,
            spring,
            rules,
            client,
            tally: Mutex::default(),
        }
    }

    /// Sends `probe` to one side and normalises the answer. A transport failure (connection
    /// closed, timeout) is an answer too: status 0 and the error as the body, so it is
    /// compared and reported with the scenario.
    pub async fn send(&self, side: &Side, probe: &Probe) -> Exchange {
        let answer = if probe.omit_accept {
            Ok(send_bare(side, probe).await)
        } else {
            self.send_with_client(side, probe).await
        };
        let (status, response_headers, mut bytes) = match answer {
            Ok(answer) => answer,
            Err(text) => {
                return Exchange {
                    status: 0,
                    headers: BTreeMap::new(),
                    body: Value::String(format!("transport error: {text}")),
                };
            }
        };
        let mut headers = BTreeMap::new();
        for name in self.rules.compared_headers() {
            let values: Vec<&str> = response_headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if !values.is_empty() {
                let mut value = self.rules.normalise_text(side, &values.join(", "));
                if name == "allow" {
                    value = as_set(&value);
                }
                headers.insert(name.to_owned(), value);
            }
        }
        let content_type = headers.get("content-type").cloned().unwrap_or_default();
        if headers
            .get("content-encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("gzip"))
        {
            bytes = gunzip(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{} {} to {}: bad gzip body: {e}",
                    probe.method, probe.path, side.base
                )
            });
        }
        let mut body = parse_body(&content_type, &bytes);
        self.normalise_value(side, &mut body);
        Exchange {
            status,
            headers,
            body,
        }
    }

    async fn send_with_client(
        &self,
        side: &Side,
        probe: &Probe,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), String> {
        let mut request = self
            .client
            .request(probe.method.clone(), format!("{}{}", side.base, probe.path));
        for (name, value) in &probe.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &probe.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            text
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        Ok((status, headers, bytes.to_vec()))
    }

    /// Sends `probe` to both sides: (factura's answer, Spring's answer).
    pub async fn both(&self, probe: &Probe) -> (Exchange, Exchange) {
        let ours = self.send(&self.ours, probe).await;
        let spring = self.send(&self.spring, probe).await;
        (ours, spring)
    }

    /// Sends `probe` to both sides, compares, and records the outcome under `scenario`.
    /// Returns the differences not declared as departures (also kept for [`Self::finish`]).
    pub async fn check(&self, scenario: &str, probe: Probe) -> Vec<Difference> {
        let (ours, spring) = self.both(&probe).await;
        self.record(scenario, &ours, &spring)
    }

    /// Compares two answers already obtained (for scenarios that need several steps per side)
    /// and records the outcome under `scenario`.
    pub fn record(&self, scenario: &str, ours: &Exchange, spring: &Exchange) -> Vec<Difference> {
        let mut differences = Vec::new();
        if ours.status != spring.status {
            differences.push(Difference {
                path: "status".into(),
                ours: ours.status.to_string(),
                spring: spring.status.to_string(),
            });
        }
        for name in self.rules.compared_headers() {
            let (a, b) = (ours.headers.get(name), spring.headers.get(name));
            if a != b {
                differences.push(Difference {
                    path: format!("header {name}"),
                    ours: a.cloned().unwrap_or_else(|| "(absent)".into()),
                    spring: b.cloned().unwrap_or_else(|| "(absent)".into()),
                });
            }
        }
        diff_values("body", &ours.body, &spring.body, &mut differences);
        let mut tally = self.tally.lock().expect("tally lock");
        tally.scenarios += 1;
        let mut unexpected = Vec::new();
        for difference in differences {
            match self.rules.departure(scenario, &difference.path) {
                Some(departure) => {
                    tally.departed.push((
                        scenario.to_owned(),
                        difference,
                        departure.reason.clone(),
                    ));
                }
                None => unexpected.push(difference),
            }
        }
        if !unexpected.is_empty() {
            tally
                .differing
                .push((scenario.to_owned(), unexpected.clone()));
        }
        unexpected
    }

    /// Prints the tally and fails if any scenario differed in a way not declared a departure.
    pub fn finish(&self) {
        let (report, ok) = self.report();
        eprintln!("{report}");
        assert!(ok, "factura differs from Spring:\n{report}");
    }

    /// The tally as text, and whether no scenario differed in an undeclared way (for tests
    /// that compare several protocols and want every report before failing).
    pub fn report(&self) -> (String, bool) {
        let tally = self.tally.lock().expect("tally lock");
        let mut report = format!(
            "conformance {}: {} scenarios compared, {} differ, {} departures kept\n",
            self.protocol,
            tally.scenarios,
            tally.differing.len(),
            tally.departed.len()
        );
        for (scenario, difference, reason) in &tally.departed {
            let _ = writeln!(
                report,
                "  kept   {scenario}: {} (ours {}, spring {}) — {reason}",
                difference.path,
                short(&difference.ours),
                short(&difference.spring)
            );
        }
        for (scenario, differences) in &tally.differing {
            for d in differences {
                let _ = writeln!(
                    report,
                    "  DIFFER {scenario}: {}\n         ours:   {}\n         spring: {}",
                    d.path,
                    short(&d.ours),
                    short(&d.spring)
                );
            }
        }
        (report, tally.differing.is_empty())
    }

    fn normalise_value(&self, side: &Side, value: &mut Value) {
        self.normalise_at(side, "body", value);
    }

    fn normalise_at(&self, side: &Side, path: &str, value: &mut Value) {
        if self.rules.blank_paths.iter().any(|p| path_matches(p, path)) {
            *value = Value::String("<any>".into());
            return;
        }
        match value {
            Value::String(s) => *s = self.rules.normalise_text(side, s),
            Value::Array(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    self.normalise_at(side, &format!("{path}/{i}"), v);
                }
                if self
                    .rules
                    .unordered_paths
                    .iter()
                    .any(|p| path_matches(p, path))
                {
                    items.sort_by_cached_key(Value::to_string);
                }
            }
            Value::Object(map) => {
                let xml_name = map.get("#name").and_then(Value::as_str).map(str::to_owned);
                let old = std::mem::take(map);
                for (key, mut v) in old {
                    let key = self.rules.normalise_text(side, &key);
                    if self.rules.blank_keys.contains(&key) {
                        v = Value::String("<any>".into());
                    } else {
                        self.normalise_at(side, &format!("{path}/{key}"), &mut v);
                    }
                    if let Value::Array(items) = &mut v
                        && self.rules.unordered_arrays.contains(&key)
                    {
                        sort_canonically(items);
                    }
                    map.insert(key, v);
                }
                if let Some(name) = &xml_name {
                    if self.rules.blank_keys.iter().any(|k| k == name) && map.contains_key("#text")
                    {
                        map.insert("#text".into(), Value::String("<any>".into()));
                    }
                    if self.rules.unordered_children.iter().any(|k| k == name)
                        && let Some(Value::Array(children)) = map.get_mut("#children")
                    {
                        sort_canonically(children);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Sorts values by element name (XML) and then by their written form.
fn sort_canonically(items: &mut [Value]) {
    items.sort_by_cached_key(|v| {
        (
            v.get("#name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            v.to_string(),
        )
    });
}

/// Decodes a gzip body.
pub fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

/// Whether `text` matches `pattern`, where each `*` stands for any run of characters.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A comma-separated list whose order means nothing (`Allow`), sorted: `GET, HEAD`.
fn as_set(list: &str) -> String {
    let mut items: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    items.sort_unstable();
    items.dedup();
    items.join(",")
}

/// Sends `probe` over a fresh HTTP/1.1 connection with exactly the probe's headers (plus
/// `Host`, `Content-Length` and `Connection: close`), for probes that must carry no `Accept`.
async fn send_bare(side: &Side, probe: &Probe) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    use http_body_util::BodyExt as _;
    let what = format!("{} {} to {}", probe.method, probe.path, side.base);
    let authority = side
        .base
        .split_once("://")
        .map_or(side.base.as_str(), |(_, rest)| rest)
        .to_owned();
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    tokio::spawn(connection);
    let body = probe.body.clone().unwrap_or_default();
    let mut request = http::Request::builder()
        .method(probe.method.as_str())
        .uri(&probe.path)
        .header("host", &authority)
        .header("connection", "close");
    for (name, value) in probe
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("accept"))
    {
        request = request.header(name, value);
    }
    if probe.body.is_some() {
        request = request.header("content-length", body.len());
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        sender.send_request(request),
    )
    .await
    .unwrap_or_else(|_| panic!("{what}: no answer in 30 s"))
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    (status, headers, bytes)
}

fn short(text: &str) -> String {
    const MAX: usize = 400;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// A body as a tree, chosen by content type (and by shape when the type says nothing).
pub fn parse_body(content_type: &str, bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    let text = String::from_utf8_lossy(bytes);
    let content_type = content_type.to_ascii_lowercase();
    if content_type.contains("json")
        && let Ok(value) = serde_json::from_slice(bytes)
    {
        return value;
    }
    if content_type.contains("xml") || text.trim_start().starts_with("<?xml") {
        // Text that holds no element (a bare reason labelled as XML) stays text.
        if let Ok(value) = xml_tree(&text)
            .map_err(drop)
            .and_then(|v| if v.is_null() { Err(()) } else { Ok(v) })
        {
            return value;
        }
    }
    Value::String(text.into_owned())
}

/// An XML document as `{"#name", "@attr"…, "#children": […], "#text"}` objects, whitespace
/// between elements dropped.
pub fn xml_tree(text: &str) -> anyhow::Result<Value> {
    use quick_xml::{XmlVersion, events::Event};
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Map<String, Value>> = vec![Map::new()];
    loop {
        match reader.read_event()? {
            Event::Start(start) => stack.push(element(&start)?),
            Event::Empty(start) => {
                let node = element(&start)?;
                push_child(stack.last_mut().expect("root"), node);
            }
            Event::End(_) => {
                let node = stack.pop().expect("an open element");
                push_child(stack.last_mut().expect("root"), node);
            }
            Event::Text(t) => {
                let t = t.xml_content(XmlVersion::Implicit1_0).trim().to_owned();
                if !t.is_empty() {
                    append_text(stack.last_mut().expect("root"), &t);
                }
            }
            Event::CData(t) => {
                let t = AsRef::<str>::as_ref(&t).to_owned();
                append_text(stack.last_mut().expect("root"), &t);
            }
            Event::GeneralRef(r) => {
                let name = r.xml_content(XmlVersion::Implicit1_0).into_owned();
                let resolved = match name.as_str() {
                    "amp" => "&".to_owned(),
                    "lt" => "<".to_owned(),
                    "gt" => ">".to_owned(),
                    "quot" => "\"".to_owned(),
                    "apos" => "'".to_owned(),
                    other => format!("&{other};"),
                };
                append_text(stack.last_mut().expect("root"), &resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut root = stack.pop().expect("root");
    match root.remove("#children") {
        Some(Value::Array(mut children)) if children.len() == 1 => Ok(children.remove(0)),
        other => Ok(other.unwrap_or(Value::Null)),
    }
}

fn element(start: &quick_xml::events::BytesStart<'_>) -> anyhow::Result<Map<String, Value>> {
    use quick_xml::XmlVersion;
    let mut node = Map::new();
    node.insert(
        "#name".into(),
        Value::String(start.name().as_ref().to_owned()),
    );
    for attribute in start.attributes() {
        let attribute = attribute?;
        node.insert(
            format!("@{}", attribute.key.as_ref()),
            Value::String(
                attribute
                    .normalized_value(XmlVersion::Implicit1_0)?
                    .into_owned(),
            ),
        );
    }
    Ok(node)
}

fn push_child(parent: &mut Map<String, Value>, child: Map<String, Value>) {
    match parent
        .entry("#children")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(children) => children.push(Value::Object(child)),
        _ => unreachable!("#children is always an array"),
    }
}

fn append_text(node: &mut Map<String, Value>, text: &str) {
    let entry = node
        .entry("#text")
        .or_insert_with(|| Value::String(String::new()));
    if let Value::String(s) = entry {
        s.push_str(text);
    }
}

/// Appends to `out` every place where `ours` and `spring` differ, by path. Numbers are
/// compared as written (`890.0` is not `890`), object keys as sets (order ignored), multi-line
/// texts line by line ([`diff_lines`]).
pub fn diff_values(path: &str, ours: &Value, spring: &Value, out: &mut Vec<Difference>) {
    match (ours, spring) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, va) in a {
                match b.get(key) {
                    Some(vb) => diff_values(&format!("{path}/{key}"), va, vb, out),
                    None => out.push(Difference {
                        path: format!("{path}/{key}"),
                        ours: va.to_string(),
                        spring: "(absent)".into(),
                    }),
                }
            }
            for (key, vb) in b {
                if !a.contains_key(key) {
                    out.push(Difference {
                        path: format!("{path}/{key}"),
                        ours: "(absent)".into(),
                        spring: vb.to_string(),
                    });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                diff_values(&format!("{path}/{i}"), va, vb, out);
            }
            if a.len() != b.len() {
                out.push(Difference {
                    path: format!("{path}/length"),
                    ours: a.len().to_string(),
                    spring: b.len().to_string(),
                });
                // The items only one side has, so the report shows what is extra.
                for (i, (va, vb)) in a
                    .iter()
                    .map(Some)
                    .chain(std::iter::repeat(None))
                    .zip(b.iter().map(Some).chain(std::iter::repeat(None)))
                    .enumerate()
                    .skip(a.len().min(b.len()))
                    .take(a.len().max(b.len()) - a.len().min(b.len()))
                {
                    let shown = |v: Option<&Value>| v.map_or("(absent)".into(), Value::to_string);
                    out.push(Difference {
                        path: format!("{path}/{i}"),
                        ours: shown(va),
                        spring: shown(vb),
                    });
                }
            }
        }
        (Value::String(a), Value::String(b))
            if a != b && (a.contains('\n') || b.contains('\n')) =>
        {
            diff_lines(path, a, b, out);
        }
        // serde_json keeps 890 and 890.0 apart, so numbers compare as written.
        (a, b) if a != b => out.push(Difference {
            path: path.to_owned(),
            ours: a.to_string(),
            spring: b.to_string(),
        }),
        _ => {}
    }
}

/// Multi-line texts (YAML, properties, resources) differ line by line: `{path}/line N` for
/// each differing line (1-based), at most [`MAX_LINE_DIFFERENCES`] of them, then `{path}/lines`
/// when the line counts differ.
fn diff_lines(path: &str, ours: &str, spring: &str, out: &mut Vec<Difference>) {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.split('\n').collect(), spring.split('\n').collect());
    let mut reported = 0;
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i), b.get(i));
        if x != y {
            out.push(Difference {
                path: format!("{path}/line {}", i + 1),
                ours: x.map_or_else(|| "(absent)".into(), |l| format!("{l:?}")),
                spring: y.map_or_else(|| "(absent)".into(), |l| format!("{l:?}")),
            });
            reported += 1;
            if reported == MAX_LINE_DIFFERENCES {
                break;
            }
        }
    }
    if a.len() != b.len() {
        out.push(Difference {
            path: format!("{path}/lines"),
            ours: a.len().to_string(),
            spring: b.len().to_string(),
        });
    }
}

/// How many differing lines of one text are reported.
pub const MAX_LINE_DIFFERENCES: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_written_shape() {
        let mut out = Vec::new();
        diff_values(
            "body",
            &serde_json::json!({"price": 890.0}),
            &serde_json::json!({"price": 890}),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].path, "body/price");
    }

    #[test]
    fn xml_becomes_a_tree_of_elements() {
        let tree = xml_tree(
            "<?xml version=\"1.0\"?><applications><versions__delta>1</versions__delta>\
             <application><name>A</name><instance><port enabled=\"true\">80</port></instance>\
             </application></applications>",
        )
        .expect("well-formed");
        assert_eq!(tree["#name"], "applications");
        assert_eq!(tree["#children"][0]["#text"], "1");
        let port = &tree["#children"][1]["#children"][1]["#children"][0];
        assert_eq!(port["@enabled"], "true");
        assert_eq!(port["#text"], "80");
    }

    #[test]
    fn own_address_and_blank_keys_are_normalised() {
        let rules = Rules::default().blank_key("timestamp");
        let differential = Differential::new(
            "test",
            Side::new("http://127.0.0.1:1000"),
            Side::new("http://127.0.0.1:2000"),
            rules,
        );
        let mut ours = serde_json::json!({"href": "http://127.0.0.1:1000/x", "timestamp": 1});
        let mut spring = serde_json::json!({"href": "http://localhost:2000/x", "timestamp": 2});
        differential.normalise_value(&differential.ours, &mut ours);
        differential.normalise_value(&differential.spring, &mut spring);
        assert_eq!(ours, spring);
    }

    #[test]
    fn xml_elements_are_blanked_and_sorted_by_rule() {
        let rules = Rules::default()
            .blank_key("stamp")
            .unordered_children("metadata");
        let differential = Differential::new(
            "test",
            Side::new("http://127.0.0.1:1"),
            Side::new("http://127.0.0.1:2"),
            rules,
        );
        let mut ours = xml_tree("<i><stamp>1</stamp><metadata><b>2</b><a>1</a></metadata></i>")
            .expect("well-formed");
        let mut spring = xml_tree("<i><stamp>9</stamp><metadata><a>1</a><b>2</b></metadata></i>")
            .expect("well-formed");
        differential.normalise_value(&differential.ours, &mut ours);
        differential.normalise_value(&differential.spring, &mut spring);
        assert_eq!(ours, spring);
    }

    #[test]
    fn gzip_bodies_decode() {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(b"{\"a\":1}").expect("write");
        let bytes = encoder.finish().expect("finish");
        assert_eq!(gunzip(&bytes).expect("gzip"), b"{\"a\":1}");
    }

    #[test]
    fn departure_paths_match_by_segment() {
        assert!(path_matches("status", "status"));
        assert!(path_matches("body/_links*", "body/_links/self/href"));
        assert!(path_matches("body/items/*/amount", "body/items/3/amount"));
        assert!(!path_matches("body/items/*/amount", "body/items/3/price"));
        assert!(!path_matches(
            "body/items/*/amount",
            "body/items/3/amount/x"
        ));
        assert!(path_matches("body/items/*/links*", "body/items/0/links/a"));
        assert!(!path_matches("body/a", "body/a/b"));
    }

    #[test]
    fn departures_are_counted_not_reported() {
        let rules = Rules::default().depart("s", "status", "because");
        let differential = Differential::new(
            "test",
            Side::new("http://127.0.0.1:1"),
            Side::new("http://127.0.0.1:2"),
            rules,
        );
        let a = Exchange {
            status: 200,
            headers: BTreeMap::new(),
            body: Value::Null,
        };
        let b = Exchange {
            status: 204,
            ..a.clone()
        };
        assert!(differential.record("s", &a, &b).is_empty());
        assert_eq!(differential.record("t", &a, &b).len(), 1);
    }

    #[test]
    fn departure_paths_are_wildcards() {
        assert!(wildcard_match(
            "body/propertySources/*/name",
            "body/propertySources/3/name"
        ));
        assert!(!wildcard_match(
            "body/propertySources/*/name",
            "body/propertySources/3/source/name2"
        ));
        assert!(wildcard_match("body*", "body/line 3"));
        assert!(wildcard_match("*", "status"));
        assert!(wildcard_match("status", "status"));
        assert!(!wildcard_match("status", "status2"));
    }
}
