//! YAML to flat Spring properties, as Spring's `YamlProcessor` does it.
//!
//! Maps become dotted keys, sequences `key[i]`, scalars their text, `~`/null an empty string.
//! A multi-document file yields one [`YamlDocument`] per document, each remembering the
//! profile condition (`spring.config.activate.on-profile`, or the legacy `spring.profiles`)
//! under which it applies. The config-service serves these same documents.

use indexmap::IndexMap;
use yaml_rust2::{Yaml, YamlLoader};

/// One YAML document flattened to properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlDocument {
    /// The profile expression this document is limited to, if any (`dev`, `dev,prod`, `!prod`).
    pub on_profile: Option<String>,
    /// The document's properties in file order.
    pub properties: IndexMap<String, String>,
}

impl YamlDocument {
    /// Whether the document applies when `active` profiles are on.
    ///
    /// Supports a comma list of alternatives, each optionally negated with `!`.
    pub fn applies_to(&self, active: &[String]) -> bool {
        let Some(expr) = &self.on_profile else {
            return true;
        };
        expr.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .any(|p| match p.strip_prefix('!') {
                Some(negated) => !active.iter().any(|a| a == negated.trim()),
                None => active.iter().any(|a| a == p),
            })
    }
}

/// Parses a (possibly multi-document) YAML text into flat documents.
///
/// Empty documents are dropped. The error is a one-line description with the position.
pub fn parse_yaml_documents(text: &str) -> Result<Vec<YamlDocument>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        let mut properties = IndexMap::new();
        match &doc {
            Yaml::Hash(_) => flatten(&doc, String::new(), &mut properties),
            Yaml::Null | Yaml::BadValue => continue,
            _ => return Err("a configuration document must be a mapping of keys".into()),
        }
        if properties.is_empty() {
            continue;
        }
        let on_profile = properties
            .get("spring.config.activate.on-profile")
            .or_else(|| properties.get("spring.profiles"))
            .cloned();
        out.push(YamlDocument {
            on_profile,
            properties,
        });
    }
    Ok(out)
}

fn flatten(value: &Yaml, prefix: String, out: &mut IndexMap<String, String>) {
    match value {
        Yaml::Hash(map) => {
            if map.is_empty() && !prefix.is_empty() {
                out.insert(prefix, String::new());
                return;
            }
            for (key, child) in map {
                let key = scalar_text(key).unwrap_or_default();
                // Spring wraps keys that contain dots or brackets in [] to keep them whole.
                let key = if key.contains(['.', '[', ']']) && !prefix.is_empty() {
                    format!("[{key}]")
                } else {
                    key
                };
                let path = match (prefix.is_empty(), key.starts_with('[')) {
                    (true, _) => key,
                    (false, true) => format!("{prefix}{key}"),
                    (false, false) => format!("{prefix}.{key}"),
                };
                flatten(child, path, out);
            }
        }
        Yaml::Array(items) => {
            if items.is_empty() {
                out.insert(prefix, String::new());
                return;
            }
            for (i, item) in items.iter().enumerate() {
                flatten(item, format!("{prefix}[{i}]"), out);
            }
        }
        scalar => {
            out.insert(prefix, scalar_text(scalar).unwrap_or_default());
        }
    }
}

fn scalar_text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_maps_and_lists_flatten_to_spring_keys() {
        let docs = parse_yaml_documents(
            "server:\n  port: 8081\nlist:\n  - a\n  - b: 1\nempty: ~\nreal: 1.50\n",
        )
        .unwrap();
        let p = &docs[0].properties;
        assert_eq!(p["server.port"], "8081");
        assert_eq!(p["list[0]"], "a");
        assert_eq!(p["list[1].b"], "1");
        assert_eq!(p["empty"], "");
        assert_eq!(p["real"], "1.50");
    }

    #[test]
    fn documents_carry_their_profile_condition() {
        let docs = parse_yaml_documents(
            "a: 1\n---\nspring:\n  config:\n    activate:\n      on-profile: dev\na: 2\n---\nspring.profiles: '!dev'\na: 3\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 3);
        let dev = vec!["dev".to_owned()];
        assert!(docs[1].applies_to(&dev));
        assert!(!docs[1].applies_to(&[]));
        assert!(!docs[2].applies_to(&dev));
        assert!(docs[2].applies_to(&[]));
    }

    #[test]
    fn broken_yaml_is_an_error_not_a_panic() {
        assert!(parse_yaml_documents("a: [1, 2\n").is_err());
        assert!(parse_yaml_documents("- just\n- a list\n").is_err());
    }
}
