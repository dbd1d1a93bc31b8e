//! `factura up`: one OS process per service instance, started in dependency order, supervised
//! while it runs, and stopped in reverse.
//!
//! Each child is `factura run <service>` in its own process group (so a terminal's Ctrl-C reaches
//! only the supervisor, which then stops children one by one). Its output is prefixed with the
//! service name; the last lines are kept so that a service that dies or never becomes healthy
//! can be explained. Health is `GET /actuator/health` answering 200. Extra instances
//! (`--scale`) listen on port 0: each child prints the address it bound ([`LISTENING`]), so no
//! port is chosen for it ahead of time.
//!
//! Supervision: an instance that exits is reported with its last lines and started again after
//! a backoff (1 s, doubling up to 30 s) while every other instance keeps serving; it counts as
//! back once healthy. A service that exits `--max-restarts` times in a row, never staying up
//! for [`STABLE_AFTER`] in between, stops the system with a message saying which and why; so
//! does a start-up that fails. Otherwise only Ctrl-C (SIGINT) or SIGTERM stops it.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use nix::{sys::signal::Signal, unistd::Pid};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncRead, BufReader},
    process::{Child, Command},
};

use crate::services;

/// How many of a child's last output lines are kept for error reports.
const RECENT_LINES: usize = 20;
/// How long a child may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// Most instances `--scale` starts of one service.
const MAX_SCALE: usize = 10;
/// The first wait before an exited instance is started again; it doubles per failure in a row…
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// …up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// An instance that stays up this long has recovered: its failures in a row start from zero.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How often the supervisor looks at its children.
const TICK: Duration = Duration::from_millis(250);

/// The environment variable that makes `factura run` print [`LISTENING`] and its address.
pub(crate) const REPORT_LISTENING: &str = "FACTURA_REPORT_LISTENING";
/// The line a supervised child prints once it listens, followed by its address.
pub(crate) const LISTENING: &str = "factura: listening on ";

/// Options of `factura up`.
#[derive(Debug, clap::Args)]
pub(crate) struct UpOptions {
    /// Added to every service's default port, to run a second system beside a first one.
    #[arg(long, default_value_t = 0)]
    port_offset: u16,
    /// Directory for the services' SQLite files.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Seconds each service may take to become healthy.
    #[arg(long, default_value_t = 60)]
    health_timeout: u64,
    /// How many times in a row an instance may exit (without staying up a minute) before the
    /// whole system stops.
    #[arg(long, default_value_t = 5)]
    max_restarts: u32,
    /// Run several instances of a service, e.g. `--scale customer-service=2` (repeatable).
    /// Extra instances listen on free ports and register with discovery like the first.
    #[arg(long, value_name = "SERVICE=N", value_parser = parse_scale)]
    scale: Vec<(String, usize)>,
    /// Run every data service on this PostgreSQL server, each in its own database, created if
    /// missing: `postgres://user@host:5432/` gives `factura_customer_service`, …; a database
    /// name in the URL replaces the `factura` prefix.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// The folder config-service serves (its native backend).
    #[arg(long, default_value = "config-repo")]
    config_repo: PathBuf,
    /// Extra `--key=value` properties given to every service, after `--`.
    #[arg(last = true, value_name = "PROPERTIES")]
    properties: Vec<String>,
}

fn parse_scale(raw: &str) -> Result<(String, usize), String> {
    let (name, count) = raw
        .split_once('=')
        .ok_or("expected SERVICE=N, e.g. customer-service=2")?;
    let count: usize = count
        .trim()
        .parse()
        .map_err(|_| format!("`{count}` is not a number of instances"))?;
    if !(1..=MAX_SCALE).contains(&count) {
        return Err(format!("between 1 and {MAX_SCALE} instances, not {count}"));
    }
    Ok((name.trim().to_owned(), count))
}

