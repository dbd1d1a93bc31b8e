//! The web dashboard at `/` (`eureka.dashboard.path`), in the spirit of Eureka's: system status,
//! the self-preservation banner, replicas, the instances registered per application with their
//! status and links, general info. Plain server-rendered HTML; it refreshes itself every
//! `eureka.dashboard.refresh-seconds` (10 s), and a few lines of script show how old the page is.
//! `/lastn` lists the last 1000 registrations and cancellations/evictions.

use std::{fmt::Write as _, sync::Arc, time::Duration};

use axum::{
    extract::State,
    response::{Html, IntoResponse, Response},
};
use platform::discovery::model::{InstanceInfo, Status};

use crate::api::AppState;

/// Facts fixed at start.
#[derive(Debug, Clone)]
pub struct DashboardInfo {
    /// Whether the dashboard is served.
    pub enabled: bool,
    /// `eureka.environment` (`test`).
    pub environment: String,
    /// `eureka.datacenter` (`default`).
    pub datacenter: String,
    /// Seconds between automatic refreshes.
    pub refresh_seconds: u64,
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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

/// A link to the instance's status page when it is an http(s) URL, else the bare id.
fn instance_link(instance: &InstanceInfo) -> String {
    let id = escape(&instance.effective_id());
    match instance.status_page_url.as_deref() {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            format!("<a href=\"{}\">{id}</a>", escape(url))
        }
        _ => id,
    }
}

/// `GET /`: the dashboard page.
pub(crate) async fn page(State(state): State<Arc<AppState>>) -> Response {
    let stats = state.registry.stats();
    let apps = state.registry.applications();
    let info = &state.dashboard;
    let now = chrono::Utc::now();
    let mut html = String::with_capacity(8192);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh}">
