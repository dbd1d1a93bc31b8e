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
//!
//! Defaults that keep a laptop's system closed ([`Credentials`], [`child_environment`]):
//! discovery-service and config-service require a user (Spring Security Basic,
//! `spring.security.user.*`) whose password is generated into `<data-dir>/credentials` on the
//! first run, and every service is told it (the `defaultZone` user-info and
//! `spring.cloud.config.username/password`); secrets (those passwords, a `--database` URL, any
//! property after `--` whose name Spring's sanitizer would hide) reach the children through
//! their environment, never their command line, which every local user can read in `/proc`;
//! and with no security configured every service listens on 127.0.0.1 only.

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
    /// Environment variables: the settings that are secrets.
    env: Vec<(String, String)>,
}

/// One started child process.
struct Running {
    name: &'static str,
    /// `http` or `https`.
    scheme: &'static str,
    /// Where it listens, once it said so (the planned port, or the one it was given).
    port: u16,
    /// The address it said it bound.
    address: Option<std::net::SocketAddr>,
    child: Child,
    recent: Arc<Mutex<VecDeque<String>>>,
    listening: tokio::sync::watch::Receiver<Option<std::net::SocketAddr>>,
}

impl Running {
    fn last_lines(&self) -> Vec<String> {
        self.recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The port it reported listening on, once it did (every child reports before it serves,
    /// so the start table can show the address it bound).
    fn learn_port(&mut self) -> Option<u16> {
        let address = (*self.listening.borrow())?;
        self.port = address.port();
        self.address = Some(address);
        Some(self.port)
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

/// What `plan` decided beyond the instances: the infrastructure's user and where services listen.
#[derive(Debug)]
struct Plan {
    instances: Vec<Planned>,
    credentials: Credentials,
    /// True when every service listens on 127.0.0.1 only (no security configured).
    loopback: bool,
}

/// Every instance to start, in order, with its command-line properties and secret environment.
fn plan(options: &UpOptions, scheme: &'static str) -> anyhow::Result<Plan> {
    for (name, _) in &options.scale {
        services::find(name)?;
    }
    for property in &options.properties {
        if !property.starts_with("--") || !property.contains('=') {
            bail!("`{property}` after -- is not a --key=value property");
        }
    }
    let (user_properties, mut secret_properties) = split_secrets(&options.properties);
    let credentials = Credentials::for_run(&options.data_dir, &mut secret_properties)?;
    let offset = u32::from(options.port_offset);
    let well_known = |port: u16| u32::from(port) + offset;
    let loopback = !security_configured(&options.properties, &options.config_repo)
        && !options
            .properties
            .iter()
            .filter_map(|p| p.strip_prefix("--"))
            .any(|p| platform::settings::canonical_key(p).starts_with("server.address="));
    let zone = format!(
        "{scheme}://{}:{}@localhost:{}/eureka/",
        percent_encode(&credentials.discovery.0),
        percent_encode(&credentials.discovery.1),
        well_known(8761)
    );
    let mut common_env = vec![
        // The well-known services move with --port-offset, so every child is told where they
        // are; the discovery URL carries its user, so it is a secret.
        ("eureka.client.service-url.defaultZone".to_owned(), zone),
        (
            "spring.cloud.config.username".to_owned(),
            credentials.config.0.clone(),
        ),
        (
            "spring.cloud.config.password".to_owned(),
            credentials.config.1.clone(),
        ),
    ];
    common_env.extend(secret_properties);
    let mut common = vec![
        format!("--factura.data-dir={}", options.data_dir.display()),
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
    if loopback {
        common.push("--server.address=127.0.0.1".to_owned());
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
            let mut env = common_env.clone();
            if let Some(server) = &options.database {
                env.push((
                    "spring.datasource.url".to_owned(),
                    database_url(server, definition.name)?,
                ));
            }
            let own_user = match definition.name {
                "discovery-service" => Some(&credentials.discovery),
                "config-service" => Some(&credentials.config),
                _ => None,
            };
            if let Some((user, password)) = own_user {
                env.push(("spring.security.user.name".to_owned(), user.clone()));
                env.push(("spring.security.user.password".to_owned(), password.clone()));
            }
            args.extend(user_properties.iter().cloned());
            planned.push(Planned {
                name: definition.name,
                port,
                scheme,
                args,
                env: env
                    .into_iter()
                    .map(|(key, value)| (environment_variable(&key), value))
                    .collect(),
            });
        }
    }
    Ok(Plan {
        instances: planned,
        credentials,
        loopback,
    })
}

/// The users discovery-service and config-service require under `factura up`.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    /// discovery-service's `(user, password)`.
    discovery: (String, String),
    /// config-service's `(user, password)`.
    config: (String, String),
    /// Where they are kept, when generated.
    file: Option<PathBuf>,
}

/// The file under `--data-dir` that keeps the generated users.
pub(crate) const CREDENTIALS_FILE: &str = "credentials";

impl Credentials {
    /// The user the operator gave after `--` (`spring.security.user.name/password`, taken out
    /// of `secrets`: both servers get it), else the ones kept in `<data_dir>/credentials`,
    /// generated (random, readable only by the owner) on the first run.
    fn for_run(data_dir: &Path, secrets: &mut Vec<(String, String)>) -> anyhow::Result<Self> {
        let take = |secrets: &mut Vec<(String, String)>, key: &str| {
            let canonical = platform::settings::canonical_key(key);
            let position = secrets
                .iter()
                .rposition(|(k, _)| platform::settings::canonical_key(k) == canonical)?;
            let value = secrets.remove(position).1;
            secrets.retain(|(k, _)| platform::settings::canonical_key(k) != canonical);
            Some(value)
        };
        if let Some(password) = take(secrets, "spring.security.user.password") {
            let user = take(secrets, "spring.security.user.name").unwrap_or_else(|| "user".into());
            return Ok(Self {
                discovery: (user.clone(), password.clone()),
                config: (user, password),
                file: None,
            });
        }
        let file = data_dir.join(CREDENTIALS_FILE);
        if let Some(kept) = Self::read(&file)? {
            return Ok(kept);
        }
        let generated = Self {
            discovery: ("factura".to_owned(), random_password()),
            config: ("factura".to_owned(), random_password()),
            file: Some(file.clone()),
        };
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let text = format!(
            "# Generated by `factura up`: the users of discovery-service and config-service\n\
             # (spring.security.user.*). Delete this file for new ones on the next start.\n\
             discovery.user={}\ndiscovery.password={}\nconfig.user={}\nconfig.password={}\n",
            generated.discovery.0, generated.discovery.1, generated.config.0, generated.config.1
        );
        write_private(&file, &text).with_context(|| format!("writing {}", file.display()))?;
        Ok(generated)
    }

    /// The users kept in `file`, if it exists.
    pub(crate) fn read(file: &Path) -> anyhow::Result<Option<Self>> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        };
        let value = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .with_context(|| format!("{} has no `{key}`", file.display()))
        };
        Ok(Some(Self {
            discovery: (value("discovery.user")?, value("discovery.password")?),
            config: (value("config.user")?, value("config.password")?),
            file: Some(file.to_owned()),
        }))
    }

