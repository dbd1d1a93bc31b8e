//! The HTTP endpoints of the generic resource and their HAL representations.
//!
//! Status codes follow Spring Data REST: POST → 201 + `Location`; PUT → 200/204, or 201 when it
//! creates; PATCH on a missing item → 404; DELETE → 200 with the deleted item when the client
//! sent an `Accept` header, else 204; HEAD → 204; `If-Match` mismatch → 412 with the current
//! `ETag`; `If-None-Match` hit → 304. Response bodies on writes are returned iff the request
//! carries a non-empty `Accept`, unless `return-body-on-create|update` say otherwise. A missing
//! item, search or association is a 404 without a body; an unreadable request body is a 400
//! `{"message": …}`; an `Accept` naming nothing HAL is a 406.

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{MethodRouter, get, post},
};
use serde_json::{Map, Value as Json, json};

use super::{
    Field, Kind, Matching, Record, Resource, ResourceSpec, Search,
    config::RestConfig,
    docs::{self, Docs},
    input::{self, BodyFormat},
    query::{self, PageRequest},
    store::{self, Filter, WriteOutcome},
};
use crate::{
    error::{ApiError, ErrorDetail},
    hal::{BaseUrl, Link},
    idempotency::Idempotency,
};

/// How often a PATCH without `If-Match` retries when a concurrent write changed the row. Each
/// round lets at least one of the racing writers through, so this bounds the writers a row can
/// absorb at once before the last one gets a 409.
const PATCH_ATTEMPTS: u32 = 32;

/// What a resource handler fails with: Spring Data REST's own answers, or an [`ApiError`].
#[derive(Debug)]
pub enum Failure {
    /// 404 without a body (an item, search or association that does not exist).
    NotFound,
    /// 406 without a body: `Accept` names no representation the resource has.
    NotAcceptable,
    /// 400 `{"message": …}`: the request body cannot be read as the entity.
    Unreadable(String),
    /// Anything else, in the service's common error shapes.
    Api(ApiError),
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self::Api(ApiError::Internal(error))
    }
}

