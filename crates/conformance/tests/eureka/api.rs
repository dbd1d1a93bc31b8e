//! The Eureka REST surface of a standalone server, scenario by scenario, in the order a fleet
//! would exercise it: registrations, reads in every format, renewals, status overrides,
//! metadata, gzip, cancellations, errors, peer replication batches, and leases that expired
//! while self-preservation keeps them.

use std::time::Duration;

use conformance::compare::{Differential, Probe, Rules};
use serde_json::{Value, json};

use super::{DIRTY, instance, instance_xml, read_every_way, register, step, wait};

const OUT_OF_SERVICE_AS_IS: &str = "factura writes an OUT_OF_SERVICE instance as OUT_OF_SERVICE in \
    single-instance XML reads, as every other read (JSON, the registry, the delta) does; Spring's \
    single-instance XML writer reports it as DOWN, which tells an operator its health check failed";

/// Departures only this configuration shows.
pub(crate) fn departures(rules: Rules) -> Rules {
    rules
        .depart(
            "lenient register without dataCenterInfo @class",
            "*",
            "factura reads `dataCenterInfo` by its `name` and registers clients that omit the Java \
             class name (hand-written and non-Java clients); Spring's Jackson needs `@class` and \
             answers 400. factura still writes `@class` on every instance it serves",
        )
        .depart(
            "lenient register naming the app only in the URL",
            "*",
            "factura takes the application name from the URL when the body has none; Spring \
             answers 400 `Missing appName`",
        )
        .depart(
            "instance after a replicated override (*",
            "body/#children/4/#text",
            OUT_OF_SERVICE_AS_IS,
        )
        .depart(
            "batch delete override",
            "body/responseList/1/statusCode",
            "factura answers a replicated DeleteStatusOverride for an unknown instance 404, as the \
             same call made directly; Spring's batch handler dereferences the missing instance and \
             answers 500",
        )
        .depart(
            "unsupported media type*",
            "body/message",
            "factura's 415 body says which media types a registration may use; Spring Boot's \
             default error body carries no message",
        )
        .depart(
            "invalid status value*",
            "*",
            "factura answers 400 naming the accepted values where Spring answers 500 with no reason: \
             a typo in an operator's request is the caller's error, and says which value was wrong",
        )
        .depart(
            "register 400 *",
            "header content-type",
            "factura labels the plain-text reason text/plain; Spring labels it with the negotiated \
             type (application/json or xml), so clients that parse by Content-Type fail on the reason",
        )
}

pub(crate) async fn run(d: &Differential) {
    empty(d).await;
    registrations(d).await;
    reads(d).await;
    renewals(d).await;
    overrides(d).await;
    metadata(d).await;
    registry_and_delta(d).await;
    cancels(d).await;
    errors(d).await;
    batches(d).await;
    expired_but_kept(d).await;
    registry_and_delta(d).await;
    // Last: these leave factura's registry different from Spring's on purpose.
    lenient_registrations(d).await;
}

async fn empty(d: &Differential) {
    read_every_way(d, "empty registry", "/eureka/apps").await;
    read_every_way(d, "empty delta", "/eureka/apps/delta").await;
    read_every_way(
        d,
        "empty registry, v2 path and trailing slash",
        "/eureka/v2/apps/",
    )
    .await;
}

