//! The part of Spring's expression language (SpEL) that discovery-locator settings are written
//! in: `include-expression`, `url-expression` and the arguments of the locator's own
//! predicates and filters, evaluated against one service instance.
//!
//! Supported: string literals (`'…'` with `''` for a quote, or `"…"`), integers, `true`,
//! `false`, `null`; the instance's properties (`serviceId`, `host`, `port`, `instanceId`,
//! `uri`, `scheme`, `secure`, `metadata`) and their getters (`getServiceId()`); map indexing
//! (`metadata['zone']`, null when absent); `+` (concatenation once a side is text), `==`, `!=`,
//! `eq`, `ne`, `and`/`&&`, `or`/`||`, `!`/`not`, `? :` and parentheses; and the string
//! methods `toLowerCase()`, `toUpperCase()`, `trim()`, `length()`, `startsWith`, `endsWith`,
//! `contains`, `equals`, `replace` and `substring`. Anything else is a clear error naming the
//! expression, given when the settings are read.

use indexmap::IndexMap;

/// A value an expression produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` (an absent metadata key).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// A map (`metadata`).
    Map(IndexMap<String, String>),
}

impl Value {
    /// As SpEL converts to `String`: `null` stays absent.
    pub fn into_text(self) -> Option<String> {
        match self {
            Self::Null => None,
            Self::Bool(b) => Some(b.to_string()),
            Self::Int(i) => Some(i.to_string()),
            Self::Text(t) => Some(t),
            Self::Map(m) => Some(format!(
                "{{{}}}",
                m.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// As SpEL converts to `boolean` (`'true'` is true).
    pub fn is_true(&self) -> bool {
        match self {
            Self::Bool(b) => *b,
            Self::Text(t) => t.trim().eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    fn concat_text(&self) -> String {
        self.clone().into_text().unwrap_or_else(|| "null".into())
    }
}

/// What an expression reads: the properties of one service instance.
pub trait Root {
    /// The property `name`, or `None` when there is no such property.
    fn property(&self, name: &str) -> Option<Value>;
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    source: String,
    node: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(Value),
    Property(String),
    Index(Box<Node>, Box<Node>),
    Call(Box<Node>, String, Vec<Node>),
    Not(Box<Node>),
    Binary(Box<Node>, Op, Box<Node>),
    Ternary(Box<Node>, Box<Node>, Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Plus,
    Eq,
    Ne,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Text(String),
    Int(i64),
    Ident(String),
    Symbol(&'static str),
}

impl Expression {
    /// Parses `source`.
    pub fn parse(source: &str) -> Result<Self, String> {
        let tokens = tokenize(source).map_err(|e| format!("expression `{source}`: {e}"))?;
        let mut parser = Parser { tokens, at: 0 };
        let node = parser
            .ternary()
            .map_err(|e| format!("expression `{source}`: {e}"))?;
        if parser.at != parser.tokens.len() {
            return Err(format!(
                "expression `{source}`: unexpected {:?}",
                parser.tokens[parser.at]
            ));
        }
        Ok(Self {
            source: source.to_owned(),
            node,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Evaluates against `root`.
    pub fn evaluate(&self, root: &dyn Root) -> Result<Value, String> {
        eval(&self.node, root).map_err(|e| format!("expression `{}`: {e}", self.source))
    }
}

fn tokenize(source: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string".into()),
                    Some(&q) if q == c => {
                        if chars.get(i + 1) == Some(&c) {
                            text.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&other) => {
                        text.push(other);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Text(text));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            tokens.push(Token::Int(
                digits
                    .parse()
                    .map_err(|_| format!("`{digits}` is too large"))?,
            ));
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let symbol = ["==", "!=", "&&", "||"]
                .into_iter()
                .find(|s| *s == two)
                .or_else(|| {
                    ["+", "!", "(", ")", "[", "]", ".", ",", "?", ":"]
                        .into_iter()
                        .find(|s| s.starts_with(c))
                })
                .ok_or_else(|| format!("unexpected `{c}`"))?;
            i += symbol.len();
            tokens.push(Token::Symbol(symbol));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        if matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol) {
            self.at += 1;
            return true;
        }
        false
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word)) {
            self.at += 1;
            return true;
        }
        false
    }

    fn expect(&mut self, symbol: &str) -> Result<(), String> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            Err(format!("expected `{symbol}`"))
        }
    }

    fn ternary(&mut self) -> Result<Node, String> {
        let condition = self.or()?;
        if !self.eat_symbol("?") {
            return Ok(condition);
        }
        let yes = self.ternary()?;
        self.expect(":")?;
        let no = self.ternary()?;
        Ok(Node::Ternary(
            Box::new(condition),
            Box::new(yes),
            Box::new(no),
        ))
    }

    fn or(&mut self) -> Result<Node, String> {
        let mut left = self.and()?;
        while self.eat_symbol("||") || self.eat_word("or") {
            left = Node::Binary(Box::new(left), Op::Or, Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, String> {
        let mut left = self.equality()?;
        while self.eat_symbol("&&") || self.eat_word("and") {
            left = Node::Binary(Box::new(left), Op::And, Box::new(self.equality()?));
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Node, String> {
        let mut left = self.sum()?;
        loop {
            let op = if self.eat_symbol("==") || self.eat_word("eq") {
                Op::Eq
            } else if self.eat_symbol("!=") || self.eat_word("ne") {
                Op::Ne
            } else {
                return Ok(left);
            };
            left = Node::Binary(Box::new(left), op, Box::new(self.sum()?));
        }
    }

    fn sum(&mut self) -> Result<Node, String> {
        let mut left = self.unary()?;
        while self.eat_symbol("+") {
            left = Node::Binary(Box::new(left), Op::Plus, Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, String> {
        if self.eat_symbol("!") || self.eat_word("not") {
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Node, String> {
        let mut node = self.primary()?;
        loop {
            if self.eat_symbol("[") {
                let key = self.ternary()?;
                self.expect("]")?;
                node = Node::Index(Box::new(node), Box::new(key));
            } else if self.eat_symbol(".") {
                let Some(Token::Ident(name)) = self.peek().cloned() else {
                    return Err("expected a method name after `.`".into());
                };
                self.at += 1;
                self.expect("(")?;
                let args = self.arguments()?;
                node = Node::Call(Box::new(node), name, args);
            } else {
                return Ok(node);
            }
        }
    }

    fn arguments(&mut self) -> Result<Vec<Node>, String> {
        let mut args = Vec::new();
        if self.eat_symbol(")") {
            return Ok(args);
        }
        loop {
            args.push(self.ternary()?);
            if self.eat_symbol(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn primary(&mut self) -> Result<Node, String> {
        let token = self.peek().cloned().ok_or("the expression ends early")?;
        self.at += 1;
        Ok(match token {
            Token::Text(t) => Node::Literal(Value::Text(t)),
            Token::Int(i) => Node::Literal(Value::Int(i)),
            Token::Symbol("(") => {
                let inner = self.ternary()?;
                self.expect(")")?;
                inner
            }
            Token::Ident(word) => match word.as_str() {
                "true" => Node::Literal(Value::Bool(true)),
                "false" => Node::Literal(Value::Bool(false)),
                "null" => Node::Literal(Value::Null),
                _ if self.eat_symbol("(") => {
                    if !self.eat_symbol(")") {
                        return Err(format!("`{word}(…)` takes no arguments"));
                    }
                    let property = word
                        .strip_prefix("get")
                        .or_else(|| word.strip_prefix("is"))
                        .filter(|rest| !rest.is_empty())
                        .ok_or_else(|| format!("unknown function `{word}`"))?;
                    let mut chars = property.chars();
                    let first = chars.next().map(|c| c.to_ascii_lowercase());
                    Node::Property(first.into_iter().chain(chars).collect())
                }
                _ => Node::Property(word),
            },
            Token::Symbol(s) => return Err(format!("unexpected `{s}`")),
        })
    }
}

fn eval(node: &Node, root: &dyn Root) -> Result<Value, String> {
    Ok(match node {
        Node::Literal(v) => v.clone(),
        Node::Property(name) => root
            .property(name)
            .ok_or_else(|| format!("no property `{name}` on a service instance"))?,
        Node::Index(target, key) => {
            let key = eval(key, root)?.into_text().unwrap_or_default();
            match eval(target, root)? {
                Value::Map(map) => map.get(&key).cloned().map_or(Value::Null, Value::Text),
                Value::Null => return Err(format!("cannot index null with `{key}`")),
                other => return Err(format!("cannot index {other:?}")),
            }
        }
        Node::Call(target, method, args) => {
            let target = eval(target, root)?;
            let args = args
                .iter()
                .map(|a| eval(a, root))
                .collect::<Result<Vec<_>, _>>()?;
            call(&target, method, &args)?
        }
        Node::Not(inner) => Value::Bool(!eval(inner, root)?.is_true()),
        Node::Ternary(condition, yes, no) => {
            if eval(condition, root)?.is_true() {
                eval(yes, root)?
            } else {
                eval(no, root)?
            }
        }
        Node::Binary(left, op, right) => {
            let a = eval(left, root)?;
            match op {
                Op::And => Value::Bool(a.is_true() && eval(right, root)?.is_true()),
                Op::Or => Value::Bool(a.is_true() || eval(right, root)?.is_true()),
                Op::Eq => Value::Bool(a == eval(right, root)?),
                Op::Ne => Value::Bool(a != eval(right, root)?),
                Op::Plus => match (a, eval(right, root)?) {
                    (Value::Int(x), Value::Int(y)) => Value::Int(x.wrapping_add(y)),
                    (x @ Value::Text(_), y) | (x, y @ Value::Text(_)) => {
                        Value::Text(x.concat_text() + &y.concat_text())
                    }
                    (x, y) => return Err(format!("cannot add {x:?} and {y:?}")),
                },
            }
        }
    })
}

fn call(target: &Value, method: &str, args: &[Value]) -> Result<Value, String> {
    let Value::Text(text) = target else {
        return Err(format!("`{method}` needs text, not {target:?}"));
    };
    let arg = |i: usize| -> Result<String, String> {
        args.get(i)
            .cloned()
            .and_then(Value::into_text)
            .ok_or_else(|| format!("`{method}` needs an argument {}", i + 1))
    };
    let index = |i: usize| -> Result<usize, String> {
        match args.get(i) {
            Some(Value::Int(n)) if *n >= 0 => Ok(*n as usize),
            _ => Err(format!("`{method}` needs a number as argument {}", i + 1)),
        }
    };
    Ok(match (method, args.len()) {
        ("toLowerCase", 0) => Value::Text(text.to_lowercase()),
        ("toUpperCase", 0) => Value::Text(text.to_uppercase()),
        ("trim", 0) => Value::Text(text.trim().to_owned()),
        ("length", 0) => Value::Int(text.chars().count() as i64),
        ("startsWith", 1) => Value::Bool(text.starts_with(&arg(0)?)),
        ("endsWith", 1) => Value::Bool(text.ends_with(&arg(0)?)),
        ("contains", 1) => Value::Bool(text.contains(&arg(0)?)),
        ("equals", 1) => Value::Bool(args[0] == *target),
        ("equalsIgnoreCase", 1) => Value::Bool(text.eq_ignore_ascii_case(&arg(0)?)),
        ("replace", 2) => Value::Text(text.replace(&arg(0)?, &arg(1)?)),
        ("substring", 1 | 2) => {
            let chars: Vec<char> = text.chars().collect();
            let start = index(0)?;
            let end = if args.len() == 2 {
                index(1)?
            } else {
                chars.len()
            };
            if start > end || end > chars.len() {
                return Err(format!("substring({start}, {end}) of `{text}`"));
            }
            Value::Text(chars[start..end].iter().collect())
        }
        _ => {
            return Err(format!(
                "unknown method `{method}` with {} arguments",
                args.len()
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Instance;

    impl Root for Instance {
        fn property(&self, name: &str) -> Option<Value> {
            Some(match name {
                "serviceId" => Value::Text("CUSTOMER-SERVICE".into()),
                "host" => Value::Text("10.0.0.7".into()),
                "port" => Value::Int(8081),
                "metadata" => {
                    Value::Map(IndexMap::from([("gateway".to_owned(), "false".to_owned())]))
                }
                _ => return None,
            })
        }
    }

    fn text(source: &str) -> String {
        Expression::parse(source)
            .unwrap()
            .evaluate(&Instance)
            .unwrap()
            .into_text()
            .unwrap()
    }

    #[test]
    fn locator_expressions() {
        assert_eq!(text("'lb://'+serviceId"), "lb://CUSTOMER-SERVICE");
        assert_eq!(
            text("'http://' + host + ':' + port"),
            "http://10.0.0.7:8081"
        );
        assert_eq!(
            text("'/' + serviceId.toLowerCase() + '/?(?<remaining>.*)'"),
            "/customer-service/?(?<remaining>.*)"
        );
        assert_eq!(text("'it''s'"), "it's");
        assert_eq!(text("getServiceId()"), "CUSTOMER-SERVICE");
        assert_eq!(text("metadata['gateway'] != 'false'"), "false");
        assert_eq!(text("metadata['zone'] == null and true"), "true");
        assert_eq!(text("serviceId.startsWith('CUST') ? 'yes' : 'no'"), "yes");
        assert!(Expression::parse("serviceId +").is_err());
        assert!(
            Expression::parse("nope")
                .unwrap()
                .evaluate(&Instance)
                .is_err()
        );
    }
}
