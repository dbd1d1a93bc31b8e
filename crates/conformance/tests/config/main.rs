//! Differential tests of the config protocol: Spring Cloud Config Server (`@EnableConfigServer`,
//! `conformance/spring/config-server`) and factura's config-service, started on the same
//! repository — a folder for the native backend, a git repository for the git backend, each with
//! the same search paths and `encrypt.key` — answer the same scripted requests.
//!
//! The scenarios are in [`scenarios`]; what is kept different on purpose is declared in
//! [`rules`] and listed in the README's Deliberate departures table.

mod fixture;
mod scenarios;

use conformance::{
    compare::{Differential, Rules, Side},
    spring::SpringApp,
};
use testkit::TestService;

use crate::fixture::{ENCRYPT_KEY, GitRepo};

/// The git backend's search paths (the repository root is always searched first).
const GIT_SEARCH_PATHS: &str = "apps/{application},profiles/{profile},labels/{label}";

/// Starts Spring's config server in a blocking thread (JVM start-up takes seconds).
async fn spring(key: &'static str, properties: Vec<(String, String)>) -> &'static SpringApp {
    tokio::task::spawn_blocking(move || {
        let properties: Vec<(&str, &str)> = properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        SpringApp::shared(key, "config-server", &properties)
    })
    .await
    .expect("the Spring config server starts")
}

fn owned(properties: &[(&str, &str)]) -> Vec<(String, String)> {
    properties
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Why each kept difference is kept; the rows of the README's Deliberate departures table.
mod why {
    pub(super) const MESSAGE: &str = "factura's error body says what was wrong in `message`; Spring Boot leaves it out unless server.error.include-message=always";
    pub(super) const VALIDATION: &str = "bad profiles, `..`, and names or labels starting with (_) get 400, as in Spring Cloud Config 4.2+ (the newest line, -Platest, agrees); 2023.0 served them, or failed with 500";
    pub(super) const ENCODED_SLASH: &str = "an encoded `/` (%2F) in a label or path is decoded, so the npm client's encodeURIComponent labels (`feature%2Fx`) work; Tomcat rejects them with an HTML 400";
    pub(super) const RESOURCE_SLASH_ESCAPE: &str = "(_) in a resource path stands for `/`, as in labels and names and as Spring Cloud Config 4.2+ (-Platest) reads it; 2023.0 looks for a file named `templates(_)page.txt`";
    pub(super) const BIG_NUMBERS: &str = "integers beyond 64 bits are served as their exact digits in a string (JSON, v2) or quoted (YAML); Spring writes a bare number that JavaScript clients round; ±infinity and NaN are `Infinity`/`NaN` text in YAML too";
    pub(super) const BAD_CIPHERTEXT: &str = "a ciphertext too short to hold an IV is the client's error: 400 INVALID, not Spring's 500 from an unchecked exception";
    pub(super) const NO_KEY: &str = "with no encrypt.key, /encrypt, /decrypt and /encrypt/status answer 404 NO_KEY (Spring's documented answer) instead of 2023.0's 500 from its fail-safe encryptor, so an operator sees what is missing";
    pub(super) const GIT_DOCUMENT_NAMES: &str = "the documents of a multi-document file in git are named `<uri>/<file> (document #N)`; Spring names them `<uri>/Config resource 'file [<its clone dir>/<file>' via location '' (document #N)`, leaking the server's local path in a broken name";
}

/// The differences kept on purpose (see the README's Deliberate departures table).
fn rules(label: &str, git: bool) -> Rules {
    let mut rules =
        Rules::default()
            .blank_key("timestamp")
            .depart("*", "body/message", why::MESSAGE);
    if git {
        // Source contents are still compared, so an ordering difference still shows.
        rules = rules.depart("*", "body/propertySources/*/name", why::GIT_DOCUMENT_NAMES);
    }
    for scenario in [
        "/app/de$v",
        "/app/-dev",
        "/app/dev-",
        "/app/dev,",
        "/app/a..b",
        "/app-de$v.yml",
        "/(_)app/default",
        "/app/default/(_)x",
        "/app/default/master/%2E%2E/x",
    ] {
        rules = rules.depart(scenario, "*", why::VALIDATION);
    }
    for scenario in [
        "/app/default/feature%2Fx",
        "/app/dev/feature%2Fx",
        "/feature%2Fx/app-dev.properties",
        "/app/dev/feature%2Fx/nginx.conf",
        "/app/default/master/..%2F..%2Fetc%2Fpasswd",
    ] {
        rules = rules.depart(scenario, "*", why::ENCODED_SLASH);
    }
    rules = rules.depart(
        &format!("/app/dev/{label}/templates(_)page.txt"),
        "*",
        why::RESOURCE_SLASH_ESCAPE,
    );
    for scenario in scenarios::NUMBERS {
        rules = rules.depart(&scenario.replace("LABEL", label), "body*", why::BIG_NUMBERS);
    }
    rules
        .depart("/numbers/default with Accept v2", "body*", why::BIG_NUMBERS)
        .depart("decrypt short hex", "*", why::BAD_CIPHERTEXT)
        .depart("no key: encrypt", "*", why::NO_KEY)
        .depart("no key: decrypt", "*", why::NO_KEY)
        .depart("no key: status", "*", why::NO_KEY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_backend_matches_spring() {
    let dir = fixture::folder();
    let root = dir.path().display().to_string();
    let locations = format!(
        "file:{root}/,file:{root}/apps/{{application}}/,file:{root}/profiles/{{profile}}/,file:{root}/labels/{{label}}/"
    );
    let common = [
        (
            "spring.cloud.config.server.native.search-locations",
            locations.as_str(),
        ),
        ("encrypt.key", ENCRYPT_KEY),
    ];
    let mut spring_properties = owned(&common);
    spring_properties.push(("spring.profiles.active".into(), "native".into()));
    let spring = spring("native", spring_properties).await;
    let ours = TestService::start(&config_service::SERVICE, &common).await;
    let d = Differential::new(
        "config (native)",
        Side::new(&ours.url("")),
        Side::new(&spring.url("")),
        rules("master", false),
    );
    scenarios::common(&d, &scenarios::Labels::native()).await;
    scenarios::numbers(&d, "master").await;
    scenarios::native_labels(&d).await;
    scenarios::encryption(&d).await;
    scenarios::errors(&d).await;
    d.finish();
    ours.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_backend_matches_spring() {
    let (repo, commits) = GitRepo::standard();
    let uri = repo.uri();
    let common = [
        ("spring.cloud.config.server.git.uri", uri.as_str()),
        (
            "spring.cloud.config.server.git.search-paths",
            GIT_SEARCH_PATHS,
        ),
        ("encrypt.key", ENCRYPT_KEY),
    ];
    let mut spring_properties = owned(&common);
    spring_properties.push((
        "spring.cloud.config.server.git.clone-on-start".into(),
        "true".into(),
    ));
    let spring = spring("git", spring_properties).await;
    let ours = TestService::start(&config_service::SERVICE, &common).await;
    let d = Differential::new(
        "config (git)",
        Side::new(&ours.url("")),
        Side::new(&spring.url("")),
        rules("main", true),
    );
    scenarios::common(&d, &scenarios::Labels::git(&commits)).await;
    scenarios::numbers(&d, "main").await;
    scenarios::git_labels(&d, &commits).await;
    scenarios::errors(&d).await;
    d.finish();
    ours.stop().await;
}

/// A repository with only `master`, served with Spring's default `default-label` (`main`,
/// falling back to `master`) and with no `encrypt.key`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_only_repository_and_no_key_match_spring() {
    let repo = GitRepo::master_only();
    let uri = repo.uri();
    let common = [
        ("spring.cloud.config.server.git.uri", uri.as_str()),
        (
            "spring.cloud.config.server.git.search-paths",
            GIT_SEARCH_PATHS,
        ),
    ];
    let spring = spring("git-master", owned(&common)).await;
    let ours = TestService::start(&config_service::SERVICE, &common).await;
    let d = Differential::new(
        "config (git, master only, no key)",
        Side::new(&ours.url("")),
        Side::new(&spring.url("")),
        rules("main", true),
    );
    scenarios::master_fallback(&d).await;
    scenarios::no_key(&d).await;
    d.finish();
    ours.stop().await;
}
