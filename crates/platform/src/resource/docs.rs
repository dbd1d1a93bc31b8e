//! Machine-readable descriptions derived from the specs: `/profile` (ALPS, and JSON Schema on
//! `Accept: application/schema+json`) as Spring Data REST serves them, and an OpenAPI 3 document
//! at `/v3/api-docs` as springdoc does. Both are generated from the same [`ResourceSpec`]s the
//! endpoints run on, so they cannot drift from the behaviour.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value as Json, json};

use super::{Field, Kind, Matching, Resource, ResourceSpec, config::RestConfig};
use crate::{
    error::ApiError,
    hal::{BaseUrl, Link},
};

/// State of the documentation endpoints.
#[derive(Debug, Clone)]
pub struct Docs {
    /// Every exported resource of the service.
    pub resources: Arc<Vec<Resource>>,
    /// The service's title for the OpenAPI document.
    pub title: String,
    /// The `spring.data.rest.*` settings (base path, media types).
    pub config: Arc<RestConfig>,
}

impl Docs {
    fn spec(&self, collection: &str) -> Option<&'static ResourceSpec> {
        self.resources
            .iter()
            .map(|r| r.spec)
            .find(|s| s.collection == collection)
    }
}

/// `GET /profile`.
pub async fn profile_index(
    State(docs): State<Docs>,
    base: BaseUrl,
    headers: HeaderMap,
) -> Response {
    let Some(content_type) = docs.config.negotiate(&headers) else {
        return StatusCode::NOT_ACCEPTABLE.into_response();
    };
    let base = docs.config.base(&base);
    let mut links = Map::new();
    links.insert("self".into(), json!(Link::new(base.href("/profile"))));
    for resource in docs.resources.iter() {
        let c = resource.spec.collection;
        links.insert(
            c.into(),
            json!(Link::new(base.href(&format!("/profile/{c}")))),
        );
    }
    (
        [(header::CONTENT_TYPE, content_type.to_owned())],
        json!({ "_links": links }).to_string(),
    )
        .into_response()
}

/// `GET /profile/{collection}`: ALPS (labelled with the JSON type asked for, as Spring does),
/// or JSON Schema on `Accept: application/schema+json`.
pub async fn profile(
    State(docs): State<Docs>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(collection): Path<String>,
) -> Result<Response, ApiError> {
    let spec = docs.spec(&collection).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no profile for '{}'",
            collection.chars().take(64).collect::<String>()
        ))
    })?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if accept.contains("application/schema+json") {
        let body = json_schema(spec);
        return Ok((
            [(header::CONTENT_TYPE, "application/schema+json")],
            body.to_string(),
        )
            .into_response());
    }
    let content_type = if accept.contains("application/alps+json") || accept.trim().is_empty() {
        "application/alps+json"
    } else {
        match docs.config.negotiate(&headers) {
            Some(json) if accept.contains(json) => json,
            Some(_) => "application/alps+json",
            None => return Ok(StatusCode::NOT_ACCEPTABLE.into_response()),
        }
    };
    let base = docs.config.base(&base);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        alps(spec, &docs, &base).to_string(),
    )
        .into_response())
}