/// One instance to start.
#[derive(Debug, Clone)]
struct Planned {
    name: &'static str,
    /// Its well-known port, or 0 (an extra instance: the OS picks one).
    port: u16,
    /// `https` when the services serve TLS.
    scheme: &'static str,
    args: Vec<String>,
}

/// One started child process.
struct Running {
    name: &'static str,
    /// `http` or `https`.
    scheme: &'static str,
    /// Where it listens, once it said so (the planned port, or the one it was given).
    port: u16,
    child: Child,
    recent: Arc<Mutex<VecDeque<String>>>,
    listening: tokio::sync::watch::Receiver<Option<u16>>,
}

impl Running {
    fn last_lines(&self) -> Vec<String> {
        self.recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The port it reported listening on, if it did yet.
    fn learn_port(&mut self) -> Option<u16> {
        if let Some(port) = *self.listening.borrow() {
            self.port = port;
        }
        (self.port != 0).then_some(self.port)
    }
}

/// Whether the services serve TLS (`server.ssl.*` after `--`), and the client the supervisor
/// checks their health with: trusting what `factura.ssl.client.*` says, as the services do.
fn health_client(options: &UpOptions) -> anyhow::Result<(&'static str, reqwest::Client)> {
    let settings = platform::Settings::from_sources(vec![
        platform::settings::PropertySource::from_command_line(&options.properties)?,
    ]);
    let scheme = match platform::tls::ServerTls::from_settings(&settings)? {
        Some(_) => "https",
        None => "http",
    };
    let http = platform::tls::ClientTlsSettings::platform(&settings)?
        .reqwest_builder()?
        .timeout(Duration::from_secs(2))
        .build()
        .context("building the health-check client")?;
    Ok((scheme, http))
}

/// Every instance to start, in order, with its command-line properties.
fn plan(options: &UpOptions, scheme: &'static str) -> anyhow::Result<Vec<Planned>> {
    for (name, _) in &options.scale {
        services::find(name)?;
    }
    let offset = u32::from(options.port_offset);
    let well_known = |port: u16| u32::from(port) + offset;
    let common = vec![
        format!("--factura.data-dir={}", options.data_dir.display()),
        // The well-known services move with --port-offset, so every child is told where they are.
        format!(
            "--eureka.client.service-url.defaultZone={scheme}://localhost:{}/eureka/",
            well_known(8761)
        ),
        format!(
            "--spring.config.import=optional:configserver:{scheme}://localhost:{}",
            well_known(8888)
        ),
        // On one machine, instances reach each other on loopback whatever the host is called.
        "--eureka.instance.prefer-ip-address=true".to_owned(),
        "--eureka.instance.ip-address=127.0.0.1".to_owned(),
        format!(
            "--spring.cloud.config.server.native.search-locations={}",
            options.config_repo.display()
        ),
    ];
    for property in &options.properties {
        if !property.starts_with("--") || !property.contains('=') {
            bail!("`{property}` after -- is not a --key=value property");
        }
    }
    let mut planned = Vec::new();
    for definition in services::ALL {
        let instances = options
            .scale
            .iter()
            .rev()
            .find(|(n, _)| n == definition.name)
            .map_or(1, |(_, n)| *n);
        for instance in 0..instances {
            let port = if instance == 0 {
                u16::try_from(well_known(definition.default_port))
                    .context("--port-offset pushes a port beyond 65535")?
            } else {
                0
            };
            let mut args = common.clone();
            if let Some(server) = &options.database {
                args.push(format!(
                    "--spring.datasource.url={}",
                    database_url(server, definition.name)?
                ));
            }
            args.extend(options.properties.iter().cloned());
            planned.push(Planned {
                name: definition.name,
                port,
                scheme,
                args,
            });
        }
    }
    Ok(planned)
}

/// The service's own database on `server`: `postgres://h/` → `postgres://h/factura_customer_service`,
/// `postgres://h/demo` → `postgres://h/demo_customer_service`.
fn database_url(server: &str, service: &str) -> anyhow::Result<String> {
    let mut url = reqwest::Url::parse(server)
        .with_context(|| format!("--database `{server}` is not a URL"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        bail!("--database must be a postgres:// URL, got `{server}`");
    }
    let prefix = match url.path().trim_matches('/') {
        "" => "factura".to_owned(),
        name => name.to_owned(),
    };
    url.set_path(&format!("/{prefix}_{}", service.replace('-', "_")));
    Ok(url.to_string())
}

/// Runs the whole system until a stop signal or a child's death.
pub(crate) async fn up(options: UpOptions) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the factura executable")?;
    let (scheme, http) = health_client(&options)?;
    let planned = plan(&options, scheme)?;
    let started_at = Instant::now();
    let stop = tokio::spawn(platform::server::shutdown_signal());
    let mut running: Vec<Running> = Vec::new();

    let total = planned.len();
    for (index, instance) in planned.iter().enumerate() {
        let port = match instance.port {
            0 => "a free port".to_owned(),
            port => format!("port {port}"),
        };
        println!(
            "[{}/{total}] starting {} on {port} …",
            index + 1,
            instance.name
        );
        running.push(spawn(&exe, instance)?);
        let current = running.last_mut().expect("just pushed");
        let deadline = Duration::from_secs(options.health_timeout);
        if let Err(error) = wait_healthy(&http, current, deadline, &stop).await {
            let lines = current.last_lines();
            eprintln!("\nfactura: {} did not start: {error:#}", current.name);
            if !lines.is_empty() {
                eprintln!("last lines of {}:", current.name);
                for line in lines {
                    eprintln!("    {line}");
                }
            }
            stop_all(&mut running).await;
            bail!("{} failed to start", instance.name);
        }
    }

    println!(
        "\nfactura is up: {total} services healthy in {:.1} s\n",
        started_at.elapsed().as_secs_f64()
    );
    println!("  {:<20} {:<28} STATUS", "SERVICE", "URL");
    for service in &running {
        println!(
            "  {:<20} {:<28} UP",
            service.name,
            format!("{scheme}://localhost:{}", service.port)
        );
    }
    print_first_urls(&running, scheme);
    println!("Press Ctrl-C to stop.\n");

    let mut supervised: Vec<Supervised> = planned
        .into_iter()
        .zip(running)
        .map(|(planned, running)| Supervised {
            planned,
            running: Some(running),
            state: State::Up {
                since: Instant::now(),
            },
            failures: 0,
        })
        .collect();
    let outcome = supervise(&exe, &http, &options, &mut supervised, stop).await;
    let mut running: Vec<Running> = supervised.into_iter().filter_map(|s| s.running).collect();
    stop_all(&mut running).await;
    outcome
}

fn print_first_urls(running: &[Running], scheme: &str) {
    let port = |name: &str| running.iter().find(|s| s.name == name).map(|s| s.port);
    println!();
    if let Some(gateway) = port("gateway-service") {
        println!("Try:  curl {scheme}://localhost:{gateway}/customers/1");
        println!("      curl {scheme}://localhost:{gateway}/fullBill/1");
        println!("      curl {scheme}://localhost:{gateway}/CUSTOMER-SERVICE/customers");
    } else if let Some(customers) = port("customer-service") {
        println!("Try:  curl {scheme}://localhost:{customers}/customers/1");
        if let Some(billing) = port("billing-service") {
            println!("      curl {scheme}://localhost:{billing}/fullBill/1");
        }
    }
    if let Some(discovery) = port("discovery-service") {
        println!("Dashboard: {scheme}://localhost:{discovery}/");
    }
}

fn spawn(exe: &Path, planned: &Planned) -> anyhow::Result<Running> {
    let mut command = Command::new(exe);
    command
        .arg("run")
        .arg(planned.name)
        .args(&planned.args)
        .arg(format!("--server.port={}", planned.port))
        .env(REPORT_LISTENING, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", planned.name))?;
    let recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT_LINES)));
    let (listening_tx, listening) = tokio::sync::watch::channel(None);
    let listening_tx = Arc::new(listening_tx);
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(pump(
            planned.name,
            stdout,
            recent.clone(),
            listening_tx.clone(),
        ));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(pump(planned.name, stderr, recent.clone(), listening_tx));
    }
    Ok(Running {
        name: planned.name,
        scheme: planned.scheme,
        port: planned.port,
        child,
        recent,
        listening,
    })
}

