//! Running the real `factura` binary from tests: start it, read its output, wait for a line.

#![allow(dead_code)] // each test file uses a different part

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

const FACTURA: &str = env!("CARGO_BIN_EXE_factura");

/// A running `factura up`; stopped with SIGTERM when dropped, so a failing test leaves no
/// system behind.
pub(crate) struct Up(Option<Child>);

impl Up {
    /// The supervisor's process id.
    pub(crate) fn id(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }

    /// Sends SIGTERM (as Ctrl-C would) and waits for the supervisor to exit.
    pub(crate) async fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("running");
        signal(&child);
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap()
    }

    /// Waits for the supervisor to exit by itself.
    pub(crate) async fn wait(mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("running");
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            signal(&child);
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
}

/// Starts `factura up` (with `extra` arguments) and returns it with a channel of its output lines.
pub(crate) fn start_up(
    offset: u16,
    data_dir: &std::path::Path,
    extra: &[String],
) -> (Up, mpsc::Receiver<String>) {
    let mut child = Command::new(FACTURA)
        .args(["up", "--port-offset", &offset.to_string(), "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR").to_owned() + "/../..")
        .env_remove("SERVER_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("factura starts");
    let (sender, lines) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let sender = sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
    }
    (Up(Some(child)), lines)
}

/// Collects lines until one contains `marker`; panics with everything seen after `within`.
pub(crate) fn wait_for_line(
    lines: &mpsc::Receiver<String>,
    marker: &str,
    within: Duration,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(marker);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!(
        "no line containing {marker:?} within {within:?}; output:\n{}",
        seen.join("\n")
    );
}

pub(crate) fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The children of process `parent`, read from `/proc/<pid>/stat` (`pid (comm) state ppid …`).
pub(crate) fn children(parent: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let ppid: u32 = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// The process of `factura run <service>` that the supervisor `parent` started with
/// `--server.port=<port>` (0 for the extra instances, which pick their own).
pub(crate) fn pid_of_instance(parent: u32, service: &str, port: u16) -> Option<i32> {
    let flag = format!("--server.port={port}");
    children(parent).into_iter().find(|pid| {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        args.contains(&&b"run"[..])
            && args.contains(&service.as_bytes())
            && args.contains(&flag.as_bytes())
    })
}

/// The user `factura up` generated for discovery-service into `<data_dir>/credentials`.
pub(crate) fn discovery_user(data_dir: &std::path::Path) -> (String, String) {
    let text = std::fs::read_to_string(data_dir.join("credentials")).expect("the credentials file");
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_owned())
            .unwrap_or_else(|| panic!("`{key}` in the credentials file"))
    };
    (value("discovery.user"), value("discovery.password"))
}

/// discovery-service under `factura up` on `port`, its user in the URL (which reqwest sends as
/// Basic credentials).
pub(crate) fn discovery_url(data_dir: &std::path::Path, port: u16) -> String {
    let (user, password) = discovery_user(data_dir);
    format!("http://{user}:{password}@127.0.0.1:{port}")
}
