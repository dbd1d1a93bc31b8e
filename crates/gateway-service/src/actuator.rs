//! `/actuator/gateway/*`, Spring Cloud Gateway's actuator endpoint: list, read, add and delete
//! routes, refresh, and the known filters and predicates.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Map, Value, json};

use platform::actuator::Endpoint;

use crate::{definition::RouteDefinition, error::error_response, proxy::Gateway, table::Route};

/// The `gateway` actuator endpoint over `gateway`: reads are `GET`s; writes (adding and
/// deleting routes, refreshing) are mapped only with `unrestricted` access, and like every
/// endpoint only when `management.endpoints.web.exposure.include` names `gateway`.
pub fn endpoint(gateway: Arc<Gateway>) -> Endpoint {
    let read = Router::new()
        .route("/actuator/gateway", get(index))
        .route("/actuator/gateway/routes", get(list))
        .route("/actuator/gateway/routes/{id}", get(read))
        .route(
            "/actuator/gateway/routes/{id}/combinedfilters",
            get(combined_filters),
        )
        .route("/actuator/gateway/routedefinitions", get(definitions))
        .route("/actuator/gateway/globalfilters", get(global_filters))
        .route("/actuator/gateway/routefilters", get(route_filters))
        .route("/actuator/gateway/routepredicates", get(route_predicates))
        .with_state(gateway.clone());
    let write = Router::new()
        .route("/actuator/gateway/routes", post(create_many))
        .route("/actuator/gateway/routes/{id}", post(create).delete(remove))
        .route("/actuator/gateway/refresh", post(refresh))
        .with_state(gateway);
    Endpoint {
        id: "gateway",
        path: "/actuator/gateway",
        read,
        write,
    }
}

/// A route as the verbose actuator view shows it.
fn route_json(route: &Route) -> Value {
    let predicates: Vec<String> = route.predicates.iter().map(|p| p.describe()).collect();
    let predicate = match predicates.len() {
        0 => "true".to_owned(),
        1 => predicates[0].clone(),
        _ => format!("({})", predicates.join(" && ")),
    };
    let mut out = json!({
        "predicate": predicate,
        "route_id": route.id(),
        "filters": route.filter_descriptions,
        "uri": route.definition.uri,
        "order": route.definition.order,
    });
    if !route.definition.metadata.is_empty() {
        out["metadata"] = json!(route.definition.metadata);
    }
    out
}

async fn index(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let mut links = vec![
        json!({"href": "/actuator/gateway/", "methods": ["GET"]}),
        json!({"href": "/actuator/gateway/routes", "methods": ["GET", "POST"]}),
        json!({"href": "/actuator/gateway/routedefinitions", "methods": ["GET"]}),
        json!({"href": "/actuator/gateway/globalfilters", "methods": ["GET"]}),
        json!({"href": "/actuator/gateway/routefilters", "methods": ["GET"]}),
        json!({"href": "/actuator/gateway/routepredicates", "methods": ["GET"]}),
        json!({"href": "/actuator/gateway/refresh", "methods": ["POST"]}),
    ];
    for route in gateway.table().routes() {
        links.push(json!({"href": format!("/actuator/gateway/routes/{}", route.id()), "methods": ["GET", "POST", "DELETE"]}));
        links.push(json!({"href": format!("/actuator/gateway/routes/{}/combinedfilters", route.id()), "methods": ["GET"]}));
    }
    Json(Value::Array(links))
}

async fn list(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    Json(Value::Array(
        gateway
            .table()
            .routes()
            .iter()
            .map(|r| route_json(r))
            .collect(),
    ))
}

async fn definitions(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    Json(Value::Array(
        gateway
            .table()
            .routes()
            .iter()
            .map(|r| r.definition.to_json())
            .collect(),
    ))
}

/// Spring's endpoint answers an unknown route id with an empty 404.
fn not_found() -> Response {
    let mut response = StatusCode::NOT_FOUND.into_response();
    response
        .extensions_mut()
        .insert(platform::error::ErrorDetail::Empty);
    response
}

async fn read(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    match gateway.table().get(&id) {
        Some(route) => Json(route_json(route)).into_response(),
        None => not_found(),
    }
}

async fn combined_filters(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    match gateway.table().get(&id) {
        Some(route) => {
            let map: Map<String, Value> = route
                .filter_descriptions
                .iter()
                .enumerate()
                .map(|(i, d)| (d.clone(), json!(i + 1)))
                .collect();
            Json(Value::Object(map)).into_response()
        }
        None => not_found(),
    }
}

fn bad_request(gateway: &Gateway, message: &str, path: &str) -> Response {
    let context = gateway.error_context(&gateway.next_request_id());
    context
        .sync_scope(|| error_response(StatusCode::BAD_REQUEST, message, path))
        .into_response()
}

async fn create(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/actuator/gateway/routes/{id}");
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(&gateway, &format!("The body is not JSON: {e}"), &path),
    };
    let definition = match RouteDefinition::from_json(&id, &value) {
        Ok(d) => d,
        Err(e) => return bad_request(&gateway, &e.0, &path),
    };
    if let Err(e) = gateway.validate(&definition) {
        return bad_request(&gateway, &e, &path);
    }
    gateway.save_route(definition);
    let mut response = StatusCode::CREATED.into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/routes/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn create_many(State(gateway): State<Arc<Gateway>>, body: Bytes) -> Response {
    let path = "/actuator/gateway/routes";
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body) else {
        return bad_request(
            &gateway,
            "The body must be a JSON array of routes with ids",
            path,
        );
    };
    let mut parsed = Vec::new();
    for item in &items {
        let Some(id) = item
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| !i.is_empty())
        else {
            return bad_request(&gateway, "Every route needs an `id`", path);
        };
        let definition = match RouteDefinition::from_json(id, item) {
            Ok(d) => d,
            Err(e) => return bad_request(&gateway, &e.0, path),
        };
        if let Err(e) = gateway.validate(&definition) {
            return bad_request(&gateway, &e, path);
        }
        parsed.push(definition);
    }
    for definition in parsed {
        gateway.save_route(definition);
    }
    StatusCode::CREATED.into_response()
}

async fn remove(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    if gateway.delete_route(&id) {
        StatusCode::OK.into_response()
    } else {
        // Routes from configuration or discovery are not in the writable repository.
        not_found()
    }
}

async fn refresh(State(gateway): State<Arc<Gateway>>) -> StatusCode {
    gateway.rebuild();
    StatusCode::OK
}

async fn global_filters() -> Json<Value> {
    Json(json!({
        "RemoveHopByHopHeadersFilter": -2_147_483_648_i64,
        "XForwardedHeadersFilter": 0,
        "RouteToRequestUrlFilter": 10000,
        "ReactiveLoadBalancerClientFilter": 10150,
        "WebsocketRoutingFilter": 2_147_483_646_i64,
        "NettyRoutingFilter": 2_147_483_647_i64,
        "ForwardRoutingFilter": 2_147_483_647_i64,
    }))
}

async fn route_filters() -> Json<Value> {
    let map: Map<String, Value> = crate::filter::NAMES
        .iter()
        .map(|n| (format!("[{n}GatewayFilterFactory@factura]"), Value::Null))
        .collect();
    Json(Value::Object(map))
}

async fn route_predicates() -> Json<Value> {
    let map: Map<String, Value> = crate::predicate::NAMES
        .iter()
        .map(|n| (format!("[{n}RoutePredicateFactory@factura]"), Value::Null))
        .collect();
    Json(Value::Object(map))
}