async fn registrations(d: &Differential) {
    step(
        d,
        "register JSON",
        register("ALPHA", &instance("alpha", "alpha-1", 8081)),
        204,
    )
    .await;
    let xml = Probe::post("/eureka/apps/ALPHA")
        .body_with_type("application/xml", instance_xml("alpha", "alpha-2", 8082));
    step(d, "register XML", xml, 204).await;
    let mut beta = instance("beta", "beta-1", 9001);
    beta["instance"]["vipAddress"] = json!("beta,shared");
    beta["instance"]["secureVipAddress"] = json!("beta-secure");
    beta["instance"]["status"] = json!("STARTING");
    step(
        d,
        "register lower-case app path",
        register("beta", &beta),
        204,
    )
    .await;
    let mut minimal = json!({"instance": {
        "hostName": "js.example", "app": "GAMMA", "ipAddr": "10.0.0.7",
        "port": {"$": 3000, "@enabled": true}, "vipAddress": "gamma", "status": "UP",
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "lastDirtyTimestamp": DIRTY.to_string(),
    }});
    step(
        d,
        "register minimal (no instanceId, leaseInfo)",
        register("GAMMA", &minimal),
        204,
    )
    .await;
    minimal["instance"]["status"] = json!("SLEEPY");
    minimal["instance"]["hostName"] = json!("js2.example");
    step(
        d,
        "register unknown status",
        register("GAMMA", &minimal),
        204,
    )
    .await;
    // Re-registering with an older lastDirtyTimestamp keeps the stored copy.
    let mut older = instance("alpha", "alpha-1", 8081);
    older["instance"]["lastDirtyTimestamp"] = json!(DIRTY - 1000);
    older["instance"]["ipAddr"] = json!("10.9.9.9");
    step(d, "re-register older copy", register("ALPHA", &older), 204).await;
}

async fn reads(d: &Differential) {
    read_every_way(d, "application", "/eureka/apps/ALPHA").await;
    read_every_way(d, "application, lower-case name", "/eureka/apps/beta").await;
    read_every_way(
        d,
        "application of minimal registrations",
        "/eureka/apps/GAMMA",
    )
    .await;
    read_every_way(d, "instance", "/eureka/apps/ALPHA/alpha-1").await;
    read_every_way(
        d,
        "instance registered as XML",
        "/eureka/apps/ALPHA/alpha-2",
    )
    .await;
    read_every_way(d, "instance by id", "/eureka/instances/beta-1").await;
    read_every_way(d, "vip", "/eureka/vips/shared").await;
    read_every_way(d, "svip", "/eureka/svips/beta-secure").await;
    read_every_way(d, "vip nobody has", "/eureka/vips/nobody").await;
    read_every_way(d, "404 unknown application", "/eureka/apps/NOBODY").await;
    read_every_way(d, "404 unknown instance", "/eureka/apps/ALPHA/nobody").await;
    read_every_way(d, "404 unknown instance by id", "/eureka/instances/nobody").await;
}

async fn renewals(d: &Differential) {
    let renew = |query: &str| Probe::put(&format!("/eureka/apps/ALPHA/alpha-1{query}"));
    d.check("renew", renew("")).await;
    d.check(
        "renew with status and the same lastDirtyTimestamp",
        renew(&format!("?status=UP&lastDirtyTimestamp={DIRTY}")),
    )
    .await;
    d.check(
        "renew with an older lastDirtyTimestamp",
        renew(&format!("?status=UP&lastDirtyTimestamp={}", DIRTY - 5)),
    )
    .await;
    d.check(
        "404 renew with a newer lastDirtyTimestamp",
        renew(&format!("?status=UP&lastDirtyTimestamp={}", DIRTY + 5)),
    )
    .await;
    d.check(
        "renew saying DOWN (the status parameter is ignored)",
        renew(&format!("?status=DOWN&lastDirtyTimestamp={DIRTY}")),
    )
    .await;
    d.check(
        "renew JSON accept",
        renew("").header("accept", "application/json"),
    )
    .await;
    d.check(
        "404 renew unknown instance",
        Probe::put("/eureka/apps/ALPHA/nobody"),
    )
    .await;
    d.check(
        "404 renew unknown application",
        Probe::put("/eureka/apps/NOBODY/alpha-1"),
    )
    .await;
    read_every_way(d, "instance after renewals", "/eureka/apps/ALPHA/alpha-1").await;
}

