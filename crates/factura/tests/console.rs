//! The web console in a real browser: a whole fleet on loopback (config-service over a copy of
//! the default `config-repo/`, discovery, the three data services, the gateway), and
//! `tests/console/console.cjs` driving Debian's chromium through playwright-core against the
//! gateway — the journey from a new customer and product to the invoice, validation errors on
//! their fields, a stale edit (412), keyboard use, phone width, the System page, and the
//! invoice degraded when customer-service is killed mid-session; no console errors anywhere.
//! A screenshot of each page goes to `<target>/tmp/console-screenshots/` (the path is
//! printed).
//!
//! Needs node, playwright-core in `.test-deps/node` (scripts/install-test-deps.sh) and
//! chromium; without them the test is skipped, except under `CI=true`, where it fails.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use reqwest::StatusCode;
use testkit::{TestService, as_pairs, eventually, registered_with};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// The version the test's config-service announces (its native backend's `version`).
const CONFIG_VERSION: &str = "console-test-1";
/// How long the whole browser run may take.
const BROWSER_LIMIT: Duration = Duration::from_secs(300);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// node, the playwright-core package and chromium.
struct BrowserTools {
    node: PathBuf,
    node_modules: PathBuf,
    chromium: PathBuf,
}

/// The browser tools, when all three are there; `None` skips a test, except under `CI=true`.
fn browser_tools() -> Option<BrowserTools> {
    let node_modules = root().join(".test-deps/node/node_modules");
    let chromium = PathBuf::from("/usr/bin/chromium");
    let node = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("node"))
            .find(|candidate| candidate.is_file())
    });
    let found = node
        .filter(|_| node_modules.join("playwright-core").is_dir() && chromium.is_file())
        .map(|node| BrowserTools {
            node,
            node_modules,
            chromium,
        });
    assert!(
        found.is_some() || std::env::var("CI").as_deref() != Ok("true"),
        "node, playwright-core or chromium is missing: run scripts/install-test-deps.sh"
    );
    found
}

/// Where the screenshots go (emptied once per run, by the first test that asks).
fn screenshots() -> PathBuf {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    ONCE.call_once(|| {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        println!("console screenshots: {}", dir.display());
    });
    dir
}