impl Failure {
    /// An error from reading the request body: its 400s become Spring Data REST's message body.
    fn unreadable(error: ApiError) -> Self {
        match error {
            ApiError::BadRequest(message) => Self::Unreadable(message),
            other => Self::Api(other),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let bare = |status: StatusCode| {
            let mut response = status.into_response();
            response.extensions_mut().insert(ErrorDetail::Empty);
            response
        };
        match self {
            Failure::NotFound => bare(StatusCode::NOT_FOUND),
            Failure::NotAcceptable => bare(StatusCode::NOT_ACCEPTABLE),
            Failure::Unreadable(message) => message_body(StatusCode::BAD_REQUEST, &message),
            // Spring Data REST answers integrity and locking conflicts in its own shape too.
            Failure::Api(ApiError::Conflict(message)) => {
                message_body(StatusCode::CONFLICT, &message)
            }
            Failure::Api(error) => error.into_response(),
        }
    }
}

/// Spring Data REST's error body: `{"message": …}`, `application/json`.
fn message_body(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

type Answer = Result<Response, Failure>;

/// A resource and every resource of the service (associations link to the others).
#[derive(Debug, Clone)]
struct Scope {
    resource: Resource,
    all: Arc<Vec<Resource>>,
}

/// The routes of every resource plus the root, `/profile` (under the base path) and
/// `/v3/api-docs`; a collection named in `creators` gets that `POST` handler instead of the
/// generic one. Every collection `POST` goes through `idempotency`'s `Idempotency-Key` guard.
/// A collection named in `read_only` maps none of the generic writes (create, replace, patch,
/// delete, association writes), which then answer 405 with the methods allowed, as Spring Data
/// REST answers a repository whose `save`/`delete` are not exported; its creator stays.
pub fn routes(
    resources: Arc<Vec<Resource>>,
    title: &str,
    mut creators: Vec<(&'static str, MethodRouter)>,
    read_only: &[&str],
    idempotency: Idempotency,
) -> Router {
    let config = resources
        .first()
        .map(|r| r.config.clone())
        .unwrap_or_default();
    let base = config.base_path.clone();
    let docs = Docs {
        resources: resources.clone(),
        title: title.to_owned(),
        config,
    };
    let root = || get(root).head(no_content).options(allow_get);
    let mut router = Router::new();
    if base.is_empty() {
        router = router.route("/", root());
    } else {
        router = router
            .route(&base, root())
            .route(&format!("{base}/"), root());
    }
    let mut router = router
        .route(
            &format!("{base}/profile"),
            get(docs::profile_index).options(allow_get),
        )
        .route(
            &format!("{base}/profile/{{rel}}"),
            get(docs::profile).options(allow_get),
        )
        .route("/v3/api-docs", get(docs::openapi))
        .with_state(docs);
    for resource in resources.iter() {
        let creator = creators
            .iter()
            .position(|(collection, _)| *collection == resource.spec.collection)
            .map(|i| creators.swap_remove(i).1);
        let scope = Scope {
            resource: resource.clone(),
            all: resources.clone(),
        };
        let writes = !read_only.contains(&resource.spec.collection);
        router = router.merge(resource_routes(scope, creator, writes, &idempotency));
    }
    router
}

fn resource_routes(
    scope: Scope,
    creator: Option<MethodRouter>,
    writes: bool,
    idempotency: &Idempotency,
) -> Router {
    let resource = scope.resource.clone();
    let collection = format!("{}/{}", resource.config.base_path, resource.spec.collection);
    let creator = creator.or_else(|| writes.then(|| post(create).with_state(resource.clone())));
    let reads = get(list).head(head_collection);
    let reads = if creator.is_some() {
        reads.options(options_collection)
    } else {
        reads.options(allow_reads)
    };
    let mut collection_methods: MethodRouter = reads.with_state(resource.clone());
    if let Some(creator) = creator {
        collection_methods = collection_methods.merge(creator.layer(
            middleware::from_fn_with_state(idempotency.clone(), crate::idempotency::guard),
        ));
    }
    let mut association_methods = get(association);
    let mut item_methods = get(read).head(head_item);
    if writes {
        association_methods = association_methods.put(link_association);
        item_methods = item_methods
            .put(replace)
            .patch(patch)
            .delete(remove)
            .options(options_item);
    } else {
        item_methods = item_methods.options(allow_reads);
    }
    let associations = Router::new()
        .route(
            &format!("{collection}/{{id}}/{{property}}"),
            association_methods,
        )
        .route(
            &format!("{collection}/{{id}}/{{property}}/{{child}}"),
            get(association_item),
        )
        .with_state(scope);
    Router::new()
        .route(&format!("{collection}/{{id}}"), item_methods)
        .route(
            &format!("{collection}/search"),
            get(search_index).head(no_content).options(allow_get),
        )
        .route(
            &format!("{collection}/search/{{name}}"),
            get(search).head(no_content).options(allow_get),
        )
        .with_state(resource)
        .route(&collection, collection_methods)
        .merge(associations)
}

// === representations ===

/// Whether the request carries a non-empty `Accept` header (Spring Data REST's default rule
/// for answering writes with a body).
fn has_accept(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .is_some_and(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
}

/// The media type of the answer, or the 406.
fn media<'a>(config: &'a RestConfig, headers: &HeaderMap) -> Result<&'a str, Failure> {
    config.negotiate(headers).ok_or(Failure::NotAcceptable)
}

fn json_response(status: StatusCode, media: &str, body: &Json) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    if let Ok(value) = HeaderValue::from_str(media) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn item_href(base: &BaseUrl, spec: &ResourceSpec, id: i64) -> String {
    base.href(&format!("/{}/{id}", spec.collection))
}

/// An item as SDR renders it: the entity's properties, then `_links` (self, the item rel, one
/// link per association). `base` already includes the base path.
pub fn item_model(spec: &ResourceSpec, record: &Record, base: &BaseUrl) -> Json {
    let mut map = record.to_json(spec);
    let href = item_href(base, spec, record.id);
    let mut links = Map::new();
    links.insert("self".into(), json!(Link::new(href.clone())));
    links.insert(spec.item.into(), json!(Link::new(href.clone())));
    for field in spec.fields.iter().filter(|f| !f.kind.is_property()) {
        links.insert(
            field.name.into(),
            json!(Link::new(format!("{href}/{}", field.name))),
        );
    }
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
    /// The request path (`/customers` or `/customers/search/byName`), base path included.
    path: &'a str,
    /// The request's own parameters other than paging and sorting, kept in every paging link.
    other_params: String,
    /// Whether to link the profile and the search resource (collections do, search results
    /// do not).
    collection_links: bool,
}

impl<'a> PageContext<'a> {
    fn new(base: &'a BaseUrl, uri: &'a Uri, config: &RestConfig, collection_links: bool) -> Self {
        // Kept as the client wrote them (`sort=name,desc` stays unencoded, as Spring keeps it).
        let paging = [&config.page_param, &config.limit_param, &config.sort_param];
        let other: Vec<&str> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let key = pair.split('=').next().unwrap_or("");
                let key = url::form_urlencoded::parse(key.as_bytes())
                    .next()
                    .map(|(k, _)| k.into_owned())
                    .unwrap_or_default();
                !paging.iter().any(|p| **p == key)
            })
            .collect();
        Self {
            base,
            path: uri.path(),
            other_params: other.join("&"),
            collection_links,
        }
    }
}

