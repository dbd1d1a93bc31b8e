//! The `spring.data.rest.*` settings Spring Data REST users put in their configuration, bound
//! once when the resources are mounted, and the content negotiation they steer.
//!
//! | key | default |
//! |---|---|
//! | `base-path` | none: resources at `/` |
//! | `default-page-size` / `max-page-size` | 20 / 1000 |
//! | `page-param-name` / `limit-param-name` / `sort-param-name` | `page` / `size` / `sort` |
//! | `return-body-on-create` / `return-body-on-update` | unset: a body iff the request has `Accept` |
//! | `default-media-type` | `application/hal+json` |

use axum::http::{HeaderMap, header};

use crate::{
    hal::{BaseUrl, HAL_JSON},
    settings::{Settings, SettingsError},
};

/// `application/json`.
pub const JSON: &str = "application/json";

/// The bound `spring.data.rest.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestConfig {
    /// Path prefix of every resource (`/api`), or empty.
    pub base_path: String,
    /// Rows per page when the request names no size.
    pub default_page_size: i64,
    /// The largest page a request may ask for (larger sizes are clamped).
    pub max_page_size: i64,
    /// Name of the page-number parameter.
    pub page_param: String,
    /// Name of the page-size parameter.
    pub limit_param: String,
    /// Name of the sort parameter.
    pub sort_param: String,
    /// Whether POST (and a PUT that creates) answers with the entity; `None`: iff `Accept`.
    pub return_body_on_create: Option<bool>,
    /// Whether PUT and PATCH answer with the entity; `None`: iff `Accept`.
    pub return_body_on_update: Option<bool>,
    /// What `Accept: */*` (or none) gets.
    pub default_media_type: String,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            base_path: String::new(),
            default_page_size: 20,
            max_page_size: 1000,
            page_param: "page".into(),
            limit_param: "size".into(),
            sort_param: "sort".into(),
            return_body_on_create: None,
            return_body_on_update: None,
            default_media_type: HAL_JSON.into(),
        }
    }
}

