//! `factura up` as a user runs it: the real binary, real child processes, real ports.
//!
//! Each test uses its own `--port-offset`, so the system under test never collides with a
//! developer's running `factura up` or with the other test.

mod support;

use std::time::Duration;

use support::{port_is_free, start_up, wait_for_line};

#[tokio::test]
async fn up_serves_every_service_and_a_stop_signal_ends_every_child() {
    let offset = 10_000;
    let data = tempfile::tempdir().unwrap();
    let (up, lines) = start_up(offset, data.path(), &[]);
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

    let status = up.terminate().await;
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
    let offset = 11_000;
    let blocker = std::net::TcpListener::bind(("0.0.0.0", 8081 + offset)).unwrap();
    let data = tempfile::tempdir().unwrap();
    let (up, lines) = start_up(offset, data.path(), &[]);
    let output = wait_for_line(&lines, "failed to start", Duration::from_secs(120));
    let status = up.wait().await;
    assert!(!status.success());
    let text = output.join("\n");
    assert!(text.contains("customer-service did not start"), "{text}");
    assert!(
        text.contains("cannot listen on"),
        "the child's last lines explain why: {text}"
    );
    drop(blocker);
}
