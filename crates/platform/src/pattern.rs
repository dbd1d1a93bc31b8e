//! Spring's path patterns (`PathPattern`) and Ant-style host patterns.
//!
//! A pattern is a list of segments split on a separator (`/` for paths, `.` for hosts):
//! literals, `*` (one segment), `?`/`*` inside a segment, `{name}` (one segment, captured),
//! `{name:regex}`, `**` (any number of segments) and `{*name}` (the rest of the path,
//! captured with its leading slash). Captured variables feed filter templates such as
//! `SetPath=/products/{id}`.

use fancy_regex::Regex;
use indexmap::IndexMap;

/// The variables a match captured, in pattern order.
pub type Variables = IndexMap<String, String>;

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    separator: char,
    segments: Vec<Segment>,
    /// `/a/b` or `/a/b/**` as plain text (`/a/b`, open-ended or not): matched without
    /// splitting, the common case on the hot path.
    literal: Option<(String, bool)>,
}

#[derive(Debug, Clone)]
enum Segment {
    /// Matched exactly.
    Literal(String),
    /// `*`: any one segment (non-empty unless it is the last one).
    SingleWildcard,
    /// `{name}`: any one non-empty segment, captured.
    Variable(String),
    /// Wildcards or variables mixed with text in one segment, as an anchored regex (Java's
    /// dialect in `{name:regex}`: look-around and back-references too).
    Regex(Regex, Vec<String>),
    /// `**`: zero or more segments.
    DoubleWildcard,
    /// `{*name}`: the rest, captured (with its leading separator).
    Rest(String),
}

/// Why a pattern could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern `{pattern}`: {reason}")]
pub struct PatternError {
    pattern: String,
    reason: String,
}

impl Pattern {
    /// A path pattern (`/customers/{id}`, `/api/**`).
    pub fn path(text: &str) -> Result<Self, PatternError> {
        Self::compile(text, '/')
    }

    /// A host pattern (`**.example.org`, `{sub}.example.org`).
    pub fn host(text: &str) -> Result<Self, PatternError> {
        Self::compile(text, '.')
    }

    fn compile(text: &str, separator: char) -> Result<Self, PatternError> {
        let error = |reason: &str| PatternError {
            pattern: text.to_owned(),
            reason: reason.to_owned(),
        };
        let mut segments = Vec::new();
        let body = text.strip_prefix(separator).unwrap_or(text);
        if body.is_empty() {
            return Ok(Self {
                text: text.to_owned(),
                separator,
                segments,
                literal: None,
            });
        }
        for raw in body.split(separator) {
            let segment = if raw == "**" {
                Segment::DoubleWildcard
            } else if raw == "*" {
                Segment::SingleWildcard
            } else if let Some(name) = raw.strip_prefix("{*").and_then(|r| r.strip_suffix('}')) {
                if name.is_empty() {
                    return Err(error("`{*}` needs a name"));
                }
                Segment::Rest(name.to_owned())
            } else if let Some(name) = simple_variable(raw) {
                Segment::Variable(name.to_owned())
            } else if raw.contains(['*', '?', '{']) {
                let (regex, names) = segment_regex(raw).map_err(|r| error(&r))?;
                Segment::Regex(regex, names)
            } else {
                Segment::Literal(raw.to_owned())
            };
            segments.push(segment);
        }
        if let Some(position) = segments.iter().position(|s| matches!(s, Segment::Rest(_)))
            && position + 1 != segments.len()
        {
            return Err(error("`{*name}` must be the last segment"));
        }
        let literal = literal_form(&segments, separator);
        Ok(Self {
            text: text.to_owned(),
            separator,
            segments,
            literal,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The literal first segment, if the pattern starts with one: the route index key.
    pub fn literal_head(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Literal(text)) => Some(text),
            _ => None,
        }
    }

    /// Matches `input`, filling `variables` on success. A trailing separator is accepted when
    /// `trailing_separator` is set (Spring's `matchTrailingSlash`).
    pub fn matches(
        &self,
        input: &str,
        trailing_separator: bool,
        variables: &mut Variables,
    ) -> bool {
        if let Some((prefix, open)) = &self.literal {
            let Some(rest) = input.strip_prefix(prefix.as_str()) else {
                return false;
            };
            return if *open {
                rest.is_empty() || rest.starts_with(self.separator)
            } else {
                rest.is_empty()
                    || (trailing_separator && rest.len() == 1 && rest.starts_with(self.separator))
            };
        }
        let body = input.strip_prefix(self.separator).unwrap_or(input);
        let parts: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            body.split(self.separator).collect()
        };
        let mut captured = Vec::new();
        if match_segments(&self.segments, &parts, self.separator, &mut captured) {
            variables.extend(captured);
            return true;
        }
        if trailing_separator && parts.len() > 1 && parts.last() == Some(&"") {
            captured.clear();
            if match_segments(
                &self.segments,
                &parts[..parts.len() - 1],
                self.separator,
                &mut captured,
            ) {
                variables.extend(captured);
                return true;
            }
        }
        false
    }
}