async fn overrides(d: &Differential) {
    let status = |id: &str, query: &str| format!("/eureka/apps/ALPHA/{id}/status{query}");
    let show = |what: &'static str, id: &'static str| async move {
        d.check(
            &format!("instance after {what}"),
            Probe::get(&format!("/eureka/apps/ALPHA/{id}")).header("accept", "application/json"),
        )
        .await;
    };
    d.check(
        "override to the current status",
        Probe::put(&status("alpha-1", "?value=UP")),
    )
    .await;
    show("an override to the current status", "alpha-1").await;
    d.check(
        "override to OUT_OF_SERVICE",
        Probe::put(&status(
            "alpha-1",
            &format!("?value=OUT_OF_SERVICE&lastDirtyTimestamp={}", DIRTY + 10),
        )),
    )
    .await;
    show("an override to OUT_OF_SERVICE", "alpha-1").await;
    d.check(
        "renew while overridden",
        Probe::put("/eureka/apps/ALPHA/alpha-1"),
    )
    .await;
    d.check(
        "override to OUT_OF_SERVICE again",
        Probe::put(&status("alpha-1", "?value=OUT_OF_SERVICE")),
    )
    .await;
    show("the same override twice", "alpha-1").await;
    read_every_way(d, "delta after overrides", "/eureka/apps/delta").await;
    d.check("delete override", Probe::delete(&status("alpha-1", "")))
        .await;
    show("deleting the override", "alpha-1").await;
    d.check(
        "404 renew after the override is deleted",
        Probe::put("/eureka/apps/ALPHA/alpha-1"),
    )
    .await;
    d.check(
        "delete override when none is recorded",
        Probe::delete(&status("alpha-1", "?value=UP")),
    )
    .await;
    show("deleting an override that is not there", "alpha-1").await;
    // The client re-registers after the 404, with its own status.
    d.check(
        "re-register after the 404",
        register("ALPHA", &instance("alpha", "alpha-1", 8081)),
    )
    .await;
    show("re-registering", "alpha-1").await;
    d.check(
        "override to DOWN",
        Probe::put(&status("alpha-2", "?value=DOWN")),
    )
    .await;
    d.check(
        "delete override with a fallback value",
        Probe::delete(&status(
            "alpha-2",
            &format!("?value=UP&lastDirtyTimestamp={}", DIRTY + 20),
        )),
    )
    .await;
    show("deleting an override with value=UP", "alpha-2").await;
    d.check(
        "404 override on an unknown instance",
        Probe::put(&status("nobody", "?value=UP")),
    )
    .await;
    d.check(
        "404 delete override on an unknown instance",
        Probe::delete(&status("nobody", "")),
    )
    .await;
    d.check(
        "invalid status value",
        Probe::put(&status("alpha-2", "?value=SLEEPY")),
    )
    .await;
    d.check(
        "invalid status value (missing)",
        Probe::put(&status("alpha-2", "")),
    )
    .await;
    d.check(
        "invalid status value on delete",
        Probe::delete(&status("alpha-2", "?value=SLEEPY")),
    )
    .await;
    show("invalid status values", "alpha-2").await;
}

async fn metadata(d: &Differential) {
    d.check(
        "metadata update",
        Probe::put("/eureka/apps/ALPHA/alpha-2/metadata?version=2&version=3&owner=billing%20team"),
    )
    .await;
    read_every_way(
        d,
        "instance after a metadata update",
        "/eureka/apps/ALPHA/alpha-2",
    )
    .await;
    d.check(
        "404 metadata of an unknown instance",
        Probe::put("/eureka/apps/ALPHA/nobody/metadata?a=1"),
    )
    .await;
}

async fn registry_and_delta(d: &Differential) {
    read_every_way(d, "registry", "/eureka/apps").await;
    read_every_way(d, "delta", "/eureka/apps/delta").await;
    for path in [
        "/eureka/apps",
        "/eureka/apps/delta",
        "/eureka/apps/ALPHA",
        "/eureka/vips/alpha",
    ] {
        for accept in ["application/json", "application/xml"] {
            d.check(
                &format!("gzip {path} {accept}"),
                Probe::get(path)
                    .header("accept", accept)
                    .header("accept-encoding", "gzip, deflate"),
            )
            .await;
        }
    }
}

