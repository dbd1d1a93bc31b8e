//! XStream-flavoured XML for the Eureka model: reading any element tree into the JSON-shaped tree
//! the lenient reader understands, and the small writing helpers (escaping, XStream's name
//! escapes for metadata keys).
//!
//! The conversion: an element with only text becomes a string; attributes become `@name` keys,
//! and text beside attributes becomes `$` (so `<port enabled="true">80</port>` reads exactly like
//! the JSON `{"$":80,"@enabled":"true"}`); repeated child elements become an array.

use quick_xml::{Reader, XmlVersion, events::Event};
use serde_json::{Map, Value};

/// Elements deeper than this are refused, so a hostile body cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

struct Node {
    name: String,
    attributes: Map<String, Value>,
    children: Map<String, Value>,
    text: String,
}

impl Node {
    fn new(name: String, attributes: Map<String, Value>) -> Self {
        Self {
            name,
            attributes,
            children: Map::new(),
            text: String::new(),
        }
    }

    fn into_value(self) -> Value {
        if self.children.is_empty() && self.attributes.is_empty() {
            return Value::String(self.text.trim().to_owned());
        }
        let mut map = self.attributes;
        for (k, v) in self.children {
            map.insert(k, v);
        }
        let text = self.text.trim();
        if !text.is_empty() {
            map.insert("$".into(), Value::String(text.to_owned()));
        }
        Value::Object(map)
    }
}

fn add_child(parent: &mut Map<String, Value>, name: String, value: Value) {
    match parent.get_mut(&name) {
        None => {
            parent.insert(name, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// Parses an XML document into `{root_name: tree}`.
pub(crate) fn to_tree(body: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Value> = None;
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err("content after the root element".into());
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err("elements nested too deeply".into());
                }
                let node = Node::new(start.name().as_ref().to_owned(), attributes(&start)?);
                stack.push(node);
            }
            Event::Empty(start) => {
                let node = Node::new(start.name().as_ref().to_owned(), attributes(&start)?);
                finish(&mut stack, &mut root, node);
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("unexpected end tag")?;
                finish(&mut stack, &mut root, node);
            }
            Event::Text(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::CData(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(t.as_ref());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => match r.xml_content(XmlVersion::Implicit1_0).as_ref() {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => return Err(format!("unknown entity &{other};")),
                    },
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("unexpected end of document".into());
    }
    root.ok_or_else(|| "no root element".into())
}

fn finish(stack: &mut [Node], root: &mut Option<Value>, node: Node) {
    let name = node.name.clone();
    let value = node.into_value();
    match stack.last_mut() {
        Some(parent) => add_child(&mut parent.children, name, value),
        None => {
            let mut map = Map::new();
            map.insert(name, value);
            *root = Some(Value::Object(map));
        }
    }
}

fn attributes(start: &quick_xml::events::BytesStart<'_>) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        map.insert(
            format!("@{}", attribute.key.as_ref()),
            Value::String(value.into_owned()),
        );
    }
    Ok(map)
}

/// XStream's element name for a map key: `_` → `__`, `$` → `_-`; characters no element name
/// may hold become `_`.
pub(crate) fn escape_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    for (index, c) in key.chars().enumerate() {
        match c {
            '_' => out.push_str("__"),
            '$' => out.push_str("_-"),
            c if c.is_alphanumeric() || (index > 0 && matches!(c, '-' | '.')) => out.push(c),
            _ => out.push('_'),
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// The inverse of [`escape_name`].
pub(crate) fn unescape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '_' {
            match chars.peek() {
                Some('_') => {
                    chars.next();
                    out.push('_');
                }
                Some('-') => {
                    chars.next();
                    out.push('$');
                }
                _ => out.push('_'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Appends `text` with `&`, `<`, `>` and quotes escaped.
pub(crate) fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// Appends `<name>text</name>`.
pub(crate) fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_text(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_attributes_text_and_repeats() {
        let tree = to_tree(
            br#"<?xml version="1.0"?><a><port enabled="true">80</port><b>x</b><b>y &amp; z</b><e/></a>"#,
        )
        .expect("parses");
        assert_eq!(tree["a"]["port"]["@enabled"], "true");
        assert_eq!(tree["a"]["port"]["$"], "80");
        assert_eq!(tree["a"]["b"][1], "y & z");
        assert_eq!(tree["a"]["e"], "");
    }

    #[test]
    fn refuses_broken_documents() {
        for body in [
            &b"<a>"[..],
            b"<a></b>",
            b"",
            b"<a/><b/>",
            b"plain",
            b"<a>&bogus;</a>",
        ] {
            assert!(to_tree(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(to_tree(deep.as_bytes()).is_err());
    }

    #[test]
    fn name_escapes_round_trip() {
        for key in ["my_key", "a$b", "management.port", "x__y"] {
            assert_eq!(unescape_name(&escape_name(key)), key);
        }
    }
}