fn literal_form(segments: &[Segment], separator: char) -> Option<(String, bool)> {
    if separator != '/' || segments.is_empty() {
        return None;
    }
    let (open, literals) = match segments.split_last() {
        Some((Segment::DoubleWildcard, rest)) => (true, rest),
        _ => (false, segments),
    };
    let mut prefix = String::new();
    for segment in literals {
        let Segment::Literal(text) = segment else {
            return None;
        };
        prefix.push('/');
        prefix.push_str(text);
    }
    Some((prefix, open))
}

fn simple_variable(raw: &str) -> Option<&str> {
    let name = raw.strip_prefix('{')?.strip_suffix('}')?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then_some(name)
}

/// A regex for one segment mixing text, `*`, `?` and `{name[:regex]}`.
fn segment_regex(raw: &str) -> Result<(Regex, Vec<String>), String> {
    let mut out = String::from("^");
    let mut names = Vec::new();
    let mut chars = raw.chars().peekable();
    let mut literal = String::new();
    let flush = |literal: &mut String, out: &mut String| {
        out.push_str(&fancy_regex::escape(literal));
        literal.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                flush(&mut literal, &mut out);
                out.push_str(".*");
            }
            '?' => {
                flush(&mut literal, &mut out);
                out.push('.');
            }
            '{' => {
                flush(&mut literal, &mut out);
                let mut depth = 1;
                let mut inner = String::new();
                for c in chars.by_ref() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    inner.push(c);
                }
                if depth != 0 {
                    return Err("unclosed `{`".into());
                }
                let (name, expr) = match inner.split_once(':') {
                    Some((name, expr)) => (name, expr),
                    None => (inner.as_str(), ".+"),
                };
                if name.is_empty() {
                    return Err("a variable needs a name".into());
                }
                out.push_str(&format!("({expr})"));
                names.push(name.to_owned());
            }
            c => literal.push(c),
        }
    }
    flush(&mut literal, &mut out);
    out.push('$');
    let regex = Regex::new(&out).map_err(|e| e.to_string())?;
    Ok((regex, names))
}

