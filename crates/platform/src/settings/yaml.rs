//! YAML to flat Spring properties, as Spring's `YamlProcessor` does it.
//!
//! Maps become dotted keys, sequences `key[i]`, scalars their text, `~`/null an empty string.
//! A multi-document file yields one [`YamlDocument`] per document, each remembering the
//! profile condition (`spring.config.activate.on-profile`, or the legacy `spring.profiles`)
//! under which it applies. The config-service serves these same documents.

use std::sync::LazyLock;

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value;

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
    /// Where each value starts in the file, `line:column` (1-based), as Boot's origin tracking
    /// reports it (the config-service's v2 Environment carries these).
    pub origins: IndexMap<String, String>,
}

impl YamlDocument {
    /// A document made of already-flat properties (a `.properties` file), all strings, with
    /// the `line:column` where each value starts (may be empty).
    pub fn from_flat(
        properties: IndexMap<String, String>,
        origins: IndexMap<String, String>,
    ) -> Self {
        let typed = properties
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let on_profile = properties.get(ON_PROFILE).cloned();
        Self {
            on_profile,
            properties,
            typed,
            origins,
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
/// Scalars are read with YAML 1.1's rules, as SnakeYAML (and so every Spring app) reads them:
/// `yes`/`no`/`on`/`off` are booleans, `010` is octal, `0b1010` binary, `1_000` and `1:30`
/// (base 60) integers, integers beyond 64 bits stay exact (as their digits), `.inf`/`.nan`
/// are `Infinity`/`NaN`; dates stay text (Boot drops SnakeYAML's timestamp rule). Quoted and
/// block scalars are always text. Anchors, aliases and `<<` merge keys are followed.
///
/// Empty documents are dropped; a document whose root is not a mapping is kept under the key
/// `document`, as Spring's `YamlProcessor` does. The error is a one-line description with the
/// position.
pub fn parse_yaml_documents(text: &str) -> Result<Vec<YamlDocument>, String> {
    let mut loader = Loader {
        text: text.chars().collect(),
        ..Loader::default()
    };
    yaml_rust2::parser::Parser::new_from_str(text)
        .load(&mut loader, true)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(loader.documents.len());
    for doc in loader.documents {
        let mut flat = Flat::default();
        match &doc {
            Node::Map(..) => flatten(&doc, String::new(), &mut flat),
            Node::Scalar(Value::Null, _) => continue,
            _ => flatten(&doc, "document".to_owned(), &mut flat),
        }
        if flat.typed.is_empty() {
            continue;
        }
        let on_profile = flat
            .text
            .get(ON_PROFILE)
            .or_else(|| flat.text.get("spring.profiles"))
            .cloned();
        out.push(YamlDocument {
            on_profile,
            properties: flat.text,
            typed: flat.typed,
            origins: flat.origins,
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

/// A YAML node with its scalars already resolved to JSON values.
#[derive(Debug, Clone)]
enum Node {
    Scalar(Value, Origin),
    Seq(Vec<Node>, Origin),
    Map(Vec<(Node, Node)>, Origin),
}

/// Where a node starts: 1-based line and column.
type Origin = (usize, usize);

fn origin(mark: yaml_rust2::scanner::Marker) -> Origin {
    (mark.line(), mark.col() + 1)
}

/// Builds [`Node`] documents from the parser's events.
#[derive(Debug, Default)]
struct Loader {
    documents: Vec<Node>,
    /// Open collections, with their anchor ids; a map's pending key sits on top of it.
    stack: Vec<(Node, usize, Option<Node>)>,
    anchors: std::collections::HashMap<usize, Node>,
    /// The source, to find where a block scalar's `|`/`>` indicator sits.
    text: Vec<char>,
}

impl yaml_rust2::parser::MarkedEventReceiver for Loader {
    fn on_event(&mut self, event: yaml_rust2::Event, mark: yaml_rust2::scanner::Marker) {
        use yaml_rust2::Event;
        match event {
            Event::SequenceStart(anchor, _) => {
                self.stack
                    .push((Node::Seq(Vec::new(), origin(mark)), anchor, None))
            }
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push((Node::Map(Vec::new(), origin(mark)), anchor, None))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, anchor, _)) = self.stack.pop() {
                    self.complete(node, anchor);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                use yaml_rust2::scanner::TScalarStyle;
                let plain = style == TScalarStyle::Plain;
                let value = resolve_scalar(&text, plain, tag.as_ref());
                let at = match style {
                    TScalarStyle::Literal | TScalarStyle::Folded => self.block_indicator(mark),
                    _ => origin(mark),
                };
                self.complete(Node::Scalar(value, at), anchor);
            }
            Event::Alias(anchor) => {
                let node = self
                    .anchors
                    .get(&anchor)
                    .cloned()
                    .unwrap_or(Node::Scalar(Value::Null, origin(mark)));
                self.complete(node, 0);
            }
            _ => {}
        }
    }
}

impl Loader {
    /// A block scalar's origin is its `|` or `>` indicator (as SnakeYAML reports it), which
    /// precedes the content the parser's mark points at.
    fn block_indicator(&self, mark: yaml_rust2::scanner::Marker) -> Origin {
        let end = mark.index().min(self.text.len());
        let Some(at) = self.text[..end]
            .iter()
            .rposition(|c| matches!(c, '|' | '>'))
        else {
            return origin(mark);
        };
        let breaks = self.text[at..end].iter().filter(|c| **c == '\n').count();
        let line_start = self.text[..at]
            .iter()
            .rposition(|c| *c == '\n')
            .map_or(0, |i| i + 1);
        (mark.line().saturating_sub(breaks), at - line_start + 1)
    }

    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some((Node::Seq(items, _), _, _)) => items.push(node),
            Some((Node::Map(entries, _), _, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if matches!(&key, Node::Scalar(Value::String(k), _) if k == "<<") {
                        merge_into(entries, node);
                    } else {
                        entries.retain(|(k, _)| !same_key(k, &key));
                        entries.push((key, node));
                    }
                }
            },
            Some((Node::Scalar(..), _, _)) => {}
        }
    }
}
/// `<<: *base` (or a list of maps): the merged map's entries, unless the map sets them itself.
fn merge_into(entries: &mut Vec<(Node, Node)>, merged: Node) {
    let maps = match merged {
        Node::Seq(items, _) => items,
        other => vec![other],
    };
    for map in maps {
        if let Node::Map(merged_entries, _) = map {
            for (key, value) in merged_entries {
                if !entries.iter().any(|(k, _)| same_key(k, &key)) {
                    entries.push((key, value));
                }
            }
        }
    }
}

fn same_key(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Scalar(a, _), Node::Scalar(b, _)) => a == b,
        _ => false,
    }
}

/// YAML 1.1's implicit types, as SnakeYAML's `Resolver` spells them.
static BOOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
        .expect("valid pattern")
});
static INT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?0b_*[0-1][0-1_]*|[-+]?0_*[0-7][0-7_]*|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x_*[0-9a-fA-F][0-9a-fA-F_]*|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    )
    .expect("valid pattern")
});
static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    )
    .expect("valid pattern")
});

