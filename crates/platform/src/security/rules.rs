//! Which requests need which authorities: `factura.security.rules`, read like Spring Security's
//! `authorizeHttpRequests` — path patterns (Spring's `PathPattern`, [`crate::pattern`]) and
//! methods → an access decision, the first matching rule wins.
//!
//! ```yaml
//! factura.security:
//!   public-api-docs: false          # `/`, `/profile/**`, `/v3/api-docs/**` without a token
//!   rules:
//!     - paths: /actuator/prometheus
//!       access: permit-all          # permit-all | authenticated | deny-all
//!     - paths: /bills/**, /fullBill/**
//!       methods: GET, HEAD
//!       roles: USER, ADMIN          # hasAnyRole: ROLE_USER or ROLE_ADMIN
//!     - paths: /products/**
//!       methods: PUT
//!       authorities: SCOPE_inventory.write   # hasAnyAuthority
//! ```
//!
//! The built-in rules come after the configured ones, so a request no configured rule matches
//! is still protected: `/actuator/health/**` open; `OPTIONS` open (CORS preflights carry no
//! token); with `public-api-docs`, `GET`/`HEAD` of `/`, `/profile/**` and `/v3/api-docs/**`
//! open; other `GET`/`HEAD` any authenticated caller; everything else `ROLE_ADMIN`.

use axum::http::Method;

use crate::{
    pattern::{Pattern, Variables},
    settings::{FromSection, Section, SettingsError},
};

/// What a rule asks of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone, with or without a token (an invalid token is still refused).
    PermitAll,
    /// Any valid token.
    Authenticated,
    /// A token granting one of these authorities.
    AnyAuthority(Vec<String>),
    /// No one.
    DenyAll,
}

/// One rule: these paths, these methods (all when empty), this access.
#[derive(Debug, Clone)]
pub struct Rule {
    paths: Vec<Pattern>,
    methods: Vec<Method>,
    access: Access,
}

impl Rule {
    fn new(paths: &[&str], methods: &[Method], access: Access) -> Self {
        Self {
            paths: paths
                .iter()
                .map(|p| Pattern::path(p).expect("a built-in pattern"))
                .collect(),
            methods: methods.to_vec(),
            access,
        }
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        (self.methods.is_empty() || self.methods.contains(method))
            && self
                .paths
                .iter()
                .any(|p| p.matches(path, true, &mut Variables::new()))
    }
}

/// `factura.security.*`: the configured rules, then the built-in ones.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Where the section is.
    pub const PREFIX: &'static str = "factura.security";

    /// The decision for `method path`.
    pub fn decide(&self, method: &Method, path: &str) -> &Access {
        self.rules
            .iter()
            .find(|rule| rule.matches(method, path))
            .map_or(&Access::DenyAll, |rule| &rule.access)
    }

    /// The built-in rules (after the configured ones).
    fn defaults(public_api_docs: bool) -> Vec<Rule> {
        let reads = [Method::GET, Method::HEAD];
        let mut rules = vec![
            Rule::new(
                &["/actuator/health", "/actuator/health/**"],
                &reads,
                Access::PermitAll,
            ),
            Rule::new(&["/**"], &[Method::OPTIONS], Access::PermitAll),
        ];
        if public_api_docs {
            rules.push(Rule::new(
                &["/", "/profile/**", "/v3/api-docs/**"],
                &reads,
                Access::PermitAll,
            ));
        }
        rules.push(Rule::new(&["/**"], &reads, Access::Authenticated));
        rules.push(Rule::new(
            &["/**"],
            &[],
            Access::AnyAuthority(vec!["ROLE_ADMIN".into()]),
        ));
        rules
    }
}

impl FromSection for Rules {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let public_api_docs = section.flag("public-api-docs", false)?;
        let mut indexes: Vec<usize> = section
            .map("rules")
            .keys()
            .filter_map(|key| key.split('.').next()?.parse().ok())
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        let mut rules = Vec::new();
        for index in indexes {
            rules.push(section.child(&format!("rules.{index}")).bind()?);
        }
        rules.extend(Self::defaults(public_api_docs));
        Ok(Self { rules })
    }
}

