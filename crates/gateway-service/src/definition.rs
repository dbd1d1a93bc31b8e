//! Route definitions as Spring Cloud Gateway writes them: `id`, `uri`, `predicates`, `filters`,
//! `order`, `metadata`, `enabled`, read from settings (`spring.cloud.gateway.routes[i]…`, or the
//! newer `spring.cloud.gateway.server.webflux.routes[i]…`) or from the actuator's JSON.
//!
//! Predicates and filters come in two notations, both kept as a [`Definition`]: the shortcut
//! `Path=/customers/**, /clients/**` (positional arguments stored as `_genkey_0`, `_genkey_1`…)
//! and the expanded `{name: Path, args: {patterns: [...]}}` (argument names in Spring's relaxed
//! canonical form, lists as `patterns.0`, `patterns.1`).

use std::collections::BTreeMap;

use indexmap::IndexMap;
use platform::{
    Settings,
    settings::{Section, canonical_key},
};
use serde_json::{Value, json};

/// The newer property prefix (Spring Cloud Gateway 4.3+); wins over the old one.
pub const NEW_PREFIX: &str = "spring.cloud.gateway.server.webflux";
/// The classic property prefix most tutorials use.
pub const OLD_PREFIX: &str = "spring.cloud.gateway";

/// A predicate or filter: its factory name and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Factory name as written (`Path`, `StripPrefix`).
    pub name: String,
    /// Arguments: `_genkey_N` for shortcut positions, canonical names for expanded ones.
    pub args: IndexMap<String, String>,
}

/// What is wrong with a route definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DefinitionError(pub String);

impl Definition {
    /// Parses the shortcut form `Name=arg1, arg2` (or a bare `Name`).
    pub fn parse_shortcut(text: &str) -> Result<Self, DefinitionError> {
        let text = text.trim();
        let (name, rest) = match text.split_once('=') {
            Some((name, rest)) => (name.trim(), Some(rest)),
            None => (text, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(DefinitionError(format!(
                "`{text}` is not of the form Name=arg1, arg2"
            )));
        }
        let mut args = IndexMap::new();
        if let Some(rest) = rest {
            for (i, arg) in rest.split(',').enumerate() {
                args.insert(format!("_genkey_{i}"), arg.trim().to_owned());
            }
        }
        Ok(Self {
            name: name.to_owned(),
            args,
        })
    }

    /// Builds a definition from a name and expanded arguments (keys are canonicalised).
    pub fn expanded(name: &str, args: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            name: name.trim().to_owned(),
            args: args
                .into_iter()
                .map(|(k, v)| {
                    let key = if k.starts_with("_genkey_") {
                        k
                    } else {
                        canonical_key(&k)
                    };
                    (key, v)
                })
                .collect(),
        }
    }

    /// Whether the arguments are positional (shortcut form).
    pub fn is_shortcut(&self) -> bool {
        self.args.keys().all(|k| k.starts_with("_genkey_"))
    }

    /// The positional argument `position`, or the named argument (any of `names`).
    pub fn arg(&self, names: &[&str], position: usize) -> Option<&str> {
        if self.is_shortcut() {
            return self
                .args
                .get(&format!("_genkey_{position}"))
                .map(String::as_str);
        }
        names
            .iter()
            .find_map(|n| self.args.get(&canonical_key(n)))
            .map(String::as_str)
    }

    /// The positional arguments from `from` on, or the named list argument (`patterns.0`, …,
    /// or a single `pattern`, or a comma-separated value).
    pub fn list(&self, names: &[&str], from: usize) -> Vec<String> {
        if self.is_shortcut() {
            return self
                .args
                .iter()
                .filter_map(|(k, v)| {
                    let n: usize = k.strip_prefix("_genkey_")?.parse().ok()?;
                    (n >= from).then(|| v.clone())
                })
                .filter(|v| !v.is_empty())
                .collect();
        }
        for name in names {
            let key = canonical_key(name);
            let mut indexed: Vec<(usize, String)> = self
                .args
                .iter()
                .filter_map(|(k, v)| {
                    let rest = k.strip_prefix(&key)?.strip_prefix('.')?;
                    Some((rest.parse().ok()?, v.clone()))
                })
                .collect();
            if !indexed.is_empty() {
                indexed.sort_by_key(|(i, _)| *i);
                return indexed.into_iter().map(|(_, v)| v).collect();
            }
            if let Some(value) = self.args.get(&key) {
                return value
                    .split(',')
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .collect();
            }
        }
        Vec::new()
    }

