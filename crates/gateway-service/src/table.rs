//! The compiled route table: routes sorted by `order` (ties keep declaration order; first
//! match wins) and an index from a path's first segment to the routes that can match it, so a
//! lookup tests a handful of routes however many thousands are configured.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use platform::Settings;

use crate::{
    args::parse_duration,
    definition::{Definition, DefinitionError, RouteDefinition},
    filter::Filter,
    pattern::Variables,
    predicate::{Predicate, RequestView},
    resilience::Breakers,
};

/// Where a route sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A fixed backend, `http://host:port` or `https://host:port` (`ws`/`wss` alike): its
    /// scheme and authority.
    Fixed(axum::http::uri::Scheme, axum::http::uri::Authority),
    /// `lb://SERVICE`: balanced over the registry's UP instances.
    Balanced(String),
    /// `forward:/path`: re-dispatched inside the gateway.
    Forward(String),
    /// `no://op`: answered by a filter (RedirectTo, SetStatus).
    NoOp,
}

impl Target {
    fn parse(uri: &str) -> Result<Self, DefinitionError> {
        let uri = uri.trim();
        if let Some(service) = uri
            .strip_prefix("lb://")
            .or_else(|| uri.strip_prefix("lb:ws://"))
            .or_else(|| uri.strip_prefix("lb:http://"))
        {
            let service = service.trim_end_matches('/');
            if service.is_empty() || service.contains('/') {
                return Err(DefinitionError(format!("`{uri}` has no service id")));
            }
            return Ok(Self::Balanced(service.to_owned()));
        }
        if let Some(path) = uri.strip_prefix("forward:") {
            return Ok(Self::Forward(path.to_owned()));
        }
        if uri.starts_with("no://") {
            return Ok(Self::NoOp);
        }
        use axum::http::uri::Scheme;
        for (prefix, scheme) in [
            ("http://", Scheme::HTTP),
            ("ws://", Scheme::HTTP),
            ("https://", Scheme::HTTPS),
            ("wss://", Scheme::HTTPS),
        ] {
            if let Some(rest) = uri.strip_prefix(prefix) {
                let authority = rest.split('/').next().unwrap_or("");
                return match authority.parse::<axum::http::uri::Authority>() {
                    Ok(authority) if !authority.as_str().is_empty() => {
                        Ok(Self::Fixed(scheme, authority))
                    }
                    _ => Err(DefinitionError(format!("`{uri}` has no valid host"))),
                };
            }
        }
        Err(DefinitionError(format!(
            "`{uri}` is not a route URI (http://host:port, lb://SERVICE, forward:/path, no://op)"
        )))
    }
}

/// Where a route came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Settings (local file, config-service, defaults).
    Settings,
    /// `POST /actuator/gateway/routes/{id}`.
    Actuator,
    /// The discovery locator.
    Discovery,
}

/// A route ready to serve.
#[derive(Debug)]
pub struct Route {
    /// What it was built from.
    pub definition: RouteDefinition,
    /// Where it came from.
    pub origin: Origin,
    /// Where requests go.
    pub target: Target,
    /// AND-ed predicates.
    pub predicates: Vec<Predicate>,
    /// Default and route filters, merged in Spring's order.
    pub filters: Vec<Filter>,
    /// How the actuator shows the filters.
    pub filter_descriptions: Vec<String>,
    /// Per-route response timeout: `Some(None)` disables the global one.
    pub response_timeout: Option<Option<Duration>>,
    /// Per-route connect timeout.
    pub connect_timeout: Option<Duration>,
    /// How the route is tagged in the request metrics.
    pub tags: std::sync::Arc<crate::metrics::RouteTags>,
    weight_group: Option<String>,
}

