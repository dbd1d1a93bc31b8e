//! The flat renderings of an Environment: `.properties`, `.yml`/`.yaml` and `.json`.
//!
//! Sources are merged from the lowest precedence to the highest. Indexed keys (`a.list[0]`) are
//! grouped by the text before the first `[`, and the highest source that defines a group
//! replaces the whole list (lists are never merged element by element); they are written after
//! the plain keys. `${…}` placeholders are resolved against the merged properties only.

use indexmap::IndexMap;
use platform::config_client::EnvironmentPropertySource;
use serde_json::{Map, Value};

/// Merges `sources` (highest precedence first) into one ordered property map.
pub(crate) fn merge(sources: &[EnvironmentPropertySource]) -> IndexMap<String, Value> {
    let mut plain: IndexMap<String, Value> = IndexMap::new();
    let mut groups: IndexMap<String, IndexMap<String, Value>> = IndexMap::new();
    for source in sources.iter().rev() {
        let mut seen_here: IndexMap<String, IndexMap<String, Value>> = IndexMap::new();
        for (key, value) in &source.source {
            if key == "spring.profiles" {
                continue;
            }
            match key.find('[') {
                Some(bracket) if bracket > 0 => {
                    seen_here
                        .entry(key[..bracket].to_owned())
                        .or_default()
                        .insert(key.clone(), value.clone());
                }
                _ => {
                    plain.insert(key.clone(), value.clone());
                }
            }
        }
        for (group, entries) in seen_here {
            groups.insert(group, entries);
        }
    }
    for (_, entries) in groups {
        plain.extend(entries);
    }
    plain
}

/// Resolves `${key}` and `${key:default}` in every string value against `properties`
/// itself, by platform's one resolver (Spring's rules: nesting, defaults, `\${` escapes;
/// unresolvable placeholders stay as written).
pub(crate) fn resolve_placeholders(properties: &mut IndexMap<String, Value>) {
    let texts: IndexMap<String, String> = properties
        .iter()
        .map(|(k, v)| (k.clone(), platform::settings::value_text(v)))
        .collect();
    for value in properties.values_mut() {
        if let Value::String(text) = value
            && text.contains("${")
        {
            *text = platform::settings::resolve_placeholders(text, |key| texts.get(key).cloned());
        }
    }
}

/// `key: value` lines, as Spring's `.properties` endpoint writes them.
pub(crate) fn properties_text(properties: &IndexMap<String, Value>) -> String {
    properties
        .iter()
        .map(|(k, v)| format!("{k}: {}", platform::settings::value_text(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Key(String),
    Index(usize),
}

fn split_key(key: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut word = String::new();
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !word.is_empty() {
                    parts.push(Part::Key(std::mem::take(&mut word)));
                }
            }
            '[' => {
                if !word.is_empty() {
                    parts.push(Part::Key(std::mem::take(&mut word)));
                }
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    inner.push(c);
                }
                match inner.parse::<usize>() {
                    Ok(i) if i < 10_000 => parts.push(Part::Index(i)),
                    _ => parts.push(Part::Key(inner)),
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        parts.push(Part::Key(word));
    }
    parts
}

fn join_parts(parts: &[Part]) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Key(k) if out.is_empty() => out.push_str(k),
            Part::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Part::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Rebuilds nested maps and lists from flat keys. Under a scalar parent the remaining key
/// stays compound (`org: 1` and `org.x: 2` give `{"org": 1, "org.x": 2}`).
pub(crate) fn nest(properties: &IndexMap<String, Value>) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in properties {
        let parts = split_key(key);
        if parts.is_empty() {
            continue;
        }
        insert(&mut root, &parts, value.clone());
    }
    root
}

fn insert(node: &mut Value, parts: &[Part], value: Value) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    let container_for = |part: Option<&Part>| match part {
        Some(Part::Index(_)) => Value::Array(Vec::new()),
        _ => Value::Object(Map::new()),
    };
    match (node, first) {
        (Value::Object(map), Part::Key(key)) => {
            if rest.is_empty() {
                map.insert(key.clone(), value);
                return;
            }
            let child = map
                .entry(key.clone())
                .or_insert_with(|| container_for(rest.first()));
            if is_container_for(child, &rest[0]) {
                insert(child, rest, value);
            } else {
                map.insert(join_parts(parts), value);
            }
        }
        (Value::Object(map), Part::Index(_)) => {
            map.insert(join_parts(parts), value);
        }
        (Value::Array(items), Part::Index(index)) => {
            if items.len() <= *index {
                items.resize(index + 1, Value::Null);
            }
            if rest.is_empty() {
                items[*index] = value;
                return;
            }
            if items[*index].is_null() {
                items[*index] = container_for(rest.first());
            }
            if is_container_for(&items[*index], &rest[0]) {
                insert(&mut items[*index], rest, value);
            }
        }
        _ => {}
    }
}

fn is_container_for(node: &Value, part: &Part) -> bool {
    matches!(
        (node, part),
        (Value::Object(_), Part::Key(_)) | (Value::Array(_), Part::Index(_))
    )
}

/// YAML text of a nested value, as SnakeYAML writes it ([`crate::yaml_dump`]); a result whose
/// only key is `document` is printed bare.
pub(crate) fn yaml_text(nested: &Value) -> String {
    let value = match nested {
        Value::Object(map) if map.len() == 1 && map.contains_key("document") => &map["document"],
        other => other,
    };
    crate::yaml_dump::dump(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(name: &str, pairs: Value) -> EnvironmentPropertySource {
        let Value::Object(map) = pairs else {
            panic!("object expected")
        };
        EnvironmentPropertySource {
            name: name.into(),
            source: map.into_iter().collect(),
        }
    }

    #[test]
    fn higher_sources_win_and_lists_are_replaced_whole() {
        let merged = merge(&[
            source("high", json!({"a": 2, "list[0]": "x"})),
            source(
                "low",
                json!({"a": 1, "b": true, "list[0]": "p", "list[1]": "q", "spring.profiles": "dev"}),
            ),
        ]);
        assert_eq!(
            Value::Object(merged.clone().into_iter().collect()),
            json!({"a": 2, "b": true, "list[0]": "x"})
        );
        assert_eq!(properties_text(&merged), "a: 2\nb: true\nlist[0]: x");
    }

    #[test]
    fn placeholders_resolve_against_merged_properties() {
        let mut merged: IndexMap<String, Value> = [
            ("name", json!("app")),
            (
                "greeting",
                json!("hi ${name} ${missing} ${other:dflt} \\${name}"),
            ),
            ("port", json!(80)),
            ("url", json!("http://h:${port}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        resolve_placeholders(&mut merged);
        assert_eq!(merged["greeting"], "hi app ${missing} dflt ${name}");
        assert_eq!(merged["url"], "http://h:80");
    }

    #[test]
    fn nesting_rebuilds_maps_and_lists() {
        let flat: IndexMap<String, Value> = [
            ("a.b", json!(1)),
            ("a.c[0].d", json!("x")),
            ("a.c[1]", json!("y")),
            ("org", json!(1)),
            ("org.x", json!(2)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let nested = nest(&flat);
        assert_eq!(
            nested,
            json!({"a": {"b": 1, "c": [{"d": "x"}, "y"]}, "org": 1, "org.x": 2})
        );
        let yaml = yaml_text(&nested);
        assert!(yaml.starts_with("a:\n  b: 1\n"), "{yaml}");
        assert_eq!(yaml_text(&json!({"document": "text"})), "text\n");
    }
}