fn alps(spec: &ResourceSpec, docs: &Docs, base: &BaseUrl) -> Json {
    let representation = format!("{}-representation", spec.item);
    let href = base.href(&format!("/profile/{}", spec.collection));
    let mut properties = vec![json!({ "name": "id", "type": "SEMANTIC" })];
    for field in spec.fields {
        properties.push(match field.kind {
            Kind::Reference { collection, .. } => {
                let target = docs.spec(collection).map_or(collection, |t| t.item);
                json!({ "name": field.name, "type": "SAFE",
                        "rt": base.href(&format!("/profile/{collection}#{target}-representation")) })
            }
            _ => json!({ "name": field.name, "type": "SEMANTIC" }),
        });
    }
    for child in spec.children {
        properties.push(json!({ "name": child.rel, "type": "SAFE",
            "rt": base.href(&format!("/profile/{}#{}-representation", child.spec.collection, child.spec.item)) }));
    }
    // Spring Data REST documents the paging parameters only under their standard names.
    let config = &docs.config;
    let standard = RestConfig::default();
    let paging: Vec<Json> = [
        (
            &config.page_param,
            &standard.page_param,
            "The page to return.",
        ),
        (
            &config.limit_param,
            &standard.limit_param,
            "The size of the page to return.",
        ),
        (
            &config.sort_param,
            &standard.sort_param,
            "The sorting criteria to use to calculate the content of the page.",
        ),
    ]
    .into_iter()
    .map(|(name, standard_name, doc)| {
        if name == standard_name {
            json!({ "name": name, "type": "SEMANTIC", "doc": { "format": "TEXT", "value": doc } })
        } else {
            json!({ "name": name, "type": "SEMANTIC" })
        }
    })
    .collect();
    let rt = format!("#{representation}");
    // Spring Data REST's order: the representation, the collection's methods, the item's.
    let mut descriptors = vec![
        json!({ "id": representation, "href": href, "descriptor": properties }),
        json!({ "id": format!("create-{}", spec.collection), "name": spec.collection, "type": "UNSAFE", "descriptor": [], "rt": rt }),
        json!({ "id": format!("get-{}", spec.collection), "name": spec.collection, "type": "SAFE", "descriptor": paging, "rt": rt }),
        json!({ "id": format!("delete-{}", spec.item), "name": spec.item, "type": "IDEMPOTENT", "descriptor": [], "rt": rt }),
        json!({ "id": format!("get-{}", spec.item), "name": spec.item, "type": "SAFE", "descriptor": [], "rt": rt }),
        json!({ "id": format!("update-{}", spec.item), "name": spec.item, "type": "IDEMPOTENT", "descriptor": [], "rt": rt }),
        json!({ "id": format!("patch-{}", spec.item), "name": spec.item, "type": "UNSAFE", "descriptor": [], "rt": rt }),
    ];
    for search in spec.searches {
        descriptors.push(json!({
            "name": search.path, "type": "SAFE",
            "descriptor": [ { "name": search.param, "type": "SEMANTIC" } ]
        }));
    }
    json!({ "alps": { "version": "1.0", "descriptor": descriptors } })
}