impl RestConfig {
    /// Binds `spring.data.rest.*` from `settings`.
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        let defaults = Self::default();
        let key = |name: &str| format!("spring.data.rest.{name}");
        let name = |name: &str, default: &str| -> Result<String, SettingsError> {
            let value = settings.get_or(&key(name), default).trim().to_owned();
            if value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            {
                return Err(SettingsError::Invalid {
                    key: key(name),
                    value,
                    expected: "a query parameter name (letters, digits, _ - .)".into(),
                });
            }
            Ok(value)
        };
        let size = |name: &str, default: i64| -> Result<i64, SettingsError> {
            let value: i64 = settings.parse_or(&key(name), default)?;
            if value < 1 {
                return Err(SettingsError::Invalid {
                    key: key(name),
                    value: value.to_string(),
                    expected: "a page size of at least 1".into(),
                });
            }
            Ok(value)
        };
        let optional_flag = |name: &str| -> Result<Option<bool>, SettingsError> {
            match settings.get(&key(name)) {
                None => Ok(None),
                Some(_) => settings.flag(&key(name), false).map(Some),
            }
        };
        let base_path = settings.get_or(&key("base-path"), "");
        let base_path = base_path.trim().trim_end_matches('/');
        let base_path = if base_path.is_empty() || base_path.starts_with('/') {
            base_path.to_owned()
        } else {
            format!("/{base_path}")
        };
        if !base_path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-.~".contains(c))
            || base_path.contains("//")
        {
            return Err(SettingsError::Invalid {
                key: key("base-path"),
                value: base_path,
                expected: "a path such as /api".into(),
            });
        }
        let media = settings
            .get_or(&key("default-media-type"), &defaults.default_media_type)
            .trim()
            .to_ascii_lowercase();
        if media != HAL_JSON && media != JSON {
            return Err(SettingsError::Invalid {
                key: key("default-media-type"),
                value: media,
                expected: "application/hal+json or application/json".into(),
            });
        }
        Ok(Self {
            base_path,
            default_page_size: size("default-page-size", defaults.default_page_size)?,
            max_page_size: size("max-page-size", defaults.max_page_size)?,
            page_param: name("page-param-name", &defaults.page_param)?,
            limit_param: name("limit-param-name", &defaults.limit_param)?,
            sort_param: name("sort-param-name", &defaults.sort_param)?,
            return_body_on_create: optional_flag("return-body-on-create")?,
            return_body_on_update: optional_flag("return-body-on-update")?,
            default_media_type: media,
        })
    }

    /// The base URL links are made from: the request's, plus the base path.
    pub fn base(&self, request: &BaseUrl) -> BaseUrl {
        BaseUrl::new(format!("{}{}", request.as_str(), self.base_path))
    }

    /// The `{?page,size,sort*}` template variables, with the configured names.
    pub fn paging_template(&self) -> String {
        format!(
            "{},{},{}*",
            self.page_param, self.limit_param, self.sort_param
        )
    }

    /// The representation to answer with, chosen from `Accept` as Spring MVC does for a Spring
    /// Data REST controller (which produces HAL as `application/hal+json` and as
    /// `application/json`); `None` when nothing acceptable is produced (a 406).
    pub fn negotiate(&self, headers: &HeaderMap) -> Option<&str> {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim();
        if accept.is_empty() {
            return Some(&self.default_media_type);
        }
        let mut ranges: Vec<(f32, usize, String)> = accept
            .split(',')
            .enumerate()
            .filter_map(|(i, range)| {
                let mut parts = range.split(';');
                let essence = parts.next()?.trim().to_ascii_lowercase();
                let quality = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (quality > 0.0 && !essence.is_empty()).then_some((quality, i, essence))
            })
            .collect();
        // Higher quality first, then the more specific range, then the order written.
        ranges.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(specificity(&b.2).cmp(&specificity(&a.2)))
                .then(a.1.cmp(&b.1))
        });
        // With `default-media-type: application/json`, Spring Data REST no longer produces
        // `application/hal+json` at all (it answers 406 to it).
        let hal = self.default_media_type == HAL_JSON;
        ranges
            .iter()
            .find_map(|(_, _, range)| match range.as_str() {
                "*/*" | "application/*" => Some(self.default_media_type.as_str()),
                HAL_JSON if hal => Some(HAL_JSON),
                JSON => Some(JSON),
                _ => None,
            })
    }
}

fn specificity(range: &str) -> u8 {
    match range {
        "*/*" => 0,
        r if r.ends_with("/*") => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().unwrap());
        RestConfig::default().negotiate(&headers).map(str::to_owned)
    }

    #[test]
    fn negotiation_follows_spring_mvc() {
        assert_eq!(accept("*/*").as_deref(), Some(HAL_JSON));
        assert_eq!(
            accept("application/json, text/plain, */*").as_deref(),
            Some(JSON)
        );
        assert_eq!(
            accept("text/html, application/hal+json;q=0.5").as_deref(),
            Some(HAL_JSON)
        );
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/json;q=0"), None);
        assert_eq!(
            RestConfig::default().negotiate(&HeaderMap::new()),
            Some(HAL_JSON)
        );
    }

    #[test]
    fn settings_bind_with_checks() {
        let settings = Settings::from_sources(vec![crate::settings::PropertySource::new(
            "test",
            [
                ("spring.data.rest.base-path".to_owned(), "api/".to_owned()),
                ("spring.data.rest.max-page-size".to_owned(), "3".to_owned()),
                (
                    "spring.data.rest.return-body-on-create".to_owned(),
                    "false".to_owned(),
                ),
            ],
        )]);
        let config = RestConfig::from_settings(&settings).unwrap();
        assert_eq!(config.base_path, "/api");
        assert_eq!(config.max_page_size, 3);
        assert_eq!(config.return_body_on_create, Some(false));
        assert_eq!(config.return_body_on_update, None);
        let bad = Settings::from_sources(vec![crate::settings::PropertySource::new(
            "test",
            [(
                "spring.data.rest.default-page-size".to_owned(),
                "0".to_owned(),
            )],
        )]);
        assert!(RestConfig::from_settings(&bad).is_err());
    }
}
