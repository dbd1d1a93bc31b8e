//! The defaults of a new system, tried as an attacker on the same machine would: under
//! `factura up` discovery and config refuse anonymous writes (a fake CUSTOMER-SERVICE, a status
//! override, `/decrypt`) while the fleet itself works with the generated users; no secret is
//! on a child's command line; every service listens on loopback only and the start table says
//! so. `factura run` keeps Spring's `0.0.0.0`.

mod support;

use std::{path::Path, time::Duration};

use serde_json::{Value, json};
use support::{children, discovery_user, start_up, wait_for_line};
use testkit::eventually;

/// A value no one would type by accident, to look for in `/proc`.
const DB_SECRET: &str = "db-s3cret-only-in-the-environment";

/// `/proc/<pid>/<file>` as text, NULs as spaces.
fn proc_text(pid: i32, file: &str) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/{file}")).unwrap_or_default())
        .replace('\0', " ")
}

/// The local addresses of the IPv4 and IPv6 sockets listening on `port`, as `/proc/net` has them.
fn listening_addresses(port: u16) -> Vec<String> {
    let port = format!("{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let (address, local_port) = fields.get(1)?.split_once(':')?;
                    // 0A: LISTEN.
                    (local_port == port && fields.get(3) == Some(&"0A")).then(|| address.to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn config_user(data_dir: &Path) -> (String, String) {
    let text = std::fs::read_to_string(data_dir.join("credentials")).unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap()
            .to_owned()
    };
    (value("config.user"), value("config.password"))
}

#[tokio::test]
async fn up_closes_discovery_config_and_the_network_and_keeps_secrets_off_the_command_line() {
    let offset = 19_000;
    let data = tempfile::tempdir().unwrap();
    let args = vec![
        "--".to_owned(),
        format!("--spring.datasource.password={DB_SECRET}"),
        "--eureka.client.registry-fetch-interval-seconds=1".to_owned(),
    ];
    let (up, lines) = start_up(offset, data.path(), &args);
    let startup = wait_for_line(&lines, "Press Ctrl-C to stop", Duration::from_secs(120));
    let text = startup.join("\n");

    // Loopback only, said in the table.
    assert!(text.contains("Loopback only (127.0.0.1)"), "{text}");
    for (service, port) in [
        ("config-service", 8888),
        ("discovery-service", 8761),
        ("customer-service", 8081),
        ("inventory-service", 8082),
        ("billing-service", 8083),
        ("gateway-service", 9999),
    ] {
        let port = port + offset;
        assert!(
            startup.iter().any(|l| l.contains(service)
                && l.contains(&format!("127.0.0.1:{port}"))
                && l.contains("UP")),
            "{service} listens on 127.0.0.1:{port}: {text}"
        );
        let addresses = listening_addresses(port);
        assert!(!addresses.is_empty(), "{service} listens on {port}");
        assert!(
            addresses.iter().all(|a| a == "0100007F"),
            "{service} listens on loopback only: {addresses:?}"
        );
    }

    // Secrets reach the children through their environment, not their command line.
    let (discovery_name, discovery_password) = discovery_user(data.path());
    let (config_name, config_password) = config_user(data.path());
    let credentials = std::fs::metadata(data.path().join("credentials")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&credentials.permissions()) & 0o777,
        0o600,
        "the generated users are readable by their owner only"
    );
    let pids = children(up.id());
    assert_eq!(pids.len(), 6, "one child per service");
    for pid in pids {
        let cmdline = proc_text(pid, "cmdline");
        for secret in [DB_SECRET, &discovery_password, &config_password] {
            assert!(!cmdline.contains(secret), "a secret in argv: {cmdline}");
        }
        let environment = proc_text(pid, "environ");
        assert!(
            environment.contains(&format!("SPRING_DATASOURCE_PASSWORD={DB_SECRET}")),
            "the secret property reaches the child: {cmdline}"
        );
        assert!(
            environment.contains(&format!(
                "EUREKA_CLIENT_SERVICEURL_DEFAULTZONE=http://{discovery_name}:{discovery_password}@"
            )),
            "{cmdline}"
        );
    }

    let http = reqwest::Client::new();
    let gateway = format!("http://127.0.0.1:{}", 9999 + offset);
    let discovery = format!("http://127.0.0.1:{}", 8761 + offset);
    let config = format!("http://127.0.0.1:{}", 8888 + offset);

    // The fleet works with the users it was given: a bill across three services.
    let bill: Value = eventually(
        "the full bill through the gateway",
        Duration::from_secs(30),
        || async {
            let response = http
                .get(format!("{gateway}/fullBill/1"))
                .send()
                .await
                .ok()?;
            if response.status() != 200 {
                return None;
            }
            response.json().await.ok()
        },
    )
    .await;
    assert_eq!(bill["customer"]["name"], "Hassan", "{bill}");
    // …and each service loaded the central configuration with config's user (the import is
    // `optional:`, so a refused fetch would go unnoticed but for this).
    let params: Value = http
        .get(format!("http://127.0.0.1:{}/configtest1", 8081 + offset))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(params, json!({ "p1": 10, "p2": 20 }), "from config-repo");

    // Anonymous take-over attempts are refused.
    let fake = json!({ "instance": {
        "instanceId": "evil:customer-service:1",
        "hostName": "127.0.0.1", "app": "CUSTOMER-SERVICE", "ipAddr": "127.0.0.1",
        "status": "UP", "port": { "$": 1, "@enabled": "true" },
        "dataCenterInfo": { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn" }
    }});
    let register = http
        .post(format!("{discovery}/eureka/apps/CUSTOMER-SERVICE"))
        .json(&fake)
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 401, "anonymous register");
    assert!(register.headers().contains_key("www-authenticate"));
    let (user, password) = (&discovery_name, &discovery_password);
    let apps: Value = http
        .get(format!("{discovery}/eureka/apps/CUSTOMER-SERVICE"))
        .basic_auth(user, Some(password))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let instance = &apps["application"]["instance"][0];
    let id = instance["instanceId"].as_str().unwrap().to_owned();
    assert_eq!(apps["application"]["instance"].as_array().unwrap().len(), 1);
    let override_status = http
        .put(format!(
            "{discovery}/eureka/apps/CUSTOMER-SERVICE/{id}/status?value=OUT_OF_SERVICE"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(override_status.status(), 401, "anonymous status override");
    let cancel = http
        .delete(format!("{discovery}/eureka/apps/CUSTOMER-SERVICE/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 401, "anonymous cancel");
    let still: Value = http
        .get(format!("{discovery}/eureka/apps/CUSTOMER-SERVICE/{id}"))
        .basic_auth(user, Some(password))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(still["instance"]["status"], "UP", "{still}");

    for (path, body) in [("/decrypt", "deadbeef"), ("/encrypt", "x")] {
        let response = http
            .post(format!("{config}{path}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "anonymous {path}");
    }
    let settings = http
        .get(format!("{config}/customer-service/default"))
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), 401, "anonymous read of the settings");
    let settings = http
        .get(format!("{config}/customer-service/default"))
        .basic_auth(&config_name, Some(&config_password))
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), 200);

    // At the edge: no route to the infrastructure, no route writes; health and info readable.
    for path in [
        "/CONFIG-SERVICE/customer-service/default",
        "/DISCOVERY-SERVICE/eureka/apps",
    ] {
        let response = http.get(format!("{gateway}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let route = http
        .post(format!("{gateway}/actuator/gateway/routes/evil"))
        .json(&json!({ "uri": "http://127.0.0.1:1", "predicates": ["Path=/customers/**"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(route.status(), 404, "the route writes are not exposed");
    let info = http
        .get(format!("{gateway}/actuator/info"))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200, "info stays readable for the console");
    let health: Value = http
        .get(format!(
            "http://127.0.0.1:{}/actuator/health",
            8081 + offset
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health,
        json!({ "status": "UP" }),
        "status only, anonymously"
    );

    // `factura status` reads the registry with the kept user.
    let listed = tokio::process::Command::new(env!("CARGO_BIN_EXE_factura"))
        .args(["status", "--data-dir"])
        .arg(data.path())
        .arg("--discovery")
        .arg(format!("{discovery}/eureka"))
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(out.contains("CUSTOMER-SERVICE"), "{out}");

    let status = up.terminate().await;
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn run_keeps_springs_every_interface() {
    let data = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_factura"))
        .args([
            "run",
            "customer-service",
            "--server.port=0",
            "--eureka.client.enabled=false",
            "--spring.cloud.config.enabled=false",
        ])
        .arg(format!("--factura.data-dir={}", data.path().display()))
        .env("FACTURA_REPORT_LISTENING", "1")
        .env_remove("SERVER_ADDRESS")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let address = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(address) = line.strip_prefix("factura: listening on ") {
                return address.trim().parse::<std::net::SocketAddr>().unwrap();
            }
        }
        panic!("factura run ended without listening");
    })
    .await
    .expect("listening within 30 s");
    assert_eq!(address.ip().to_string(), "0.0.0.0");
    assert_eq!(listening_addresses(address.port()), ["00000000"]);
    child.kill().await.unwrap();
}