fn match_segments(
    segments: &[Segment],
    parts: &[&str],
    separator: char,
    captured: &mut Vec<(String, String)>,
) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return parts.is_empty();
    };
    match first {
        Segment::DoubleWildcard => {
            if rest.is_empty() {
                return true;
            }
            (0..=parts.len()).any(|skip| {
                let mark = captured.len();
                let ok = match_segments(rest, &parts[skip..], separator, captured);
                if !ok {
                    captured.truncate(mark);
                }
                ok
            })
        }
        Segment::Rest(name) => {
            let mut value = String::new();
            for part in parts {
                value.push(separator);
                value.push_str(part);
            }
            captured.push((name.clone(), value));
            true
        }
        _ => {
            let Some((part, remaining)) = parts.split_first() else {
                return false;
            };
            let ok = match first {
                Segment::Literal(text) => text == part,
                Segment::SingleWildcard => !part.is_empty() || remaining.is_empty(),
                Segment::Variable(name) => {
                    if part.is_empty() {
                        false
                    } else {
                        captured.push((name.clone(), decode(part)));
                        true
                    }
                }
                Segment::Regex(regex, names) => match regex.captures(part).ok().flatten() {
                    Some(caps) => {
                        for (i, name) in names.iter().enumerate() {
                            let value = caps.get(i + 1).map_or("", |m| m.as_str());
                            captured.push((name.clone(), decode(value)));
                        }
                        true
                    }
                    None => false,
                },
                Segment::DoubleWildcard | Segment::Rest(_) => false,
            };
            ok && match_segments(rest, remaining, separator, captured)
        }
    }
}

fn decode(part: &str) -> String {
    percent_encoding::percent_decode_str(part)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, path: &str) -> Option<Variables> {
        let mut vars = Variables::new();
        Pattern::path(pattern)
            .unwrap()
            .matches(path, true, &mut vars)
            .then_some(vars)
    }

    #[test]
    fn double_star_matches_any_depth_including_none() {
        assert!(check("/customers/**", "/customers").is_some());
        assert!(check("/customers/**", "/customers/").is_some());
        assert!(check("/customers/**", "/customers/1/orders").is_some());
        assert!(check("/customers/**", "/customersx").is_none());
        assert!(check("/**", "/").is_some());
        assert!(check("/a/**/z", "/a/b/c/z").is_some());
    }

    #[test]
    fn variables_wildcards_and_trailing_slash() {
        assert_eq!(check("/products/{id}", "/products/7").unwrap()["id"], "7");
        assert!(check("/products/{id}", "/products/").is_none());
        assert!(check("/products/{id}", "/products/7/").is_some());
        let mut vars = Variables::new();
        assert!(!Pattern::path("/products/{id}").unwrap().matches(
            "/products/7/",
            false,
            &mut vars
        ));
        assert_eq!(
            check("/f/{name}.json", "/f/bill.json").unwrap()["name"],
            "bill"
        );
        assert_eq!(check("/n/{id:\\d+}", "/n/42").unwrap()["id"], "42");
        assert!(check("/n/{id:\\d+}", "/n/x").is_none());
        assert_eq!(
            check("/files/{*rest}", "/files/a/b").unwrap()["rest"],
            "/a/b"
        );
        assert!(check("/*/x", "/any/x").is_some());
        assert!(check("/img/*.png", "/img/a.png").is_some());
        assert!(check("/img/?.png", "/img/ab.png").is_none());
    }

    #[test]
    fn variable_regexes_are_java_regexes() {
        let pattern = "/users/{name:(?!admin)[a-z]+}";
        assert_eq!(check(pattern, "/users/ann").unwrap()["name"], "ann");
        assert!(check(pattern, "/users/admin").is_none());
    }

    #[test]
    fn host_patterns_use_dots() {
        let mut vars = Variables::new();
        let p = Pattern::host("{sub}.example.org").unwrap();
        assert!(p.matches("www.example.org", false, &mut vars));
        assert_eq!(vars["sub"], "www");
        assert!(Pattern::host("**.example.org").unwrap().matches(
            "a.b.example.org",
            false,
            &mut vars
        ));
        assert!(
            !Pattern::host("**.example.org")
                .unwrap()
                .matches("example.com", false, &mut vars)
        );
    }

    #[test]
    fn literal_head_is_the_index_key() {
        assert_eq!(
            Pattern::path("/customers/**").unwrap().literal_head(),
            Some("customers")
        );
        assert_eq!(Pattern::path("/{x}/a").unwrap().literal_head(), None);
        assert!(Pattern::path("/a/{*r}/b").is_err());
    }
}
