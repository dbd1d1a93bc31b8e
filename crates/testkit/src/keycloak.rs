//! A real identity provider for tests: Keycloak in dev mode on `127.0.0.1:0`, in memory, with
//! the realm `factura` of `scripts/keycloak/factura-realm.json` (users `admin`/`admin` with realm
//! role ADMIN, `clerk`/`clerk` with USER; the public PKCE client `factura-console`, which also
//! allows the password grant for tests; the confidential client `billing-service` /
//! `billing-secret` with a service account in ADMIN). Installed on first use by
//! `scripts/keycloak.sh` (Maven Central, Java 21+); stopped when dropped.
//!
//! It takes a while: about 15 s on an idle two-core machine, up to a minute on a loaded one
//! (two minutes on the very first start, which builds Keycloak's Quarkus application), so a
//! test binary starts one and runs everything against it.

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

/// The realm every test uses.
pub const REALM: &str = "factura";

/// A running Keycloak.
#[derive(Debug)]
pub struct Keycloak {
    port: u16,
    child: Child,
}

impl Drop for Keycloak {
    fn drop(&mut self) {
        // kc.sh forwards SIGTERM to its JVM; the whole group goes, whatever happens.
        let group = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGTERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn script() -> String {
    format!("{}/../../scripts/keycloak.sh", env!("CARGO_MANIFEST_DIR"))
}

impl Keycloak {
    /// Installs (once) and starts Keycloak, returning once it listens (at most 5 minutes).
    pub async fn start() -> Self {
        tokio::task::spawn_blocking(Self::start_blocking)
            .await
            .expect("starting Keycloak")
    }

    fn start_blocking() -> Self {
        use std::os::unix::process::CommandExt as _;
        let mut child = Command::new("bash")
            .arg(script())
            .args(["start", "0"])
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("scripts/keycloak.sh runs");
        let (sender, lines) = std::sync::mpsc::channel::<String>();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
        }
        let mut keycloak = Self { port: 0, child };
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let Ok(line) = lines.recv_timeout(left) else {
                break;
            };
            if let Some(rest) = line.split("Listening on: http://127.0.0.1:").nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                keycloak.port = digits.parse().expect("a port");
                // Keep draining its output so it never blocks on a full pipe.
                std::thread::spawn(move || while lines.recv().is_ok() {});
                return keycloak;
            }
            seen.push(line);
        }
        panic!(
            "Keycloak did not start within 5 minutes; its output:\n{}",
            seen.join("\n")
        );
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The realm's issuer (`issuer-uri`).
    pub fn issuer(&self) -> String {
        format!("{}/realms/{REALM}", self.base_url())
    }

    /// The realm's token endpoint.
    pub fn token_uri(&self) -> String {
        format!("{}/protocol/openid-connect/token", self.issuer())
    }

    /// An access token for `user` (password grant through `factura-console`).
    pub async fn user_token(&self, user: &str, password: &str) -> String {
        self.token(&[
            ("grant_type", "password"),
            ("client_id", "factura-console"),
            ("username", user),
            ("password", password),
        ])
        .await
    }

    /// An access token of billing-service's service account (client credentials).
    pub async fn client_token(&self) -> String {
        self.token(&[
            ("grant_type", "client_credentials"),
            ("client_id", "billing-service"),
            ("client_secret", "billing-secret"),
        ])
        .await
    }

    async fn token(&self, form: &[(&str, &str)]) -> String {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let answer: Value = reqwest::Client::new()
            .post(self.token_uri())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("Keycloak's token endpoint")
            .json()
            .await
            .expect("a JSON token answer");
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {answer}"))
            .to_owned()
    }
}
