//! The HTTP endpoints of the generic resource and their HAL representations.
//!
//! Status codes follow Spring Data REST: POST → 201 + `Location`; PUT → 200/204, or 201 when it
//! creates; PATCH on a missing item → 404; DELETE → 200 with the deleted item when the client
//! sent an `Accept` header, else 204; HEAD → 204; `If-Match` mismatch → 412 with the current
//! `ETag`; `If-None-Match` hit → 304. Response bodies on writes are returned iff the request
//! carries a non-empty `Accept`, as SDR does by default.

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use serde_json::{Map, Value as Json, json};

use super::{
    Matching, Record, Resource, ResourceSpec, Search,
    docs::{self, Docs},
    input::{self, BodyFormat},
    query::{self, PageRequest},
    store::{self, Filter, WriteOutcome},
};
use crate::{
    error::ApiError,
    hal::{BaseUrl, HAL_JSON, Link},
};

/// How often a PATCH without `If-Match` retries when a concurrent write changed the row. Each
/// round lets at least one of the racing writers through, so this bounds the writers a row can
/// absorb at once before the last one gets a 409.
const PATCH_ATTEMPTS: u32 = 32;

/// The routes of every resource plus `/`, `/profile` and `/v3/api-docs`.
/// The routes of every resource plus `/`, `/profile` and `/v3/api-docs`; a collection named
/// in `creators` gets that `POST` handler instead of the generic one.
pub fn routes(
    resources: Arc<Vec<Resource>>,
    title: &str,
    mut creators: Vec<(&'static str, MethodRouter)>,
) -> Router {
    let docs = Docs {
        resources: resources.clone(),
        title: title.to_owned(),
    };
    let mut router = Router::new()
        .route("/", get(root).head(no_content).options(allow_get))
        .route("/profile", get(docs::profile_index).options(allow_get))
        .route("/profile/{rel}", get(docs::profile).options(allow_get))
        .route("/v3/api-docs", get(docs::openapi))
        .with_state(docs);
    for resource in resources.iter() {
        let creator = creators
            .iter()
            .position(|(collection, _)| *collection == resource.spec.collection)
            .map(|i| creators.swap_remove(i).1);
        router = router.merge(resource_routes(resource.clone(), creator));
    }
    router
}

fn resource_routes(resource: Resource, creator: Option<MethodRouter>) -> Router {
    let spec = resource.spec;
    let collection = format!("/{}", spec.collection);
    let reads = get(list).head(head_collection).options(options_collection);
    let collection_methods: MethodRouter = match creator {
        Some(creator) => reads.with_state(resource.clone()).merge(creator),
        None => reads.post(create).with_state(resource.clone()),
    };
    let mut router = Router::new().route(
        &format!("{collection}/{{id}}"),
        get(read)
            .head(head_item)
            .put(replace)
            .patch(patch)
            .delete(remove)
            .options(options_item),
    );
    if !spec.children.is_empty() {
        router = router.route(&format!("{collection}/{{id}}/{{rel}}"), get(children));
    }
    if !spec.searches.is_empty() {
        router = router
            .route(
                &format!("{collection}/search"),
                get(search_index).head(no_content).options(allow_get),
            )
            .route(
                &format!("{collection}/search/{{name}}"),
                get(search).head(no_content).options(allow_get),
            );
    }
    router
        .with_state(resource)
        .route(&collection, collection_methods)
}

// === representations ===

/// `application/json` when the client asks for plain JSON, else `application/hal+json`.
pub fn media_type(headers: &HeaderMap) -> &'static str {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if accept.contains("application/json") && !accept.contains("hal+json") {
        "application/json"
    } else {
        HAL_JSON
    }
}

/// Whether a write should answer with a body: SDR does iff `Accept` is present and non-empty.
fn wants_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .is_some_and(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
}

fn json_response(status: StatusCode, headers: &HeaderMap, body: &Json) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, media_type(headers))], bytes).into_response()
}

fn item_href(base: &BaseUrl, spec: &ResourceSpec, id: i64) -> String {
    base.href(&format!("/{}/{id}", spec.collection))
}