/// A HAL page: `_embedded.<rel>`, paging links, `page` metadata.
fn paged_model(
    resource: &Resource,
    context: &PageContext<'_>,
    request: &PageRequest,
    records: &[Record],
    total: i64,
) -> Json {
    let (spec, config) = (resource.spec, &*resource.config);
    let base = config.base(context.base);
    let total_pages = if total == 0 {
        0
    } else {
        (total + request.size - 1) / request.size
    };
    let href = |page: i64| {
        let paging = request.query_for(page, config);
        if context.other_params.is_empty() {
            context.base.href(&format!("{}?{paging}", context.path))
        } else {
            let others = &context.other_params;
            context
                .base
                .href(&format!("{}?{others}&{paging}", context.path))
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
    if context.collection_links {
        links.insert(
            "profile".into(),
            json!(Link::new(
                base.href(&format!("/profile/{}", spec.collection))
            )),
        );
        if !spec.searches.is_empty() {
            links.insert(
                "search".into(),
                json!(Link::new(
                    base.href(&format!("/{}/search", spec.collection))
                )),
            );
        }
    }
    let items: Vec<Json> = records.iter().map(|r| item_model(spec, r, &base)).collect();
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

/// `If-None-Match` naming the current version (Spring compares tags only; `*` is no match).
fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|raw| raw.split(',').any(|t| parse_tag(t) == Some(version)))
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

async fn found(resource: &Resource, id: i64) -> Result<Record, Failure> {
    store::find(resource, id).await?.ok_or(Failure::NotFound)
}

// === root and common ===

async fn root(State(docs): State<Docs>, base: BaseUrl, headers: HeaderMap) -> Answer {
    let config = &docs.config;
    let media = media(config, &headers)?;
    let base = config.base(&base);
    let mut links = Map::new();
    for resource in docs.resources.iter() {
        let collection = resource.spec.collection;
        links.insert(
            collection.into(),
            json!(Link::templated(base.href(&format!(
                "/{collection}{{?{}}}",
                config.paging_template()
            )))),
        );
    }
    links.insert("profile".into(), json!(Link::new(base.href("/profile"))));
    Ok(json_response(
        StatusCode::OK,
        media,
        &json!({ "_links": links }),
    ))
}

async fn no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `OPTIONS` on the read-only resources (root, searches, profiles): `Allow: GET`.
pub(crate) async fn allow_get() -> Response {
    with_header(StatusCode::OK.into_response(), header::ALLOW, "GET")
}

// === collection ===

async fn list(
    State(resource): State<Resource>,
    base: BaseUrl,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    let media = match media(&resource.config, &headers) {
        Err(Failure::NotAcceptable) if accepts_uri_list(&headers) => None,
        media => Some(media?),
    };
    let params = query::decode(uri.query());
    let request = query::page_request(resource.spec, &params, &resource.config);
    let (records, total) = store::page(&resource, None, &request).await?;
    let context = PageContext::new(&base, &uri, &resource.config, true);
    let body = paged_model(&resource, &context, &request, &records, total);
    Ok(match media {
        Some(media) => json_response(StatusCode::OK, media, &body),
        None => uri_list(&body),
    })
}

/// Whether `Accept` asks for `text/uri-list`, the compact collection Spring Data REST serves.
fn accepts_uri_list(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|range| {
                range
                    .split(';')
                    .next()
                    .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/uri-list"))
            })
        })
}

