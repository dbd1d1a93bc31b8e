//! `factura up`: one OS process per service instance, started in dependency order and stopped
//! in reverse.
//!
//! Each child is `factura run <service>` in its own process group (so a terminal's Ctrl-C reaches
//! only the supervisor, which then stops children one by one). Its output is prefixed with the
//! service name; the last lines are kept so that a service that dies or never becomes healthy
//! can be explained. Health is `GET /actuator/health` answering 200.

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
    port: u16,
    args: Vec<String>,
}

/// One started child process.
struct Running {
    name: &'static str,
    port: u16,
    child: Child,
    recent: Arc<Mutex<VecDeque<String>>>,
}

impl Running {
    fn last_lines(&self) -> Vec<String> {
        self.recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
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
fn plan(options: &UpOptions, scheme: &str) -> anyhow::Result<Vec<Planned>> {
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
                free_port()?
            };
            let mut args = common.clone();
            args.push(format!("--server.port={port}"));
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

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
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
        println!(
            "[{}/{total}] starting {} on port {} …",
            index + 1,
            instance.name,
            instance.port
        );
        running.push(spawn(&exe, instance)?);
        let current = running.last_mut().expect("just pushed");
        let deadline = Duration::from_secs(options.health_timeout);
        if let Err(error) = wait_healthy(&http, scheme, current, deadline, &stop).await {
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

    let outcome = wait_for_stop_or_death(&mut running, stop).await;
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
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", planned.name))?;
    let recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT_LINES)));
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(pump(planned.name, stdout, recent.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(pump(planned.name, stderr, recent.clone()));
    }
    Ok(Running {
        name: planned.name,
        port: planned.port,
        child,
        recent,
    })
}

/// Copies a child's output to ours, each line prefixed with the service name.
async fn pump(
    name: &'static str,
    output: impl AsyncRead + Unpin,
    recent: Arc<Mutex<VecDeque<String>>>,
) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
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
    scheme: &str,
    service: &mut Running,
    deadline: Duration,
    stop: &tokio::task::JoinHandle<()>,
) -> anyhow::Result<()> {
    let url = format!("{scheme}://127.0.0.1:{}/actuator/health", service.port);
    let started = Instant::now();
    loop {
        if stop.is_finished() {
            bail!("interrupted");
        }
        if let Some(status) = service.child.try_wait()? {
            bail!("the process exited ({status})");
        }
        if let Ok(response) = http.get(&url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if started.elapsed() > deadline {
            bail!("not healthy at {url} after {} s", deadline.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for a stop signal. A child that exits on its own is reported with its last lines; the
/// system keeps running while another instance of that service remains, and stops (with an
/// error) when the last instance of a service is gone.
async fn wait_for_stop_or_death(
    running: &mut Vec<Running>,
    stop: tokio::task::JoinHandle<()>,
) -> anyhow::Result<()> {
    let mut stop = stop;
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                let mut index = 0;
                while index < running.len() {
                    let Some(status) = running[index].child.try_wait()? else {
                        index += 1;
                        continue;
                    };
                    let dead = running.remove(index);
                    eprintln!("\nfactura: {} on port {} exited unexpectedly ({status}); last lines:", dead.name, dead.port);
                    for line in dead.last_lines() {
                        eprintln!("    {line}");
                    }
                    if !running.iter().any(|other| other.name == dead.name) {
                        bail!("{} exited unexpectedly and no instance of it is left", dead.name);
                    }
                    eprintln!("factura: other {} instances keep serving\n", dead.name);
                }
            }
        }
    }
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