impl Route {
    /// Compiles `definition`, merging `defaults` in (default#1, route#1, default#2, …).
    pub fn compile(
        definition: RouteDefinition,
        origin: Origin,
        defaults: &[Definition],
        settings: &Settings,
        breakers: &Breakers,
    ) -> Result<Self, DefinitionError> {
        let context =
            |e: DefinitionError| DefinitionError(format!("route `{}`: {e}", definition.id));
        let target = Target::parse(&definition.uri).map_err(context)?;
        let predicates = definition
            .predicates
            .iter()
            .map(Predicate::compile)
            .collect::<Result<Vec<_>, _>>()
            .map_err(context)?;
        let mut merged: Vec<(usize, &Definition)> = defaults
            .iter()
            .enumerate()
            .map(|(i, d)| (i + 1, d))
            .chain(
                definition
                    .filters
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (i + 1, d)),
            )
            .collect();
        merged.sort_by_key(|(order, _)| *order);
        let mut filters = Vec::with_capacity(merged.len());
        let mut filter_descriptions = Vec::with_capacity(merged.len());
        for (order, d) in merged {
            let filter = Filter::compile(d, &definition.id).map_err(context)?;
            if let Filter::CircuitBreaker(cb) = &filter {
                let breaker = breakers
                    .get(settings, &cb.name)
                    .map_err(|e| context(DefinitionError(e.to_string())))?;
                let _ = cb.breaker.set(breaker);
            }
            filter_descriptions.push(Filter::describe(d, order, &definition.id));
            filters.push(filter);
        }
        let millis = |key: &str| -> Result<Option<i64>, DefinitionError> {
            let value = definition
                .metadata
                .iter()
                .find(|(k, _)| platform::settings::canonical_key(k) == key)
                .map(|(_, v)| v);
            match value {
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .map(Some)
                    .or_else(|_| parse_duration(v).map(|d| Some(d.as_millis() as i64)))
                    .map_err(context),
                None => Ok(None),
            }
        };
        let response_timeout = millis("responsetimeout")?
            .map(|ms| (ms >= 0).then(|| Duration::from_millis(ms.unsigned_abs())));
        let connect_timeout = millis("connecttimeout")?
            .filter(|ms| *ms > 0)
            .map(|ms| Duration::from_millis(ms.unsigned_abs()));
        let weight_group = predicates.iter().find_map(|p| match p {
            Predicate::Weight { group, .. } => Some(group.clone()),
            _ => None,
        });
        let tags = std::sync::Arc::new(crate::metrics::RouteTags {
            id: definition.id.clone(),
            uri: definition.uri.clone(),
        });
        Ok(Self {
            tags,
            definition,
            origin,
            target,
            predicates,
            filters,
            filter_descriptions,
            response_timeout,
            connect_timeout,
            weight_group,
        })
    }

    /// The route's id.
    pub fn id(&self) -> &str {
        &self.definition.id
    }

    /// The literal first path segments this route can match, or `None` when it could match any
    /// path (no Path predicate, or a pattern starting with a wildcard).
    fn index_keys(&self) -> Option<Vec<String>> {
        let mut keys = Vec::new();
        let mut has_path = false;
        for predicate in &self.predicates {
            if let Predicate::Path { patterns, .. } = predicate {
                has_path = true;
                for p in patterns {
                    keys.push(p.literal_head()?.to_owned());
                }
            }
        }
        has_path.then_some(keys)
    }
}

/// Routes with their index.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Arc<Route>>,
    by_head: HashMap<String, Vec<u32>>,
    unindexed: Vec<u32>,
    weights: HashMap<String, Vec<(u32, u32)>>,
}

impl RouteTable {
    /// Sorts and indexes `routes`.
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by_key(|r| r.definition.order);
        let routes: Vec<Arc<Route>> = routes.into_iter().map(Arc::new).collect();
        let mut by_head: HashMap<String, Vec<u32>> = HashMap::new();
        let mut unindexed = Vec::new();
        let mut weights: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        for (position, route) in routes.iter().enumerate() {
            let position = position as u32;
            match route.index_keys() {
                Some(keys) => {
                    for key in keys {
                        let list = by_head.entry(key).or_default();
                        if list.last() != Some(&position) {
                            list.push(position);
                        }
                    }
                }
                None => unindexed.push(position),
            }
            for p in &route.predicates {
                if let Predicate::Weight { group, weight } = p {
                    weights
                        .entry(group.clone())
                        .or_default()
                        .push((position, *weight));
                }
            }
        }
        Self {
            routes,
            by_head,
            unindexed,
            weights,
        }
    }

    /// Every route, in match order.
    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }

    /// The route called `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| r.id() == id)
    }

    /// The first route whose predicates all hold, with the variables its patterns captured.
    pub fn find(&self, request: &RequestView<'_>, variables: &mut Variables) -> Option<Arc<Route>> {
        let head = request
            .path
            .strip_prefix('/')
            .unwrap_or(request.path)
            .split('/')
            .next()
            .unwrap_or("");
        let indexed: &[u32] = self.by_head.get(head).map_or(&[], Vec::as_slice);
        let (mut a, mut b) = (indexed.iter().peekable(), self.unindexed.iter().peekable());
        let mut chosen: Vec<(&str, u32)> = Vec::new();
        loop {
            let position = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => return None,
            };
            let &position = position?;
            let route = &self.routes[position as usize];
            variables.clear();
            if !route.predicates.iter().all(|p| p.test(request, variables)) {
                continue;
            }
            if let Some(group) = &route.weight_group {
                let pick = match chosen.iter().find(|(g, _)| g == group) {
                    Some((_, pick)) => *pick,
                    None => {
                        let pick = self.pick_weighted(group);
                        chosen.push((group.as_str(), pick));
                        pick
                    }
                };
                if pick != position {
                    continue;
                }
            }
            return Some(route.clone());
        }
    }

    fn pick_weighted(&self, group: &str) -> u32 {
        let members = self.weights.get(group).map_or(&[][..], Vec::as_slice);
        let total: u64 = members.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return members.first().map_or(u32::MAX, |(p, _)| *p);
        }
        let mut roll = next_random() % total;
        for (position, weight) in members {
            if roll < u64::from(*weight) {
                return *position;
            }
            roll -= u64::from(*weight);
        }
        members.last().map_or(u32::MAX, |(p, _)| *p)
    }
}

