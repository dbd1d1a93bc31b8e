//! A service with a setting it cannot use stops before it binds a port, with exit code 78
//! (`EX_CONFIG`) and one line naming the key, the value and the form expected — the real
//! `factura run` binary, as an operator sees it.

use std::process::Command;

/// Runs `factura run <service> <args…>` in an empty folder and returns its exit code and stderr.
fn run(service: &str, args: &[&str]) -> (Option<i32>, String) {
    let folder = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_factura"))
        .arg("run")
        .arg(service)
        .args(args)
        .current_dir(folder.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("factura runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_port_that_is_not_a_number_exits_78_naming_key_value_and_form() {
    let (code, stderr) = run(
        "discovery-service",
        &[
            "--server.port=eighty",
            "--spring.cloud.config.enabled=false",
        ],
    );
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.contains("property `server.port` = `eighty`: expected a whole number (u16)"),
        "{stderr}"
    );
}

#[test]
fn a_duration_spring_would_refuse_exits_78_before_the_config_server_is_asked() {
    let (code, stderr) = run(
        "customer-service",
        &[
            "--server.port=0",
            "--spring.cloud.config.watch.delay=10 seconds",
        ],
    );
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.contains(
            "property `spring.cloud.config.watch.delay` = `10 seconds`: expected a duration such as"
        ),
        "{stderr}"
    );
}

#[test]
fn a_value_out_of_range_exits_78_too() {
    let (code, stderr) = run(
        "discovery-service",
        &[
            "--server.port=0",
            "--spring.cloud.config.enabled=false",
            "--eureka.server.renewal-percent-threshold=2",
        ],
    );
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.contains(
            "property `eureka.server.renewal-percent-threshold` = `2`: expected a number between 0 and 1"
        ),
        "{stderr}"
    );
}