    /// discovery-service's `(user, password)`.
    pub(crate) fn discovery(&self) -> &(String, String) {
        &self.discovery
    }
}

/// 128 random bits, hex.
fn random_password() -> String {
    let mut bytes = [0_u8; 16];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// `value` as it may stand in a URL's user-info.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether a property name or value is one Spring's sanitizer hides (`password`, `secret`,
/// `key`, `token`, `credentials` in the name, or a URL with a password in it).
fn is_secret(key: &str, value: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "key", "token", "credentials"]
        .iter()
        .any(|word| key.contains(word))
        || value
            .split_once("://")
            .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
            .is_some_and(|authority| authority.contains('@') && authority.contains(':'))
}

/// The `--key=value` properties after `--` split into those that may stand on a command line
/// and the secrets (as `(key, value)`), which go into the environment.
fn split_secrets(properties: &[String]) -> (Vec<String>, Vec<(String, String)>) {
    let mut plain = Vec::new();
    let mut secrets = Vec::new();
    for property in properties {
        let Some((key, value)) = property.strip_prefix("--").and_then(|p| p.split_once('=')) else {
            plain.push(property.clone());
            continue;
        };
        let reversible = platform::settings::canonical_key(&platform::settings::environment_key(
            &environment_variable(key),
        )) == platform::settings::canonical_key(key);
        if is_secret(key, value) && reversible {
            secrets.push((key.to_owned(), value.to_owned()));
        } else {
            if is_secret(key, value) {
                eprintln!(
                    "factura: warning: `{key}` cannot be spelled as an environment variable; \
                     it is passed on the command line"
                );
            }
            plain.push(property.clone());
        }
    }
    (plain, secrets)
}

