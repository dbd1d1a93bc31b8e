//! The real third-party Eureka clients against our server: `py_eureka_client` (PyPI) and
//! `eureka-js-client` (npm), installed by `scripts/install-test-deps.sh` into `.test-deps/`.
//! Both run at once beside a real customer-service: each registers, heartbeats, discovers the
//! other and customer-service (and calls it), follows a status override, and cancels; and
//! customer-service's own registry cache sees both of them.

use std::{path::PathBuf, process::Stdio, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncBufReadExt as _, AsyncRead, AsyncWriteExt as _, BufReader},
    process::{Child, Command},
    sync::Mutex,
};

use crate::helpers::*;

/// How long one third-party script may run in all.
const SCRIPT_LIMIT: Duration = Duration::from_secs(120);

fn deps() -> Option<(PathBuf, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.test-deps");
    let python = root.join("venv/bin/python");
    let node_modules = root.join("node/node_modules");
    let ready = python.exists()
        && node_modules.join("eureka-js-client").exists()
        && std::process::Command::new(&python)
            .args(["-c", "import py_eureka_client"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    ready.then_some((python, node_modules))
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// A running script: its child, and everything it printed so far.
struct Script {
    name: &'static str,
    child: Child,
    output: Arc<Mutex<String>>,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    output: Arc<Mutex<String>>,
    lines: Option<tokio::sync::mpsc::UnboundedSender<String>>,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            output.lock().await.push_str(&format!("{line}\n"));
            if let Some(lines) = &lines {
                let _ = lines.send(line);
            }
        }
    });
}

impl Script {
    fn spawn(name: &'static str, mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        let (sender, lines) = tokio::sync::mpsc::unbounded_channel();
        collect(
            child.stdout.take().expect("stdout"),
            output.clone(),
            Some(sender),
        );
        collect(child.stderr.take().expect("stderr"), output.clone(), None);
        Self {
            name,
            child,
            output,
            lines,
        }
    }

    async fn transcript(&self) -> String {
        self.output.lock().await.clone()
    }

    /// Waits for the line `wanted`; panics with the transcript on failure or exit.
    async fn expect_line(&mut self, wanted: &str) {
        let found = tokio::time::timeout(SCRIPT_LIMIT, async {
            while let Some(line) = self.lines.recv().await {
                if line.starts_with("FAILED") {
                    return false;
                }
                if line == wanted {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        if !found {
            tokio::time::sleep(Duration::from_millis(300)).await;
            panic!(
                "{} did not print {wanted}:\n{}",
                self.name,
                self.transcript().await
            );
        }
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to script");
        stdin.flush().await.expect("flush");
    }

    async fn finish(mut self) {
        let status = tokio::time::timeout(SCRIPT_LIMIT, self.child.wait()).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let transcript = self.transcript().await;
        match status {
            Ok(Ok(status)) if status.success() => {
                assert!(
                    transcript.contains("CANCELLED"),
                    "{}:\n{transcript}",
                    self.name
                );
                eprintln!("--- {} ---\n{transcript}", self.name);
            }
            other => panic!("{} ended with {other:?}:\n{transcript}", self.name),
        }
    }
}

#[tokio::test]
async fn py_eureka_client_and_eureka_js_client_register_discover_and_cancel() {
    let Some((python, node_modules)) = deps() else {
        if std::env::var_os("CI").is_some() {
            panic!("py_eureka_client / eureka-js-client missing: run scripts/install-test-deps.sh");
        }
        eprintln!("skipping the interoperability test: run scripts/install-test-deps.sh first");
        return;
    };
    let node = discovery(&[]).await;
    let base = eureka(&node);
    let customers = Registered::start(&customer_service::SERVICE, &base).await;
    let customer_id = customers.instance_id("customer-service");
    eventually("customer-service registers", PATIENCE, || async {
        instance_status(&base, "CUSTOMER-SERVICE", &customer_id)
            .await
            .map(|_| ())
    })
    .await;

    // The third-party clients only announce a port (they serve nothing): held, so it is unique.
    let py_port = ReservedPort::new();
    let mut py = Command::new(&python);
    py.arg(script("py_client.py"))
        .arg(&base)
        .arg(py_port.port().to_string())
        .env("PYTHONUNBUFFERED", "1");
    let mut py = Script::spawn("py_eureka_client", py);

    let js_port = ReservedPort::new();
    let mut js = Command::new("node");
    js.arg(script("js_client.js"))
        .arg(node.addr.port().to_string())
        .arg(js_port.port().to_string())
        .env("NODE_PATH", &node_modules);
    let mut js = Script::spawn("eureka-js-client", js);

    py.expect_line("REGISTERED").await;
    js.expect_line("REGISTERED").await;
    py.expect_line("HEARTBEAT").await;
    js.expect_line("HEARTBEAT").await;
    py.expect_line("DISCOVERED").await;
    js.expect_line("DISCOVERED").await;

    // Our Rust service sees both third-party instances in its own cache.
    eventually(
        "customer-service's cache sees PY-SVC and JS-SVC",
        PATIENCE,
        || async {
            (customers.cache.up_instances("PY-SVC").len() == 1
                && customers.cache.up_instances("JS-SVC").len() == 1)
                .then_some(())
        },
    )
    .await;
    let py_seen = &customers.cache.instances("PY-SVC")[0];
    assert_eq!(
        py_seen.effective_id(),
        format!("127.0.0.1:py-svc:{}", py_port.port())
    );
    assert_eq!(
        customers.cache.instances("JS-SVC")[0].port.port,
        js_port.port()
    );

    py.send("GO").await;
    js.send("GO").await;
    py.expect_line("OVERRIDE FOLLOWED").await;
    js.expect_line("OVERRIDE FOLLOWED").await;
    py.finish().await;
    js.finish().await;

    for app in ["PY-SVC", "JS-SVC"] {
        assert!(instance_ids(&base, app).await.is_empty(), "{app} cancelled");
    }
    customers.stop().await;
    node.stop().await;
}
