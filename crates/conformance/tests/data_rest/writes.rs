//! Writes: POST, PUT, PATCH and DELETE with and without `Accept`, PUT that creates, PATCH in
//! its three media types, `If-Match`, and the error bodies of bad requests. Run in order on
//! both sides, so generated ids stay in step.

use conformance::compare::{Differential, Probe};
use serde_json::{Value, json};

/// A body sent without any `Content-Type`.
fn untyped(mut probe: Probe, body: &str) -> Probe {
    probe.body = Some(body.as_bytes().to_vec());
    probe
}

fn typed(probe: Probe, content_type: &str, body: &str) -> Probe {
    probe.body_with_type(content_type, body.as_bytes().to_vec())
}

/// Runs `(scenario, probe)` pairs in order.
async fn run(d: &Differential, steps: Vec<(&str, Probe)>) {
    for (scenario, probe) in steps {
        d.check(scenario, probe).await;
    }
}

/// The write matrix on `collection`: `entity(n)` is a valid entity, different for each `n`
/// (unique properties too), and `partial` a body missing a required property.
async fn matrix(
    d: &Differential,
    collection: &str,
    entity: impl Fn(u32) -> Value,
    partial: &Value,
) {
    let c = format!("/{collection}");
    let e = entity;
    let item = |id: u32| format!("/{collection}/{id}");
    run(
        d,
        vec![
            ("POST with Accept */*", Probe::post(&c).json(&e(1))),
            (
                "POST without Accept",
                Probe::post(&c).json(&e(2)).without_accept(),
            ),
            (
                "POST Accept application/json",
                Probe::post(&c)
                    .json(&e(3))
                    .header("accept", "application/json"),
            ),
            (
                "POST Accept application/hal+json",
                Probe::post(&c)
                    .json(&e(4))
                    .header("accept", "application/hal+json"),
            ),
            ("GET created", Probe::get(&item(4))),
            ("GET created without body", Probe::get(&item(5))),
            ("PUT with Accept", Probe::put(&item(4)).json(&e(5))),
            (
                "PUT without Accept",
                Probe::put(&item(4)).json(&e(6)).without_accept(),
            ),
            (
                "PUT the same values again",
                Probe::put(&item(4)).json(&e(6)),
            ),
            ("GET after PUTs", Probe::get(&item(4))),
            ("PUT missing a property", Probe::put(&item(4)).json(partial)),
            ("PATCH with Accept", Probe::patch(&item(5)).json(partial)),
            (
                "PATCH without Accept",
                Probe::patch(&item(5)).json(partial).without_accept(),
            ),
            (
                "PATCH merge-patch+json",
                typed(
                    Probe::patch(&item(5)),
                    "application/merge-patch+json",
                    &partial.to_string(),
                ),
            ),
            (
                "PATCH json-patch+json",
                typed(
                    Probe::patch(&item(5)),
                    "application/json-patch+json",
                    &json!([{ "op": "replace", "path": "/name", "value": "Patched" }]).to_string(),
                ),
            ),
            (
                "PATCH json-patch+json test failing",
                typed(
                    Probe::patch(&item(5)),
                    "application/json-patch+json",
                    &json!([{ "op": "test", "path": "/name", "value": "nope" }]).to_string(),
                ),
            ),
            (
                "PATCH json-patch+json not an array",
                typed(Probe::patch(&item(5)), "application/json-patch+json", "{}"),
            ),
            (
                "PATCH setting a required property null",
                Probe::patch(&item(5)).json(&json!({ "name": null })),
            ),
            ("PATCH an absent id", Probe::patch(&item(99)).json(partial)),
            (
                "PATCH with a non-object body",
                Probe::patch(&item(5)).json(&json!([1])),
            ),
            ("GET after PATCHes", Probe::get(&item(5))),
            (
                "PUT If-Match stale",
                Probe::put(&item(5)).json(&e(9)).header("if-match", "\"0\""),
            ),
            (
                "PATCH If-Match stale",
                Probe::patch(&item(5))
                    .json(partial)
                    .header("if-match", "\"0\""),
            ),
            (
                "DELETE If-Match stale",
                Probe::delete(&item(5)).header("if-match", "\"0\""),
            ),
            (
                "PUT If-Match garbage",
                Probe::put(&item(5))
                    .json(&e(9))
                    .header("if-match", "garbage"),
            ),
            (
                "PATCH If-Match current",
                Probe::patch(&item(6))
                    .json(partial)
                    .header("if-match", "\"0\""),
            ),
            (
                "PUT If-Match on an absent id",
                Probe::put(&item(60))
                    .json(&e(10))
                    .header("if-match", "\"0\""),
            ),
            ("DELETE with Accept", Probe::delete(&item(5))),
            (
                "DELETE without Accept",
                Probe::delete(&item(6)).without_accept(),
            ),
            ("DELETE again", Probe::delete(&item(5))),
            ("DELETE an absent id", Probe::delete(&item(99))),
            (
                "DELETE a bad id",
                Probe::delete(&format!("/{collection}/abc")),
            ),
            (
                "PUT a bad id",
                Probe::put(&format!("/{collection}/abc")).json(&e(11)),
            ),
            ("GET the collection after writes", Probe::get(&c)),
        ],
    )
    .await;
}

