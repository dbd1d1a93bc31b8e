//! The scripted requests, grouped by what they exercise; each group sends every probe to both
//! servers through one [`Differential`].

use conformance::compare::{Differential, Exchange, Probe};
use serde_json::Value;

use crate::fixture::Commits;

pub(crate) const V2: &str = "application/vnd.spring-cloud.config-server.v2+json";

/// The labels the shared scenarios use on a backend.
pub(crate) struct Labels {
    /// A label that exists (`main` on git, `master` in a folder).
    pub(crate) present: String,
    /// Labels that select older or other states (git only).
    pub(crate) others: Vec<String>,
}

impl Labels {
    pub(crate) fn native() -> Self {
        Self {
            present: "master".into(),
            others: Vec::new(),
        }
    }

    pub(crate) fn git(commits: &Commits) -> Self {
        Self {
            present: "main".into(),
            others: vec![
                "master".into(),
                "v1".into(),
                "v1-annotated".into(),
                "feature(_)x".into(),
                "feature%2Fx".into(),
                commits.first.clone(),
                commits.first[..7].to_owned(),
                commits.main.clone(),
            ],
        }
    }
}

async fn get(d: &Differential, path: &str) {
    d.check(path, Probe::get(path)).await;
}

/// Environment, flat renderings and resources: the same on every backend.
pub(crate) async fn common(d: &Differential, labels: &Labels) {
    let label = labels.present.as_str();
    for profiles in [
        "default",
        "dev",
        "prod",
        "dev,prod",
        "prod,dev",
        "dev%2Cprod",
        "default,dev",
        "qa",
    ] {
        get(d, &format!("/app/{profiles}")).await;
        get(d, &format!("/app/{profiles}/{label}")).await;
    }
    for path in [
        "/application/default",
        "/application/dev",
        "/other/default",
        "/app,other/dev",
        "/other,app/dev",
        "/unknown-app/default",
        "/unknown-app/dev",
    ] {
        get(d, path).await;
    }
    for accept in [
        V2,
        "application/json",
        "*/*",
        "text/plain",
        "application/xml",
    ] {
        d.check(
            &format!("/app/dev with Accept {accept}"),
            Probe::get("/app/dev").header("accept", accept),
        )
        .await;
    }
    // v2 origins of YAML and .properties values, multi-document files and labels.
    for path in [
        "/app/prod".to_owned(),
        format!("/app/dev,prod/{label}"),
        "/application/default".to_owned(),
    ] {
        d.check(
            &format!("{path} with Accept v2"),
            Probe::get(&path).header("accept", V2),
        )
        .await;
    }
    for profiles in ["default", "dev", "prod", "dev,prod", "prod,dev"] {
        for extension in ["yml", "yaml", "properties", "json"] {
            get(d, &format!("/app-{profiles}.{extension}")).await;
            get(d, &format!("/{label}/app-{profiles}.{extension}")).await;
        }
    }
    for path in [
        "/app-dev.yml?resolvePlaceholders=false",
        "/app-dev.properties?resolvePlaceholders=false",
        "/app-dev.json?resolvePlaceholders=false",
        "/application-default.yml",
        "/other-default.properties",
        "/unknown-app-default.yml",
        "/unknown-app-default.properties",
        "/unknown-app-default.json",
        "/app-dev.txt",
    ] {
        get(d, path).await;
    }
    for other in &labels.others {
        get(d, &format!("/app/default/{other}")).await;
        get(d, &format!("/app/dev/{other}")).await;
        get(d, &format!("/{other}/app-dev.properties")).await;
        get(d, &format!("/app/dev/{other}/nginx.conf")).await;
    }
    for profiles in ["default", "dev", "prod", "dev,prod", "prod,dev", "qa"] {
        get(d, &format!("/app/{profiles}/{label}/nginx.conf")).await;
        get(d, &format!("/app/{profiles}/{label}/templates/page.txt")).await;
        get(d, &format!("/app/{profiles}/nginx.conf?useDefaultLabel")).await;
    }
    for path in [
        "/app/dev/LABEL/templates(_)page.txt",
        "/app/dev/LABEL/nginx.conf?resolvePlaceholders=false",
        "/app/dev/LABEL/app.yml",
        "/app/dev/LABEL/app.json",
        "/app/dev/LABEL/app-dev.yml",
        "/app/dev/LABEL/missing.txt",
        "/app/dev/LABEL/templates/missing.txt",
        "/app/dev/LABEL/apps/app/app.yml",
        "/app/dev/templates/page.txt?useDefaultLabel",
        "/unknown-app/dev/LABEL/nginx.conf",
    ] {
        get(d, &path.replace("LABEL", label)).await;
    }
    d.check(
        "nginx.conf as bytes",
        Probe::get(&format!("/app/dev/{label}/nginx.conf"))
            .header("accept", "application/octet-stream"),
    )
    .await;
    get(d, "/app/default/no-such-label").await;
    get(d, "/no-such-label/app-default.yml").await;
    get(d, "/app/dev/no-such-label/nginx.conf").await;
}

