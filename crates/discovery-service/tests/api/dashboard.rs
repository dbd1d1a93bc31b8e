//! The dashboard, rendered by a real headless browser (Debian's chromium): the DOM it builds
//! (after running the page's script) lists the registered instances.

use std::{path::PathBuf, process::Stdio, time::Duration};

use crate::helpers::*;

fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// The DOM of `url` after chromium loaded it and ran its scripts.
async fn rendered_dom(browser: &PathBuf, url: &str) -> String {
    let profile = tempfile_dir();
    let child = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium starts");
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("chromium finishes within a minute")
        .expect("chromium output");
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "factura-chromium-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("profile dir");
    dir
}

#[tokio::test]
async fn chromium_shows_the_registered_instances() {
    let Some(browser) = chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is missing: run scripts/install-test-deps.sh");
        }
        eprintln!("skipping the dashboard browser test: chromium is not installed");
        return;
    };
    let node = discovery(&[]).await;
    let base = eureka(&node);
    register(
        &base,
        "customer-service",
        &instance_body("customer-service", "h1", 8081),
    )
    .await;
    register(
        &base,
        "customer-service",
        &instance_body("customer-service", "h2", 8091),
    )
    .await;
    register(
        &base,
        "billing-service",
        &instance_body("billing-service", "h3", 8083),
    )
    .await;
    http()
        .put(format!(
            "{base}apps/BILLING-SERVICE/h3:billing-service:8083/status?value=OUT_OF_SERVICE"
        ))
        .send()
        .await
        .expect("override");

    let dom = rendered_dom(&browser, &node.url("/")).await;
    assert!(
        dom.contains("Instances currently registered with Eureka"),
        "{dom}"
    );
    assert!(dom.contains("data-app=\"CUSTOMER-SERVICE\""), "{dom}");
    assert!(dom.contains("<b>UP</b> (2)"), "{dom}");
    assert!(dom.contains("h1:customer-service:8081</a>"), "{dom}");
    assert!(
        dom.contains("href=\"http://h2:8091/actuator/info\""),
        "{dom}"
    );
    assert!(dom.contains("<b>OUT_OF_SERVICE</b> (1)"), "{dom}");
    assert!(dom.contains("<td id=\"instance-count\">3</td>"), "{dom}");
    // The page's script ran: only a browser rewrites this line.
    assert!(dom.contains("s ago; refreshes every 10 s"), "{dom}");
    assert!(!dom.contains("EMERGENCY"), "no banner right after start");
    node.stop().await;
}

#[tokio::test]
async fn the_dashboard_is_plain_html_and_shows_the_banner_when_self_preservation_is_off() {
    let node = discovery(&[("eureka.server.enable-self-preservation", "false")]).await;
    let page = http().get(node.url("/")).send().await.expect("dashboard");
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("No instances available"));
    assert!(html.contains("THE SELF PRESERVATION MODE IS TURNED OFF"));
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"10\">"));

    let base = eureka(&node);
    register(&base, "a", &instance_body("a", "h", 1)).await;
    http()
        .delete(format!("{base}apps/A/h:a:1"))
        .send()
        .await
        .expect("cancel");
    let last = http()
        .get(node.url("/lastn"))
        .send()
        .await
        .expect("lastn")
        .text()
        .await
        .expect("html");
    let cancelled = last
        .find("<td>cancelled</td><td>A(h:a:1)</td>")
        .expect("cancel listed");
    let registered = last
        .find("<td>registered</td><td>A(h:a:1)</td>")
        .expect("registration listed");
    assert!(cancelled < registered, "newest first");
    node.stop().await;
}

#[tokio::test]
async fn the_emergency_banner_shows_while_renewals_are_below_the_threshold() {
    // One registered instance expects 2 renewals a minute (T = 1); none have come (R = 0).
    let node = discovery(&[("eureka.server.self-preservation-warning-grace-ms", "1")]).await;
    let base = eureka(&node);
    register(&base, "quiet", &instance_body("quiet", "h", 1)).await;
    let html = http()
        .get(node.url("/"))
        .send()
        .await
        .expect("dashboard")
        .text()
        .await
        .expect("html");
    assert!(html.contains("EMERGENCY! EUREKA MAY BE INCORRECTLY CLAIMING INSTANCES ARE UP"));
    assert!(
        html.contains("<td id=\"renews-threshold\">1</td>"),
        "{html}"
    );
    assert!(
        html.contains("<td id=\"lease-expiration\">false</td>"),
        "{html}"
    );
    node.stop().await;
}