    /// `{"name": …, "args": {…}}`, Spring's RouteDefinition JSON.
    pub fn to_json(&self) -> Value {
        json!({ "name": self.name, "args": self.args })
    }

    /// Reads a definition from JSON: a shortcut string or `{name, args}`.
    pub fn from_json(value: &Value) -> Result<Self, DefinitionError> {
        match value {
            Value::String(text) => Self::parse_shortcut(text),
            Value::Object(map) => {
                let name = map
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| DefinitionError("a definition needs a `name`".into()))?;
                let mut args = Vec::new();
                if let Some(raw) = map.get("args") {
                    flatten_json("", raw, &mut args);
                }
                Ok(Self::expanded(name, args))
            }
            other => Err(DefinitionError(format!(
                "a predicate or filter is a string or an object, not {other}"
            ))),
        }
    }
}

fn flatten_json(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten_json(&join(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_json(&join(&i.to_string()), v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        Value::Null => out.push((prefix.to_owned(), String::new())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// One route as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDefinition {
    /// Unique id.
    pub id: String,
    /// `http://host:port`, `lb://SERVICE`, `forward:/path`, `no://op`.
    pub uri: String,
    /// AND-ed predicates.
    pub predicates: Vec<Definition>,
    /// Filters, in order.
    pub filters: Vec<Definition>,
    /// Lower first; ties keep declaration order.
    pub order: i32,
    /// Free map; `response-timeout`/`connect-timeout` (ms) are read from it.
    pub metadata: IndexMap<String, String>,
    /// Disabled routes are ignored.
    pub enabled: bool,
}

impl RouteDefinition {
    /// Spring's RouteDefinition JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "predicates": self.predicates.iter().map(Definition::to_json).collect::<Vec<_>>(),
            "filters": self.filters.iter().map(Definition::to_json).collect::<Vec<_>>(),
            "uri": self.uri,
            "metadata": self.metadata,
            "order": self.order,
            "enabled": self.enabled,
        })
    }

    /// Reads the actuator's `POST /routes/{id}` body.
    pub fn from_json(id: &str, value: &Value) -> Result<Self, DefinitionError> {
        let map = value
            .as_object()
            .ok_or_else(|| DefinitionError("the route must be a JSON object".into()))?;
        let uri = map
            .get("uri")
            .and_then(Value::as_str)
            .ok_or_else(|| DefinitionError("the route needs a `uri`".into()))?;
        let list = |key: &str| -> Result<Vec<Definition>, DefinitionError> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items.iter().map(Definition::from_json).collect(),
                Some(_) => Err(DefinitionError(format!("`{key}` must be a list"))),
            }
        };
        let order = match map.get("order") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .and_then(|o| i32::try_from(o).ok())
                .ok_or_else(|| DefinitionError("`order` must be an integer".into()))?,
        };
        let mut metadata = IndexMap::new();
        if let Some(Value::Object(meta)) = map.get("metadata") {
            let mut flat = Vec::new();
            flatten_json("", &Value::Object(meta.clone()), &mut flat);
            metadata.extend(flat);
        }
        Ok(Self {
            id: id.to_owned(),
            uri: uri.to_owned(),
            predicates: list("predicates")?,
            filters: list("filters")?,
            order,
            metadata,
            enabled: map.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        })
    }
}

/// The gateway's settings under `sub` (`httpclient`, `discovery.locator`; `""` for the top):
/// under the new prefix, field by field falling back to the old one, as Spring Cloud Gateway
/// 4.3 reads both.
pub fn gateway_section<'a>(settings: &'a Settings, sub: &str) -> Section<'a> {
    let under = |prefix: &str| {
        if sub.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{sub}")
        }
    };
    settings.section(&under(NEW_PREFIX)).or(&under(OLD_PREFIX))
}