/// Values JSON numbers here cannot carry (integers beyond 64 bits, infinities, NaN), in every
/// rendering.
pub(crate) async fn numbers(d: &Differential, label: &str) {
    for path in NUMBERS {
        get(d, &path.replace("LABEL", label)).await;
    }
    d.check(
        "/numbers/default with Accept v2",
        Probe::get("/numbers/default").header("accept", V2),
    )
    .await;
}

/// The scenarios of [`numbers`].
pub(crate) const NUMBERS: [&str; 5] = [
    "/numbers/default",
    "/numbers-default.yml",
    "/numbers-default.properties",
    "/numbers-default.json",
    "/numbers/default/LABEL/numbers.yml",
];

/// Native labels: `<location>/<label>/` is searched when it exists, ignored when not.
pub(crate) async fn native_labels(d: &Differential) {
    for path in [
        "/app/default/master",
        "/app/dev/other-label",
        "/other-label/app-dev.yml",
    ] {
        get(d, path).await;
    }
}

/// Git labels beyond the shared set.
pub(crate) async fn git_labels(d: &Differential, commits: &Commits) {
    for path in [
        "/app/default/(_)x".to_owned(),
        "/app/default/feature(_)x".to_owned(),
        "/app/dev/feature%2Fx".to_owned(),
        format!("/{}/app-dev.yml", commits.first),
        "/v1/app-dev.json".to_owned(),
        "/feature(_)x/app-dev.yml".to_owned(),
        "/app/dev/v1/nginx.conf".to_owned(),
        "/app/dev/deadbeefdead".to_owned(),
        "/app/dev,prod/v1".to_owned(),
    ] {
        get(d, &path).await;
    }
}

/// A repository without `main`: Spring's default label `main` falls back to `master`.
pub(crate) async fn master_fallback(d: &Differential) {
    for path in [
        "/app/default",
        "/app/dev",
        "/app/dev/main",
        "/app/dev/master",
        "/app-dev.yml",
        "/main/app-dev.properties",
        "/master/app-dev.properties",
        "/app/dev/main/nginx.conf",
        "/app/dev/nginx.conf?useDefaultLabel",
        "/app/dev/trunk",
    ] {
        get(d, path).await;
    }
}

fn text(body: &str) -> Probe {
    Probe::post("/encrypt").body_with_type("text/plain", body.to_owned())
}

/// Replaces random ciphertext (hex after any `{…}` prefixes) with its length, so answers of
/// two servers with random IVs compare.
fn ciphertext_shape(mut exchange: Exchange) -> Exchange {
    if let Value::String(body) = &exchange.body {
        let mut prefixes = String::new();
        let mut rest = body.as_str();
        while rest.starts_with('{') {
            let Some(end) = rest.find('}') else { break };
            prefixes.push_str(&rest[..=end]);
            rest = &rest[end + 1..];
        }
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            exchange.body = Value::String(format!("{prefixes}<{} hex digits>", rest.len()));
        }
    }
    exchange
}

async fn encrypt_shape(d: &Differential, scenario: &str, probe: Probe) -> (Exchange, Exchange) {
    let (ours, spring) = d.both(&probe).await;
    d.record(
        scenario,
        &ciphertext_shape(ours.clone()),
        &ciphertext_shape(spring.clone()),
    );
    (ours, spring)
}

fn body_text(exchange: &Exchange) -> String {
    exchange.body.as_str().unwrap_or_default().to_owned()
}