/// An item as SDR renders it: the entity's properties, then `_links` (self and the item rel).
pub fn item_model(spec: &ResourceSpec, record: &Record, base: &BaseUrl) -> Json {
    let mut map = record.to_json(spec);
    let href = item_href(base, spec, record.id);
    let mut links = Map::new();
    links.insert("self".into(), json!(Link::new(href.clone())));
    links.insert(spec.item.into(), json!(Link::new(href.clone())));
    for child in spec.children {
        links.insert(
            child.rel.into(),
            json!(Link::new(format!("{href}/{}", child.rel))),
        );
    }
    map.insert("_links".into(), Json::Object(links));
    Json::Object(map)
}

fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

fn with_etag(mut response: Response, version: i64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn with_header(mut response: Response, name: header::HeaderName, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// Where a page is served and what else its links carry.
struct PageContext<'a> {
    base: &'a BaseUrl,
    /// The request path (`/customers` or `/customers/search/byName`).
    path: &'a str,
    /// Query parameters kept in every paging link (a search's own parameter).
    fixed_query: &'a str,
    /// Whether to link the search resource (collections do, search results do not).
    search_link: bool,
}

/// A HAL page: `_embedded.<rel>`, paging links, `page` metadata.
fn paged_model(
    spec: &ResourceSpec,
    context: &PageContext<'_>,
    request: &PageRequest,
    records: &[Record],
    total: i64,
) -> Json {
    let PageContext {
        base,
        path,
        fixed_query,
        search_link,
    } = *context;
    let total_pages = if total == 0 {
        0
    } else {
        (total + request.size - 1) / request.size
    };
    let href = |page: i64| {
        let paging = request.query_for(page);
        if fixed_query.is_empty() {
            base.href(&format!("{path}?{paging}"))
        } else {
            base.href(&format!("{path}?{fixed_query}&{paging}"))
        }
    };
    let has_previous = request.page > 0;
    let has_next = request.page + 1 < total_pages;
    let mut links = Map::new();
    if has_previous || has_next {
        links.insert("first".into(), json!(Link::new(href(0))));
    }
    if has_previous {
        links.insert("prev".into(), json!(Link::new(href(request.page - 1))));
    }
    links.insert("self".into(), json!(Link::new(href(request.page))));
    if has_next {
        links.insert("next".into(), json!(Link::new(href(request.page + 1))));
    }
    if has_previous || has_next {
        links.insert(
            "last".into(),
            json!(Link::new(href((total_pages - 1).max(0)))),
        );
    }
    links.insert(
        "profile".into(),
        json!(Link::new(
            base.href(&format!("/profile/{}", spec.collection))
        )),
    );
    if search_link && !spec.searches.is_empty() {
        links.insert(
            "search".into(),
            json!(Link::new(
                base.href(&format!("/{}/search", spec.collection))
            )),
        );
    }
    let items: Vec<Json> = records.iter().map(|r| item_model(spec, r, base)).collect();
    json!({
        "_embedded": { spec.collection: items },
        "_links": links,
        "page": {
            "size": request.size,
            "totalElements": total,
            "totalPages": total_pages,
            "number": request.page,
        }
    })
}

// === conditional requests ===

/// What an `If-Match` header asks for.
enum IfMatch {
    Absent,
    Any,
    Versions(Vec<i64>),
}

fn if_match(headers: &HeaderMap) -> IfMatch {
    let Some(raw) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return IfMatch::Absent;
    };
    if raw.trim() == "*" {
        return IfMatch::Any;
    }
    // Unparseable tags stay in the list as "matches nothing", so the request gets a 412.
    IfMatch::Versions(raw.split(',').map(|t| parse_tag(t).unwrap_or(-1)).collect())
}

fn parse_tag(tag: &str) -> Option<i64> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.trim_matches('"').parse().ok()
}

/// The version a write must find, given the current one; `Err` is the 412.
fn expected_version(headers: &HeaderMap, current: i64) -> Result<Option<i64>, ApiError> {
    match if_match(headers) {
        IfMatch::Absent | IfMatch::Any => Ok(None),
        IfMatch::Versions(versions) if versions.contains(&current) => Ok(Some(current)),
        IfMatch::Versions(_) => Err(ApiError::PreconditionFailed {
            etag: etag(current),
        }),
    }
}

fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|raw| {
            raw.trim() == "*" || raw.split(',').any(|t| parse_tag(t) == Some(version))
        })
}

