//! YAML text as SnakeYAML's `new Yaml().dumpAsMap(…)` writes it, which is what Spring's
//! `.yml`/`.yaml` endpoints answer: block style, two-space indent, list items at their key's
//! indent, strings plain unless YAML 1.1 would read them as something else (then `'quoted'`),
//! multi-line strings as `|` blocks, and long plain or single-quoted strings folded at spaces
//! past column 80.

use serde_json::Value;

/// SnakeYAML's default line width.
const WIDTH: usize = 80;
/// SnakeYAML's default indent.
const INDENT: usize = 2;

/// The YAML document for `value` (normally a map), ending in a newline.
pub(crate) fn dump(value: &Value) -> String {
    let mut out = Writer::default();
    match value {
        Value::Object(map) if !map.is_empty() => out.map(map, 0),
        Value::Array(items) if !items.is_empty() => out.seq(items, 0),
        other => {
            out.scalar(other, 0);
            out.text.push('\n');
        }
    }
    out.text
}

#[derive(Default)]
struct Writer {
    text: String,
    /// Column of the next character on the current line.
    column: usize,
}

impl Writer {
    fn write(&mut self, text: &str) {
        self.text.push_str(text);
        match text.rfind('\n') {
            Some(i) => self.column = text[i + 1..].chars().count(),
            None => self.column += text.chars().count(),
        }
    }

    fn newline_at(&mut self, indent: usize) {
        self.write("\n");
        self.write(&" ".repeat(indent));
    }

    /// Map entries at `indent`; the cursor is already at `indent` on the first line.
    fn map(&mut self, map: &serde_json::Map<String, Value>, indent: usize) {
        for (i, (key, value)) in map.iter().enumerate() {
            if i > 0 {
                self.write(&" ".repeat(indent));
            }
            self.key(key, indent);
            self.write(":");
            match value {
                Value::Object(child) if !child.is_empty() => {
                    self.newline_at(indent + INDENT);
                    self.map(child, indent + INDENT);
                }
                Value::Array(items) if !items.is_empty() => {
                    self.newline_at(indent);
                    self.seq(items, indent);
                }
                scalar => {
                    self.write(" ");
                    self.scalar(scalar, indent + INDENT);
                    self.write("\n");
                }
            }
        }
    }

