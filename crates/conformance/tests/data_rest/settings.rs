//! The `spring.data.rest.*` keys Spring users put in their configuration, set the same way on a
//! Spring customer-service and on factura's: a base path, page sizes, renamed paging and
//! sorting parameters, the write-body switches and the default media type.

use conformance::compare::{Differential, Probe, Side};
use serde_json::json;
use testkit::TestService;

use crate::{fleet, reads::gets};

const SETTINGS: &[(&str, &str)] = &[
    ("spring.data.rest.base-path", "/api"),
    ("spring.data.rest.default-page-size", "2"),
    ("spring.data.rest.max-page-size", "3"),
    ("spring.data.rest.page-param-name", "p"),
    ("spring.data.rest.limit-param-name", "l"),
    ("spring.data.rest.sort-param-name", "s"),
    ("spring.data.rest.return-body-on-create", "false"),
    ("spring.data.rest.return-body-on-update", "true"),
    ("spring.data.rest.default-media-type", "application/json"),
];

pub(crate) async fn run() {
    let properties: Vec<(String, String)> = SETTINGS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let spring = fleet::spring("customers-configured", "customer-service", properties).await;
    let ours = TestService::start(&customer_service::SERVICE, SETTINGS).await;
    let d = Differential::new(
        "data-rest settings",
        Side::new(&ours.url("")),
        Side::new(&spring.url("")),
        crate::departures::apply(fleet::rules(), crate::departures::Part::Settings),
    );
    gets(
        &d,
        &[
            "/api",
            "/api/",
            "/",
            "/customers",
            "/api/customers",
            "/api/customers?p=1",
            "/api/customers?p=1&l=1",
            "/api/customers?l=9",
            "/api/customers?page=1&size=1",
            "/api/customers?s=name,desc",
            "/api/customers?sort=name,desc",
            "/api/customers?s=name,desc&l=1&p=2",
            "/api/customers/1",
            "/api/customers/search",
            "/api/customers/search/byName?name=a&l=1",
            "/api/customers/search/byName?name=a&l=1&s=name,desc",
            "/api/profile",
            "/api/profile/customers",
            "/profile",
        ],
    )
    .await;
    for accept in ["application/hal+json", "application/json"] {
        d.check(
            &format!("GET /api/customers/1 Accept {accept}"),
            Probe::get("/api/customers/1").header("accept", accept),
        )
        .await;
    }
    d.check(
        "GET /api/customers/1 without Accept",
        Probe::get("/api/customers/1").without_accept(),
    )
    .await;
    let body = json!({ "name": "Sara", "email": "sara@mail.com" });
    d.check(
        "POST with Accept, return-body-on-create=false",
        Probe::post("/api/customers").json(&body),
    )
    .await;
    d.check(
        "PUT without Accept, return-body-on-update=true",
        Probe::put("/api/customers/4").json(&body).without_accept(),
    )
    .await;
    d.check(
        "PATCH without Accept, return-body-on-update=true",
        Probe::patch("/api/customers/4")
            .json(&json!({ "name": "Sara B" }))
            .without_accept(),
    )
    .await;
    d.check(
        "PUT creating, return-body-on-create=false",
        Probe::put("/api/customers/40")
            .json(&json!({ "name": "Nadia", "email": "nadia@mail.com" })),
    )
    .await;
    d.check("DELETE with Accept", Probe::delete("/api/customers/4"))
        .await;
    crate::finish(&[&d]);
    ours.stop().await;
}
