//! The web dashboard at `/` (`eureka.dashboard.path`), in the spirit of Eureka's: system status,
//! the self-preservation banner, replicas, the instances registered per application with their
//! status and links, general info. Server-rendered HTML through compiled askama templates
//! (`templates/dashboard.html`, `templates/lastn.html`), which escape every value; it refreshes
//! itself every `eureka.dashboard.refresh-seconds` (10 s), and a few lines of script show how old
//! the page is. `/lastn` lists the last 1000 registrations and cancellations/evictions.
//!
//! This file gathers what the page shows into plain view structs; the templates lay it out.

use std::{sync::Arc, time::Duration};

use askama::Template;
use axum::{
    extract::State,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use platform::discovery::model::{InstanceInfo, Status};

use crate::{registry::RegistryStats, state::AppState};

fn uptime(d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    let (days, hours, minutes) = (minutes / 1440, (minutes / 60) % 24, minutes % 60);
    if days > 0 {
        format!("{days} days {hours:02}:{minutes:02}")
    } else {
        format!("{hours:02}:{minutes:02}")
    }
}

fn resident_memory_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn total_memory_mb() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// One peer row.
struct PeerView {
    url: String,
    available: bool,
}

/// An instance id, linked to its status page when that is an http(s) URL.
struct InstanceLink {
    id: String,
    href: Option<String>,
}

/// The instances of one application that share a status.
struct StatusGroup {
    status: Status,
    up: bool,
    instances: Vec<InstanceLink>,
}

/// One application row.
struct AppView {
    name: String,
    count: usize,
    groups: Vec<StatusGroup>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    refresh_seconds: u64,
    environment: &'a str,
    datacenter: &'a str,
    time: String,
    rendered_ms: i64,
    uptime: String,
    stats: RegistryStats,
    peers: Vec<PeerView>,
    apps: Vec<AppView>,
    total_memory: String,
    cpus: usize,
    memory_usage: String,
}

impl DashboardPage<'_> {
    fn available_peers(&self) -> impl Iterator<Item = &PeerView> {
        self.peers.iter().filter(|p| p.available)
    }

    fn unavailable_peers(&self) -> impl Iterator<Item = &PeerView> {
        self.peers.iter().filter(|p| !p.available)
    }
}

/// The order status groups appear in.
const STATUS_ORDER: [Status; 5] = [
    Status::Up,
    Status::Down,
    Status::Starting,
    Status::OutOfService,
    Status::Unknown,
];

fn link(instance: &InstanceInfo) -> InstanceLink {
    InstanceLink {
        id: instance.effective_id(),
        href: instance
            .status_page_url
            .clone()
            .filter(|url| url.starts_with("http://") || url.starts_with("https://")),
    }
}

fn app_view(name: &str, instances: &[InstanceInfo]) -> AppView {
    let groups = STATUS_ORDER
        .into_iter()
        .filter_map(|status| {
            let instances: Vec<InstanceLink> = instances
                .iter()
                .filter(|i| i.status == status)
                .map(link)
                .collect();
            (!instances.is_empty()).then_some(StatusGroup {
                status,
                up: status == Status::Up,
                instances,
            })
        })
        .collect();
    AppView {
        name: name.to_owned(),
        count: instances.len(),
        groups,
    }
}

fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "dashboard template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /`: the dashboard page.
pub(crate) async fn page(State(state): State<Arc<AppState>>) -> Response {
    let stats = state.registry.stats();
    let apps = state.registry.applications();
    let info = &state.dashboard;
    let now = chrono::Utc::now();
    let used = resident_memory_mb();
    let total = total_memory_mb();
    let memory_usage = match (used, total) {
        (Some(used), Some(total)) if total > 0 => format!("{used}mb ({}%)", used * 100 / total),
        (Some(used), _) => format!("{used}mb"),
        _ => "n/a".into(),
    };
    let page = DashboardPage {
        refresh_seconds: info.refresh_seconds,
        environment: &info.environment,
        datacenter: &info.datacenter,
        time: now.format("%Y-%m-%dT%H:%M:%S %z").to_string(),
        rendered_ms: now.timestamp_millis(),
        uptime: uptime(stats.uptime),
        peers: state
            .peers
            .list()
            .iter()
            .map(|p| PeerView {
                url: p.url.display(),
                available: p.is_available(),
            })
            .collect(),
        apps: apps
            .applications
            .iter()
            .map(|a| app_view(&a.name, &a.instances))
            .collect(),
        total_memory: total.map_or_else(|| "n/a".into(), |t| format!("{t}mb")),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_usage,
        stats,
    };
    render(&page)
}

/// One `/lastn` row.
struct Event {
    time: String,
    what: &'static str,
    key: String,
}

#[derive(Template)]
#[template(path = "lastn.html")]
struct LastN {
    events: Vec<Event>,
}

/// `GET /lastn`: the last 1000 registrations and cancellations (evictions included), newest
/// first.
pub(crate) async fn last_n(State(state): State<Arc<AppState>>) -> Response {
    let events = state
        .registry
        .history()
        .into_iter()
        .map(|(millis, what, key)| Event {
            time: chrono::DateTime::from_timestamp_millis(millis)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default(),
            what,
            key,
        })
        .collect();
    render(&LastN { events })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let mut instance = InstanceInfo::new("a", "h<script>", "1.1.1.1", 1);
        instance.status_page_url = Some("http://h/\"onclick=\"x".into());
        let page = LastN {
            events: vec![Event {
                time: String::new(),
                what: "registered",
                key: "A(<b>)".into(),
            }],
        };
        let html = page.render().expect("renders");
        assert!(html.contains("A(&#60;b&#62;)"), "{html}");
        let view = app_view("A<", &[instance]);
        assert_eq!(view.groups[0].instances[0].id, "h<script>");
        assert!(view.groups[0].instances[0].href.is_some());
    }
}