/// PUT on ids that do not exist: it creates (with the next generated id, which `Location`
/// names). Run last, since a side that refuses it keeps its ids in step no longer.
async fn put_creates(d: &Differential, collection: &str, entity: impl Fn(u32) -> Value) {
    let item = |id: u32| format!("/{collection}/{id}");
    run(
        d,
        vec![
            (
                "PUT creating an absent id",
                Probe::put(&item(50)).json(&entity(7)),
            ),
            (
                "PUT creating an absent id without Accept",
                Probe::put(&item(51)).json(&entity(8)).without_accept(),
            ),
            (
                "GET after PUT-create",
                Probe::get(&format!("/{collection}?sort=id,desc&size=2")),
            ),
        ],
    )
    .await;
}

/// Bodies that are not an entity at all.
async fn malformed(d: &Differential, collection: &str, good: &Value) {
    let c = format!("/{collection}");
    let item = format!("/{collection}/1");
    run(
        d,
        vec![
            (
                "POST malformed JSON",
                typed(Probe::post(&c), "application/json", "{\"name\":"),
            ),
            (
                "POST trailing garbage",
                typed(Probe::post(&c), "application/json", "{} x"),
            ),
            ("POST an array", Probe::post(&c).json(&json!([good]))),
            ("POST a string", Probe::post(&c).json(&json!("text"))),
            (
                "POST null",
                typed(Probe::post(&c), "application/json", "null"),
            ),
            (
                "POST an empty body",
                typed(Probe::post(&c), "application/json", ""),
            ),
            (
                "POST text/plain",
                typed(Probe::post(&c), "text/plain", &good.to_string()),
            ),
            (
                "POST application/xml",
                typed(Probe::post(&c), "application/xml", "<customer/>"),
            ),
            (
                "POST without Content-Type",
                untyped(Probe::post(&c), &good.to_string()),
            ),
            (
                "PUT text/plain",
                typed(Probe::put(&item), "text/plain", &good.to_string()),
            ),
            (
                "PATCH text/plain",
                typed(Probe::patch(&item), "text/plain", &good.to_string()),
            ),
            (
                "PUT malformed JSON",
                typed(Probe::put(&item), "application/json", "{"),
            ),
            (
                "PATCH malformed JSON",
                typed(Probe::patch(&item), "application/json", "{"),
            ),
            (
                "POST an object as a property",
                Probe::post(&c).json(&json!({ "name": { "a": 1 } })),
            ),
            (
                "POST an array as a property",
                Probe::post(&c).json(&json!({ "name": ["a"] })),
            ),
        ],
    )
    .await;
}

