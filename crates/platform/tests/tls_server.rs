//! TLS on the serving side, on a service built from the platform's own parts: Spring Boot's
//! `server.ssl.*` PEM keys and SSL bundles, client certificates (`client-auth` none, want,
//! need), HTTP/2 by ALPN when `server.http2.enabled`, a bundle with `reload-on-update` picking
//! up a rotated certificate without a restart, and bad TLS settings refused before the port is
//! bound (exit code 78).

use std::time::Duration;

use axum::Router;
use platform::{
    ServiceContext,
    settings::{PropertySource, Settings, is_configuration_error},
};
use testkit::tls::{TestCa, https_url};

fn settings(properties: &[(String, String)]) -> Settings {
    let mut all = vec![
        ("server.port".to_owned(), "0".to_owned()),
        ("server.address".to_owned(), "127.0.0.1".to_owned()),
        ("spring.application.name".to_owned(), "probe".to_owned()),
    ];
    all.extend_from_slice(properties);
    Settings::from_sources(vec![PropertySource::new("test", all)])
}

/// A running probe service; cancelled on drop of the returned token's guard.
struct Probe {
    addr: std::net::SocketAddr,
    _stop: tokio_util::sync::DropGuard,
}

async fn start(properties: &[(String, String)]) -> Probe {
    let app = ServiceContext::new(settings(properties))
        .into_application(Router::new())
        .await
        .expect("the service starts");
    let addr = app.local_addr();
    let stop = app.shutdown_token().drop_guard();
    tokio::spawn(app.run());
    Probe { addr, _stop: stop }
}

async fn start_error(properties: &[(String, String)]) -> anyhow::Error {
    match ServiceContext::new(settings(properties))
        .into_application(Router::new())
        .await
    {
        Ok(_) => panic!("{properties:?} must be refused"),
        Err(error) => error,
    }
}

fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn health(client: &reqwest::Client, probe: &Probe) -> reqwest::Result<reqwest::Response> {
    client
        .get(https_url(probe.addr, "/actuator/health"))
        .send()
        .await
}

#[tokio::test]
async fn pem_files_serve_https_over_http1_unless_http2_is_enabled() {
    let ca = TestCa::new("probe-ca");
    let certificate = ca.server("probe");
    let client = ca.client_trusting(None);

    let probe = start(&certificate.server_ssl()).await;
    let response = health(&client, &probe).await.expect("https answers");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_11,
        "Spring's default: no h2"
    );
    assert!(
        reqwest::get(format!("http://{}/actuator/health", probe.addr))
            .await
            .is_err(),
        "plain http is not served on a TLS port"
    );

    let mut with_h2 = certificate.server_ssl();
    with_h2.extend(props(&[("server.http2.enabled", "true")]));
    let probe = start(&with_h2).await;
    let response = health(&client, &probe).await.expect("https answers");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "h2 chosen by ALPN"
    );

    // `server.ssl.enabled=false` leaves the files configured but serves plain http.
    let mut disabled = certificate.server_ssl();
    disabled.extend(props(&[("server.ssl.enabled", "false")]));
    let probe = start(&disabled).await;
    let plain = reqwest::get(format!("http://{}/actuator/health", probe.addr))
        .await
        .expect("plain http");
    assert_eq!(plain.status(), 200);
}

#[tokio::test]
async fn client_certificates_are_required_with_need_and_checked_when_given_with_want() {
    let ca = TestCa::new("trusted-ca");
    let stranger_ca = TestCa::new("stranger-ca");
    let ca_file = ca.certificate.display().to_string();
    let trusted = ca.client_trusting(Some(&ca.client("trusted")));
    let stranger = ca.client_trusting(Some(&stranger_ca.client("stranger")));
    let anonymous = ca.client_trusting(None);

    for (mode, anonymous_allowed) in [("need", false), ("want", true)] {
        let mut settings = ca.server("probe").server_ssl();
        settings.extend(props(&[
            ("server.ssl.client-auth", mode),
            ("server.ssl.trust-certificate", &ca_file),
        ]));
        let probe = start(&settings).await;
        let ok = health(&trusted, &probe)
            .await
            .expect("a trusted certificate");
        assert_eq!(ok.status(), 200, "{mode}");
        assert!(
            health(&stranger, &probe).await.is_err(),
            "{mode}: a certificate of an unknown CA is refused"
        );
        assert_eq!(
            health(&anonymous, &probe).await.is_ok(),
            anonymous_allowed,
            "{mode}: a client without a certificate"
        );
    }
}