/// The compact collection, as Spring Data REST writes it: the page's links (templates
/// expanded to their plain form), then each item's `self`, one URI per line. Spring sends it
/// without a `Content-Type`.
fn uri_list(page: &Json) -> Response {
    let plain = |href: &str| href.split('{').next().unwrap_or(href).to_owned();
    let mut lines: Vec<String> = page["_links"]
        .as_object()
        .into_iter()
        .flat_map(|links| links.values())
        .filter_map(|link| link["href"].as_str().map(plain))
        .collect();
    lines.extend(
        page["_embedded"]
            .as_object()
            .into_iter()
            .flat_map(|embedded| embedded.values())
            .filter_map(Json::as_array)
            .flatten()
            .filter_map(|item| item["_links"]["self"]["href"].as_str().map(plain)),
    );
    let mut text = lines.join("\n");
    text.push('\n');
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().remove(header::CONTENT_TYPE);
    response
}

async fn head_collection(State(resource): State<Resource>, base: BaseUrl) -> Response {
    let base = resource.config.base(&base);
    let href = base.href(&format!("/{}", resource.spec.collection));
    with_header(
        StatusCode::NO_CONTENT.into_response(),
        header::LINK,
        &format!("<{href}>;rel=\"self\""),
    )
}

/// `OPTIONS` of a read-only collection or item.
async fn allow_reads() -> Response {
    with_header(
        StatusCode::OK.into_response(),
        header::ALLOW,
        "GET,HEAD,OPTIONS",
    )
}

async fn options_collection() -> Response {
    with_header(
        StatusCode::OK.into_response(),
        header::ALLOW,
        "GET,HEAD,POST,OPTIONS",
    )
}

/// Reads a write's body as an entity: its values, with associations to rows that do not exist
/// read as null (so a required one is a validation error, as Spring Data REST reports it).
async fn entity_values(
    resource: &Resource,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<super::Value>, Failure> {
    input::body_format(headers, false).map_err(Failure::unreadable)?;
    let object = input::parse_object(body).map_err(Failure::unreadable)?;
    let mut values = input::validate(resource.spec, &object).map_err(Failure::unreadable)?;
    dangling_references_to_null(resource, &mut values).await?;
    Ok(values)
}

async fn dangling_references_to_null(
    resource: &Resource,
    values: &mut [super::Value],
) -> Result<(), Failure> {
    let spec = resource.spec;
    let mut dangling = Vec::new();
    for (field, value) in spec.fields.iter().zip(values.iter_mut()) {
        if let (Kind::Reference { table, .. }, super::Value::Integer(id)) = (field.kind, &*value)
            && !store::exists(&resource.db, table, *id).await?
        {
            *value = super::Value::Null;
            if field.required {
                dangling.push(crate::error::FieldError {
                    entity: spec.entity.to_owned(),
                    property: field.name.to_owned(),
                    invalid_value: Json::Null,
                    message: "must not be null".into(),
                });
            }
        }
    }
    if dangling.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(dangling).into())
    }
}