/// Copies a child's output to ours, each line prefixed with the service name; the line saying
/// where it listens is taken out and its port reported to `listening`.
async fn pump(
    name: &'static str,
    output: impl AsyncRead + Unpin,
    recent: Arc<Mutex<VecDeque<String>>>,
    listening: Arc<tokio::sync::watch::Sender<Option<u16>>>,
) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(address) = line.strip_prefix(LISTENING) {
            let port = address
                .rsplit(':')
                .next()
                .and_then(|p| p.trim().parse().ok());
            listening.send_replace(port);
            continue;
        }
        println!("{name:>18} | {line}");
        if let Ok(mut recent) = recent.lock() {
            if recent.len() == RECENT_LINES {
                recent.pop_front();
            }
            recent.push_back(line);
        }
    }
}

async fn wait_healthy(
    http: &reqwest::Client,
    service: &mut Running,
    deadline: Duration,
    stop: &tokio::task::JoinHandle<()>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if stop.is_finished() {
            bail!("interrupted");
        }
        if let Some(status) = service.child.try_wait()? {
            bail!("the process exited ({status})");
        }
        if is_healthy(http, service).await {
            return Ok(());
        }
        if started.elapsed() > deadline {
            bail!(
                "not healthy at {} after {} s",
                health_url(service),
                deadline.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn health_url(service: &Running) -> String {
    format!(
        "{}://127.0.0.1:{}/actuator/health",
        service.scheme, service.port
    )
}

/// Whether the instance listens (it said where) and its health endpoint answers 200.
async fn is_healthy(http: &reqwest::Client, service: &mut Running) -> bool {
    if service.learn_port().is_none() {
        return false;
    }
    http.get(health_url(service))
        .send()
        .await
        .is_ok_and(|response| response.status().is_success())
}

/// One planned instance under supervision.
struct Supervised {
    planned: Planned,
    running: Option<Running>,
    state: State,
    /// Exits in a row without a stable run between them.
    failures: u32,
}

/// Where a supervised instance is in its life.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Healthy (or was, when last started) since then.
    Up { since: Instant },
    /// Started again, not healthy yet.
    Starting { since: Instant },
    /// Exited; starts again at `until`.
    Waiting { until: Instant },
}

/// Keeps every instance running until a stop signal: an instance that exits is reported and
/// started again after a backoff, the others serving meanwhile; `Err` when a service keeps
/// failing.
async fn supervise(
    exe: &Path,
    http: &reqwest::Client,
    options: &UpOptions,
    instances: &mut [Supervised],
    mut stop: tokio::task::JoinHandle<()>,
) -> anyhow::Result<()> {
    let health_timeout = Duration::from_secs(options.health_timeout);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            () = tokio::time::sleep(TICK) => {}
        }
        for instance in instances.iter_mut() {
            let exited = match (instance.state, instance.running.as_mut()) {
                (State::Up { .. } | State::Starting { .. }, Some(running)) => {
                    running.child.try_wait()?.map(|status| status.to_string())
                }
                _ => None,
            };
            if let Some(status) = exited {
                instance.failed(
                    &format!("exited unexpectedly ({status})"),
                    options.max_restarts,
                )?;
                continue;
            }
            match instance.state {
                State::Waiting { until } if Instant::now() >= until => {
                    println!("factura: starting {} again …", instance.planned.name);
                    match spawn(exe, &instance.planned) {
                        Ok(running) => {
                            instance.running = Some(running);
                            instance.state = State::Starting {
                                since: Instant::now(),
                            };
                        }
                        Err(error) => {
                            instance.failed(
                                &format!("could not start: {error:#}"),
                                options.max_restarts,
                            )?;
                        }
                    }
                }
                State::Starting { since } => {
                    let Some(running) = instance.running.as_mut() else {
                        continue;
                    };
                    if is_healthy(http, running).await {
                        println!(
                            "factura: {} is back: healthy on port {}",
                            running.name, running.port
                        );
                        instance.state = State::Up {
                            since: Instant::now(),
                        };
                    } else if since.elapsed() > health_timeout {
                        if let Some(mut running) = instance.running.take() {
                            let _ = running.child.kill().await;
                            instance.running = Some(running);
                        }
                        instance.failed(
                            &format!("was not healthy within {} s", health_timeout.as_secs()),
                            options.max_restarts,
                        )?;
                    }
                }
                _ => {}
            }
        }
    }
}