/// Runs `tests/console/<script>` against `gateway`, does what it asks (`ASK <what>` lines) with
/// `on_ask`, and returns its output once it exited successfully.
async fn run_script(
    script: &str,
    tools: &BrowserTools,
    gateway: &TestService,
    extra: &[(&str, &str)],
    mut on_ask: impl FnMut(&str),
) -> Vec<String> {
    let profile = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(&tools.node)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/console")
                .join(script),
        )
        .env("NODE_PATH", &tools.node_modules)
        .env("CONSOLE_BASE", format!("http://{}", gateway.addr))
        .env("SCREENSHOTS", screenshots())
        .env("CHROMIUM", &tools.chromium)
        .envs(extra.iter().copied())
        .env("HOME", profile.path())
        .env("XDG_CONFIG_HOME", profile.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut answers = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await;
        text
    });
    let mut output = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.expect("the script's output") {
            println!("browser: {line}");
            if let Some(what) = line.strip_prefix("ASK ") {
                on_ask(what);
                answers.write_all(b"done\n").await.unwrap();
                answers.flush().await.unwrap();
            }
            output.push(line);
        }
        child.wait().await.expect("node exits")
    };
    let status = tokio::time::timeout(BROWSER_LIMIT, run)
        .await
        .expect("the browser run ends within its limit");
    let errors = errors.await.unwrap_or_default();
    assert!(
        status.success(),
        "{script} failed ({status}):\n{}\n{errors}",
        output.join("\n")
    );
    output
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_a_real_browser() {
    let Some(tools) = browser_tools() else {
        eprintln!(
            "skipping the console's browser test: node, playwright-core or chromium is missing"
        );
        return;
    };
    let repo = tempfile::tempdir().unwrap();
    copy_dir(&root().join("config-repo"), repo.path());
    let repo_path = repo.path().display().to_string();
    let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
    let mut properties = registered_with(discovery.addr);
    let mut config_properties = properties.clone();
    config_properties.extend([
        (
            "spring.cloud.config.server.native.search-locations".to_owned(),
            repo_path,
        ),
        (
            "spring.cloud.config.server.native.version".to_owned(),
            CONFIG_VERSION.to_owned(),
        ),
    ]);
    let config = TestService::start(&config_service::SERVICE, &as_pairs(&config_properties)).await;
    properties.extend([
        ("spring.cloud.config.enabled".to_owned(), "true".to_owned()),
        (
            "spring.config.import".to_owned(),
            format!("configserver:{}", config.url("")),
        ),
    ]);
    let properties = as_pairs(&properties);
    let customers = TestService::start_killable(&customer_service::SERVICE, &properties).await;
    let inventory = TestService::start(&inventory_service::SERVICE, &properties).await;
    let billing = TestService::start(&billing_service::SERVICE, &properties).await;
    let gateway = TestService::start(&gateway_service::SERVICE, &properties).await;

    // Ready: the seeded bill reads whole through the gateway, and the gateway knows every
    // data service.
    let http = reqwest::Client::new();
    let full_bill = gateway.url("/fullBill/1");
    let (client, full_bill) = (&http, &full_bill);
    eventually(
        "the seeded bill, complete, through the gateway",
        Duration::from_secs(30),
        || async move {
            let response = client.get(full_bill).send().await.ok()?;
            let bill: serde_json::Value = response.json().await.ok()?;
            (bill["complete"] == true).then_some(())
        },
    )
    .await;
    let registry = gateway.url("/console/api/registry");
    eventually(
        "the gateway's registry lists every service",
        Duration::from_secs(30),
        || async {
            let text = client.get(&registry).send().await.ok()?.text().await.ok()?;
            [
                "CONFIG-SERVICE",
                "CUSTOMER-SERVICE",
                "INVENTORY-SERVICE",
                "BILLING-SERVICE",
                "GATEWAY-SERVICE",
            ]
            .iter()
            .all(|app| text.contains(app))
            .then_some(())
        },
    )
    .await;

    let mut customers = Some(customers);
    let output = run_script(
        "console.cjs",
        &tools,
        &gateway,
        &[("CONFIG_VERSION", CONFIG_VERSION)],
        |ask| {
            assert_eq!(ask, "kill customer-service");
            customers.take().expect("customer-service runs").kill();
        },
    )
    .await;
    let screenshots = screenshots();
    for case in [
        "home",
        "journey",
        "validation",
        "staleEdit",
        "keyboard",
        "system",
        "phone",
        "degraded",
    ] {
        assert!(
            output.iter().any(|l| l == &format!("ok {case}")),
            "case {case} did not pass:\n{}",
            output.join("\n")
        );
    }
    for page in [
        "home",
        "customers",
        "products",
        "bills",
        "invoice",
        "new-bill",
        "system",
    ] {
        assert!(
            screenshots.join(format!("{page}.png")).is_file(),
            "no screenshot of {page}"
        );
    }

    // The console's assets are what the browser read: cached by tag, 404 when unknown.
    let index = http.get(gateway.url("/console/")).send().await.unwrap();
    let tag = index.headers()["etag"].clone();
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let again = http
        .get(gateway.url("/console/"))
        .header("if-none-match", tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let missing = http
        .get(gateway.url("/console/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    gateway.stop().await;
    billing.stop().await;
    inventory.stop().await;
    discovery.stop().await;
    config.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_with_pkce_and_shows_what_the_roles_allow() {
    let Some(tools) = browser_tools() else {
        eprintln!(
            "skipping the console's sign-in test: node, playwright-core or chromium is missing"
        );
        return;
    };
    let keycloak = testkit::keycloak::Keycloak::start().await;
    let issuer = keycloak.issuer();
    let discovery = TestService::start(&discovery_service::SERVICE, &[]).await;
    let mut properties = registered_with(discovery.addr);
    properties.push((
        "spring.security.oauth2.resourceserver.jwt.issuer-uri".to_owned(),
        issuer.clone(),
    ));
    let properties = as_pairs(&properties);
    let customers = TestService::start(&customer_service::SERVICE, &properties).await;
    let gateway = TestService::start(&gateway_service::SERVICE, &properties).await;
    let http = reqwest::Client::new();
    // The page and its sign-in settings are public; the API is not.
    let config: serde_json::Value = http
        .get(gateway.url("/console/api/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["issuer"], issuer.as_str());
    assert_eq!(config["clientId"], "factura-console");
    let page = http
        .get(gateway.url("/console/js/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let token = keycloak.user_token("clerk", "clerk").await;
    let (client, url, token) = (&http, gateway.url("/customers"), &token);
    eventually(
        "customers through the gateway with a token",
        Duration::from_secs(30),
        || {
            let url = url.clone();
            async move {
                let status = client
                    .get(&url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .ok()?
                    .status();
                (status == StatusCode::OK).then_some(())
            }
        },
    )
    .await;
    let anonymous = http.get(gateway.url("/customers")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let output = run_script("signin.cjs", &tools, &gateway, &[], |ask| {
        panic!("signin.cjs asked for {ask}")
    })
    .await;
    for case in ["ok clerk", "ok admin"] {
        assert!(
            output.iter().any(|l| l == case),
            "{case}:\n{}",
            output.join("\n")
        );
    }
    gateway.stop().await;
    customers.stop().await;
    discovery.stop().await;
}