/// `/encrypt`, `/decrypt`, `/encrypt/status`, `/key` with a symmetric key.
pub(crate) async fn encryption(d: &Differential) {
    get(d, "/encrypt/status").await;
    get(d, "/key").await;
    get(d, "/key/app/default").await;
    let (ours, spring) = encrypt_shape(d, "encrypt text/plain", text("s3cret")).await;
    // Each server decrypts the other's ciphertext.
    let from_spring = Probe::post("/decrypt").body_with_type("text/plain", body_text(&spring));
    let from_ours = Probe::post("/decrypt").body_with_type("text/plain", body_text(&ours));
    let a = d.send(&d.ours, &from_spring).await;
    let b = d.send(&d.spring, &from_ours).await;
    d.record("decrypt the other server's ciphertext", &a, &b);

    for (scenario, probe) in [
        ("encrypt empty text/plain", text("")),
        ("encrypt without content type", {
            let mut p = Probe::post("/encrypt");
            p.body = Some(b"s3cret".to_vec());
            p
        }),
        (
            "encrypt form body with trailing =",
            Probe::post("/encrypt").body_with_type("application/x-www-form-urlencoded", "a%20b+c="),
        ),
        (
            "encrypt form body without =",
            Probe::post("/encrypt").body_with_type("application/x-www-form-urlencoded", "abc"),
        ),
        ("encrypt text/plain with trailing =", text("abc=")),
        ("encrypt with key prefix", text("{key:mykey}s3cret")),
        (
            "encrypt with two prefixes",
            text("{key:mykey}{secret:x}s3cret"),
        ),
        (
            "encrypt json body",
            Probe::post("/encrypt").body_with_type("application/json", "\"s3cret\""),
        ),
        (
            "encrypt for an app",
            Probe::post("/encrypt/app/dev").body_with_type("text/plain", "s3cret"),
        ),
    ] {
        let (ours, spring) = encrypt_shape(d, scenario, probe).await;
        if ours.status == 200 && spring.status == 200 {
            let a = d
                .send(
                    &d.ours,
                    &Probe::post("/decrypt").body_with_type("text/plain", body_text(&spring)),
                )
                .await;
            let b = d
                .send(
                    &d.spring,
                    &Probe::post("/decrypt").body_with_type("text/plain", body_text(&ours)),
                )
                .await;
            d.record(&format!("{scenario}, decrypted by the other"), &a, &b);
        }
    }
    let valid = body_text(&spring);
    for (scenario, probe) in [
        (
            "decrypt empty",
            Probe::post("/decrypt").body_with_type("text/plain", ""),
        ),
        (
            "decrypt not hex",
            Probe::post("/decrypt").body_with_type("text/plain", "zz-top"),
        ),
        (
            "decrypt short hex",
            Probe::post("/decrypt").body_with_type("text/plain", "00ff"),
        ),
        (
            "decrypt with {cipher}",
            Probe::post("/decrypt").body_with_type("text/plain", format!("{{cipher}}{valid}")),
        ),
        (
            "decrypt with key prefix",
            Probe::post("/decrypt").body_with_type("text/plain", format!("{{key:mykey}}{valid}")),
        ),
        (
            "decrypt form body with trailing =",
            Probe::post("/decrypt")
                .body_with_type("application/x-www-form-urlencoded", format!("{valid}=")),
        ),
        (
            "decrypt for an app",
            Probe::post("/decrypt/app/dev").body_with_type("text/plain", valid.clone()),
        ),
        (
            "decrypt with the wrong key",
            Probe::post("/decrypt").body_with_type(
                "text/plain",
                platform::cipher::TextEncryptor::new("another key", "deadbeef")
                    .expect("key")
                    .encrypt("s3cret"),
            ),
        ),
        ("GET /encrypt", Probe::get("/encrypt")),
        ("GET /decrypt", Probe::get("/decrypt")),
    ] {
        d.check(scenario, probe).await;
    }
}

/// The encryption endpoints when no key is configured.
pub(crate) async fn no_key(d: &Differential) {
    for (scenario, probe) in [
        ("no key: encrypt", text("s3cret")),
        (
            "no key: decrypt",
            Probe::post("/decrypt").body_with_type("text/plain", "00ff"),
        ),
        ("no key: status", Probe::get("/encrypt/status")),
        ("no key: key", Probe::get("/key")),
        (
            "no key: environment with {cipher}",
            Probe::get("/app/default"),
        ),
    ] {
        d.check(scenario, probe).await;
    }
}

/// Bad names, profiles, labels and methods.
pub(crate) async fn errors(d: &Differential) {
    for path in [
        "/app/de$v",
        "/app/-dev",
        "/app/dev-",
        "/app/dev,",
        "/app/a..b",
        "/a..b/default",
        "/app/default/a..b",
        "/app%23x/default",
        "/(_)app/default",
        "/app/default/master/..%2F..%2Fetc%2Fpasswd",
        "/app/default/master/%2E%2E/x",
        "/app-de$v.yml",
        "/app.yml",
        "/app",
        "/",
        "/actuator/nope",
        "/app/dev/x/y/z.txt",
    ] {
        get(d, path).await;
    }
    d.check("POST environment", Probe::post("/app/default"))
        .await;
    d.check("DELETE environment", Probe::delete("/app/default"))
        .await;
}
