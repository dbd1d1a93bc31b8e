//! The discovery locator configured as Spring users do: lower-case service ids, its own
//! predicates and filters (SpEL over each service instance), an include-expression and a
//! url-expression.

use conformance::compare::{Probe, Rules};
use serde_json::json;

use super::fleet::Fleet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_discovery_locator_answers_as_spring_cloud_gateway_does() {
    let fleet = Fleet::start(
        "gateway-locator",
        &[
            ("ECHO-SERVICE", json!({ "gateway": "true", "team": "blue" })),
            ("HIDDEN-SERVICE", json!({ "gateway": "false" })),
            ("PLAIN-SERVICE", json!({})),
        ],
        |echo, p| {
            // One static route on both sides (it replaces factura's built-in routes).
            p.shortcut("static", &echo.base(), &["Path=/static/**"], &[]);
            let l = "discovery.locator";
            p.gateway(&format!("{l}.enabled"), "true");
            p.gateway(&format!("{l}.lower-case-service-id"), "true");
            p.gateway(&format!("{l}.route-id-prefix"), "disco_");
            p.gateway(
                &format!("{l}.include-expression"),
                "metadata['gateway'] != 'false'",
            );
            p.gateway(
                &format!("{l}.url-expression"),
                "'http://' + host + ':' + port",
            );
            p.gateway(&format!("{l}.predicates[0].name"), "Path");
            p.gateway(
                &format!("{l}.predicates[0].args.pattern"),
                "'/api/' + serviceId + '/**'",
            );
            p.gateway(&format!("{l}.predicates[1].name"), "Method");
            p.gateway(&format!("{l}.predicates[1].args.methods"), "'GET'");
            p.gateway(&format!("{l}.filters[0].name"), "RewritePath");
            p.gateway(
                &format!("{l}.filters[0].args.regexp"),
                "'/api/' + serviceId + '/?(?<remaining>.*)'",
            );
            p.gateway(
                &format!("{l}.filters[0].args.replacement"),
                "'/${remaining}'",
            );
            p.gateway(&format!("{l}.filters[1].name"), "AddRequestHeader");
            p.gateway(&format!("{l}.filters[1].args.name"), "'X-Service'");
            p.gateway(
                &format!("{l}.filters[1].args.value"),
                "serviceId + '-' + metadata['team']",
            );
        },
    )
    .await;
    fleet.wait_for("/api/echo-service/ready", 200).await;
    let d = fleet.differential(
        "gateway locator",
        super::routes::departures(Rules::default()),
    );
    for path in [
        "/static/a",
        "/api/echo-service/a/b?x=1",
        "/api/echo-service",
        "/api/ECHO-SERVICE/a",
        "/api/plain-service/a",
        "/api/hidden-service/a",
        "/echo-service/a",
        "/ECHO-SERVICE/a",
    ] {
        d.check(&format!("locator {path}"), Probe::get(path)).await;
    }
    d.check(
        "locator POST refused by its Method predicate",
        Probe::post("/api/echo-service/a"),
    )
    .await;
    d.check("locator routes", Probe::get("/actuator/gateway/routes"))
        .await;
    d.check(
        "locator route",
        Probe::get("/actuator/gateway/routes/disco_ECHO-SERVICE"),
    )
    .await;
    d.finish();
}
