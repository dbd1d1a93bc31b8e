//! Eureka conformance: Spring Cloud Netflix's own Eureka server (`conformance/spring/eureka-server`)
//! beside factura's discovery-service, fed the same registrations and asked the same questions.
//!
//! One test per server configuration, each running its scenarios in order against one Spring
//! JVM (shared per binary) and a fresh discovery-service:
//! * [`api`]: a standalone server with Spring's defaults (the read-only response cache off, so
//!   reads are not 30 s stale): register, renew, cancel, overrides, metadata, every read in JSON
//!   and XML (gzip too), errors, peer replication batches, and expired leases that are not evicted
//!   while self-preservation holds them;
//! * [`eviction`]: a 1 s eviction timer; with self-preservation off expired leases disappear,
//!   with it on (and a handful of instances, so renewals stay below the threshold) Spring keeps
//!   them while factura evicts a small number of them (a kept departure);
//! * [`peers`]: factura and Spring as Eureka peers of each other, replicating both ways.
//!
//! What legitimately differs is normalised (server-set times); what is kept different on purpose is
//! declared in [`rules`] and listed in the README's Deliberate departures table.

mod api;
mod eviction;
mod peers;

use std::time::Duration;

use conformance::{
    compare::{Differential, Exchange, Probe, Rules, Side},
    spring::SpringApp,
};
use serde_json::Value;
use testkit::{TestService, eureka::Registration};

/// The client-side `lastDirtyTimestamp` every registration carries, so both servers store the same.
const DIRTY: i64 = testkit::eureka::DIRTY_TIMESTAMP;

/// A Spring Eureka server, one per `key` per test binary.
async fn spring(
    key: &'static str,
    properties: &'static [(&'static str, &'static str)],
) -> &'static SpringApp {
    tokio::task::spawn_blocking(move || SpringApp::shared(key, "eureka-server", properties))
        .await
        .expect("the Spring Eureka server starts")
}

/// factura's discovery-service with these settings.
async fn ours(properties: &[(&str, &str)]) -> TestService {
    TestService::start(&discovery_service::SERVICE, properties).await
}

/// Server-set times, and the departures kept on purpose (each a row of
/// the README's Deliberate departures table).
fn rules() -> Rules {
    Rules::default()
        .blank_key("registrationTimestamp")
        .blank_key("lastRenewalTimestamp")
        .blank_key("serviceUpTimestamp")
        .blank_key("lastUpdatedTimestamp")
        .blank_key("evictionTimestamp")
        .blank_key("timestamp")
        .unordered_array("application")
        .unordered_array("instance")
        .unordered_children("applications")
        .unordered_children("application")
        .unordered_children("metadata")
        .depart("404 *", "body", NO_BODY_ON_404)
        .depart("404 *", "header content-type", NO_BODY_ON_404)
}

/// The Java server keeps applications and instances in hash maps, so their order in a registry
/// means nothing; they are compared sorted.
const NO_BODY_ON_404: &str = "factura answers Eureka 404s with no body: Spring's own Eureka client reads a 404 body as an instance and logs a decoding error (spring-cloud-netflix #4145)";

/// Compares `ours` with `spring` under [`rules`] plus `extra`.
fn differential(
    ours: &TestService,
    spring: &SpringApp,
    extra: impl FnOnce(Rules) -> Rules,
) -> Differential {
    Differential::new(
        "eureka",
        Side::new(&ours.url("")),
        Side::new(&spring.url("")),
        extra(rules()),
    )
}

/// A registration as Spring's Eureka client sends it (JSON).
fn instance(app: &str, id: &str, port: u16) -> Value {
    let host = format!("{}.example", id.replace(':', "-"));
    Registration::new(app, &host, port)
        .id(id)
        .ip("10.0.0.5")
        .json()
}