/// The environment variable Spring binds to property `key`:
/// `eureka.client.service-url.defaultZone` → `EUREKA_CLIENT_SERVICEURL_DEFAULTZONE`.
fn environment_variable(key: &str) -> String {
    key.replace(['.', '['], "_")
        .replace(['-', ']'], "")
        .to_ascii_uppercase()
}

/// Whether the operator configured security for the services: a resource server
/// (`spring.security.oauth2.resourceserver.*`) after `--`, in the environment the children
/// inherit, or in the configuration folder for the active profiles (the `security` profile of
/// `config-repo/`, turned on with `-- --spring.profiles.active=security`).
fn security_configured(properties: &[String], config_repo: &Path) -> bool {
    const RESOURCE_SERVER: &str = "spring.security.oauth2.resourceserver.";
    let is_resource_server = |key: &str| {
        platform::settings::canonical_key(key)
            .starts_with(&platform::settings::canonical_key(RESOURCE_SERVER))
    };
    let command_line =
        platform::settings::PropertySource::from_command_line(properties).unwrap_or_default();
    if command_line
        .properties
        .keys()
        .any(|k| is_resource_server(k))
        || std::env::vars()
            .any(|(name, _)| is_resource_server(&platform::settings::environment_key(&name)))
    {
        return true;
    }
    let settings = platform::Settings::from_sources(vec![
        command_line,
        platform::settings::PropertySource::from_environment_variables(),
    ]);
    let active = settings.active_profiles();
    let Ok(entries) = std::fs::read_dir(config_repo) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name
            .strip_suffix(".yml")
            .or_else(|| name.strip_suffix(".yaml"))
        else {
            return false;
        };
        // `application`, `<service>`, or either with an active profile.
        let applies = services::ALL
            .iter()
            .map(|d| d.name)
            .chain(["application"])
            .any(|base| {
                stem == base
                    || stem
                        .strip_prefix(base)
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|profile| active.iter().any(|p| p == profile))
            });
        let documents = std::fs::read_to_string(entry.path())
            .ok()
            .and_then(|text| platform::settings::parse_yaml_documents(&text).ok())
            .unwrap_or_default();
        applies
            && documents.iter().any(|document| {
                document.on_profile.as_deref().is_none_or(|expression| {
                    platform::settings::profile_expression_matches(expression, &active)
                }) && document.properties.keys().any(|k| is_resource_server(k))
            })
    })
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
    let Plan {
        instances: planned,
        credentials,
        loopback,
    } = plan(&options, scheme)?;
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
    println!(
        "  {:<20} {:<28} {:<22} STATUS",
        "SERVICE", "URL", "LISTENS ON"
    );
    for service in &running {
        println!(
            "  {:<20} {:<28} {:<22} UP",
            service.name,
            format!("{scheme}://localhost:{}", service.port),
            service
                .address
                .map_or_else(|| "?".to_owned(), |a| a.to_string()),
        );
    }
    if loopback {
        println!(
            "\n  Loopback only (127.0.0.1): no security is configured. To listen on every \
             interface, configure a resource server or add `-- --server.address=0.0.0.0`."
        );
    }
    match &credentials.file {
        Some(file) => println!(
            "  discovery-service and config-service require their users (spring.security.user), \
             kept in {}",
            file.display()
        ),
        None => println!("  discovery-service and config-service require the user given after --"),
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
        println!("Dashboard: {scheme}://localhost:{discovery}/ (discovery's user, as above)");
    }
}