async fn create(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let values = entity_values(&resource, &headers, &body).await?;
    let record = store::insert(&resource, &values).await?;
    written(&resource, Write::Create, &record, &base, &headers)
}

/// Which kind of write answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// POST, or a PUT that created: 201.
    Create,
    /// PUT on an existing item: 200 or 204, with `Location`.
    Replace,
    /// PATCH: 200 or 204.
    Patch,
}

/// The response to a successful write: status, `Location`, `ETag`, and the body when the
/// settings (or, by default, an `Accept` header) ask for it.
fn written(
    resource: &Resource,
    write: Write,
    record: &Record,
    base: &BaseUrl,
    headers: &HeaderMap,
) -> Answer {
    let (spec, config) = (resource.spec, &*resource.config);
    let base = config.base(base);
    let configured = match write {
        Write::Create => config.return_body_on_create,
        Write::Replace | Write::Patch => config.return_body_on_update,
    };
    let body = configured.unwrap_or_else(|| has_accept(headers));
    let status = match (write, body) {
        (Write::Create, _) => StatusCode::CREATED,
        (_, true) => StatusCode::OK,
        (_, false) => StatusCode::NO_CONTENT,
    };
    let response = if body {
        let media = config
            .negotiate(headers)
            .unwrap_or(&config.default_media_type);
        with_etag(
            json_response(status, media, &item_model(spec, record, &base)),
            record.version,
        )
    } else if write == Write::Create {
        // Spring Data REST sends no ETag with a bodiless 201.
        status.into_response()
    } else {
        with_etag(status.into_response(), record.version)
    };
    Ok(if write == Write::Patch {
        response
    } else {
        with_header(
            response,
            header::LOCATION,
            &item_href(&base, spec, record.id),
        )
    })
}

// === item ===

async fn read(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    let record = found(&resource, id).await?;
    if not_modified(&headers, record.version) {
        return Ok(with_etag(
            StatusCode::NOT_MODIFIED.into_response(),
            record.version,
        ));
    }
    let Some(media) = resource.config.negotiate(&headers) else {
        return Ok(with_etag(
            Failure::NotAcceptable.into_response(),
            record.version,
        ));
    };
    let base = resource.config.base(&base);
    let response = json_response(StatusCode::OK, media, &item_model(spec, &record, &base));
    Ok(with_etag(response, record.version))
}