/// A fast, non-cryptographic random number (splitmix64 over a shared counter).
fn next_random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    let seed = if seed == 0 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        STATE.store(nanos, Ordering::Relaxed);
        nanos
    } else {
        seed
    };
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, Method};
    use indexmap::IndexMap;

    fn route(id: &str, order: i32, predicates: &[&str]) -> Route {
        let definition = RouteDefinition {
            id: id.into(),
            uri: "http://127.0.0.1:1".into(),
            predicates: predicates
                .iter()
                .map(|p| Definition::parse_shortcut(p).unwrap())
                .collect(),
            filters: Vec::new(),
            order,
            metadata: IndexMap::new(),
            enabled: true,
        };
        Route::compile(
            definition,
            Origin::Settings,
            &[],
            &Settings::default(),
            &Breakers::default(),
        )
        .unwrap()
    }

    fn find(table: &RouteTable, method: &Method, path: &str) -> Option<String> {
        let headers = HeaderMap::new();
        let view = RequestView {
            method,
            path,
            query: None,
            headers: &headers,
            host: None,
            peer: None,
        };
        table
            .find(&view, &mut Variables::new())
            .map(|r| r.id().to_owned())
    }

    #[test]
    fn order_then_declaration_and_first_match_wins() {
        let table = RouteTable::new(vec![
            route("catch-all", 10, &["Path=/**"]),
            route("customers-get", 0, &["Path=/customers/**", "Method=GET"]),
            route("customers", 0, &["Path=/customers/**"]),
            route("early", -1, &["Method=DELETE"]),
        ]);
        assert_eq!(
            find(&table, &Method::GET, "/customers/1").as_deref(),
            Some("customers-get")
        );
        assert_eq!(
            find(&table, &Method::POST, "/customers").as_deref(),
            Some("customers")
        );
        assert_eq!(
            find(&table, &Method::DELETE, "/customers/1").as_deref(),
            Some("early")
        );
        assert_eq!(
            find(&table, &Method::GET, "/other").as_deref(),
            Some("catch-all")
        );
        let table = RouteTable::new(vec![route("customers", 0, &["Path=/customers/**"])]);
        assert_eq!(find(&table, &Method::GET, "/other"), None);
    }

    #[test]
    fn thousands_of_routes_are_indexed_by_first_segment() {
        let routes: Vec<Route> = (0..2000)
            .map(|i| route(&format!("r{i}"), 0, &[&format!("Path=/svc{i}/**")]))
            .collect();
        let table = RouteTable::new(routes);
        assert_eq!(table.by_head.len(), 2000);
        assert!(table.unindexed.is_empty());
        assert_eq!(
            find(&table, &Method::GET, "/svc1999/x").as_deref(),
            Some("r1999")
        );
    }

    #[test]
    fn weights_split_one_group() {
        let table = RouteTable::new(vec![
            route("heavy", 0, &["Path=/w/**", "Weight=g, 9"]),
            route("light", 0, &["Path=/w/**", "Weight=g, 1"]),
        ]);
        let mut heavy = 0;
        for _ in 0..1000 {
            if find(&table, &Method::GET, "/w/1").as_deref() == Some("heavy") {
                heavy += 1;
            }
        }
        assert!(
            (800..=980).contains(&heavy),
            "heavy chosen {heavy} times of 1000"
        );
    }
}