/// A scalar's value: plain scalars by YAML 1.1's implicit types (null, bool, int, float,
/// else text), quoted ones as text; a `!!str`/`!!int`/`!!float`/`!!bool`/`!!null` tag decides
/// by itself.
fn resolve_scalar(text: &str, plain: bool, tag: Option<&yaml_rust2::parser::Tag>) -> Value {
    let kind = match tag {
        Some(tag) if tag.handle == "tag:yaml.org,2002:" => tag.suffix.as_str(),
        Some(_) => "str",
        None if !plain => "str",
        None if matches!(text, "" | "~" | "null" | "Null" | "NULL") => "null",
        None if BOOL.is_match(text) => "bool",
        None if INT.is_match(text) => "int",
        None if FLOAT.is_match(text) => "float",
        None => "str",
    };
    let resolved = match kind {
        "null" => Some(Value::Null),
        "bool" => match text.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" => Some(Value::Bool(true)),
            "no" | "false" | "off" => Some(Value::Bool(false)),
            _ => None,
        },
        "int" => yaml11_int(text),
        "float" => yaml11_float(text),
        _ => None,
    };
    resolved.unwrap_or_else(|| Value::String(text.to_owned()))
}

/// SnakeYAML's `ConstructYamlInt`: sign, then `0b`, `0x`, leading-`0` octal, `a:b:c` base 60,
/// or decimal. Beyond 64 bits the exact digits are kept as text (JSON numbers here are at most
/// 64-bit).
fn yaml11_int(text: &str) -> Option<Value> {
    let cleaned = text.replace('_', "");
    let (negative, digits) = match cleaned.as_bytes().first()? {
        b'-' => (true, &cleaned[1..]),
        b'+' => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    let magnitude: u128 = if digits == "0" {
        0
    } else if let Some(binary) = digits.strip_prefix("0b") {
        u128::from_str_radix(binary, 2).ok()?
    } else if let Some(hex) = digits.strip_prefix("0x") {
        u128::from_str_radix(hex, 16).ok()?
    } else if let Some(octal) = digits.strip_prefix('0') {
        u128::from_str_radix(octal, 8).ok()?
    } else if digits.contains(':') {
        digits.split(':').try_fold(0u128, |total, part| {
            total
                .checked_mul(60)?
                .checked_add(part.parse::<u128>().ok()?)
        })?
    } else {
        match digits.parse::<u128>() {
            Ok(n) => n,
            Err(_) => {
                // Longer than 128 bits: the decimal digits are the value.
                let digits = digits.trim_start_matches('0');
                return Some(Value::String(format!(
                    "{}{digits}",
                    if negative { "-" } else { "" }
                )));
            }
        }
    };
    if negative {
        if let Ok(n) = i64::try_from(magnitude).map(|n| -n) {
            return Some(Value::from(n));
        }
        if magnitude == 1u128 << 63 {
            return Some(Value::from(i64::MIN));
        }
        return Some(Value::String(format!("-{magnitude}")));
    }
    Some(match u64::try_from(magnitude) {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(magnitude.to_string()),
    })
}

/// SnakeYAML's `ConstructYamlFloat`: `.inf`/`.nan` (kept as Java prints them, `Infinity`,
/// `-Infinity`, `NaN`), base 60, or decimal.
fn yaml11_float(text: &str) -> Option<Value> {
    let cleaned = text.replace('_', "").to_ascii_lowercase();
    let (sign, body) = match cleaned.as_bytes().first()? {
        b'-' => (-1.0, &cleaned[1..]),
        b'+' => (1.0, &cleaned[1..]),
        _ => (1.0, cleaned.as_str()),
    };
    let value = match body {
        ".inf" => {
            return Some(Value::String(
                if sign < 0.0 { "-Infinity" } else { "Infinity" }.into(),
            ));
        }
        ".nan" => return Some(Value::String("NaN".into())),
        sexagesimal if sexagesimal.contains(':') => {
            sexagesimal.split(':').try_fold(0.0f64, |total, part| {
                Some(total * 60.0 + part.parse::<f64>().ok()?)
            })?
        }
        decimal => decimal.parse::<f64>().ok()?,
    };
    serde_json::Number::from_f64(sign * value).map(Value::Number)
}

/// The flattened form of one document, filled by [`flatten`].
#[derive(Default)]
struct Flat {
    typed: IndexMap<String, Value>,
    text: IndexMap<String, String>,
    origins: IndexMap<String, String>,
}

/// Flattens `node` under `prefix` into typed values, their text and their origins. Empty
/// lists and maps keep their (empty) value, as Boot's origin-tracking loader does; as text an
/// empty list is `""` and an empty map gives no key (Spring's `YamlProcessor`).
fn flatten(node: &Node, prefix: String, out: &mut Flat) {
    let at = |(line, column): &Origin| format!("{line}:{column}");
    match node {
        Node::Map(entries, origin) if entries.is_empty() => {
            if !prefix.is_empty() {
                out.origins.insert(prefix.clone(), at(origin));
                out.typed
                    .insert(prefix, Value::Object(serde_json::Map::new()));
            }
        }
        Node::Map(entries, _) => {
            for (key, child) in entries {
                let key = match key {
                    Node::Scalar(Value::String(s), _) => s.clone(),
                    // Non-string keys are written in brackets, as Spring does.
                    Node::Scalar(other, _) => format!("[{}]", value_text(other)),
                    _ => continue,
                };
                let path = match (prefix.is_empty(), key.starts_with('[')) {
                    (true, _) => key,
                    (false, true) => format!("{prefix}{key}"),
                    (false, false) => format!("{prefix}.{key}"),
                };
                flatten(child, path, out);
            }
        }
        Node::Seq(items, origin) if items.is_empty() => {
            out.origins.insert(prefix.clone(), at(origin));
            out.typed.insert(prefix.clone(), Value::Array(Vec::new()));
            out.text.insert(prefix, String::new());
        }
        Node::Seq(items, _) => {
            for (i, item) in items.iter().enumerate() {
                flatten(item, format!("{prefix}[{i}]"), out);
            }
        }
        Node::Scalar(value, origin) => {
            let value = match value {
                Value::Null => Value::String(String::new()),
                other => other.clone(),
            };
            out.origins.insert(prefix.clone(), at(origin));
            out.text.insert(prefix.clone(), value_text(&value));
            out.typed.insert(prefix, value);
        }
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
        // As Java prints the Double SnakeYAML read.
        assert_eq!(p["real"], "1.5");
        assert_eq!(docs[0].typed["server.port"], serde_json::json!(8081));
        assert_eq!(docs[0].typed["real"], serde_json::json!(1.5));
    }

    #[test]
    fn spring_flattening_rules_for_odd_shapes() {
        let docs = parse_yaml_documents("a: {}\nb: []\nc:\n  1: x\nd: [[1, 2]]\n").unwrap();
        let p = &docs[0].properties;
        assert!(!p.contains_key("a"));
        assert_eq!(p["b"], "");
        assert_eq!(docs[0].typed["a"], serde_json::json!({}));
        assert_eq!(docs[0].typed["b"], serde_json::json!([]));
        assert_eq!(p["c[1]"], "x");
        assert_eq!(p["d[0][1]"], "2");
    }

    #[test]
    fn scalars_follow_yaml_1_1_as_snakeyaml_reads_them() {
        let docs = parse_yaml_documents(
            "t: yes\nf: Off\ny: y\noctal: 010\nnot-octal: 09\no12: 0o17\nhex: 0x1F\nbin: 0b1010\n\
             u: 1_000\nplus: +12\nsexa: 1:30\nbig: 123456789012345678901234567890\n\
             neg-big: -98765432109876543210\nmax: 9223372036854775807\nu64: 18446744073709551615\n\
             exp: 1.5e3\ninf: -.inf\nnan: .NaN\ndate: 2024-01-15\nq: 'on'\ntagged: !!str 12\n\
             base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n",
        )
        .unwrap();
        let t = &docs[0].typed;
        use serde_json::json;
        for (key, expected) in [
            ("t", json!(true)),
            ("f", json!(false)),
            ("y", json!("y")),
            ("octal", json!(8)),
            ("not-octal", json!("09")),
            ("o12", json!("0o17")),
            ("hex", json!(31)),
            ("bin", json!(10)),
            ("u", json!(1000)),
            ("plus", json!(12)),
            ("sexa", json!(90)),
            ("big", json!("123456789012345678901234567890")),
            ("neg-big", json!("-98765432109876543210")),
            ("max", json!(9_223_372_036_854_775_807_i64)),
            ("u64", json!(18_446_744_073_709_551_615_u64)),
            ("exp", json!(1500.0)),
            ("inf", json!("-Infinity")),
            ("nan", json!("NaN")),
            ("date", json!("2024-01-15")),
            ("q", json!("on")),
            ("tagged", json!("12")),
            ("derived.x", json!(1)),
            ("derived.y", json!(3)),
        ] {
            assert_eq!(t[key], expected, "{key}");
        }
        assert_eq!(docs[0].properties["t"], "true");
        assert_eq!(docs[0].origins["t"], "1:4");
        assert_eq!(docs[0].origins["f"], "2:4");
        assert_eq!(docs[0].properties["octal"], "8");
        let docs = parse_yaml_documents("a: 1\nblock: |\n  text\n").unwrap();
        assert_eq!(docs[0].origins["block"], "2:8");
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
