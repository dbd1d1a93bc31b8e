//! `discovery-bench`: the discovery-service load benchmark (run by `bench/discovery.sh`).
//!
//! Against a running discovery node and, side by side in the same run, the bare HTTP ceiling
//! server (`benchkit`'s `bare-http`), it measures:
//!
//! 1. registration of N instances (default 10,000) over keep-alive connections;
//! 2. renewals per second (`PUT apps/{APP}/{id}`) for a fixed time, and the same request loop
//!    against the bare server, interleaved over several rounds: the median ratio is the figure
//!    that means something on a shared machine;
//! 3. full-registry fetch latency, JSON and XML, under a concurrent renewal load — served from
//!    the response cache, and rebuilt after a registration change;
//! 4. delta fetch latency under the same load (after the registration burst has aged out of
//!    the delta queue, with a handful of fresh changes);
//! 5. the server's resident memory (`/proc/{pid}/status`).
//!
//! Usage: `discovery-bench --target 127.0.0.1:18761 --bare 127.0.0.1:18080 --server-pid PID
//! [--instances 10000] [--connections 32] [--seconds 10] [--rounds 3] [--delta-wait-seconds 6]`
//! Loopback only; every phase is bounded in time.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Full, combinators::BoxBody};
use hyper::{Method, Request, StatusCode, client::conn::http1};
use hyper_util::rt::TokioIo;

type Body = BoxBody<Bytes, std::convert::Infallible>;

struct Options {
    target: SocketAddr,
    bare: SocketAddr,
    server_pid: Option<u32>,
    instances: usize,
    connections: usize,
    seconds: u64,
    rounds: usize,
    delta_wait: u64,
}

fn options() -> anyhow::Result<Options> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        target: "127.0.0.1:18761".parse()?,
        bare: "127.0.0.1:18080".parse()?,
        server_pid: None,
        instances: 10_000,
        connections: 32,
        seconds: 10,
        rounds: 3,
        delta_wait: 6,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--target" => options.target = value.parse()?,
            "--bare" => options.bare = value.parse()?,
            "--server-pid" => options.server_pid = Some(value.parse()?),
            "--instances" => options.instances = value.parse()?,
            "--connections" => options.connections = value.parse()?,
            "--seconds" => options.seconds = value.parse()?,
            "--rounds" => options.rounds = value.parse::<usize>()?.max(1),
            "--delta-wait-seconds" => options.delta_wait = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if !options.target.ip().is_loopback() || !options.bare.ip().is_loopback() {
        bail!("load is only generated against loopback addresses");
    }
    Ok(options)
}

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    addr: SocketAddr,
    sender: http1::SendRequest<Body>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self { addr, sender })
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        accept: Option<&str>,
        body: Option<Bytes>,
    ) -> anyhow::Result<(StatusCode, usize)> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let body: Body = match body {
            Some(bytes) => {
                request = request.header("content-type", "application/json");
                Full::new(bytes).boxed()
            }
            None => Empty::new().boxed(),
        };
        self.sender.ready().await?;
        let response = self.sender.send_request(request.body(body)?).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes.len()))
    }
}

fn app_of(i: usize) -> String {
    format!("BENCH-APP-{}", i % 100)
}

fn id_of(i: usize) -> String {
    format!(
        "bench-host-{i}:bench-app-{}:{}",
        i % 100,
        10_000 + i % 50_000
    )
}

fn registration(i: usize) -> Bytes {
    let app = app_of(i);
    let body = serde_json::json!({"instance": {
        "instanceId": id_of(i),
        "hostName": format!("bench-host-{i}"),
        "app": app,
        "ipAddr": format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
        "status": "UP",
        "port": {"$": 10_000 + i % 50_000, "@enabled": "true"},
        "securePort": {"$": 443, "@enabled": "false"},
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90},
        "metadata": {"management.port": "8080", "zone": "bench"},
        "homePageUrl": format!("http://bench-host-{i}:8080/"),
        "statusPageUrl": format!("http://bench-host-{i}:8080/actuator/info"),
        "healthCheckUrl": format!("http://bench-host-{i}:8080/actuator/health"),
        "vipAddress": app.to_ascii_lowercase(),
        "secureVipAddress": app.to_ascii_lowercase(),
        "lastDirtyTimestamp": 1_700_000_000_000_i64,
    }});
    Bytes::from(body.to_string())
}