impl Supervised {
    /// Reports why the instance is gone and schedules its restart, or gives up (`Err`) when
    /// it has failed `max_restarts` times in a row.
    fn failed(&mut self, what: &str, max_restarts: u32) -> anyhow::Result<()> {
        let name = self.planned.name;
        let (port, lines) = self
            .running
            .take()
            .map(|r| (r.port, r.last_lines()))
            .unwrap_or((self.planned.port, Vec::new()));
        if matches!(self.state, State::Up { since } if since.elapsed() >= STABLE_AFTER) {
            self.failures = 0;
        }
        self.failures += 1;
        eprintln!("\nfactura: {name} on port {port} {what}; last lines:");
        for line in lines {
            eprintln!("    {line}");
        }
        if self.failures > max_restarts {
            bail!(
                "{name} keeps failing: it {what}, its {} failure in a row without staying up {} s \
                 (--max-restarts {max_restarts}); stopping everything",
                ordinal(self.failures),
                STABLE_AFTER.as_secs()
            );
        }
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << (self.failures - 1).min(16))
            .min(MAX_BACKOFF);
        eprintln!(
            "factura: restarting {name} in {} s (restart {} of at most {max_restarts} in a row); the other services keep serving\n",
            backoff.as_secs(),
            self.failures
        );
        self.state = State::Waiting {
            until: Instant::now() + backoff,
        };
        Ok(())
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Stops children in reverse start order — except discovery-service, which goes last so that
/// every other service can still cancel its lease — SIGTERM, then SIGKILL after the grace period.
async fn stop_all(running: &mut Vec<Running>) {
    running.sort_by_key(|service| service.name != "discovery-service");
    while let Some(mut service) = running.pop() {
        if service.child.try_wait().ok().flatten().is_some() {
            continue;
        }
        println!("stopping {} …", service.name);
        if let Some(pid) = service.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        if tokio::time::timeout(STOP_GRACE, service.child.wait())
            .await
            .is_err()
        {
            eprintln!(
                "{} did not stop within {} s; killing it",
                service.name,
                STOP_GRACE.as_secs()
            );
            let _ = service.child.kill().await;
        }
    }
    println!("all services stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_arguments_are_checked() {
        assert_eq!(
            parse_scale("customer-service=2"),
            Ok(("customer-service".into(), 2))
        );
        assert!(parse_scale("customer-service").is_err());
        assert!(parse_scale("customer-service=0").is_err());
        assert!(parse_scale("customer-service=many").is_err());
    }

    #[test]
    fn each_service_gets_its_own_postgres_database() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/", "customer-service").unwrap(),
            "postgres://postgres@127.0.0.1:5432/factura_customer_service"
        );
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/demo", "billing-service").unwrap(),
            "postgres://postgres@127.0.0.1:5432/demo_billing_service"
        );
        assert!(database_url("mysql://x/", "customer-service").is_err());
    }
}