async fn cancels(d: &Differential) {
    d.check("cancel", Probe::delete("/eureka/apps/GAMMA/js2.example"))
        .await;
    d.check(
        "404 cancel again",
        Probe::delete("/eureka/apps/GAMMA/js2.example"),
    )
    .await;
    d.check(
        "404 cancel unknown application",
        Probe::delete("/eureka/apps/NOBODY/x"),
    )
    .await;
    read_every_way(d, "application after a cancel", "/eureka/apps/GAMMA").await;
    read_every_way(d, "delta after a cancel", "/eureka/apps/delta").await;
}

async fn errors(d: &Differential) {
    let post = |body: &str, content_type: &str| {
        Probe::post("/eureka/apps/DELTA").body_with_type(content_type, body.to_owned())
    };
    d.check("malformed JSON", post("{\"instance\":", "application/json"))
        .await;
    d.check("malformed XML", post("<instance><app>", "application/xml"))
        .await;
    d.check("empty JSON body", post("", "application/json"))
        .await;
    d.check(
        "malformed JSON, JSON accepted",
        post("{\"instance\":", "application/json").header("accept", "application/json"),
    )
    .await;
    d.check(
        "unsupported media type text/plain",
        post("hello", "text/plain"),
    )
    .await;
    d.check(
        "unsupported media type form",
        post("a=b", "application/x-www-form-urlencoded"),
    )
    .await;
    let dc = json!({"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"});
    let cases = [
        (
            "register 400 missing ip address",
            json!({"instanceId": "d1", "hostName": "h", "app": "DELTA", "dataCenterInfo": dc}),
        ),
        (
            "register 400 missing host name",
            json!({"instanceId": "d1", "ipAddr": "1.1.1.1", "app": "DELTA", "dataCenterInfo": dc}),
        ),
        (
            "register 400 mismatched app",
            json!({"instanceId": "d1", "hostName": "h", "ipAddr": "1.1.1.1", "app": "OTHER", "dataCenterInfo": dc}),
        ),
        (
            "register 400 missing dataCenterInfo",
            json!({"instanceId": "d1", "hostName": "h", "ipAddr": "1.1.1.1", "app": "DELTA"}),
        ),
        (
            "register 400 missing dataCenterInfo name",
            json!({"instanceId": "d1", "hostName": "h", "ipAddr": "1.1.1.1", "app": "DELTA",
            "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"}}),
        ),
    ];
    for (scenario, body) in cases {
        d.check(scenario, register("DELTA", &json!({"instance": body})))
            .await;
        d.check(
            &format!("{scenario}, JSON accepted"),
            register("DELTA", &json!({"instance": body})).header("accept", "application/json"),
        )
        .await;
    }
    read_every_way(
        d,
        "404 nothing registered by bad requests",
        "/eureka/apps/DELTA",
    )
    .await;
}

fn batch(items: Value) -> Probe {
    Probe::post("/eureka/peerreplication/batch/")
        .header("accept", "application/json")
        .json(&json!({"replicationList": items}))
}

