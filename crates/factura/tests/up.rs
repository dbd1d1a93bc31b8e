//! `factura up` as a user runs it: the real binary, real child processes, real ports.
//!
//! Each test uses its own `--port-offset`, so the system under test never collides with a
//! developer's running `factura up` or with the other test.

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};

const FACTURA: &str = env!("CARGO_BIN_EXE_factura");

/// Starts `factura up` and returns it with a channel of its output lines.
fn start_up(offset: u16, data_dir: &std::path::Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(FACTURA)
        .args(["up", "--port-offset", &offset.to_string(), "--data-dir"])
        .arg(data_dir)
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
    (child, lines)
}

/// Collects lines until one contains `marker`; panics with everything seen after `within`.
fn wait_for_line(lines: &mpsc::Receiver<String>, marker: &str, within: Duration) -> Vec<String> {
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

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

#[tokio::test]
async fn up_serves_every_service_and_a_stop_signal_ends_every_child() {
    let offset = 31_000;
    let data = tempfile::tempdir().unwrap();
    let (mut up, lines) = start_up(offset, data.path());
    let startup = wait_for_line(&lines, "Press Ctrl-C to stop", Duration::from_secs(120));
    assert!(
        startup.iter().any(|l| l.contains("factura is up")),
        "{startup:?}"
    );
    assert!(
        startup
            .iter()
            .any(|l| l.contains("customer-service") && l.contains("UP"))
    );

    let customer: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{}/customers/1", 8081 + offset))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(customer["name"], "Hassan");
    let products: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{}/products", 8082 + offset))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(products["page"]["totalElements"], 3);
    assert!(
        data.path().join("customer-service.db").exists(),
        "SQLite file under --data-dir"
    );

    nix::sys::signal::kill(Pid::from_raw(up.id() as i32), Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || up.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "factura up exits cleanly: {status}");
    let shutdown = wait_for_line(&lines, "all services stopped", Duration::from_secs(5));
    assert!(
        shutdown
            .iter()
            .any(|l| l.contains("stopping customer-service"))
    );
    for port in [8081 + offset, 8082 + offset] {
        assert!(
            port_is_free(port),
            "port {port} released: its service stopped"
        );
    }
}

#[tokio::test]
async fn a_port_already_taken_names_the_service_and_fails() {
    let offset = 32_000;
    let blocker = std::net::TcpListener::bind(("0.0.0.0", 8081 + offset)).unwrap();
    let data = tempfile::tempdir().unwrap();
    let (mut up, lines) = start_up(offset, data.path());
    let output = wait_for_line(&lines, "failed to start", Duration::from_secs(120));
    let status = tokio::task::spawn_blocking(move || up.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success());
    let text = output.join("\n");
    assert!(text.contains("customer-service did not start"), "{text}");
    assert!(
        text.contains("cannot listen on"),
        "the child's last lines explain why: {text}"
    );
    drop(blocker);
}