/// The same registration as XML (what py_eureka_client and XStream clients send).
fn instance_xml(app: &str, id: &str, port: u16) -> String {
    let host = format!("{}.example", id.replace(':', "-"));
    let app_upper = app.to_ascii_uppercase();
    let vip = app.to_ascii_lowercase();
    format!(
        "<instance><instanceId>{id}</instanceId><hostName>{host}</hostName><app>{app_upper}</app>\
         <ipAddr>10.0.0.6</ipAddr><status>UP</status><overriddenstatus>UNKNOWN</overriddenstatus>\
         <port enabled=\"true\">{port}</port><securePort enabled=\"false\">443</securePort>\
         <countryId>1</countryId>\
         <dataCenterInfo class=\"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\"><name>MyOwn</name></dataCenterInfo>\
         <leaseInfo><renewalIntervalInSecs>30</renewalIntervalInSecs><durationInSecs>90</durationInSecs></leaseInfo>\
         <metadata><zone>z1</zone></metadata>\
         <homePageUrl>http://{host}:{port}/</homePageUrl><vipAddress>{vip}</vipAddress>\
         <secureVipAddress>{vip}</secureVipAddress>\
         <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>\
         <lastUpdatedTimestamp>{DIRTY}</lastUpdatedTimestamp><lastDirtyTimestamp>{DIRTY}</lastDirtyTimestamp>\
         </instance>"
    )
}

/// `POST /eureka/apps/{app}` with a JSON registration.
fn register(app: &str, body: &Value) -> Probe {
    Probe::post(&format!("/eureka/apps/{app}")).json(body)
}

/// The Accept variants every read is asked with: JSON, XML, and no preference (XML).
const ACCEPTS: [(&str, Option<&str>); 3] = [
    ("json", Some("application/json")),
    ("xml", Some("application/xml")),
    ("no accept", None),
];

/// `GET path` once per [`ACCEPTS`] entry, each compared as its own scenario.
async fn read_every_way(d: &Differential, scenario: &str, path: &str) {
    for (name, accept) in ACCEPTS {
        let mut probe = Probe::get(path);
        if let Some(accept) = accept {
            probe = probe.header("accept", accept);
        }
        d.check(&format!("{scenario} ({name})"), probe).await;
    }
}

/// Sends `probe` to both sides and asserts both answered `status` (a step whose answer is
/// compared elsewhere, but that must have worked for the rest to mean anything).
async fn step(d: &Differential, scenario: &str, probe: Probe, status: u16) -> (Exchange, Exchange) {
    let (a, b) = d.both(&probe).await;
    assert_eq!(b.status, status, "{scenario}: Spring answered {b:?}");
    d.record(scenario, &a, &b);
    (a, b)
}

/// Waits `duration` of real time (lease expiry is measured by both servers' wall clocks).
async fn wait(duration: Duration) {
    tokio::time::sleep(duration).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_server_answers_like_spring() {
    // The eviction timer runs rarely, so a lease that expires mid-run is seen expired, not gone.
    let spring = spring(
        "standalone",
        &[
            ("eureka.server.use-read-only-response-cache", "false"),
            ("eureka.server.eviction-interval-timer-in-ms", "600000"),
        ],
    )
    .await;
    let ours = ours(&[("eureka.server.eviction-interval-timer-in-ms", "600000")]).await;
    let d = differential(&ours, spring, api::departures);
    api::run(&d).await;
    d.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_leases_are_evicted_like_spring_without_self_preservation() {
    let settings: &'static [(&str, &str)] = &[
        ("eureka.server.use-read-only-response-cache", "false"),
        ("eureka.server.enable-self-preservation", "false"),
        ("eureka.server.eviction-interval-timer-in-ms", "1000"),
    ];
    let spring = spring("eviction", settings).await;
    let ours = ours(&settings[1..]).await;
    let d = differential(&ours, spring, eviction::departures);
    eviction::run(&d).await;
    d.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_preservation_keeps_expired_leases_like_spring() {
    let settings: &'static [(&str, &str)] = &[
        ("eureka.server.use-read-only-response-cache", "false"),
        ("eureka.server.eviction-interval-timer-in-ms", "1000"),
    ];
    let spring = spring("self-preservation", settings).await;
    let ours = ours(&settings[1..]).await;
    let d = differential(&ours, spring, eviction::self_preservation_departures);
    eviction::self_preservation(&d).await;
    d.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn factura_and_spring_replicate_to_each_other_as_peers() {
    peers::run().await;
}
