//! `${…}` placeholders with Spring's `PropertyPlaceholderHelper` rules, the one resolver used by
//! [`Settings`](super::Settings) and by the config-service's renderings:
//!
//! * `${key}` is replaced by the key's value, itself resolved (placeholders may chain);
//! * `${key:default}` falls back to `default` (resolved too) when the key is unset; the first
//!   `:` outside a nested placeholder separates them;
//! * placeholders nest: `${${env}.url}`, `${a:${b:c}}`;
//! * `\${` is a literal `${` (Spring Framework 6.2's escape character);
//! * an unresolvable placeholder stays as written (Spring Boot's binder ignores it the same way);
//!   a circular one (`a=${b}`, `b=${a}`) is unresolvable rather than an endless loop.

/// How deep values may refer to values; far beyond any real chain, a guard against cycles that
/// spell the same key differently.
const MAX_DEPTH: usize = 32;

/// Resolves every placeholder in `text`; `lookup` gives a key's raw (unresolved) value.
pub fn resolve_placeholders<F>(text: &str, lookup: F) -> String
where
    F: Fn(&str) -> Option<String>,
{
    resolve(text, &lookup, &mut Vec::new())
}

fn resolve<F>(text: &str, lookup: &F, visiting: &mut Vec<String>) -> String
where
    F: Fn(&str) -> Option<String>,
{
    if !text.contains("${") || visiting.len() > MAX_DEPTH {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if start > 0 && rest.as_bytes()[start - 1] == b'\\' {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = matching_brace(after) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let (key, default) = split_default(&after[..end]);
        let key = resolve(key, lookup, visiting);
        let value = if visiting.contains(&key) {
            None
        } else {
            lookup(&key).map(|raw| {
                visiting.push(key);
                let value = resolve(&raw, lookup, visiting);
                visiting.pop();
                value
            })
        };
        match value.or_else(|| default.map(|d| resolve(d, lookup, visiting))) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The index of the `}` closing a placeholder body, past nested `${…}` and `{…}` (as Spring
/// counts them).
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, byte) in text.bytes().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `key:default` split at the first `:` outside nested braces.
fn split_default(body: &str) -> (&str, Option<&str>) {
    let mut depth = 0usize;
    for (i, byte) in body.bytes().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b':' if depth == 0 => return (&body[..i], Some(&body[i + 1..])),
            _ => {}
        }
    }
    (body, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_with(text: &str, pairs: &[(&str, &str)]) -> String {
        resolve_placeholders(text, |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn keys_defaults_and_chains() {
        let props = [("name", "world"), ("greeting", "hello ${name}")];
        assert_eq!(resolve_with("${greeting}!", &props), "hello world!");
        assert_eq!(resolve_with("${missing:fallback}", &props), "fallback");
        assert_eq!(resolve_with("${missing:}", &props), "");
        assert_eq!(resolve_with("${name:unused}", &props), "world");
        assert_eq!(resolve_with("no placeholders", &props), "no placeholders");
        assert_eq!(resolve_with("${url:http://x:1}", &props), "http://x:1");
    }

    #[test]
    fn placeholders_nest_in_keys_and_defaults() {
        let props = [("env", "prod"), ("prod.url", "db"), ("b", "bee")];
        assert_eq!(resolve_with("${${env}.url}", &props), "db");
        assert_eq!(resolve_with("${a:${b}}", &props), "bee");
        assert_eq!(resolve_with("${a:${c:${b}}}", &props), "bee");
        assert_eq!(resolve_with("${a:{json}}", &props), "{json}");
    }

    #[test]
    fn escapes_unresolvable_and_circular_stay_literal() {
        let props = [("a", "${b}"), ("b", "${a}"), ("x", "1")];
        assert_eq!(resolve_with(r"\${x} is ${x}", &props), "${x} is 1");
        assert_eq!(resolve_with("${missing}", &props), "${missing}");
        assert_eq!(resolve_with("${unclosed", &props), "${unclosed");
        assert_eq!(resolve_with("${a}", &props), "${a}");
        assert_eq!(resolve_with("${a:stop}", &props), "${a}");
    }
}