fn parse_id(spec: &ResourceSpec, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().map_err(|_| {
        let shown: String = raw.chars().take(64).collect();
        ApiError::bad_request(format!(
            "'{shown}' is not a valid {} id: ids are whole numbers",
            spec.entity
        ))
    })
}

fn not_found(spec: &ResourceSpec, id: i64) -> ApiError {
    ApiError::NotFound(format!("{} {id} not found", spec.entity))
}

// === root and common ===

async fn root(State(docs): State<Docs>, base: BaseUrl, headers: HeaderMap) -> Response {
    let mut links = Map::new();
    for resource in docs.resources.iter() {
        let collection = resource.spec.collection;
        links.insert(
            collection.into(),
            json!(Link::templated(
                base.href(&format!("/{collection}{{?page,size,sort}}"))
            )),
        );
    }
    links.insert("profile".into(), json!(Link::new(base.href("/profile"))));
    json_response(StatusCode::OK, &headers, &json!({ "_links": links }))
}

async fn no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn allow_get() -> Response {
    with_header(
        StatusCode::OK.into_response(),
        header::ALLOW,
        "GET,HEAD,OPTIONS",
    )
}

// === collection ===

async fn list(
    State(resource): State<Resource>,
    base: BaseUrl,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let spec = resource.spec;
    let params = query::decode(uri.query());
    let request = query::page_request(spec, &params)?;
    let (records, total) = store::page(&resource, None, &request).await?;
    let body = paged_model(
        spec,
        &PageContext {
            base: &base,
            path: uri.path(),
            fixed_query: "",
            search_link: true,
        },
        &request,
        &records,
        total,
    );
    Ok(json_response(StatusCode::OK, &headers, &body))
}

async fn head_collection(State(resource): State<Resource>, base: BaseUrl) -> Response {
    let href = base.href(&format!("/{}", resource.spec.collection));
    with_header(
        StatusCode::NO_CONTENT.into_response(),
        header::LINK,
        &format!("<{href}>;rel=\"self\""),
    )
}

async fn options_collection() -> Response {
    with_header(
        StatusCode::OK.into_response(),
        header::ALLOW,
        "GET,HEAD,POST,OPTIONS",
    )
}

async fn create(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let spec = resource.spec;
    input::body_format(&headers, false)?;
    let object = input::parse_object(&body)?;
    let values = input::validate(spec, &object)?;
    let record = store::insert(&resource, &values).await?;
    Ok(written(
        StatusCode::CREATED,
        spec,
        &record,
        &base,
        &headers,
        true,
    ))
}

