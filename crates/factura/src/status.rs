//! `factura status`: what is running, according to the discovery registry.

use std::time::Duration;

use anyhow::Context as _;
use platform::discovery::{Format, model::read_applications};

/// Prints every registered instance with its status and URL.
pub(crate) async fn status(discovery: &str, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let mut url = reqwest::Url::parse(&format!("{}/apps", discovery.trim_end_matches('/')))
        .with_context(|| format!("--discovery `{discovery}` is not a URL"))?;
    // The user `factura up` gave discovery, unless the URL names one.
    let kept =
        crate::supervisor::Credentials::read(&data_dir.join(crate::supervisor::CREDENTIALS_FILE))?;
    if let (true, Some(kept)) = (url.username().is_empty(), kept) {
        let (user, password) = kept.discovery();
        let _ = url.set_username(user);
        let _ = url.set_password(Some(password));
    }
    // An https discovery server with a private CA: the same trust the services read, from the
    // environment (`FACTURA_SSL_CLIENT_TRUSTEDX509CERTIFICATES=ca.pem`).
    let environment = platform::Settings::from_sources(vec![
        platform::settings::PropertySource::from_environment_variables(),
    ]);
    let http = platform::tls::ClientTlsSettings::platform(&environment)?
        .reqwest_builder()?
        .timeout(Duration::from_secs(5))
        .build()?;
    let response = http
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .with_context(|| {
            format!("discovery-service does not answer at {discovery}; is `factura up` running?")
        })?;
    if !response.status().is_success() {
        anyhow::bail!(
            "discovery-service answered {} at {discovery}",
            response.status()
        );
    }
    let body = response.bytes().await?;
    let applications = read_applications(&body, Format::Json)
        .map_err(|e| anyhow::anyhow!("unreadable registry: {e}"))?;
    let mut rows: Vec<(String, String, String, String)> = applications
        .instances()
        .map(|i| {
            (
                i.app.clone(),
                i.effective_id(),
                i.status.as_str().to_owned(),
                i.base_url(),
            )
        })
        .collect();
    rows.sort();
    println!("{:<20} {:<45} {:<14} URL", "SERVICE", "INSTANCE", "STATUS");
    for (app, id, status, url) in &rows {
        println!("{app:<20} {id:<45} {status:<14} {url}");
    }
    println!("\n{} instance(s) registered at {discovery}", rows.len());
    Ok(())
}