async fn head_item(
    State(resource): State<Resource>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> Answer {
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    let record = found(&resource, id).await?;
    let base = resource.config.base(&base);
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
) -> Answer {
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    let values = entity_values(&resource, &headers, &body).await?;
    let Some(current) = store::find(&resource, id).await? else {
        if !matches!(if_match(&headers), IfMatch::Absent) {
            return Err(ApiError::PreconditionFailed {
                etag: String::new(),
            }
            .into());
        }
        // Like JPA with generated ids, the new row gets the next id; Location tells which.
        let record = store::insert(&resource, &values).await?;
        return written(&resource, Write::Create, &record, &base, &headers);
    };
    let expected = expected_version(&headers, current.version)?;
    if current.values == values {
        // Nothing changes, so the version stays (JPA writes nothing for a clean entity).
        return written(&resource, Write::Replace, &current, &base, &headers);
    }
    match store::update(&resource, id, &values, expected).await? {
        WriteOutcome::Done(record) => written(&resource, Write::Replace, &record, &base, &headers),
        WriteOutcome::NotFound => Err(Failure::NotFound),
        WriteOutcome::VersionMismatch(version) => Err(ApiError::PreconditionFailed {
            etag: etag(version),
        }
        .into()),
    }
}

async fn patch(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    let format = input::body_format(&headers, true).map_err(Failure::unreadable)?;
    let document = input::parse_json(&body).map_err(Failure::unreadable)?;
    let conditional = !matches!(if_match(&headers), IfMatch::Absent | IfMatch::Any);
    for attempt in 0..PATCH_ATTEMPTS {
        if attempt > 0 {
            // Let the writer that won the last round finish before reading again.
            tokio::time::sleep(std::time::Duration::from_micros(200 * u64::from(attempt))).await;
        }
        let current = found(&resource, id).await?;
        expected_version(&headers, current.version)?;
        let mut object = current.to_json(spec);
        match format {
            BodyFormat::Entity | BodyFormat::MergePatch => match &document {
                Json::Object(patch) => input::merge_patch(&mut object, patch),
                _ => {
                    return Err(Failure::Unreadable(
                        "JSON parse error: the body must be a JSON object".into(),
                    ));
                }
            },
            BodyFormat::JsonPatch => {
                input::json_patch(&mut object, &document).map_err(Failure::unreadable)?;
            }
        }
        // Associations are links, not properties: a patch that does not name one keeps it.
        for (field, value) in spec.fields.iter().zip(&current.values) {
            if !field.kind.is_property() && !object.contains_key(field.name) {
                object.insert(field.name.into(), association_uri(field.kind, value));
            }
        }
        let mut values = input::validate(spec, &object).map_err(Failure::unreadable)?;
        dangling_references_to_null(&resource, &mut values).await?;
        if current.values == values {
            return written(&resource, Write::Patch, &current, &base, &headers);
        }
        // Always conditional on the version read above, so a concurrent write is never lost.
        match store::update(&resource, id, &values, Some(current.version)).await? {
            WriteOutcome::Done(record) => {
                return written(&resource, Write::Patch, &record, &base, &headers);
            }
            WriteOutcome::NotFound => return Err(Failure::NotFound),
            WriteOutcome::VersionMismatch(version) if conditional => {
                return Err(ApiError::PreconditionFailed {
                    etag: etag(version),
                }
                .into());
            }
            WriteOutcome::VersionMismatch(_) => continue,
        }
    }
    Err(ApiError::Conflict(format!(
        "{} {id} is being changed concurrently; retry the request",
        spec.entity
    ))
    .into())
}

/// The path of the item an association value points at (`/bills/1`), as a request would
/// name it.
fn association_uri(kind: Kind, value: &super::Value) -> Json {
    match (kind, value) {
        (Kind::Reference { collection, .. }, super::Value::Integer(id)) => {
            Json::String(format!("/{collection}/{id}"))
        }
        _ => Json::Null,
    }
}

async fn remove(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    let current = found(&resource, id).await?;
    let expected = expected_version(&headers, current.version)?;
    match store::delete(&resource, id, expected).await? {
        WriteOutcome::Done(record) => {
            if has_accept(&headers) {
                let media = resource
                    .config
                    .negotiate(&headers)
                    .unwrap_or(&resource.config.default_media_type);
                let base = resource.config.base(&base);
                Ok(json_response(
                    StatusCode::OK,
                    media,
                    &item_model(spec, &record, &base),
                ))
            } else {
                Ok(StatusCode::NO_CONTENT.into_response())
            }
        }
        WriteOutcome::NotFound => Err(Failure::NotFound),
        WriteOutcome::VersionMismatch(version) => Err(ApiError::PreconditionFailed {
            etag: etag(version),
        }
        .into()),
    }
}

// === associations ===

/// The resource exported for `collection` in this service.
fn target(scope: &Scope, collection: &str) -> Option<Resource> {
    scope
        .all
        .iter()
        .find(|r| r.spec.collection == collection)
        .cloned()
}

/// `GET /{collection}/{id}/{property}`: a to-many association as the collection of the items
/// pointing at this one (all of them, ordered by id), a to-one association as the item it
/// points at; 404 for anything else.
async fn association(
    State(scope): State<Scope>,
    base: BaseUrl,
    headers: HeaderMap,
    Path((id, property)): Path<(String, String)>,
) -> Answer {
    let resource = &scope.resource;
    let (spec, config) = (resource.spec, &*resource.config);
    let id = parse_id(spec, &id)?;
    let record = found(resource, id).await?;
    let media = media(config, &headers)?;
    let base = config.base(&base);
    if let Some(child) = spec.children.iter().find(|c| c.rel == property) {
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
            size: i64::from(u16::MAX),
            sort: Vec::new(),
        };
        let children = Resource {
            spec: child.spec,
            db: resource.db.clone(),
            config: resource.config.clone(),
        };
        let (records, _) = store::page(&children, Some(&filter), &request).await?;
        let items: Vec<Json> = records
            .iter()
            .map(|r| item_model(child.spec, r, &base))
            .collect();
        let self_href = base.href(&format!("/{}/{id}/{}", spec.collection, child.rel));
        let body = json!({
            "_embedded": { child.spec.collection: items },
            "_links": { "self": Link::new(self_href) }
        });
        return Ok(json_response(StatusCode::OK, media, &body));
    }
    let Some((index, field)) = spec.field(&property) else {
        return Err(Failure::NotFound);
    };
    let (Kind::Reference { collection, .. }, super::Value::Integer(target_id)) =
        (field.kind, &record.values[index])
    else {
        return Err(Failure::NotFound);
    };
    let target = target(&scope, collection).ok_or(Failure::NotFound)?;
    let item = found(&target, *target_id).await?;
    Ok(json_response(
        StatusCode::OK,
        media,
        &item_model(target.spec, &item, &base),
    ))
}