/// The response to a successful write: status, `Location`, `ETag`, body iff `Accept`.
fn written(
    status: StatusCode,
    spec: &ResourceSpec,
    record: &Record,
    base: &BaseUrl,
    headers: &HeaderMap,
    location: bool,
) -> Response {
    let response = if wants_body(headers) {
        json_response(status, headers, &item_model(spec, record, base))
    } else if status == StatusCode::CREATED {
        status.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    let response = with_etag(response, record.version);
    if location {
        with_header(
            response,
            header::LOCATION,
            &item_href(base, spec, record.id),
        )
    } else {
        response
    }
}

// === item ===

async fn read(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    let record = store::find(&resource, id)
        .await?
        .ok_or_else(|| not_found(spec, id))?;
    if not_modified(&headers, record.version) {
        return Ok(with_etag(
            StatusCode::NOT_MODIFIED.into_response(),
            record.version,
        ));
    }
    let response = json_response(StatusCode::OK, &headers, &item_model(spec, &record, &base));
    Ok(with_etag(response, record.version))
}

async fn head_item(
    State(resource): State<Resource>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    let record = store::find(&resource, id)
        .await?
        .ok_or_else(|| not_found(spec, id))?;
    let link = format!("<{}>;rel=\"self\"", item_href(&base, spec, id));
    Ok(with_etag(
        with_header(StatusCode::NO_CONTENT.into_response(), header::LINK, &link),
        record.version,
    ))
}

async fn options_item() -> Response {
    let response = with_header(
        StatusCode::OK.into_response(),
        header::ALLOW,
        "GET,HEAD,PUT,PATCH,DELETE,OPTIONS",
    );
    with_header(
        response,
        header::HeaderName::from_static("accept-patch"),
        "application/merge-patch+json, application/json-patch+json, application/json",
    )
}

async fn replace(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    input::body_format(&headers, false)?;
    let object = input::parse_object(&body)?;
    let values = input::validate(spec, &object)?;
    let Some(current) = store::find(&resource, id).await? else {
        if !matches!(if_match(&headers), IfMatch::Absent) {
            return Err(ApiError::PreconditionFailed {
                etag: String::new(),
            });
        }
        // Like JPA with generated ids, the new row gets the next id; Location tells which.
        let record = store::insert(&resource, &values).await?;
        return Ok(written(
            StatusCode::CREATED,
            spec,
            &record,
            &base,
            &headers,
            true,
        ));
    };
    let expected = expected_version(&headers, current.version)?;
    match store::update(&resource, id, &values, expected).await? {
        WriteOutcome::Done(record) => Ok(written(
            StatusCode::OK,
            spec,
            &record,
            &base,
            &headers,
            true,
        )),
        WriteOutcome::NotFound => Err(not_found(spec, id)),
        WriteOutcome::VersionMismatch(version) => Err(ApiError::PreconditionFailed {
            etag: etag(version),
        }),
    }
}

async fn patch(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    let format = input::body_format(&headers, true)?;
    let document = input::parse_json(&body)?;
    let conditional = !matches!(if_match(&headers), IfMatch::Absent | IfMatch::Any);
    for attempt in 0..PATCH_ATTEMPTS {
        if attempt > 0 {
            // Let the writer that won the last round finish before reading again.
            tokio::time::sleep(std::time::Duration::from_micros(200 * u64::from(attempt))).await;
        }
        let current = store::find(&resource, id)
            .await?
            .ok_or_else(|| not_found(spec, id))?;
        expected_version(&headers, current.version)?;
        let mut object = current.to_json(spec);
        match format {
            BodyFormat::Entity | BodyFormat::MergePatch => match &document {
                Json::Object(patch) => input::merge_patch(&mut object, patch),
                _ => {
                    return Err(ApiError::bad_request(
                        "JSON parse error: the body must be a JSON object",
                    ));
                }
            },
            BodyFormat::JsonPatch => input::json_patch(&mut object, &document)?,
        }
        let values = input::validate(spec, &object)?;
        // Always conditional on the version read above, so a concurrent write is never lost.
        match store::update(&resource, id, &values, Some(current.version)).await? {
            WriteOutcome::Done(record) => {
                return Ok(written(
                    StatusCode::OK,
                    spec,
                    &record,
                    &base,
                    &headers,
                    false,
                ));
            }
            WriteOutcome::NotFound => return Err(not_found(spec, id)),
            WriteOutcome::VersionMismatch(version) if conditional => {
                return Err(ApiError::PreconditionFailed {
                    etag: etag(version),
                });
            }
            WriteOutcome::VersionMismatch(_) => continue,
        }
    }
    Err(ApiError::Conflict(format!(
        "{} {id} is being changed concurrently; retry the request",
        spec.entity
    )))
}

async fn remove(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    let current = store::find(&resource, id)
        .await?
        .ok_or_else(|| not_found(spec, id))?;
    let expected = expected_version(&headers, current.version)?;
    match store::delete(&resource, id, expected).await? {
        WriteOutcome::Done(record) => {
            let response = if wants_body(&headers) {
                json_response(StatusCode::OK, &headers, &item_model(spec, &record, &base))
            } else {
                StatusCode::NO_CONTENT.into_response()
            };
            Ok(response)
        }
        WriteOutcome::NotFound => Err(not_found(spec, id)),
        WriteOutcome::VersionMismatch(version) => Err(ApiError::PreconditionFailed {
            etag: etag(version),
        }),
    }
}

// === associations ===

/// `GET /{collection}/{id}/{rel}`: the child rows pointing at this item, as SDR renders a
/// to-many association (all of them, up to the largest page size, ordered by id).
async fn children(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
    Path((id, rel)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    let child = spec.children.iter().find(|c| c.rel == rel).ok_or_else(|| {
        ApiError::NotFound(format!(
            "{} has no association '{}'",
            spec.entity,
            rel.chars().take(64).collect::<String>()
        ))
    })?;
    store::find(&resource, id)
        .await?
        .ok_or_else(|| not_found(spec, id))?;
    let (_, field) = child.spec.field(child.field).ok_or_else(|| {
        anyhow::anyhow!(
            "association {} names unknown field {}",
            child.rel,
            child.field
        )
    })?;
    let filter = Filter {
        column: field.column,
        kind: field.kind,
        matching: Matching::Equals,
        value: super::Value::Integer(id),
    };
    let request = PageRequest {
        page: 0,
        size: query::MAX_PAGE_SIZE,
        sort: Vec::new(),
    };
    let rows = Resource {
        spec: child.spec,
        db: resource.db.clone(),
    };
    let (records, _) = store::page(&rows, Some(&filter), &request).await?;
    let items: Vec<Json> = records
        .iter()
        .map(|r| item_model(child.spec, r, &base))
        .collect();
    let body = json!({
        "_embedded": { child.spec.collection: items },
        "_links": { "self": Link::new(base.href(&format!("/{}/{id}/{}", spec.collection, child.rel))) }
    });
    Ok(json_response(StatusCode::OK, &headers, &body))
}

// === search ===

/// The templated link of one search, e.g. `…/customers/search/byName{?name,page,size,sort}`.
pub fn search_template(spec: &ResourceSpec, search: &Search) -> String {
    let paging = if search.matching == Matching::Unique {
        ""
    } else {
        ",page,size,sort"
    };
    format!(
        "/{}/search/{}{{?{}{paging}}}",
        spec.collection, search.path, search.param
    )
}

async fn search_index(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
) -> Response {
    let spec = resource.spec;
    let mut links = Map::new();
    for search in spec.searches {
        links.insert(
            search.path.into(),
            json!(Link::templated(base.href(&search_template(spec, search)))),
        );
    }
    links.insert(
        "self".into(),
        json!(Link::new(
            base.href(&format!("/{}/search", spec.collection))
        )),
    );
    json_response(StatusCode::OK, &headers, &json!({ "_links": links }))
}

async fn search(
    State(resource): State<Resource>,
    base: BaseUrl,
    uri: Uri,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let spec = resource.spec;
    let search = spec
        .searches
        .iter()
        .find(|s| s.path == name)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "{} has no search named '{}'",
                spec.entity,
                name.chars().take(64).collect::<String>()
            ))
        })?;
    let (_, field) = spec.field(search.field).ok_or_else(|| {
        anyhow::anyhow!(
            "search {} names unknown field {}",
            search.path,
            search.field
        )
    })?;
    let params = query::decode(uri.query());
    let raw = query::param(&params, search.param);
    let value = match raw {
        Some(raw) => {
            input::convert(field.kind, &Json::String(raw.to_owned())).map_err(|reason| {
                ApiError::bad_request(format!("parameter '{}' {reason}", search.param))
            })?
        }
        None => super::Value::Null,
    };
    let filter = Filter {
        column: field.column,
        kind: field.kind,
        matching: search.matching,
        value,
    };
    if search.matching == Matching::Unique {
        let request = PageRequest {
            page: 0,
            size: 1,
            sort: Vec::new(),
        };
        let (records, _) = store::page(&resource, Some(&filter), &request).await?;
        let record = records.into_iter().next().ok_or_else(|| {
            ApiError::NotFound(format!(
                "no {} with {} '{}'",
                spec.entity,
                search.param,
                raw.unwrap_or("")
            ))
        })?;
        let response = json_response(StatusCode::OK, &headers, &item_model(spec, &record, &base));
        return Ok(with_etag(response, record.version));
    }
    let request = query::page_request(spec, &params)?;
    let (records, total) = if raw.is_some() {
        store::page(&resource, Some(&filter), &request).await?
    } else {
        (Vec::new(), 0) // a missing parameter is null, and null matches nothing
    };
    let fixed: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(search.param, raw.unwrap_or(""))
        .finish();
    let body = paged_model(
        spec,
        &PageContext {
            base: &base,
            path: uri.path(),
            fixed_query: &fixed,
            search_link: false,
        },
        &request,
        &records,
        total,
    );
    Ok(json_response(StatusCode::OK, &headers, &body))
}
