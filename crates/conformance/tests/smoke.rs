//! The harness itself against real servers: a Spring Eureka server and factura's
//! discovery-service, both empty, answer the full-registry fetch the same way.

use conformance::{
    compare::{Differential, Probe, Rules, Side},
    spring::SpringApp,
};
use testkit::TestService;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_registry_reads_the_same() {
    let spring = tokio::task::spawn_blocking(|| {
        SpringApp::start(
            "eureka-server",
            &[
                ("eureka.client.register-with-eureka", "false"),
                ("eureka.client.fetch-registry", "false"),
            ],
        )
    })
    .await
    .expect("the Spring Eureka server starts");
    let ours = TestService::start(&discovery_service::SERVICE, &[]).await;
    let differential = Differential::new(
        "smoke",
        Side::new(&ours.url("")),
        Side::new(&spring.url("")),
        Rules::default(),
    );
    let (a, b) = differential
        .both(&Probe::get("/eureka/apps").header("accept", "application/json"))
        .await;
    assert_eq!(b.status, 200, "Spring answered {b:?}");
    eprintln!("ours: {a:?}\nspring: {b:?}");
    differential.record("empty registry", &a, &b);
    differential.finish();
}
