//! YAML to flat Spring properties, as Spring's `YamlProcessor` does it.
//!
//! Maps become dotted keys, sequences `key[i]`, scalars their text, `~`/null an empty string.
//! A multi-document file yields one [`YamlDocument`] per document, each remembering the
//! profile condition (`spring.config.activate.on-profile`, or the legacy `spring.profiles`)
//! under which it applies. The config-service serves these same documents.

use indexmap::IndexMap;
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

/// One YAML document flattened to properties.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlDocument {
    /// The profile expression this document is limited to, if any (`dev`, `dev,prod`, `!prod`,
    /// `prod & eu`).
    pub on_profile: Option<String>,
    /// The document's properties in file order, as text.
    pub properties: IndexMap<String, String>,
    /// The same properties with their YAML types kept (numbers, booleans, strings), which is
    /// what the config-service's Environment JSON carries.
    pub typed: IndexMap<String, Value>,
}

impl YamlDocument {
    /// A document made of already-flat properties (a `.properties` file), all strings.
    pub fn from_flat(properties: IndexMap<String, String>) -> Self {
        let typed = properties
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let on_profile = properties.get(ON_PROFILE).cloned();
        Self {
            on_profile,
            properties,
            typed,
        }
    }

    /// Whether the document applies when `active` profiles are on.
    ///
    /// Supports Spring's profile expressions: a comma list of alternatives, each of which may
    /// combine names with `!`, `&`, `|` and parentheses (`prod & (eu | us)`, `!dev`).
    pub fn applies_to(&self, active: &[String]) -> bool {
        let Some(expr) = &self.on_profile else {
            return true;
        };
        profile_expression_matches(expr, active)
    }
}

/// The key that limits a document to some profiles.
pub const ON_PROFILE: &str = "spring.config.activate.on-profile";

/// Evaluates a Spring profile expression (`a,b`, `!a`, `a & b`, `a | (b & !c)`) against the
/// active profiles. A malformed expression matches nothing.
pub fn profile_expression_matches(expr: &str, active: &[String]) -> bool {
    expr.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|alternative| {
            let tokens = tokenize(alternative);
            let mut pos = 0;
            match parse_or(&tokens, &mut pos, active) {
                Some(value) if pos == tokens.len() => value,
                _ => false,
            }
        })
}

fn tokenize(expr: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in expr.chars() {
        if matches!(c, '!' | '&' | '|' | '(' | ')') || c.is_whitespace() {
            if !word.is_empty() {
                tokens.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

fn parse_or(tokens: &[String], pos: &mut usize, active: &[String]) -> Option<bool> {
    let mut value = parse_and(tokens, pos, active)?;
    while tokens.get(*pos).is_some_and(|t| t == "|") {
        *pos += 1;
        value |= parse_and(tokens, pos, active)?;
    }
    Some(value)
}

fn parse_and(tokens: &[String], pos: &mut usize, active: &[String]) -> Option<bool> {
    let mut value = parse_unary(tokens, pos, active)?;
    while tokens.get(*pos).is_some_and(|t| t == "&") {
        *pos += 1;
        value &= parse_unary(tokens, pos, active)?;
    }
    Some(value)
}

fn parse_unary(tokens: &[String], pos: &mut usize, active: &[String]) -> Option<bool> {
    let token = tokens.get(*pos)?;
    *pos += 1;
    match token.as_str() {
        "!" => parse_unary(tokens, pos, active).map(|v| !v),
        "(" => {
            let value = parse_or(tokens, pos, active)?;
            if tokens.get(*pos).is_some_and(|t| t == ")") {
                *pos += 1;
                Some(value)
            } else {
                None
            }
        }
        "&" | "|" | ")" => None,
        name => Some(active.iter().any(|a| a == name)),
    }
}

/// Parses a (possibly multi-document) YAML text into flat documents.
///
/// Empty documents are dropped; a document whose root is not a mapping is kept under the key
/// `document`, as Spring's `YamlProcessor` does. The error is a one-line description with the
/// position.
pub fn parse_yaml_documents(text: &str) -> Result<Vec<YamlDocument>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        let mut typed = IndexMap::new();
        match &doc {
            Yaml::Hash(_) => flatten(&doc, String::new(), &mut typed),
            Yaml::Null | Yaml::BadValue => continue,
            _ => flatten(&doc, "document".to_owned(), &mut typed),
        }
        if typed.is_empty() {
            continue;
        }
        let properties: IndexMap<String, String> = typed
            .iter()
            .map(|(k, (_, text))| (k.clone(), text.clone()))
            .collect();
        let typed: IndexMap<String, Value> = typed.into_iter().map(|(k, (v, _))| (k, v)).collect();
        let on_profile = properties
            .get(ON_PROFILE)
            .or_else(|| properties.get("spring.profiles"))
            .cloned();
        out.push(YamlDocument {
            on_profile,
            properties,
            typed,
        });
    }
    Ok(out)
}

/// The text form of a flattened value (`1.5`, `true`, `abc`).
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn flatten(value: &Yaml, prefix: String, out: &mut IndexMap<String, (Value, String)>) {
    match value {
        Yaml::Hash(map) => {
            // An empty map yields no key at all (Spring's YamlProcessor).
            for (key, child) in map {
                let key = match key {
                    Yaml::String(s) => s.clone(),
                    // Non-string keys are written in brackets, as Spring does.
                    other => format!("[{}]", scalar_text(other).unwrap_or_default()),
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
                out.insert(prefix, (Value::String(String::new()), String::new()));
                return;
            }
            for (i, item) in items.iter().enumerate() {
                flatten(item, format!("{prefix}[{i}]"), out);
            }
        }
        scalar => {
            let text = scalar_text(scalar).unwrap_or_default();
            out.insert(prefix, (scalar_value(scalar), text));
        }
    }
}

fn scalar_value(value: &Yaml) -> Value {
    match value {
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(s.clone()), Value::Number),
        other => Value::String(scalar_text(other).unwrap_or_default()),
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
        assert_eq!(docs[0].typed["server.port"], serde_json::json!(8081));
        assert_eq!(docs[0].typed["real"], serde_json::json!(1.5));
    }

    #[test]
    fn spring_flattening_rules_for_odd_shapes() {
        let docs = parse_yaml_documents("a: {}\nb: []\nc:\n  1: x\nd: [[1, 2]]\n").unwrap();
        let p = &docs[0].properties;
        assert!(!p.contains_key("a"));
        assert_eq!(p["b"], "");
        assert_eq!(p["c[1]"], "x");
        assert_eq!(p["d[0][1]"], "2");
    }

    #[test]
    fn profile_expressions() {
        let active = vec!["prod".to_owned(), "eu".to_owned()];
        assert!(profile_expression_matches("prod & eu", &active));
        assert!(!profile_expression_matches("prod & us", &active));
        assert!(profile_expression_matches("us | (prod & !dev)", &active));
        assert!(profile_expression_matches("dev, eu", &active));
        assert!(!profile_expression_matches("!prod", &active));
        assert!(!profile_expression_matches("prod &", &active));
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
        // A non-map root is kept under `document`, as Spring does.
        let docs = parse_yaml_documents("- just\n- a list\n").unwrap();
        assert_eq!(docs[0].properties["document[1]"], "a list");
    }
}
