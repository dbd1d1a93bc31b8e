//! Java's regular-expression dialect, as Spring's predicates and filters read it: look-ahead
//! and look-behind, back-references, atomic groups and named groups `(?<name>…)` in patterns
//! (through `fancy-regex`, which compiles the plain parts to the `regex` crate's automata),
//! `matches()` (the whole value) for Header, Query and Cookie, and `replaceAll` replacement
//! strings: `$1`, `${name}`, `\$` for a literal dollar.

use std::borrow::Cow;

use crate::definition::DefinitionError;

/// A compiled Java regular expression.
#[derive(Debug, Clone)]
pub struct JavaRegex {
    /// As found anywhere in the text (`find`, `replaceAll`).
    find: fancy_regex::Regex,
    /// Anchored at both ends (`matches`).
    whole: fancy_regex::Regex,
    source: String,
}

impl JavaRegex {
    /// Compiles `pattern`; the error names it.
    pub fn new(pattern: &str) -> Result<Self, DefinitionError> {
        let invalid =
            |e: fancy_regex::Error| DefinitionError(format!("invalid regexp `{pattern}`: {e}"));
        Ok(Self {
            find: fancy_regex::Regex::new(pattern).map_err(invalid)?,
            whole: fancy_regex::Regex::new(&format!("^(?:{pattern})$")).map_err(invalid)?,
            source: pattern.to_owned(),
        })
    }

    /// Java's `String.matches`: the whole of `text` matches. A pattern that gives up (too
    /// much backtracking) does not match.
    pub fn matches(&self, text: &str) -> bool {
        self.whole.is_match(text).unwrap_or(false)
    }

    /// Whether the pattern occurs anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.find.is_match(text).unwrap_or(false)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Java's `String.replaceAll(regex, replacement)`.
    pub fn replace_all<'t>(&self, text: &'t str, replacement: &Replacement) -> Cow<'t, str> {
        let mut out = String::new();
        let mut last = 0;
        let mut changed = false;
        for captures in self.find.captures_iter(text) {
            let Ok(captures) = captures else { break };
            let Some(whole) = captures.get(0) else {
                continue;
            };
            changed = true;
            out.push_str(&text[last..whole.start()]);
            for part in &replacement.parts {
                match part {
                    Part::Text(t) => out.push_str(t),
                    Part::Group(i) => {
                        out.push_str(captures.get(*i).map_or("", |m| m.as_str()));
                    }
                    Part::Named(name) => {
                        out.push_str(captures.name(name).map_or("", |m| m.as_str()));
                    }
                }
            }
            last = whole.end();
        }
        if !changed {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }

    /// Compiles a replacement string for this pattern, with Java's rules: `$` followed by
    /// digits names a group (as many digits as still name an existing group), `${name}` a
    /// named group, `\x` is `x` itself. Spring's RewritePath also reads `$\{name}` (the YAML
    /// spelling that escapes Spring's own placeholders) as `${name}`.
    pub fn replacement(&self, text: &str) -> Result<Replacement, DefinitionError> {
        let text = text.replace("$\\", "$");
        let groups = self.find.captures_len();
        let names: Vec<&str> = self.find.capture_names().flatten().collect();
        let bad = |why: &str| DefinitionError(format!("replacement `{text}`: {why}"));
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped) => literal.push(escaped),
                    None => return Err(bad("ends with a lone backslash")),
                },
                '$' => {
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    match chars.peek().copied() {
                        Some('{') => {
                            chars.next();
                            let mut name = String::new();
                            for c in chars.by_ref() {
                                if c == '}' {
                                    break;
                                }
                                name.push(c);
                            }
                            if !names.contains(&name.as_str()) {
                                return Err(bad(&format!("no group named `{name}`")));
                            }
                            parts.push(Part::Named(name));
                        }
                        Some(d) if d.is_ascii_digit() => {
                            chars.next();
                            let mut group = d.to_digit(10).unwrap_or(0) as usize;
                            if group >= groups {
                                return Err(bad(&format!("no group {group}")));
                            }
                            while let Some(next) = chars.peek().and_then(|c| c.to_digit(10)) {
                                let longer = group * 10 + next as usize;
                                if longer >= groups {
                                    break;
                                }
                                group = longer;
                                chars.next();
                            }
                            parts.push(Part::Group(group));
                        }
                        _ => return Err(bad("`$` must be followed by a group number or {name}")),
                    }
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Replacement { parts })
    }
}

/// A compiled `replaceAll` replacement.
#[derive(Debug, Clone)]
pub struct Replacement {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Group(usize),
    Named(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(pattern: &str, replacement: &str, text: &str) -> String {
        let regex = JavaRegex::new(pattern).unwrap();
        let replacement = regex.replacement(replacement).unwrap();
        regex.replace_all(text, &replacement).into_owned()
    }

    #[test]
    fn java_replacements() {
        assert_eq!(rewrite("/a/(?<seg>.*)", "/$\\{seg}", "/a/b/c"), "/b/c");
        assert_eq!(rewrite("/a/(?<seg>.*)", "/${seg}", "/a/b"), "/b");
        assert_eq!(rewrite("/(\\w+)/(\\w+)", "/$2/$1", "/x/y"), "/y/x");
        // `$1a` is group 1 then `a`, and `$12` is group 1 then `2` when there is no group 12.
        assert_eq!(rewrite("(\\w)", "$1a", "x"), "xa");
        assert_eq!(rewrite("(\\w)", "$12", "x"), "x2");
        assert_eq!(rewrite("x", "\\$", "axb"), "a$b");
        assert!(JavaRegex::new("x").unwrap().replacement("$1").is_err());
    }

    #[test]
    fn look_around_and_whole_matches() {
        assert_eq!(rewrite("(?<=/p/)old", "new", "/p/old/old"), "/p/new/old");
        let regex = JavaRegex::new("gr(?=een)een").unwrap();
        assert!(regex.matches("green"));
        assert!(!regex.matches("greenish"));
        assert!(!JavaRegex::new("(?!0)\\d+").unwrap().matches("05"));
        assert!(JavaRegex::new("(?!0)\\d+").unwrap().matches("5"));
        assert!(JavaRegex::new("(?<v>a+)b").unwrap().matches("aab"));
    }
}
