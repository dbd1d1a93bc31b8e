//! Interoperability: the real PyPI `config-client` and npm `cloud-config-client`, installed by
//! `scripts/install-test-deps.sh` into `.test-deps/`, read from our server over git with a
//! profile list, a label, basic auth and a `{cipher}` secret.
//!
//! Without the installed clients the tests print a notice and pass, unless `CI` is set, where
//! a missing client is a failure.

use std::path::PathBuf;

use serde_json::json;

use crate::helpers::*;

fn deps() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.test-deps")
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// `Some(path)` when `path` exists; otherwise skips (or fails on CI) with `what`.
fn require(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "{what} is not installed at {}; run scripts/install-test-deps.sh",
        path.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// A git repository with a branch carrying the data the clients are asked for.
fn repository(secret: &str) -> GitRepo {
    let repo = GitRepo::new();
    repo.commit(
        &[
            (
                "application.yml",
                "global:\n  params:\n    p1: 10\n    p2: 20\n",
            ),
            ("billing-service.yml", "billing:\n  rate: 0.1\n"),
        ],
        "main",
    );
    repo.git(&["checkout", "-q", "-b", "release/1"]);
    repo.commit(
        &[
            (
                "billing-service.yml",
                &format!(
                    "billing:\n  rate: 0.19\n  currencies:\n    - EUR\n    - USD\ndb:\n  password: '{{cipher}}{secret}'\n"
                ),
            ),
            ("billing-service-eu.yml", "billing:\n  rate: 0.21\n"),
            ("billing-service-mysql.yml", "billing:\n  currencies:\n    - MAD\n"),
            ("nginx.conf", "server_name ${billing.rate};\n"),
        ],
        "release",
    );
    repo.git(&["checkout", "-q", "main"]);
    repo
}

async fn server(repo: &GitRepo) -> testkit::TestService {
    git_server(
        repo,
        &[
            ("encrypt.key", "mykey"),
            ("spring.security.user.name", "cfg"),
            ("spring.security.user.password", "pw"),
        ],
    )
    .await
}

async fn run(
    program: PathBuf,
    args: Vec<String>,
    node_modules: Option<PathBuf>,
) -> serde_json::Value {
    let mut command = tokio::process::Command::new(program);
    command.args(&args);
    if let Some(dir) = node_modules {
        command.env("NODE_MODULES_DIR", dir);
    }
    let output = command.output().await.expect("the client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// "password" encrypted with key `mykey` by Spring.
const SECRET: &str = "6defc102cd76752fcf4c78231ed82ead85133a09741d9a1442595b4800e2b3d1";

#[tokio::test]
async fn the_pypi_config_client_reads_profiles_a_label_and_a_decrypted_secret() {
    let Some(python) = require(
        deps().join("venv/bin/python"),
        "the PyPI config-client venv",
    ) else {
        return;
    };
    let repo = repository(SECRET);
    let server = server(&repo).await;
    let seen = run(
        python,
        vec![
            scripts().join("python_client.py").display().to_string(),
            format!("http://{}", server.addr),
            "billing-service".into(),
            "mysql,eu".into(),
            // The Python client sends the label raw: `/` is pre-escaped as Spring expects.
            "release(_)1".into(),
            "cfg".into(),
            "pw".into(),
        ],
        None,
    )
    .await;
    assert_eq!(
        seen,
        json!({
            "p1": 10,
            "rate": 0.21,
            "currencies": ["MAD"],
            "secret": "password",
            "file": "server_name 0.21;\n",
            "roundTrip": "from python",
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn the_npm_cloud_config_client_reads_profiles_a_label_and_a_decrypted_secret() {
    let Some(modules) = require(
        deps().join("node/node_modules/cloud-config-client"),
        "the npm cloud-config-client",
    ) else {
        return;
    };
    let modules = modules.parent().map(PathBuf::from);
    let repo = repository(SECRET);
    let server = server(&repo).await;
    let seen = run(
        PathBuf::from("node"),
        vec![
            scripts().join("node_client.js").display().to_string(),
            format!("http://{}", server.addr),
            "billing-service".into(),
            "mysql,eu".into(),
            // encodeURIComponent turns this into release%2F1 on the wire.
            "release/1".into(),
            "cfg".into(),
            "pw".into(),
        ],
        modules,
    )
    .await;
    assert_eq!(
        seen,
        json!({
            "p1": 10,
            "rate": 0.21,
            "currencies": ["MAD"],
            "secret": "password",
            "missingLabel": "Invalid response: 404",
        })
    );
    server.stop().await;
}