impl FromSection for Rule {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let invalid = |field: &str, value: String, expected: &str| SettingsError::Invalid {
            key: section.key(field),
            value,
            expected: expected.to_owned(),
        };
        let texts = section.list("paths");
        if texts.is_empty() {
            return Err(invalid(
                "paths",
                String::new(),
                "one or more path patterns (/customers/**)",
            ));
        }
        let mut paths = Vec::new();
        for text in texts {
            match Pattern::path(&text) {
                Ok(pattern) if text.starts_with('/') => paths.push(pattern),
                _ => return Err(invalid("paths", text, "a path pattern starting with /")),
            }
        }
        let mut methods = Vec::new();
        for name in section.list("methods") {
            let upper = name.to_ascii_uppercase();
            match upper.parse::<Method>() {
                Ok(method) if upper.chars().all(|c| c.is_ascii_uppercase()) => methods.push(method),
                _ => return Err(invalid("methods", name, "HTTP methods (GET, POST, …)")),
            }
        }
        let mut authorities = section.list("authorities");
        authorities.extend(
            section
                .list("roles")
                .into_iter()
                .map(|role| format!("ROLE_{}", role.trim_start_matches("ROLE_"))),
        );
        let access = match section.get("access") {
            None if !authorities.is_empty() => Access::AnyAuthority(authorities),
            None => {
                return Err(invalid(
                    "access",
                    String::new(),
                    "permit-all, authenticated or deny-all, or authorities/roles",
                ));
            }
            Some(text) => {
                let access = match text.replace(['-', '_'], "").to_ascii_lowercase().as_str() {
                    "permitall" => Access::PermitAll,
                    "authenticated" => Access::Authenticated,
                    "denyall" => Access::DenyAll,
                    _ => {
                        return Err(invalid(
                            "access",
                            text,
                            "permit-all, authenticated or deny-all",
                        ));
                    }
                };
                if !authorities.is_empty() {
                    return Err(invalid(
                        "access",
                        text,
                        "no access together with authorities or roles (they are the access)",
                    ));
                }
                access
            }
        };
        Ok(Self {
            paths,
            methods,
            access,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;

    fn rules(pairs: &[(&str, &str)]) -> Rules {
        Settings::from_pairs(pairs).bind(Rules::PREFIX).unwrap()
    }

    #[test]
    fn the_defaults_read_for_any_token_and_write_for_admins() {
        let rules = rules(&[]);
        let admin = Access::AnyAuthority(vec!["ROLE_ADMIN".into()]);
        assert_eq!(
            rules.decide(&Method::GET, "/customers/1"),
            &Access::Authenticated
        );
        assert_eq!(
            rules.decide(&Method::HEAD, "/customers"),
            &Access::Authenticated
        );
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(rules.decide(&method, "/customers/1"), &admin, "{method}");
        }
        assert_eq!(
            rules.decide(&Method::GET, "/actuator/health"),
            &Access::PermitAll
        );
        assert_eq!(
            rules.decide(&Method::GET, "/actuator/health/liveness"),
            &Access::PermitAll
        );
        assert_eq!(rules.decide(&Method::POST, "/actuator/refresh"), &admin);
        assert_eq!(rules.decide(&Method::GET, "/"), &Access::Authenticated);
        assert_eq!(
            rules.decide(&Method::OPTIONS, "/customers"),
            &Access::PermitAll
        );
        let open_docs = self::rules(&[("factura.security.public-api-docs", "true")]);
        for path in ["/", "/profile", "/profile/customers", "/v3/api-docs"] {
            assert_eq!(
                open_docs.decide(&Method::GET, path),
                &Access::PermitAll,
                "{path}"
            );
        }
        assert_eq!(
            open_docs.decide(&Method::GET, "/customers"),
            &Access::Authenticated
        );
    }

    #[test]
    fn configured_rules_come_first_and_say_what_is_wrong() {
        let rules = rules(&[
            ("factura.security.rules[0].paths", "/actuator/prometheus"),
            ("factura.security.rules[0].access", "permit-all"),
            ("factura.security.rules[1].paths[0]", "/bills/**"),
            ("factura.security.rules[1].paths[1]", "/fullBill/{id}"),
            ("factura.security.rules[1].methods", "get, head"),
            ("factura.security.rules[1].roles", "USER, ADMIN"),
            ("factura.security.rules[2].paths", "/products/**"),
            ("factura.security.rules[2].methods", "PUT"),
            (
                "factura.security.rules[2].authorities",
                "SCOPE_inventory.write",
            ),
        ]);
        assert_eq!(
            rules.decide(&Method::GET, "/actuator/prometheus"),
            &Access::PermitAll
        );
        let readers = Access::AnyAuthority(vec!["ROLE_USER".into(), "ROLE_ADMIN".into()]);
        assert_eq!(rules.decide(&Method::GET, "/fullBill/1"), &readers);
        assert_eq!(
            rules.decide(&Method::GET, "/bills/1/productItems"),
            &readers
        );
        assert_eq!(
            rules.decide(&Method::PUT, "/products/1"),
            &Access::AnyAuthority(vec!["SCOPE_inventory.write".into()])
        );
        // Not matched by a configured rule: the defaults.
        assert_eq!(
            rules.decide(&Method::DELETE, "/bills/1"),
            &Access::AnyAuthority(vec!["ROLE_ADMIN".into()])
        );
        let error = |pairs: &[(&str, &str)]| {
            Settings::from_pairs(pairs)
                .bind::<Rules>(Rules::PREFIX)
                .unwrap_err()
                .to_string()
        };
        let text = error(&[
            ("factura.security.rules[0].paths", "/x"),
            ("factura.security.rules[0].access", "everyone"),
        ]);
        assert!(
            text.contains("factura.security.rules.0.access") && text.contains("everyone"),
            "{text}"
        );
        let text = error(&[("factura.security.rules[0].access", "permit-all")]);
        assert!(text.contains("paths"), "{text}");
        let text = error(&[
            ("factura.security.rules[0].paths", "customers"),
            ("factura.security.rules[0].access", "permit-all"),
        ]);
        assert!(text.contains("starting with /"), "{text}");
    }
}