/// `billingDate` → `Billing date`, `ProductItem` → `Product item`: the titles Spring Data
/// REST's JSON Schema gives.
fn title(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_uppercase() {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The JSON Schema type Spring Data REST gives a property of this kind.
fn schema_property(kind: Kind) -> Json {
    match kind {
        Kind::Text { .. } | Kind::Email => json!({ "type": "string" }),
        Kind::Money { .. } | Kind::Rate { .. } => json!({ "type": "number" }),
        Kind::Integer { .. } => json!({ "type": "integer" }),
        Kind::Timestamp => json!({ "type": "string", "format": "date-time" }),
        Kind::Reference { .. } => json!({ "type": "string", "format": "uri" }),
    }
}

fn json_schema(spec: &ResourceSpec) -> Json {
    let mut properties = Map::new();
    properties.insert(
        "id".into(),
        json!({ "title": "Id", "readOnly": false, "type": "integer" }),
    );
    for field in spec.fields {
        let mut schema = schema_property(field.kind);
        schema["title"] = json!(title(field.name));
        schema["readOnly"] = json!(false);
        properties.insert(field.name.into(), schema);
    }
    for child in spec.children {
        properties.insert(
            child.rel.into(),
            json!({ "title": title(child.rel), "readOnly": false, "type": "string", "format": "uri" }),
        );
    }
    json!({
        "title": title(spec.entity),
        "properties": properties,
        "definitions": {},
        "type": "object",
        "$schema": "http://json-schema.org/draft-04/schema#"
    })
}

fn schema_type(field: &Field) -> Json {
    match field.kind {
        Kind::Text { max_len } => json!({ "type": "string", "maxLength": max_len }),
        Kind::Email => json!({ "type": "string", "format": "email" }),
        Kind::Money { min } => {
            json!({ "type": "number", "minimum": min.to_json_number(), "multipleOf": 0.01 })
        }
        Kind::Integer { min, max } => {
            json!({ "type": "integer", "format": "int64", "minimum": min, "maximum": max })
        }
        Kind::Timestamp => json!({ "type": "string", "format": "date-time" }),
        Kind::Rate { max } => {
            json!({ "type": "number", "minimum": 0, "maximum": max.to_json_number(), "multipleOf": 0.0001 })
        }
        Kind::Reference { collection, .. } => {
            json!({ "type": "string", "format": "uri", "description": format!("the URI of an item of {collection}") })
        }
    }
}

/// `GET /v3/api-docs`: OpenAPI 3.0 for every endpoint of every resource.
pub async fn openapi(State(docs): State<Docs>, base: BaseUrl) -> Response {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for resource in docs.resources.iter() {
        let spec = resource.spec;
        describe(spec, &docs.config, &mut paths, &mut schemas);
    }
    schemas.insert(
        "ValidationErrors".into(),
        json!({ "type": "object", "properties": { "errors": { "type": "array", "items": {
            "type": "object", "properties": {
                "entity": { "type": "string" }, "property": { "type": "string" },
                "invalidValue": {}, "message": { "type": "string" } } } } } }),
    );
    schemas.insert(
        "Error".into(),
        json!({ "type": "object", "properties": {
            "timestamp": { "type": "string", "format": "date-time" }, "status": { "type": "integer" },
            "error": { "type": "string" }, "message": { "type": "string" }, "path": { "type": "string" } } }),
    );
    let doc = json!({
        "openapi": "3.0.1",
        "info": { "title": docs.title, "version": env!("CARGO_PKG_VERSION") },
        "servers": [ { "url": base.as_str(), "description": "this instance" } ],
        "paths": paths,
        "components": { "schemas": schemas }
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.to_string(),
    )
        .into_response()
}

fn describe(
    spec: &ResourceSpec,
    config: &RestConfig,
    paths: &mut Map<String, Json>,
    schemas: &mut Map<String, Json>,
) {
    let entity = spec.entity;
    let mut properties = Map::new();
    properties.insert(
        "id".into(),
        json!({ "type": "integer", "format": "int64", "readOnly": true }),
    );
    for field in spec.fields {
        properties.insert(field.name.into(), schema_type(field));
    }
    let required: Vec<&str> = spec
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    schemas.insert(
        entity.into(),
        json!({ "type": "object", "properties": properties, "required": required }),
    );
    let entity_ref = json!({ "$ref": format!("#/components/schemas/{entity}") });
    let hal = |schema: Json| json!({ "application/hal+json": { "schema": schema }, "application/json": { "schema": schema } });
    let error = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let invalid = json!({ "description": "Validation failed", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ValidationErrors" } } } });
    let page_schema = json!({ "type": "object", "properties": {
        "_embedded": { "type": "object", "properties": { spec.collection: { "type": "array", "items": entity_ref } } },
        "_links": { "type": "object" },
        "page": { "type": "object", "properties": {
            "size": { "type": "integer" }, "totalElements": { "type": "integer" },
            "totalPages": { "type": "integer" }, "number": { "type": "integer" } } } } });
    let list_schema = json!({ "type": "object", "properties": {
        "_embedded": { "type": "object", "properties": { spec.collection: { "type": "array", "items": entity_ref } } },
        "_links": { "type": "object" } } });
    let paging_params = json!([
        { "name": "page", "in": "query", "schema": { "type": "integer", "minimum": 0, "default": 0 } },
        { "name": "size", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 20 } },
        { "name": "sort", "in": "query", "description": "property[,asc|desc]; repeatable", "schema": { "type": "array", "items": { "type": "string" } }, "style": "form", "explode": true }
    ]);
    let id_param = json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer", "format": "int64" } }]);
    let body =
        json!({ "required": true, "content": { "application/json": { "schema": entity_ref } } });
    let patch_body = json!({ "required": true, "content": {
        "application/merge-patch+json": { "schema": { "type": "object" } },
        "application/json-patch+json": { "schema": { "type": "array", "items": { "type": "object" } } },
        "application/json": { "schema": { "type": "object" } } } });
    let tag = json!([format!("{entity} Entity")]);
    let c = spec.collection;
    paths.insert(format!("/{c}"), json!({
        "get": { "tags": tag, "operationId": format!("getCollectionResource-{entity}"), "parameters": paging_params,
                 "responses": { "200": { "description": "A page of entities", "content": hal(page_schema.clone()) },
                                "400": error("Unknown sort property") } },
        "post": { "tags": tag, "operationId": format!("postCollectionResource-{entity}"), "requestBody": body,
                  "responses": { "201": { "description": "Created", "content": hal(entity_ref.clone()) },
                                 "400": invalid, "409": error("Duplicate unique value"), "415": error("Unsupported content type") } }
    }));
    paths.insert(format!("/{c}/{{id}}"), json!({
        "parameters": id_param,
        "get": { "tags": tag, "operationId": format!("getItemResource-{entity}"),
                 "responses": { "200": { "description": "The entity", "content": hal(entity_ref.clone()) },
                                "304": { "description": "Not modified (If-None-Match)" }, "404": error("Not found") } },
        "put": { "tags": tag, "operationId": format!("putItemResource-{entity}"), "requestBody": body,
                 "responses": { "200": { "description": "Replaced", "content": hal(entity_ref.clone()) },
                                "201": { "description": "Created" }, "204": { "description": "Replaced, no body requested" },
                                "400": invalid, "412": { "description": "If-Match does not match" } } },
        "patch": { "tags": tag, "operationId": format!("patchItemResource-{entity}"), "requestBody": patch_body,
                   "responses": { "200": { "description": "Patched", "content": hal(entity_ref.clone()) },
                                  "204": { "description": "Patched, no body requested" }, "400": invalid,
                                  "404": error("Not found"), "412": { "description": "If-Match does not match" } } },
        "delete": { "tags": tag, "operationId": format!("deleteItemResource-{entity}"),
                    "responses": { "200": { "description": "Deleted (body when Accept is sent)", "content": hal(entity_ref.clone()) },
                                   "204": { "description": "Deleted" }, "404": error("Not found"),
                                   "409": error("Referenced by other data"), "412": { "description": "If-Match does not match" } } }
    }));
    for search in spec.searches {
        let path = search.template(spec, config);
        let path = path.split('{').next().unwrap_or(&path).to_owned();
        let field = spec
            .searched_field(search.field)
            .expect("searches name declared fields");
        let schema = if search.matching == Matching::In {
            json!({ "type": "array", "items": schema_type(field) })
        } else {
            schema_type(field)
        };
        let mut parameters = vec![json!({ "name": search.param, "in": "query", "schema": schema })];
        let ok = if search.matching == Matching::Unique {
            json!({ "description": "The matching entity", "content": hal(entity_ref.clone()) })
        } else if search.matching == Matching::In {
            json!({ "description": "Every match, in id order", "content": hal(list_schema.clone()) })
        } else {
            if let Json::Array(paging) = &paging_params {
                parameters.extend(paging.iter().cloned());
            }
            json!({ "description": "A page of matches", "content": hal(page_schema.clone()) })
        };
        paths.insert(path, json!({ "get": {
            "tags": tag, "operationId": format!("executeSearch-{entity}-{}", search.path),
            "parameters": parameters, "responses": { "200": ok, "400": error("Bad parameter"), "404": error("No match") } } }));
    }
}