<title>Eureka · factura discovery</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#222}}
header{{background:#1f3a5f;color:#fff;padding:12px 24px}} header h1{{margin:0;font-size:20px}}
main{{padding:8px 24px 32px}} h2{{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #ccd;padding-bottom:4px}}
table{{border-collapse:collapse;width:100%;background:#fff}} th,td{{text-align:left;padding:6px 10px;border:1px solid #dde}}
th{{background:#e8ecf2}} .down{{color:#b00020;font-weight:600}} .banner{{background:#b00020;color:#fff;padding:10px 14px;margin-top:16px;font-weight:600}}
.muted{{color:#667}}
</style></head><body>
<header><h1>factura discovery <span class="muted" style="color:#cfd8e3">— Eureka-compatible registry</span></h1></header>
<main>
"#,
        refresh = info.refresh_seconds
    );

    // System status.
    let _ = write!(
        html,
        r#"<h2>System Status</h2><table id="system-status">
<tr><th>Environment</th><td>{env}</td><th>Current time</th><td>{time}</td></tr>
<tr><th>Data center</th><td>{dc}</td><th>Uptime</th><td>{uptime}</td></tr>
<tr><th>Lease expiration enabled</th><td id="lease-expiration">{expiry}</td><th>Renews threshold</th><td id="renews-threshold">{threshold}</td></tr>
<tr><th>Self-preservation</th><td>{preservation}</td><th>Renews (last min)</th><td id="renews-last-min">{renews}</td></tr>
</table>
"#,
        env = escape(&info.environment),
        dc = escape(&info.datacenter),
        time = now.format("%Y-%m-%dT%H:%M:%S %z"),
        uptime = uptime(stats.uptime),
        expiry = stats.lease_expiration_enabled,
        threshold = stats.renews_threshold,
        preservation = if stats.self_preservation { "on" } else { "off" },
        renews = stats.renews_last_minute,
    );
    if stats.below_threshold_warning {
        html.push_str(
            r#"<div class="banner" id="self-preservation-warning">EMERGENCY! EUREKA MAY BE INCORRECTLY CLAIMING INSTANCES ARE UP WHEN THEY'RE NOT. RENEWALS ARE LESSER THAN THRESHOLD AND HENCE THE INSTANCES ARE NOT BEING EXPIRED JUST TO BE SAFE.</div>"#,
        );
    } else if !stats.self_preservation {
        html.push_str(
            r#"<div class="banner" id="self-preservation-off">THE SELF PRESERVATION MODE IS TURNED OFF. THIS MAY NOT PROTECT INSTANCE EXPIRY IN CASE OF NETWORK/OTHER PROBLEMS.</div>"#,
        );
    }

    // Replicas.
    let peers = state.peers.list();
    html.push_str(
        "<h2>DS Replicas</h2><table id=\"replicas\"><tr><th>Peer</th><th>State</th></tr>",
    );
    if peers.is_empty() {
        html.push_str(
            "<tr><td colspan=\"2\" class=\"muted\">No replicas configured (standalone)</td></tr>",
        );
    }
    for peer in &peers {
        let url = escape(&peer.url.display());
        let _ = write!(
            html,
            "<tr><td><a href=\"{url}\">{url}</a></td><td class=\"{}\">{}</td></tr>",
            if peer.is_available() { "" } else { "down" },
            if peer.is_available() {
                "available"
            } else {
                "unavailable"
            },
        );
    }
    html.push_str("</table>");

    // Instances.
    html.push_str(
        "<h2>Instances currently registered with Eureka</h2><table id=\"instances\">\
         <tr><th>Application</th><th>AMIs</th><th>Availability Zones</th><th>Status</th></tr>",
    );
    if apps.applications.is_empty() {
        html.push_str("<tr><td colspan=\"4\" class=\"muted\">No instances available</td></tr>");
    }
    for app in &apps.applications {
        let count = app.instances.len();
        let mut cell = String::new();
        for status in [
            Status::Up,
            Status::Down,
            Status::Starting,
            Status::OutOfService,
            Status::Unknown,
        ] {
            let group: Vec<&InstanceInfo> = app
                .instances
                .iter()
                .filter(|i| i.status == status)
                .collect();
            if group.is_empty() {
                continue;
            }
            let links: Vec<String> = group.iter().map(|i| instance_link(i)).collect();
            let _ = write!(
                cell,
                "<div class=\"{}\" data-status=\"{status}\"><b>{status}</b> ({}) - {}</div>",
                if status == Status::Up { "" } else { "down" },
                group.len(),
                links.join(", ")
            );
        }
        let _ = write!(
            html,
            "<tr data-app=\"{name}\"><td><b>{name}</b></td><td>n/a ({count})</td><td>({count})</td><td>{cell}</td></tr>",
            name = escape(&app.name),
        );
    }
    html.push_str("</table>");

    // General info.
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let used = resident_memory_mb();
    let total = total_memory_mb();
    let usage = match (used, total) {
        (Some(used), Some(total)) if total > 0 => format!("{used}mb ({}%)", used * 100 / total),
        (Some(used), _) => format!("{used}mb"),
        _ => "n/a".into(),
    };
    let available: Vec<String> = peers
        .iter()
        .filter(|p| p.is_available())
        .map(|p| escape(&p.url.display()))
        .collect();
    let unavailable: Vec<String> = peers
        .iter()
        .filter(|p| !p.is_available())
        .map(|p| escape(&p.url.display()))
        .collect();
    let registered: Vec<String> = peers.iter().map(|p| escape(&p.url.display())).collect();
    let _ = write!(
        html,
        r#"<h2>General Info</h2><table id="general-info">
<tr><th>total-avail-memory</th><td>{total}</td></tr>
<tr><th>num-of-cpus</th><td>{cpus}</td></tr>
<tr><th>current-memory-usage</th><td>{usage}</td></tr>
<tr><th>server-uptime</th><td>{uptime}</td></tr>
<tr><th>registered-replicas</th><td>{registered}</td></tr>
<tr><th>available-replicas</th><td>{available}</td></tr>
<tr><th>unavailable-replicas</th><td>{unavailable}</td></tr>
<tr><th>instances</th><td id="instance-count">{count}</td></tr>
</table>
<h2>Instance Info</h2><table><tr><th>status</th><td>UP</td></tr></table>
<p class="muted" id="page-age" data-rendered="{rendered}">rendered {time}</p>
<script>
(function () {{
  var el = document.getElementById('page-age');
  var rendered = Number(el.getAttribute('data-rendered'));
  function tick() {{
    var seconds = Math.max(0, Math.round((Date.now() - rendered) / 1000));
    el.textContent = 'rendered ' + seconds + ' s ago; refreshes every {refresh} s';
  }}
  tick(); setInterval(tick, 1000);
}})();
</script>
</main></body></html>
"#,
        total = total
            .map(|t| format!("{t}mb"))
            .unwrap_or_else(|| "n/a".into()),
        uptime = uptime(stats.uptime),
        registered = registered.join(", "),
        available = available.join(", "),
        unavailable = unavailable.join(", "),
        count = stats.instances,
        rendered = now.timestamp_millis(),
        time = now.format("%Y-%m-%dT%H:%M:%S %z"),
        refresh = info.refresh_seconds,
    );
    Html(html).into_response()
}

/// `GET /lastn`: the last 1000 registrations and cancellations (evictions included), newest
/// first.
pub(crate) async fn last_n(State(state): State<Arc<AppState>>) -> Response {
    let mut html = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Last registrations</title></head>\
         <body><h1>Last 1000 since startup</h1><table id=\"lastn\"><tr><th>Timestamp</th><th>Event</th><th>Instance</th></tr>",
    );
    for (millis, what, key) in state.registry.history() {
        let time = chrono::DateTime::from_timestamp_millis(millis)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{time}</td><td>{what}</td><td>{}</td></tr>",
            escape(&key)
        );
    }
    html.push_str("</table><p><a href=\"/\">dashboard</a></p></body></html>");
    Html(html).into_response()
}