fn spawn(exe: &Path, planned: &Planned) -> anyhow::Result<Running> {
    let mut command = Command::new(exe);
    command
        .arg("run")
        .arg(planned.name)
        .args(&planned.args)
        .arg(format!("--server.port={}", planned.port))
        .envs(planned.env.iter().map(|(k, v)| (k, v)))
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
        address: None,
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
    listening: Arc<tokio::sync::watch::Sender<Option<std::net::SocketAddr>>>,
) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(address) = line.strip_prefix(LISTENING) {
            listening.send_replace(address.trim().parse().ok());
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
    fn secrets_are_told_apart_and_spelled_as_spring_binds_them() {
        let properties: Vec<String> = [
            "--spring.datasource.password=pw",
            "--spring.datasource.url=postgres://app:pw@db:5432/x",
            "--spring.datasource.url=postgres://db:5432/x",
            "--encrypt.key=k",
            "--server.port=1",
            "--spring.cloud.gateway.routes[0].uri=http://example.org",
        ]
        .map(str::to_owned)
        .to_vec();
        let (plain, secrets) = split_secrets(&properties);
        assert_eq!(
            plain,
            [
                "--spring.datasource.url=postgres://db:5432/x",
                "--server.port=1",
                "--spring.cloud.gateway.routes[0].uri=http://example.org"
            ]
        );
        let keys: Vec<String> = secrets
            .iter()
            .map(|(k, _)| environment_variable(k))
            .collect();
        assert_eq!(
            keys,
            [
                "SPRING_DATASOURCE_PASSWORD",
                "SPRING_DATASOURCE_URL",
                "ENCRYPT_KEY"
            ]
        );
        assert_eq!(
            environment_variable("eureka.client.service-url.defaultZone"),
            "EUREKA_CLIENT_SERVICEURL_DEFAULTZONE"
        );
        assert_eq!(
            environment_variable("spring.cloud.gateway.routes[0].uri"),
            "SPRING_CLOUD_GATEWAY_ROUTES_0_URI"
        );
    }

    #[test]
    fn generated_users_are_kept_and_an_operators_user_wins() {
        let dir = tempfile::tempdir().unwrap();
        let first = Credentials::for_run(dir.path(), &mut Vec::new()).unwrap();
        assert_eq!(first.discovery.1.len(), 32);
        assert_ne!(first.discovery.1, first.config.1);
        let again = Credentials::for_run(dir.path(), &mut Vec::new()).unwrap();
        assert_eq!(again.discovery, first.discovery, "kept across runs");
        let mut given = vec![
            ("spring.security.user.name".to_owned(), "ops".to_owned()),
            ("spring.security.user.password".to_owned(), "pw".to_owned()),
            ("encrypt.key".to_owned(), "k".to_owned()),
        ];
        let operator = Credentials::for_run(dir.path(), &mut given).unwrap();
        assert_eq!(operator.discovery, ("ops".to_owned(), "pw".to_owned()));
        assert_eq!(operator.config, operator.discovery);
        assert_eq!(given, [("encrypt.key".to_owned(), "k".to_owned())]);
    }

    #[test]
    fn security_counts_as_configured_from_flags_or_the_active_profiles_files() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join("application.yml"), "server:\n  port: 1\n").unwrap();
        std::fs::write(
            repo.path().join("application-security.yml"),
            "spring:\n  security:\n    oauth2:\n      resourceserver:\n        jwt:\n          issuer-uri: http://idp\n",
        )
        .unwrap();
        let flags = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(!security_configured(&[], repo.path()));
        assert!(security_configured(
            &flags(&["--spring.profiles.active=dev,security"]),
            repo.path()
        ));
        assert!(!security_configured(
            &flags(&["--spring.profiles.active=dev"]),
            repo.path()
        ));
        assert!(security_configured(
            &flags(&["--spring.security.oauth2.resourceserver.jwt.jwk-set-uri=http://idp/keys"]),
            repo.path()
        ));
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