/// The properties of a *list* setting (`routes`, `default-filters`), keyed canonically after
/// the list name. A list comes whole from the highest-precedence source that sets it, as Spring
/// binds collections: a config-service list replaces the built-in one instead of merging by
/// index. The new prefix wins over the old one.
pub fn list_setting(settings: &Settings, list: &str) -> IndexMap<String, String> {
    for prefix in [NEW_PREFIX, OLD_PREFIX] {
        let wanted = format!("{}.", canonical_key(&format!("{prefix}.{list}")));
        for source in settings.sources() {
            let keys: Vec<(String, &String)> = source
                .properties
                .keys()
                .filter_map(|raw| {
                    let canonical = canonical_key(raw);
                    let rest = canonical.strip_prefix(&wanted)?.to_owned();
                    Some((keep_metadata_keys(rest, raw), raw))
                })
                .collect();
            if keys.is_empty() {
                continue;
            }
            return keys
                .into_iter()
                .filter_map(|(rest, raw)| Some((rest, settings.get(raw)?)))
                .collect();
        }
    }
    IndexMap::new()
}

/// A route's metadata keys stay as written (`response-timeout`), as Spring binds them into a
/// free map; everything else is in canonical form.
fn keep_metadata_keys(rest: String, raw: &str) -> String {
    let Some((index, after)) = rest.split_once('.') else {
        return rest;
    };
    if !after.starts_with("metadata.") {
        return rest;
    }
    match raw.to_ascii_lowercase().find(".metadata.") {
        Some(at) => format!("{index}.metadata.{}", &raw[at + ".metadata.".len()..]),
        None => rest,
    }
}

/// Groups `0.id`, `0.predicates.1` … by their leading index, in index order.
fn by_index(properties: &IndexMap<String, String>) -> BTreeMap<usize, IndexMap<String, String>> {
    let mut out: BTreeMap<usize, IndexMap<String, String>> = BTreeMap::new();
    for (key, value) in properties {
        let (index, rest) = match key.split_once('.') {
            Some((i, rest)) => (i, rest),
            None => (key.as_str(), ""),
        };
        if let Ok(i) = index.parse::<usize>() {
            out.entry(i)
                .or_default()
                .insert(rest.to_owned(), value.clone());
        }
    }
    out
}

/// The definitions of a list of predicates or filters (`0` shortcut, or `1.name` + `1.args.x`).
fn definitions(properties: &IndexMap<String, String>) -> Result<Vec<Definition>, DefinitionError> {
    by_index(properties)
        .into_values()
        .map(|item| {
            if let Some(text) = item.get("") {
                return Definition::parse_shortcut(text);
            }
            let name = item
                .get("name")
                .ok_or_else(|| DefinitionError("an expanded definition needs a `name`".into()))?;
            let args = item
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("args.")?.to_owned(), v.clone())));
            Ok(Definition::expanded(name, args))
        })
        .collect()
}

fn sub_map(item: &IndexMap<String, String>, name: &str) -> IndexMap<String, String> {
    let prefix = format!("{name}.");
    item.iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_owned(), v.clone())))
        .collect()
}

/// The routes in settings; a broken route is reported (and left out) instead of failing all.
pub fn routes_from_settings(settings: &Settings) -> (Vec<RouteDefinition>, Vec<String>) {
    let mut routes = Vec::new();
    let mut errors = Vec::new();
    for (index, item) in by_index(&list_setting(settings, "routes")) {
        match route_from_properties(index, &item) {
            Ok(route) => routes.push(route),
            Err(e) => errors.push(format!("route [{index}]: {e}")),
        }
    }
    (routes, errors)
}

fn route_from_properties(
    index: usize,
    item: &IndexMap<String, String>,
) -> Result<RouteDefinition, DefinitionError> {
    let id = item
        .get("id")
        .filter(|id| !id.is_empty())
        .cloned()
        .unwrap_or_else(|| format!("route-{index}"));
    let uri = item
        .get("uri")
        .cloned()
        .ok_or_else(|| DefinitionError(format!("route `{id}` has no uri")))?;
    let order = match item.get("order") {
        Some(o) => o
            .trim()
            .parse()
            .map_err(|_| DefinitionError(format!("route `{id}`: order `{o}` is not an integer")))?,
        None => 0,
    };
    let enabled = item
        .get("enabled")
        .is_none_or(|e| !e.trim().eq_ignore_ascii_case("false"));
    Ok(RouteDefinition {
        predicates: definitions(&sub_map(item, "predicates"))?,
        filters: definitions(&sub_map(item, "filters"))?,
        metadata: sub_map(item, "metadata"),
        id,
        uri,
        order,
        enabled,
    })
}

/// A list of predicate or filter definitions under a gateway key
/// (`discovery.locator.predicates`), in either notation.
pub fn list_definitions(
    settings: &Settings,
    list: &str,
) -> Result<Vec<Definition>, DefinitionError> {
    definitions(&list_setting(settings, list))
}