/// `PUT /{collection}/{id}/{property}` with `Content-Type: text/uri-list`: points a to-one
/// association at the item named by the body's URI (204).
async fn link_association(
    State(scope): State<Scope>,
    headers: HeaderMap,
    Path((id, property)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let resource = &scope.resource;
    let spec = resource.spec;
    let id = parse_id(spec, &id)?;
    let current = found(resource, id).await?;
    let Some((index, field)) = spec.field(&property) else {
        return Err(Failure::NotFound);
    };
    let Kind::Reference { collection, table } = field.kind else {
        return Err(Failure::NotFound);
    };
    let is_uri_list = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/uri-list"));
    if !is_uri_list {
        return Err(Failure::Unreadable(
            "an association is set with Content-Type: text/uri-list".into(),
        ));
    }
    let text = String::from_utf8_lossy(&body);
    let uri = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let target_id = input::reference_id(collection, uri).ok_or_else(|| {
        Failure::Unreadable(format!("'{uri}' is not the URI of an item of {collection}"))
    })?;
    if !store::exists(&resource.db, table, target_id).await? {
        return Err(Failure::Unreadable(format!("no item at '{uri}'")));
    }
    let mut values = current.values.clone();
    values[index] = super::Value::Integer(target_id);
    match store::update(resource, id, &values, Some(current.version)).await? {
        WriteOutcome::Done(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        WriteOutcome::NotFound => Err(Failure::NotFound),
        WriteOutcome::VersionMismatch(_) => Err(ApiError::Conflict(format!(
            "{} {id} was changed concurrently; retry the request",
            spec.entity
        ))
        .into()),
    }
}

/// `GET /{collection}/{id}/{rel}/{child}`: one item of a to-many association.
async fn association_item(
    State(scope): State<Scope>,
    base: BaseUrl,
    headers: HeaderMap,
    Path((id, rel, child_id)): Path<(String, String, String)>,
) -> Answer {
    let resource = &scope.resource;
    let (spec, config) = (resource.spec, &*resource.config);
    let id = parse_id(spec, &id)?;
    let child = spec
        .children
        .iter()
        .find(|c| c.rel == rel)
        .ok_or(Failure::NotFound)?;
    let child_id = parse_id(child.spec, &child_id)?;
    let children = Resource {
        spec: child.spec,
        db: resource.db.clone(),
        config: resource.config.clone(),
    };
    let record = found(&children, child_id).await?;
    let belongs = child
        .spec
        .field(child.field)
        .is_some_and(|(i, _)| record.values[i] == super::Value::Integer(id));
    if !belongs {
        return Err(Failure::NotFound);
    }
    let media = media(config, &headers)?;
    let base = config.base(&base);
    Ok(json_response(
        StatusCode::OK,
        media,
        &item_model(child.spec, &record, &base),
    ))
}

// === search ===

async fn search_index(
    State(resource): State<Resource>,
    base: BaseUrl,
    headers: HeaderMap,
) -> Answer {
    let (spec, config) = (resource.spec, &*resource.config);
    if spec.searches.is_empty() {
        return Err(Failure::NotFound);
    }
    let media = media(config, &headers)?;
    let mut links = Map::new();
    for search in spec.searches {
        links.insert(
            search.path.into(),
            json!(Link::templated(base.href(&search.template(spec, config)))),
        );
    }
    let base = config.base(&base);
    links.insert(
        "self".into(),
        json!(Link::new(
            base.href(&format!("/{}/search", spec.collection))
        )),
    );
    Ok(json_response(
        StatusCode::OK,
        media,
        &json!({ "_links": links }),
    ))
}

async fn search(
    State(resource): State<Resource>,
    base: BaseUrl,
    uri: Uri,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Answer {
    let (spec, config) = (resource.spec, &*resource.config);
    let search = spec
        .searches
        .iter()
        .find(|s| s.path == name)
        .ok_or(Failure::NotFound)?;
    let field = spec.searched_field(search.field).ok_or_else(|| {
        anyhow::anyhow!(
            "search {} names unknown field {}",
            search.path,
            search.field
        )
    })?;
    let media = media(config, &headers)?;
    let params = query::decode(uri.query());
    if search.matching == Matching::In {
        return list_search(&resource, search, field, &params, &base, &uri, media).await;
    }
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
        let record = records.into_iter().next().ok_or(Failure::NotFound)?;
        let base = config.base(&base);
        let response = json_response(StatusCode::OK, media, &item_model(spec, &record, &base));
        return Ok(with_etag(response, record.version));
    }
    let request = query::page_request(spec, &params, config);
    let (records, total) = if raw.is_some() {
        store::page(&resource, Some(&filter), &request).await?
    } else {
        (Vec::new(), 0) // a missing parameter is null, and null matches nothing
    };
    let context = PageContext::new(&base, &uri, config, false);
    let body = paged_model(&resource, &context, &request, &records, total);
    Ok(json_response(StatusCode::OK, media, &body))
}

/// A search by membership (`/products/search/byIdIn?ids=1,2,3`): every match in one
/// statement, as Spring Data REST renders a `List` — `_embedded` and a `self` link to the
/// request as written, no paging. Values come comma-separated or repeated; blanks are skipped.
async fn list_search(
    resource: &Resource,
    search: &Search,
    field: &'static Field,
    params: &[(String, String)],
    base: &BaseUrl,
    uri: &Uri,
    media: &str,
) -> Answer {
    let (spec, config) = (resource.spec, &*resource.config);
    let mut values = Vec::new();
    for raw in params
        .iter()
        .filter(|(k, _)| k == search.param)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        let value =
            input::convert(field.kind, &Json::String(raw.to_owned())).map_err(|reason| {
                ApiError::bad_request(format!("parameter '{}' {reason}", search.param))
            })?;
        if !values.contains(&value) {
            values.push(value);
        }
    }
    let records = store::find_in(resource, field.column, field.kind, &values).await?;
    let items_base = config.base(base);
    let items: Vec<Json> = records
        .iter()
        .map(|record| item_model(spec, record, &items_base))
        .collect();
    let request = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or(uri.path());
    let body = json!({
        "_embedded": { spec.collection: items },
        "_links": { "self": Link::new(base.href(request)) },
    });
    Ok(json_response(StatusCode::OK, media, &body))
}