async fn batches(d: &Differential) {
    let mut info = instance("epsilon", "eps-1", 7001)["instance"].clone();
    info["metadata"] = json!({"@class": "java.util.Collections$EmptyMap"});
    let key = json!({"appName": "EPSILON", "id": "eps-1"});
    let item = |extra: Value| {
        let mut item = key.clone();
        for (k, v) in extra.as_object().expect("an object") {
            item[k] = v.clone();
        }
        item
    };
    let register_item = item(
        json!({"lastDirtyTimestamp": DIRTY, "status": "UP", "instanceInfo": info, "action": "Register"}),
    );
    d.check("batch register", batch(json!([register_item])))
        .await;
    read_every_way(
        d,
        "instance replicated by a batch",
        "/eureka/apps/EPSILON/eps-1",
    )
    .await;
    d.check(
        "batch heartbeats",
        batch(json!([
            item(json!({"lastDirtyTimestamp": DIRTY, "status": "UP", "action": "Heartbeat"})),
            item(json!({"lastDirtyTimestamp": DIRTY - 10, "status": "UP", "action": "Heartbeat"})),
            item(json!({"lastDirtyTimestamp": DIRTY + 10, "status": "UP", "overriddenStatus": "OUT_OF_SERVICE", "action": "Heartbeat"})),
            {"appName": "EPSILON", "id": "nobody", "lastDirtyTimestamp": DIRTY, "status": "UP", "action": "Heartbeat"},
        ])),
    )
    .await;
    d.check(
        "batch status update and delete",
        batch(json!([
            item(json!({"lastDirtyTimestamp": DIRTY, "status": "OUT_OF_SERVICE", "action": "StatusUpdate"})),
            {"appName": "EPSILON", "id": "nobody", "status": "OUT_OF_SERVICE", "action": "StatusUpdate"},
        ])),
    )
    .await;
    read_every_way(
        d,
        "instance after a replicated override",
        "/eureka/apps/EPSILON/eps-1",
    )
    .await;
    d.check(
        "batch delete override",
        batch(json!([
            item(json!({"lastDirtyTimestamp": DIRTY, "status": "UP", "action": "DeleteStatusOverride"})),
            {"appName": "EPSILON", "id": "nobody", "status": "UP", "action": "DeleteStatusOverride"},
        ])),
    )
    .await;
    read_every_way(
        d,
        "instance after a replicated override removal",
        "/eureka/apps/EPSILON/eps-1",
    )
    .await;
    let mut no_accept = batch(json!([item(
        json!({"action": "Heartbeat", "lastDirtyTimestamp": DIRTY})
    )]));
    no_accept.headers.retain(|(name, _)| name != "accept");
    d.check("batch answer without Accept", no_accept).await;
    d.check(
        "batch cancel",
        batch(json!([
            item(json!({"action": "Cancel"})),
            item(json!({"action": "Cancel"}))
        ])),
    )
    .await;
    d.check(
        "404 instance cancelled by a batch",
        Probe::get("/eureka/apps/EPSILON/eps-1"),
    )
    .await;
    d.check(
        "malformed batch",
        Probe::post("/eureka/peerreplication/batch/")
            .body_with_type("application/json", "{\"replicationList\":"),
    )
    .await;
    d.check("empty batch", batch(json!([]))).await;
}

/// Registrations factura accepts and Spring refuses (kept departures: see [`departures`]).
async fn lenient_registrations(d: &Differential) {
    let mut no_class = instance("lenient", "len-1", 3001);
    no_class["instance"]["dataCenterInfo"] = json!({"name": "MyOwn"});
    d.check(
        "lenient register without dataCenterInfo @class",
        register("LENIENT", &no_class),
    )
    .await;
    let mut no_app = instance("lenient", "len-2", 3002);
    no_app["instance"]
        .as_object_mut()
        .expect("an object")
        .remove("app");
    d.check(
        "lenient register naming the app only in the URL",
        register("LENIENT", &no_app),
    )
    .await;
}

/// With self-preservation on (the default) and a handful of instances, renewals stay below the
/// threshold, so expiry is off: a lease that ran out is still listed and still read.
async fn expired_but_kept(d: &Differential) {
    let mut short = instance("zeta", "zeta-1", 6001);
    short["instance"]["leaseInfo"] = json!({"renewalIntervalInSecs": 1, "durationInSecs": 1});
    step(
        d,
        "register a one-second lease",
        register("ZETA", &short),
        204,
    )
    .await;
    wait(Duration::from_millis(2500)).await;
    read_every_way(d, "expired instance", "/eureka/apps/ZETA/zeta-1").await;
    read_every_way(d, "expired instance by id", "/eureka/instances/zeta-1").await;
    read_every_way(
        d,
        "application with an expired instance",
        "/eureka/apps/ZETA",
    )
    .await;
    d.check(
        "renew an expired lease",
        Probe::put("/eureka/apps/ZETA/zeta-1"),
    )
    .await;
}
