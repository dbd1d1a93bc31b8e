//! `factura up`: one OS process per service, started in dependency order and stopped in reverse.
//!
//! Each child is `factura run <service>` in its own process group (so a terminal's Ctrl-C reaches
//! only the supervisor, which then stops children one by one). Its output is prefixed with the
//! service name; the last lines are kept so that a service that dies or never becomes healthy
//! can be explained. Health is `GET /actuator/health` answering 200.

use std::{
    collections::VecDeque,
    path::PathBuf,
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

/// Runs the whole system until a stop signal or a child's death.
pub(crate) async fn up(options: UpOptions) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the factura executable")?;
    let started_at = Instant::now();
    let stop = tokio::spawn(platform::server::shutdown_signal());
    let mut running: Vec<Running> = Vec::new();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .context("building the health-check client")?;

    let total = services::ALL.len();
    for (index, definition) in services::ALL.iter().enumerate() {
        let port = definition
            .default_port
            .checked_add(options.port_offset)
            .context("--port-offset pushes a port beyond 65535")?;
        println!(
            "[{}/{total}] starting {} on port {port} …",
            index + 1,
            definition.name
        );
        let child = spawn(&exe, definition.name, port, &options)?;
        running.push(child);
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
            bail!("{} failed to start", definition.name);
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
            format!("http://localhost:{}", service.port)
        );
    }
    if let Some(customers) = running.iter().find(|s| s.name == "customer-service") {
        println!(
            "\nTry:  curl http://localhost:{}/customers/1",
            customers.port
        );
    }
    println!("Press Ctrl-C to stop.\n");

    let outcome = wait_for_stop_or_death(&mut running, stop).await;
    stop_all(&mut running).await;
    outcome
}

fn spawn(
    exe: &PathBuf,
    name: &'static str,
    port: u16,
    options: &UpOptions,
) -> anyhow::Result<Running> {
    let mut command = Command::new(exe);
    command
        .arg("run")
        .arg(name)
        .arg(format!("--server.port={port}"))
        .arg(format!("--factura.data-dir={}", options.data_dir.display()))
        // The well-known services move with --port-offset, so every child is told where they are.
        .arg(format!(
            "--eureka.client.service-url.defaultZone=http://localhost:{}/eureka/",
            8761 + u32::from(options.port_offset)
        ))
        .arg(format!(
            "--spring.config.import=optional:configserver:http://localhost:{}",
            8888 + u32::from(options.port_offset)
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT_LINES)));
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(pump(name, stdout, recent.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(pump(name, stderr, recent.clone()));
    }
    Ok(Running {
        name,
        port,
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
    service: &mut Running,
    deadline: Duration,
    stop: &tokio::task::JoinHandle<()>,
) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{}/actuator/health", service.port);
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for a stop signal, or for a child to exit on its own (then reports it as an error).
async fn wait_for_stop_or_death(
    running: &mut [Running],
    stop: tokio::task::JoinHandle<()>,
) -> anyhow::Result<()> {
    let mut stop = stop;
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                for service in running.iter_mut() {
                    if let Some(status) = service.child.try_wait()? {
                        eprintln!("\nfactura: {} exited unexpectedly ({status}); last lines:", service.name);
                        for line in service.last_lines() {
                            eprintln!("    {line}");
                        }
                        bail!("{} exited unexpectedly", service.name);
                    }
                }
            }
        }
    }
}

/// Stops children in reverse start order: SIGTERM, then SIGKILL after the grace period.
async fn stop_all(running: &mut Vec<Running>) {
    while let Some(mut service) = running.pop() {
        if service.child.try_wait().ok().flatten().is_some() {
            continue;
        }
        println!("stopping {} …", service.name);
        if let Some(pid) = service.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        match tokio::time::timeout(STOP_GRACE, service.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                eprintln!(
                    "{} did not stop within {} s; killing it",
                    service.name,
                    STOP_GRACE.as_secs()
                );
                let _ = service.child.kill().await;
            }
        }
    }
    println!("all services stopped");
}