    /// Sequence items at `indent`; the cursor is already at `indent` on the first line.
    fn seq(&mut self, items: &[Value], indent: usize) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.write(&" ".repeat(indent));
            }
            self.write("- ");
            match item {
                Value::Object(child) if !child.is_empty() => self.map(child, indent + INDENT),
                Value::Array(child) if !child.is_empty() => self.seq(child, indent + INDENT),
                scalar => {
                    self.scalar(scalar, indent + INDENT);
                    self.write("\n");
                }
            }
        }
    }

    fn key(&mut self, key: &str, indent: usize) {
        let analysis = Analysis::of(key);
        if key.is_empty() || analysis.line_breaks || !plain_reads_as_text(key) {
            self.quoted(key, &analysis, indent, true);
        } else if analysis.allow_block_plain {
            self.plain(key, indent);
        } else {
            self.quoted(key, &analysis, indent, true);
        }
    }

    /// A scalar value; `indent` is where folded continuation lines start.
    fn scalar(&mut self, value: &Value, indent: usize) {
        match value {
            Value::Null => self.write("null"),
            Value::Bool(b) => self.write(if *b { "true" } else { "false" }),
            Value::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
                Some(f) => self.write(&java_double(f)),
                None => self.write(&n.to_string()),
            },
            Value::Array(_) => self.write("[]"),
            Value::Object(_) => self.write("{}"),
            Value::String(s) => {
                let analysis = Analysis::of(s);
                if analysis.line_breaks {
                    if analysis.allow_block {
                        self.literal(s, indent);
                    } else {
                        self.double_quoted(s);
                    }
                } else if plain_reads_as_text(s) && analysis.allow_block_plain {
                    self.plain(s, indent);
                } else {
                    self.quoted(s, &analysis, indent, false);
                }
            }
        }
    }

    fn quoted(&mut self, text: &str, analysis: &Analysis, indent: usize, key: bool) {
        if analysis.allow_single_quoted && !(key && analysis.line_breaks) {
            self.single_quoted(text, indent);
        } else {
            self.double_quoted(text);
        }
    }

    /// Words separated by single spaces; past the width, a space becomes a line break.
    fn plain(&mut self, text: &str, indent: usize) {
        self.folded_words(text, indent, false);
    }

    fn single_quoted(&mut self, text: &str, indent: usize) {
        self.write("'");
        self.folded_words(&text.replace('\'', "''"), indent, true);
        self.write("'");
    }

    fn folded_words(&mut self, text: &str, indent: usize, quoted: bool) {
        let chars: Vec<char> = text.chars().collect();
        let mut start = 0;
        let mut i = 0;
        while i < chars.len() {
            let lone_space = chars[i] == ' '
                && i > 0
                && chars[i - 1] != ' '
                && chars.get(i + 1).is_some_and(|c| *c != ' ');
            // A quoted string never breaks at its first or last space.
            let may_break = !quoted || (i != 0 && i + 1 != chars.len());
            if lone_space && may_break {
                let word: String = chars[start..i].iter().collect();
                self.write(&word);
                if self.column > WIDTH {
                    self.newline_at(indent);
                } else {
                    self.write(" ");
                }
                start = i + 1;
            }
            i += 1;
        }
        let rest: String = chars[start..].iter().collect();
        self.write(&rest);
    }

    fn double_quoted(&mut self, text: &str) {
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\0' => out.push_str("\\0"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\x{:02X}", c as u32));
                }
                c => out.push(c),
            }
        }
        out.push('"');
        self.write(&out);
    }

    /// `|` block: `-` when the text has no final line break, `+` when it has several.
    fn literal(&mut self, text: &str, indent: usize) {
        let trailing = text.len() - text.trim_end_matches('\n').len();
        let mut header = String::from("|");
        if text.starts_with(' ') || text.starts_with('\n') {
            header.push_str(&INDENT.to_string());
        }
        header.push_str(match trailing {
            0 => "-",
            1 => "",
            _ => "+",
        });
        self.write(&header);
        let body = text.strip_suffix('\n').unwrap_or(text);
        for line in body.split('\n') {
            self.write("\n");
            if !line.is_empty() {
                self.write(&" ".repeat(indent));
                self.write(line);
            }
        }
    }
}

/// What SnakeYAML's emitter learns about a string before choosing its style.
#[derive(Debug)]
struct Analysis {
    line_breaks: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
    allow_block: bool,
}