#[tokio::test]
async fn a_reloadable_bundle_serves_a_rotated_certificate_without_a_restart() {
    let first_ca = TestCa::new("first-ca");
    let second_ca = TestCa::new("second-ca");
    let served = first_ca.server("served");
    let bundle = props(&[
        ("server.ssl.bundle", "web"),
        (
            "spring.ssl.bundle.pem.web.keystore.certificate",
            &served.certificate.display().to_string(),
        ),
        (
            "spring.ssl.bundle.pem.web.keystore.private-key",
            &served.private_key.display().to_string(),
        ),
        ("spring.ssl.bundle.pem.web.reload-on-update", "true"),
        ("spring.ssl.bundle.watch.file.quiet-period", "200ms"),
    ]);
    let probe = start(&bundle).await;
    let trusts_first = first_ca.client_trusting(None);
    let trusts_second = second_ca.client_trusting(None);
    assert_eq!(health(&trusts_first, &probe).await.unwrap().status(), 200);
    assert!(health(&trusts_second, &probe).await.is_err());

    // Rotate: the second CA's certificate and key replace the files in place.
    let rotated = second_ca.server("rotated");
    for (from, to) in [
        (&rotated.private_key, &served.private_key),
        (&rotated.certificate, &served.certificate),
    ] {
        let temporary = to.with_extension("new");
        std::fs::copy(from, &temporary).unwrap();
        std::fs::rename(&temporary, to).unwrap();
    }
    testkit::eventually(
        "the rotated certificate is served",
        Duration::from_secs(10),
        || async { health(&trusts_second, &probe).await.ok().map(|_| ()) },
    )
    .await;
    // Fresh clients: a pooled connection would still carry the old certificate.
    assert!(
        health(&first_ca.client_trusting(None), &probe)
            .await
            .is_err(),
        "the old certificate is no longer served to new connections"
    );

    // A broken rotation (a key that does not match) keeps the certificate in force.
    let stray = second_ca.server("stray");
    std::fs::copy(&stray.private_key, &served.private_key).unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        health(&second_ca.client_trusting(None), &probe)
            .await
            .unwrap()
            .status(),
        200,
        "still served with the last good certificate"
    );
}

#[tokio::test]
async fn unusable_tls_settings_are_configuration_errors_naming_the_key() {
    let ca = TestCa::new("probe-ca");
    let certificate = ca.server("probe");
    let other = ca.server("other");
    let cert = certificate.certificate.display().to_string();
    let key = certificate.private_key.display().to_string();
    let other_key = other.private_key.display().to_string();
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (
            props(&[
                ("server.ssl.certificate", "/nonexistent/cert.pem"),
                ("server.ssl.certificate-private-key", &key),
            ]),
            "server.ssl.certificate",
        ),
        (
            props(&[
                ("server.ssl.certificate", &cert),
                ("server.ssl.certificate-private-key", &other_key),
            ]),
            "server.ssl.certificate-private-key",
        ),
        (
            props(&[
                ("server.ssl.certificate", &cert),
                ("server.ssl.certificate-private-key", &key),
                ("server.ssl.client-auth", "need"),
            ]),
            "server.ssl.client-auth",
        ),
        (
            props(&[
                ("server.ssl.certificate", &cert),
                ("server.ssl.certificate-private-key", &key),
                ("server.ssl.client-auth", "sometimes"),
            ]),
            "server.ssl.client-auth",
        ),
        (
            props(&[("server.ssl.enabled", "true")]),
            "server.ssl.enabled",
        ),
        (
            props(&[("server.ssl.bundle", "missing")]),
            "server.ssl.bundle",
        ),
        (
            props(&[("server.ssl.key-store", "classpath:keystore.p12")]),
            "server.ssl.key-store",
        ),
        (
            props(&[(
                "factura.ssl.client.trusted-x509-certificates",
                "/nonexistent/ca.pem",
            )]),
            "factura.ssl.client.trusted-x509-certificates",
        ),
    ];
    for (settings, key) in cases {
        let error = start_error(&settings).await;
        assert!(is_configuration_error(&error), "{settings:?}: {error:#}");
        assert!(format!("{error:#}").contains(key), "{key}: {error:#}");
    }
}
