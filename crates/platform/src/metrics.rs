//! Request metrics in Spring Boot's Prometheus vocabulary.
//!
//! Every request is counted into `http_server_requests_seconds{method,uri,status}`, a histogram
//! whose `uri` label is the route template (`/customers/{id}`), never the raw path, so that label
//! values stay bounded whatever clients send. Each service owns its registry (no global
//! recorder), which lets several services share one test process.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    sync::{Arc, Mutex},
};

use axum::http::Method;

/// Upper bounds, in seconds, of the latency buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// One time series' labels; the route template is shared (`Arc<str>`), so recording a request
/// allocates nothing once its series exists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Labels {
    method: Method,
    uri: Arc<str>,
    status: u16,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, bucket) in BUCKETS.iter().zip(self.buckets.iter_mut()) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Extra gauges a service publishes next to the request histogram (name → value).
pub type GaugeSource = Arc<dyn Fn() -> Vec<(String, f64)> + Send + Sync>;

/// Whatever else a service exposes on every scrape, in Prometheus text ([`TimerFamily`]).
pub trait Exposition: Send + Sync {
    /// Appends this source's metrics (with their `# TYPE` lines) to `out`.
    fn render(&self, out: &mut String);
}

/// The labels of one series of a [`TimerFamily`], cheap to hash and compare on every record
/// (interned strings and numbers), written out only when scraped.
pub trait TimerLabels: std::hash::Hash + Eq + Clone + Ord + Send + Sync + 'static {
    /// Writes the series' labels, `name="value"` pairs separated by commas.
    fn write(&self, out: &mut String);
}

/// A Micrometer `Timer` as its Prometheus registry publishes one without a histogram: a
/// `summary` with `_count` and `_sum` per series (`spring_cloud_gateway_requests_seconds`).
pub struct TimerFamily<L: TimerLabels> {
    name: &'static str,
    series: Mutex<HashMap<L, (u64, f64)>>,
}

impl<L: TimerLabels> TimerFamily<L> {
    /// An empty family called `name` (with its `_seconds` suffix).
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            series: Mutex::default(),
        }
    }

    /// Records one timed event of the series `labels`.
    pub fn record(&self, labels: &L, seconds: f64) {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((count, sum)) = series.get_mut(labels) {
            *count += 1;
            *sum += seconds;
        } else {
            series.insert(labels.clone(), (1, seconds));
        }
    }
}

impl<L: TimerLabels> std::fmt::Debug for TimerFamily<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerFamily")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<L: TimerLabels> Exposition for TimerFamily<L> {
    fn render(&self, out: &mut String) {
        let snapshot: BTreeMap<L, (u64, f64)> = self
            .series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        if snapshot.is_empty() {
            return;
        }
        let name = self.name;
        let _ = writeln!(out, "# TYPE {name} summary");
        for (labels, (count, sum)) in snapshot {
            let mut written = String::new();
            labels.write(&mut written);
            let _ = writeln!(out, "{name}_count{{{written}}} {count}");
            let _ = writeln!(out, "{name}_sum{{{written}}} {sum}");
        }
    }
}

/// A label value escaped for the Prometheus text format.
pub fn escape_label(value: &str) -> String {
    escape(value)
}

/// One service's metrics registry.
#[derive(Clone, Default)]
pub struct Metrics {
    requests: Arc<Mutex<HashMap<Labels, Histogram>>>,
    gauges: Arc<Mutex<Vec<GaugeSource>>>,
    expositions: Arc<Mutex<Vec<Arc<dyn Exposition>>>>,
    templates: Arc<Mutex<HashMap<String, Arc<str>>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, method: Method, uri: Arc<str>, status: u16, seconds: f64) {
        let labels = Labels {
            method,
            uri,
            status,
        };
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests.entry(labels).or_default().observe(seconds);
    }

    /// The shared copy of a route template (there are only as many as routes).
    pub(crate) fn intern(&self, template: &str) -> Arc<str> {
        let mut templates = self.templates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shared) = templates.get(template) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(template);
        templates.insert(template.to_owned(), shared.clone());
        shared
    }

    /// Adds a source of gauges rendered on every scrape.
    pub fn add_gauges(&self, source: GaugeSource) {
        self.gauges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(source);
    }

    /// Adds a source rendered on every scrape, after the request histogram.
    pub fn add_exposition(&self, source: Arc<dyn Exposition>) {
        self.expositions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(source);
    }

    /// The Prometheus text exposition of everything recorded so far.
    pub fn render(&self) -> String {
        // Sorted, so a scrape lists series in a stable order.
        let snapshot: BTreeMap<Labels, Histogram> = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = String::new();
        out.push_str("# HELP http_server_requests_seconds Duration of HTTP server requests\n");
        out.push_str("# TYPE http_server_requests_seconds histogram\n");
        for (labels, histogram) in &snapshot {
            let base = format!(
                "method=\"{}\",uri=\"{}\",status=\"{}\"",
                escape(labels.method.as_str()),
                escape(&labels.uri),
                labels.status
            );
            for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
                let _ = writeln!(
                    out,
                    "http_server_requests_seconds_bucket{{{base},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "http_server_requests_seconds_bucket{{{base},le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "http_server_requests_seconds_count{{{base}}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "http_server_requests_seconds_sum{{{base}}} {}",
                histogram.sum
            );
        }
        let expositions = self
            .expositions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for source in expositions {
            source.render(&mut out);
        }
        let sources = self
            .gauges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut typed = std::collections::HashSet::new();
        for source in sources {
            for (series, value) in source() {
                // `series` may carry labels (`name{a="b"}`); the TYPE line names the metric.
                let name = series.split('{').next().unwrap_or(&series).to_owned();
                if typed.insert(name.clone()) {
                    let _ = writeln!(out, "# TYPE {name} gauge");
                }
                let _ = writeln!(out, "{series} {value}");
            }
        }
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_buckets_count_and_sum() {
        let metrics = Metrics::default();
        metrics.record(Method::GET, "/customers/{id}".into(), 200, 0.003);
        metrics.record(Method::GET, "/customers/{id}".into(), 200, 0.2);
        let text = metrics.render();
        let base = "method=\"GET\",uri=\"/customers/{id}\",status=\"200\"";
        assert!(text.contains(&format!(
            "http_server_requests_seconds_bucket{{{base},le=\"0.005\"}} 1"
        )));
        assert!(text.contains(&format!(
            "http_server_requests_seconds_bucket{{{base},le=\"0.25\"}} 2"
        )));
        assert!(text.contains(&format!("http_server_requests_seconds_count{{{base}}} 2")));
    }
}