pub(crate) async fn customers(d: &Differential) {
    let entity = |n: u32| json!({ "name": format!("Customer {n}"), "email": format!("customer{n}@mail.com") });
    let partial = json!({ "name": "Yasmine" });
    matrix(d, "customers", entity, &partial).await;
    malformed(d, "customers", &entity(20)).await;
    let c = "/customers";
    run(
        d,
        vec![
            ("POST {}", Probe::post(c).json(&json!({}))),
            (
                "POST blank name",
                Probe::post(c).json(&json!({ "name": " ", "email": "b@mail.com" })),
            ),
            (
                "POST bad email",
                Probe::post(c).json(&json!({ "name": "B", "email": "nope" })),
            ),
            (
                "POST empty email",
                Probe::post(c).json(&json!({ "name": "B", "email": "" })),
            ),
            (
                "POST long name",
                Probe::post(c).json(&json!({ "name": "n".repeat(300), "email": "l@mail.com" })),
            ),
            (
                "POST email a number",
                Probe::post(c).json(&json!({ "name": "B", "email": 5 })),
            ),
            // Below this line a side may create a row the other refuses; ids may diverge.
            (
                "POST name a number",
                Probe::post(c).json(&json!({ "name": 5, "email": "five@mail.com" })),
            ),
            (
                "POST name a boolean",
                Probe::post(c).json(&json!({ "name": true, "email": "t@mail.com" })),
            ),
            (
                "POST a duplicate email",
                Probe::post(c).json(&json!({ "name": "Dup", "email": "hassan@mail.com" })),
            ),
            (
                "PATCH to a duplicate email",
                Probe::patch("/customers/2").json(&json!({ "email": "ali@mail.com" })),
            ),
            (
                "POST an id, links and unknown properties",
                Probe::post(c).json(&json!({ "id": 1, "name": "Id", "email": "id@mail.com",
                    "_links": { "self": { "href": "http://x/customers/1" } }, "nickname": "x" })),
            ),
        ],
    )
    .await;
    put_creates(d, "customers", entity).await;
}

pub(crate) async fn products(d: &Differential) {
    let entity = |n: u32| json!({ "name": format!("Product {n}"), "price": 35.5 + f64::from(n), "quantity": n });
    let partial = json!({ "name": "Sofa" });
    matrix(d, "products", entity, &partial).await;
    malformed(d, "products", &entity(20)).await;
    let c = "/products";
    let with = |price: Value, quantity: Value| json!({ "name": "P", "price": price, "quantity": quantity });
    run(
        d,
        vec![
            ("POST {}", Probe::post(c).json(&json!({}))),
            (
                "POST negative price",
                Probe::post(c).json(&with(json!(-1), json!(1))),
            ),
            (
                "POST negative quantity",
                Probe::post(c).json(&with(json!(1), json!(-1))),
            ),
            (
                "POST price text",
                Probe::post(c).json(&with(json!("abc"), json!(1))),
            ),
            (
                "POST quantity text",
                Probe::post(c).json(&with(json!(1), json!("abc"))),
            ),
            (
                "POST quantity beyond int",
                Probe::post(c).json(&with(json!(1), json!(3_000_000_000_i64))),
            ),
            (
                "POST price as a string",
                Probe::post(c).json(&with(json!("12.5"), json!(1))),
            ),
            (
                "POST price with an exponent",
                Probe::post(c).json(&with(json!(1e3), json!(1))),
            ),
            (
                "POST quantity 2.0",
                Probe::post(c).json(&with(json!(1), json!(2.0))),
            ),
        ],
    )
    .await;
    put_creates(d, "products", entity).await;
    run(
        d,
        vec![
            // From here on a side may create a row the other refuses; ids may diverge.
            (
                "POST quantity with a fraction",
                Probe::post(c).json(&with(json!(1), json!(1.5))),
            ),
            (
                "POST price with a tenth of a cent",
                Probe::post(c).json(&with(json!(0.001), json!(1))),
            ),
            (
                "GET the collection at the end",
                Probe::get(&format!("{c}?size=50")),
            ),
        ],
    )
    .await;
}