fn rss_mb(pid: Option<u32>) -> String {
    let Some(pid) = pid else {
        return "n/a".into();
    };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.1} MB", kb / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

async fn register_all(options: &Options) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let total = options.instances as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..options.connections {
        let next = next.clone();
        let target = options.target;
        tasks.spawn(async move {
            let mut connection = Connection::open(target).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return anyhow::Ok(());
                }
                let i = i as usize;
                let (status, _) = connection
                    .send(
                        Method::POST,
                        &format!("/eureka/apps/{}", app_of(i)),
                        None,
                        Some(registration(i)),
                    )
                    .await?;
                if status != StatusCode::NO_CONTENT {
                    bail!("registration answered {status}");
                }
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok(started.elapsed())
}

/// Renewal load on `connections` connections until `stop`; returns (requests, latencies in µs).
async fn renewal_load(
    addr: SocketAddr,
    connections: usize,
    instances: usize,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(u64, Vec<u32>)> {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let stop = stop.clone();
        tasks.spawn(async move {
            let mut connection = Connection::open(addr).await?;
            let mut latencies = Vec::with_capacity(100_000);
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let path = format!(
                    "/eureka/apps/{}/{}?status=UP&lastDirtyTimestamp=1700000000000",
                    app_of(i),
                    id_of(i)
                );
                let sent = Instant::now();
                let (status, _) = connection.send(Method::PUT, &path, None, None).await?;
                latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                if status != StatusCode::OK {
                    bail!("renewal answered {status}");
                }
                i = (i + connections) % instances;
            }
            anyhow::Ok(latencies)
        });
    }
    let mut all = Vec::new();
    while let Some(result) = tasks.join_next().await {
        all.extend(result??);
    }
    Ok((all.len() as u64, all))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

async fn throughput(addr: SocketAddr, options: &Options) -> anyhow::Result<(f64, f64, f64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(renewal_load(
        addr,
        options.connections,
        options.instances,
        stop.clone(),
    ));
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (count, mut latencies) = load.await??;
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok((
        count as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    ))
}

/// Latencies (ms) of `samples` GETs of `path`, optionally after a change that invalidates the
/// response cache, while a renewal load runs.
async fn fetch_latency(
    options: &Options,
    path: &str,
    accept: &str,
    samples: usize,
    change_first: bool,
) -> anyhow::Result<(f64, f64, usize)> {
    let mut connection = Connection::open(options.target).await?;
    let mut changer = Connection::open(options.target).await?;
    let mut latencies = Vec::with_capacity(samples);
    let mut size = 0;
    for s in 0..samples {
        if change_first {
            let i = s % options.instances;
            changer
                .send(
                    Method::POST,
                    &format!("/eureka/apps/{}", app_of(i)),
                    None,
                    Some(registration(i)),
                )
                .await?;
        }
        let sent = Instant::now();
        let (status, bytes) = connection
            .send(Method::GET, path, Some(accept), None)
            .await?;
        latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        if status != StatusCode::OK {
            bail!("{path} answered {status}");
        }
        size = bytes;
    }
    latencies.sort_unstable();
    Ok((
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        size,
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    println!(
        "discovery-bench: {} instances, {} connections, {} s per throughput run",
        options.instances, options.connections, options.seconds
    );
    println!(
        "server RSS before registration: {}",
        rss_mb(options.server_pid)
    );

    let took = register_all(&options).await?;
    println!(
        "registered {} instances in {:.2} s ({:.0}/s); server RSS {}",
        options.instances,
        took.as_secs_f64(),
        options.instances as f64 / took.as_secs_f64(),
        rss_mb(options.server_pid)
    );

    // Side by side, interleaved (bare, discovery, bare, … bare) so that drift on a shared
    // machine hits both; each discovery run is compared with the bare runs around it.
    let mut bare_runs = vec![throughput(options.bare, &options).await?];
    let mut renew_runs = Vec::new();
    for _ in 0..options.rounds {
        renew_runs.push(throughput(options.target, &options).await?);
        bare_runs.push(throughput(options.bare, &options).await?);
    }
    println!();
    println!("| run | requests/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    let mut ratios = Vec::new();
    for (i, renew) in renew_runs.iter().enumerate() {
        let (before, after) = (bare_runs[i], bare_runs[i + 1]);
        if i == 0 {
            println!(
                "| bare hyper ceiling | {:.0} | {:.2} | {:.2} |",
                before.0, before.1, before.2
            );
        }
        println!(
            "| discovery renewals (PUT) | {:.0} | {:.2} | {:.2} |",
            renew.0, renew.1, renew.2
        );
        println!(
            "| bare hyper ceiling | {:.0} | {:.2} | {:.2} |",
            after.0, after.1, after.2
        );
        ratios.push(renew.0 / ((before.0 + after.0) / 2.0));
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "renewals / bare ceiling: median {:.0}% (rounds: {})",
        100.0 * ratios[ratios.len() / 2],
        ratios
            .iter()
            .map(|r| format!("{:.0}%", 100.0 * r))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("server RSS after renewals: {}", rss_mb(options.server_pid));

    // Fetch latencies under a concurrent renewal load (half the connections).
    let stop = Arc::new(AtomicBool::new(false));
    let background = tokio::spawn(renewal_load(
        options.target,
        (options.connections / 2).max(1),
        options.instances,
        stop.clone(),
    ));
    println!();
    println!(
        "under a concurrent renewal load ({} connections):",
        (options.connections / 2).max(1)
    );
    println!("| fetch | p50 ms | p99 ms | body bytes |");
    println!("|---|---:|---:|---:|");
    for (label, path, accept, change) in [
        (
            "full registry JSON (cached)",
            "/eureka/apps/",
            "application/json",
            false,
        ),
        (
            "full registry XML (cached)",
            "/eureka/apps/",
            "application/xml",
            false,
        ),
        (
            "full registry JSON (rebuilt after a change)",
            "/eureka/apps/",
            "application/json",
            true,
        ),
        (
            "full registry XML (rebuilt after a change)",
            "/eureka/apps/",
            "application/xml",
            true,
        ),
    ] {
        let (p50, p99, size) = fetch_latency(&options, path, accept, 30, change).await?;
        println!("| {label} | {p50:.2} | {p99:.2} | {size} |");
    }
    println!(
        "server RSS with cached payloads: {}",
        rss_mb(options.server_pid)
    );

    // Let the registration burst age out of the delta queue, then make a few changes.
    tokio::time::sleep(Duration::from_secs(options.delta_wait)).await;
    let mut changer = Connection::open(options.target).await?;
    for i in 0..10 {
        changer
            .send(
                Method::POST,
                &format!("/eureka/apps/{}", app_of(i)),
                None,
                Some(registration(i)),
            )
            .await?;
    }
    for (label, accept) in [
        ("delta JSON (10 changes)", "application/json"),
        ("delta XML (10 changes)", "application/xml"),
    ] {
        let (p50, p99, size) =
            fetch_latency(&options, "/eureka/apps/delta", accept, 200, false).await?;
        println!("| {label} | {p50:.2} | {p99:.2} | {size} |");
    }
    stop.store(true, Ordering::Relaxed);
    let (background_count, _) = background.await??;
    println!("(background renewals during the fetch phase: {background_count})");
    println!("server RSS at the end: {}", rss_mb(options.server_pid));
    Ok(())
}
