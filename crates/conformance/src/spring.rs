//! The Spring reference apps as child processes.
//!
//! [`apps_dir`] runs `scripts/spring-apps.sh` once per test binary: it builds the Maven project
//! in `conformance/spring/` (only when its sources changed since the last build on this
//! machine) and prints the folder holding the jars. [`SpringApp::start`] runs one jar on a free
//! port (`--server.port=0`, the port read from Spring's own start-up line, so no port is
//! handed out racily) and waits until it serves. The JVM runs under a small shell wrapper that
//! kills it when our end of its stdin closes, so an app is gone when its [`SpringApp`] is
//! dropped *or* when the test process ends, whichever comes first; [`SpringApp::shared`] keeps
//! one instance per test binary for apps that many tests use.
//!
//! A missing Java, Maven or jar fails the test with the reason: the suite never skips.

use std::{
    collections::HashMap,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Arc, Mutex, OnceLock, mpsc},
    time::{Duration, Instant},
};

/// How long a Spring app may take to start on a loaded two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// The folder holding the reference apps' jars, built on first use.
pub fn apps_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("FACTURA_SPRING_APPS").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let script = repo_root().join("scripts/spring-apps.sh");
        let output = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "{} failed ({}): the Spring reference apps are needed by the conformance suite",
            script.display(),
            output.status
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let dir = stdout
            .lines()
            .last()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| panic!("{} printed no folder", script.display()));
        PathBuf::from(dir)
    })
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/conformance sits two levels below the root")
        .to_path_buf()
}

/// One running Spring Boot app.
#[derive(Debug)]
pub struct SpringApp {
    /// The jar's name without `.jar` (the Maven module).
    pub name: String,
    /// The HTTP port it listens on, on 127.0.0.1.
    pub port: u16,
    child: Child,
    /// Closing this kills the JVM (see the module docs).
    lifeline: Option<ChildStdin>,
    log: Arc<Mutex<Vec<String>>>,
}

impl SpringApp {
    /// Starts `app` (a module of `conformance/spring/`) with these properties, given as
    /// `--key=value` arguments, and waits until its HTTP port serves `/actuator/health`.
    ///
    /// Blocks the calling thread (start-up takes seconds); call it from a multi-threaded
    /// runtime or `spawn_blocking`.
    pub fn start(app: &str, properties: &[(&str, &str)]) -> Self {
        let jar = apps_dir().join(format!("{app}.jar"));
        assert!(jar.is_file(), "no jar for {app} at {}", jar.display());
        let mut args: Vec<String> = vec![
            // Start-up speed matters more than peak speed in tests; benchmarks use the defaults.
            "-XX:TieredStopAtLevel=1".into(),
            "-XX:+UseSerialGC".into(),
            "-Xshare:auto".into(),
            "-Djava.security.egd=file:/dev/./urandom".into(),
            "-jar".into(),
            jar.display().to_string(),
            "--server.port=0".into(),
            "--server.address=127.0.0.1".into(),
        ];
        args.extend(properties.iter().map(|(k, v)| format!("--{k}={v}")));
        // fd 3 keeps the test's end of stdin; the JVM gets /dev/null.
        let wrapper = r#"exec 3<&0; java "$@" </dev/null & jvm=$!; (read -r _ <&3; kill -9 "$jvm" 2>/dev/null) & wait "$jvm""#;
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(wrapper)
            .arg("spring-app")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start java for {app}: {e} (is Java 17 installed?)"));
        let lifeline = child.stdin.take();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let started =
            regex::Regex::new(r"(?:Tomcat|Netty|Jetty|Undertow) started on ports? \(?(\d+)")
                .expect("valid pattern");
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = Arc::clone(&log);
            let port_tx = port_tx.clone();
            let started = started.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(port) = started
                        .captures(&line)
                        .and_then(|c| c[1].parse::<u16>().ok())
                    {
                        let _ = port_tx.send(port);
                    }
                    if std::env::var_os("FACTURA_SPRING_LOG").is_some() {
                        eprintln!("[spring] {line}");
                    }
                    log.lock().expect("log lock").push(line);
                }
            });
        }
        let mut app = Self {
            name: app.to_owned(),
            port: 0,
            child,
            lifeline,
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match port_rx.recv_timeout(Duration::from_millis(200)) {
                Ok(port) => {
                    app.port = port;
                    break;
                }
                Err(_) if Instant::now() > deadline => app.fail("did not start in time"),
                Err(_) => {
                    if let Ok(Some(status)) = app.child.try_wait() {
                        app.fail(&format!("exited with {status}"));
                    }
                }
            }
        }
        app.wait_until_serving(deadline);
        app
    }

    /// One instance of `app` per test binary, started on first use with `properties`, under
    /// `key` (different keys give different instances of the same app).
    pub fn shared(key: &str, app: &str, properties: &[(&str, &str)]) -> &'static Self {
        static APPS: OnceLock<Mutex<HashMap<String, &'static OnceLock<SpringApp>>>> =
            OnceLock::new();
        let cell: &'static OnceLock<SpringApp> = {
            let mut apps = APPS
                .get_or_init(Default::default)
                .lock()
                .expect("apps lock");
            apps.entry(key.to_owned())
                .or_insert_with(|| Box::leak(Box::new(OnceLock::new())))
        };
        cell.get_or_init(|| Self::start(app, properties))
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `127.0.0.1:{port}`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Everything the app printed so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// Stops the app (also what dropping it does).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        drop(self.lifeline.take());
        let _ = self.child.wait();
    }

    fn wait_until_serving(&mut self, deadline: Instant) {
        let url = self.url("/actuator/health");
        loop {
            let answered = std::net::TcpStream::connect(("127.0.0.1", self.port))
                .ok()
                .and_then(|mut stream| {
                    use std::io::{Read as _, Write as _};
                    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                    let request = format!(
                        "GET /actuator/health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                        self.port
                    );
                    stream.write_all(request.as_bytes()).ok()?;
                    let mut head = [0u8; 12];
                    stream.read_exact(&mut head).ok()?;
                    Some(head.starts_with(b"HTTP/1.1 200"))
                });
            if answered == Some(true) {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!("{url} never answered 200"));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("exited with {status}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        self.kill();
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "Spring app {} {what}; its last lines:\n{}",
            self.name,
            tail.join("\n")
        );
    }
}

impl Drop for SpringApp {
    fn drop(&mut self) {
        self.kill();
    }
}