impl Analysis {
    fn of(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let is_space = |c: Option<&char>| c.is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        let mut block_indicators = text.starts_with("---") || text.starts_with("...");
        let (mut line_breaks, mut special) = (false, false);
        let (mut leading_space, mut trailing_space) = (false, false);
        let (mut leading_break, mut trailing_break) = (false, false);
        let (mut break_space, mut space_break) = (false, false);
        let (mut previous_space, mut previous_break) = (false, false);
        for (i, &c) in chars.iter().enumerate() {
            let followed_by_space = is_space(chars.get(i + 1));
            let preceded_by_space = i == 0 || is_space(chars.get(i - 1));
            if i == 0 {
                if "#,[]{}&*!|>'\"%@`".contains(c) {
                    block_indicators = true;
                }
                if matches!(c, '?' | ':' | '-') && followed_by_space {
                    block_indicators = true;
                }
            } else {
                if c == ':' && followed_by_space {
                    block_indicators = true;
                }
                if c == '#' && preceded_by_space {
                    block_indicators = true;
                }
            }
            if c == '\n' {
                line_breaks = true;
            }
            if !(c == '\n' || (' '..='~').contains(&c)) && ((c as u32) < 0xA0 || c == '\u{feff}') {
                special = true;
            }
            if c == ' ' {
                leading_space |= i == 0;
                trailing_space |= i + 1 == chars.len();
                break_space |= previous_break;
                previous_space = true;
                previous_break = false;
            } else if c == '\n' {
                leading_break |= i == 0;
                trailing_break |= i + 1 == chars.len();
                space_break |= previous_space;
                previous_space = false;
                previous_break = true;
            } else {
                previous_space = false;
                previous_break = false;
            }
        }
        let mut analysis = Self {
            line_breaks,
            allow_block_plain: true,
            allow_single_quoted: true,
            allow_block: true,
        };
        if leading_space || leading_break || trailing_space || trailing_break {
            analysis.allow_block_plain = false;
        }
        if trailing_space {
            analysis.allow_block = false;
        }
        if break_space {
            analysis.allow_block_plain = false;
            analysis.allow_single_quoted = false;
        }
        if space_break || special {
            analysis.allow_block_plain = false;
            analysis.allow_single_quoted = false;
            analysis.allow_block = false;
        }
        if line_breaks || block_indicators {
            analysis.allow_block_plain = false;
        }
        analysis
    }
}

/// Whether `text` written plain would be read back as the same string: not a YAML 1.1 null,
/// bool, int, float, timestamp or merge key, and not all digits and `_` (SnakeYAML quotes
/// those too, for YAML 1.2 readers).
fn plain_reads_as_text(text: &str) -> bool {
    if text.starts_with(|c: char| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    if text.is_empty() || text == "<<" || is_timestamp(text) {
        return false;
    }
    let probe = format!("k: {text}\n");
    match platform::settings::parse_yaml_documents(&probe) {
        Ok(documents) => documents
            .first()
            .and_then(|d| d.typed.get("k"))
            .is_some_and(|v| v.as_str() == Some(text)),
        Err(_) => false,
    }
}

/// SnakeYAML's timestamp pattern (`2024-01-15`, `2024-01-15T10:00:00Z`, …), which its dumper
/// still honours although Boot's loader reads such values as text.
fn is_timestamp(text: &str) -> bool {
    static TIMESTAMP: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
        )
        .expect("valid pattern")
    });
    TIMESTAMP.is_match(text)
}

/// Java's `Double.toString`: plain decimals from 10⁻³ up to 10⁷, else `d.dddE±n`.
fn java_double(value: f64) -> String {
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .into();
    }
    let magnitude = value.abs();
    if (1e-3..1e7).contains(&magnitude) {
        let text = value.to_string();
        return if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        };
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn writes_what_snakeyaml_writes() {
        let value = json!({
            "a": {"b": 1, "list": ["x", "yes", "09", "", "y", "a: b", "2024-01-15"]},
            "nested": [{"x": 1, "y": 2}, [1, 2]],
            "empty": [], "none": {}, "f": 1500.0, "e": 1e21,
            "multi": "one\ntwo\n", "tab": "a\tb", "q": "it's",
        });
        assert_eq!(
            dump(&value),
            "a:\n  b: 1\n  list:\n  - x\n  - 'yes'\n  - '09'\n  - ''\n  - y\n  - 'a: b'\n  - '2024-01-15'\n\
             nested:\n- x: 1\n  y: 2\n- - 1\n  - 2\nempty: []\nnone: {}\nf: 1500.0\ne: 1.0E21\n\
             multi: |\n  one\n  two\ntab: \"a\\tb\"\nq: it's\n"
        );
    }

    #[test]
    fn long_plain_text_folds_past_column_80() {
        let words = vec!["word"; 30].join(" ");
        let text = dump(&json!({ "k": words }));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 1, "{text}");
        assert!(lines[1].starts_with("  word"), "{text}");
    }
}