/// `default-filters`, applied to every route.
pub fn default_filters(settings: &Settings) -> Result<Vec<Definition>, DefinitionError> {
    definitions(&list_setting(settings, "default-filters"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::settings::PropertySource;

    fn settings(layers: &[&[(&str, &str)]]) -> Settings {
        Settings::from_sources(
            layers
                .iter()
                .enumerate()
                .map(|(i, props)| {
                    PropertySource::new(
                        format!("layer{i}"),
                        props
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn shortcut_and_expanded_forms() {
        let s = settings(&[&[
            ("spring.cloud.gateway.routes[0].id", "customers"),
            (
                "spring.cloud.gateway.routes[0].uri",
                "lb://CUSTOMER-SERVICE",
            ),
            (
                "spring.cloud.gateway.routes[0].predicates[0]",
                "Path=/api/customers/**, /c/**",
            ),
            (
                "spring.cloud.gateway.routes[0].predicates[1].name",
                "Method",
            ),
            (
                "spring.cloud.gateway.routes[0].predicates[1].args.methods[0]",
                "GET",
            ),
            ("spring.cloud.gateway.routes[0].filters[0]", "StripPrefix=1"),
            (
                "spring.cloud.gateway.routes[0].filters[1].name",
                "RequestRateLimiter",
            ),
            (
                "spring.cloud.gateway.routes[0].filters[1].args.redis-rate-limiter.replenishRate",
                "5",
            ),
            (
                "spring.cloud.gateway.routes[0].metadata.response-timeout",
                "200",
            ),
            ("spring.cloud.gateway.routes[0].order", "-1"),
        ]]);
        let (routes, errors) = routes_from_settings(&s);
        assert!(errors.is_empty(), "{errors:?}");
        let route = &routes[0];
        assert_eq!(route.id, "customers");
        assert_eq!(route.order, -1);
        assert_eq!(
            route.predicates[0].list(&["patterns"], 0),
            ["/api/customers/**", "/c/**"]
        );
        assert_eq!(route.predicates[1].list(&["methods"], 0), ["GET"]);
        assert_eq!(route.filters[0].arg(&["parts"], 0), Some("1"));
        assert_eq!(
            route.filters[1].arg(&["redis-rate-limiter.replenishRate"], 0),
            Some("5")
        );
        assert_eq!(route.metadata["response-timeout"], "200");
    }

    #[test]
    fn a_list_comes_whole_from_one_source_and_the_new_prefix_wins() {
        let s = settings(&[
            &[
                ("spring.cloud.gateway.routes[0].id", "remote"),
                ("spring.cloud.gateway.routes[0].uri", "http://r"),
            ],
            &[
                ("spring.cloud.gateway.routes[0].id", "a"),
                ("spring.cloud.gateway.routes[0].uri", "http://a"),
                ("spring.cloud.gateway.routes[1].id", "b"),
                ("spring.cloud.gateway.routes[1].uri", "http://b"),
            ],
        ]);
        let ids: Vec<String> = routes_from_settings(&s)
            .0
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["remote"]);
        let s = settings(&[
            &[
                ("spring.cloud.gateway.server.webflux.routes[0].id", "new"),
                (
                    "spring.cloud.gateway.server.webflux.routes[0].uri",
                    "http://n",
                ),
            ],
            &[
                ("spring.cloud.gateway.routes[0].id", "old"),
                ("spring.cloud.gateway.routes[0].uri", "http://o"),
            ],
        ]);
        assert_eq!(routes_from_settings(&s).0[0].id, "new");
    }

    #[test]
    fn json_routes_accept_both_notations() {
        let body = json!({
            "uri": "http://127.0.0.1:1",
            "predicates": ["Path=/x/**", {"name": "Header", "args": {"header": "X-A", "regexp": "\\d+"}}],
            "filters": ["StripPrefix=1"],
            "order": 3
        });
        let route = RouteDefinition::from_json("r1", &body).unwrap();
        assert_eq!(route.order, 3);
        assert_eq!(route.predicates[1].arg(&["header"], 0), Some("X-A"));
        assert!(RouteDefinition::from_json("r", &json!({"predicates": []})).is_err());
        assert!(Definition::parse_shortcut("Bad Name=1").is_err());
    }
}
