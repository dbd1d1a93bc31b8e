//! Settings bound once per section into typed structs: [`FromSection`] implementations read
//! their keys through a [`Section`] (one prefix, optionally falling back to others field by
//! field), so every service parses and refuses values the same way; a refused value ends the
//! start with [`EX_CONFIG`].

use std::{fmt, str::FromStr};

use super::{DurationUnit, Settings, SettingsError, split_list};

/// `server.*`: where a service listens and how its common layers treat requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// `server.address`: the interface to bind (default all IPv4 interfaces, as Spring).
    pub address: String,
    /// `server.port` (default 8080; 0 asks the OS for a free port).
    pub port: u16,
    /// `server.request-timeout-ms`: how long one request may take (default 30 s; a bare
    /// number is milliseconds, `30s`/`PT30S` work too).
    pub request_timeout: std::time::Duration,
    /// `server.forward-headers-strategy`: `framework` (default) honours `X-Forwarded-*` and
    /// `Forwarded` in links; `none` ignores them.
    pub forward_headers_strategy: String,
    /// How connections are bounded (the accept loop's limits).
    pub connections: ConnectionLimits,
}

/// The bounds every connection a service accepts is held to, with Spring Boot's keys (Tomcat's
/// where the servers differ, as the data services run on Tomcat in the original) and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `server.max-http-request-header-size` (Spring's 8KB): a request line and headers larger
    /// than this are answered 431 (never below 8 KB: the HTTP stack's smallest read buffer).
    pub max_header_bytes: usize,
    /// `server.tomcat.connection-timeout` (Tomcat's 60 s; `-1` for none): a new connection's
    /// first request head must arrive within it, and a request body may pause no longer.
    pub connection_timeout: Option<std::time::Duration>,
    /// `server.tomcat.keep-alive-timeout` (or Netty's `server.netty.idle-timeout`; default the
    /// connection timeout, as Tomcat): how long a connection may stay idle between requests
    /// (the next request's head included) before it is closed.
    pub keep_alive_timeout: Option<std::time::Duration>,
    /// `server.tomcat.max-connections` (Tomcat's 8192): connections served at once; beyond
    /// it new ones wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl FromSection for ConnectionLimits {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let timeout = |field: &str, default: Option<std::time::Duration>| {
            match section.get(field).map(|v| v.trim().to_owned()) {
                None => Ok(default),
                // Tomcat's "no timeout".
                Some(v) if v == "-1" => Ok(None),
                Some(_) => section
                    .duration_or(field, DurationUnit::Millis, std::time::Duration::ZERO)
                    .map(|d| (!d.is_zero()).then_some(d)),
            }
        };
        let connection_timeout = timeout(
            "tomcat.connection-timeout",
            Some(std::time::Duration::from_secs(60)),
        )?;
        let keep_alive_timeout = match timeout("tomcat.keep-alive-timeout", connection_timeout)? {
            kept if section.get("tomcat.keep-alive-timeout").is_some() => kept,
            _ => timeout("netty.idle-timeout", connection_timeout)?,
        };
        let max_header_bytes = section.data_size_or("max-http-request-header-size", 8 * 1024)?;
        Ok(Self {
            max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
            connection_timeout,
            keep_alive_timeout,
            max_connections: section
                .parse_or("tomcat.max-connections", 8192_usize)?
                .max(1),
        })
    }
}

impl FromSection for ServerSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            address: section.get_or("address", "0.0.0.0"),
            port: section.parse_or("port", 8080)?,
            request_timeout: section.duration_or(
                "request-timeout-ms",
                DurationUnit::Millis,
                std::time::Duration::from_secs(30),
            )?,
            forward_headers_strategy: section.get_or("forward-headers-strategy", "framework"),
            connections: section.bind()?,
        })
    }
}

/// `factura.*`: our own settings, for what Spring has no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacturaSettings {
    /// `factura.data-dir`: where the embedded SQLite databases live (default `./data`).
    pub data_dir: String,
    /// `factura.max-body-bytes`: the largest request body a service accepts (default 1 MiB).
    pub max_body_bytes: usize,
}

impl FromSection for FacturaSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            data_dir: section.get_or("data-dir", "data"),
            max_body_bytes: section.parse_or("max-body-bytes", 1024 * 1024)?,
        })
    }
}

/// A typed settings section (`server`, `spring.cloud.config.retry`, a Resilience4j instance),
/// bound once by [`Settings::bind`] and then read as plain fields.
///
/// Implementations read their keys through the [`Section`] they are given, so every service
/// parses a value the same way and refuses a bad one with the same [`SettingsError::Invalid`]
/// (the full key, the value and the expected form).
pub trait FromSection: Sized {
    /// Reads the section's fields.
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError>;
}

/// The keys under one prefix, with optional fallback prefixes consulted field by field
/// (Resilience4j's `instances.<name>.x`, else `configs.default.x`).
#[derive(Debug, Clone)]
pub struct Section<'a> {
    settings: &'a Settings,
    prefixes: Vec<String>,
}

impl<'a> Section<'a> {
    /// Also look under `prefix` for a field the earlier prefixes do not set.
    pub fn or(mut self, prefix: &str) -> Self {
        self.prefixes.push(prefix.to_owned());
        self
    }

    /// The section under `field` of this one (`retry` of `spring.cloud.config`), with the
    /// same fallbacks.
    pub fn child(&self, field: &str) -> Section<'a> {
        Section {
            settings: self.settings,
            prefixes: self
                .prefixes
                .iter()
                .map(|p| {
                    if p.is_empty() {
                        field.to_owned()
                    } else {
                        format!("{p}.{field}")
                    }
                })
                .collect(),
        }
    }

    /// Binds `T` from this section.
    pub fn bind<T: FromSection>(&self) -> Result<T, SettingsError> {
        T::from_section(self)
    }

    /// The settings the section reads.
    pub fn settings(&self) -> &'a Settings {
        self.settings
    }

    /// The full key `field` is read from: under the first prefix that sets it, else the first.
    pub fn key(&self, field: &str) -> String {
        let full = |prefix: &str| {
            if prefix.is_empty() {
                field.to_owned()
            } else {
                format!("{prefix}.{field}")
            }
        };
        self.prefixes
            .iter()
            .map(|p| full(p))
            .find(|key| self.settings.get(key).is_some())
            .unwrap_or_else(|| full(&self.prefixes[0]))
    }

    /// The value of `field`, placeholders resolved, if set.
    pub fn get(&self, field: &str) -> Option<String> {
        self.settings.get(&self.key(field))
    }

    /// The value of `field`, or `default`.
    pub fn get_or(&self, field: &str, default: &str) -> String {
        self.get(field).unwrap_or_else(|| default.to_owned())
    }

    /// `field` parsed as `T`, or `default` when unset.
    pub fn parse_or<T>(&self, field: &str, default: T) -> Result<T, SettingsError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.settings.parse_or(&self.key(field), default)
    }

    /// `field` parsed as `T`; `Ok(None)` when unset.
    pub fn parse<T>(&self, field: &str) -> Result<Option<T>, SettingsError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.settings.parse(&self.key(field))
    }

    /// A boolean `field`, or `default`.
    pub fn flag(&self, field: &str, default: bool) -> Result<bool, SettingsError> {
        self.settings.flag(&self.key(field), default)
    }

    /// A `Duration` `field` in Spring's relaxed form (bare numbers in `unit`), or `default`.
    pub fn duration_or(
        &self,
        field: &str,
        unit: DurationUnit,
        default: std::time::Duration,
    ) -> Result<std::time::Duration, SettingsError> {
        self.settings.duration_or(&self.key(field), unit, default)
    }

    /// Every key under `field.` (a map such as `metadata-map.*`), keyed by the rest in
    /// canonical form, highest precedence winning.
    pub fn map(&self, field: &str) -> indexmap::IndexMap<String, String> {
        let mut out = indexmap::IndexMap::new();
        for prefix in self.prefixes.iter().rev() {
            let key = if prefix.is_empty() {
                field.to_owned()
            } else {
                format!("{prefix}.{field}")
            };
            out.extend(self.settings.with_prefix(&key));
        }
        out
    }

    /// A `DataSize` `field` in bytes (`8KB`, `5MB`, bare bytes), or `default`.
    pub fn data_size_or(&self, field: &str, default: u64) -> Result<u64, SettingsError> {
        match self.get(field) {
            None => Ok(default),
            Some(value) => {
                super::parse_data_size(&value).map_err(|expected| SettingsError::Invalid {
                    key: self.key(field),
                    value,
                    expected,
                })
            }
        }
    }

    /// A list `field`, comma-separated (`a,b`) or indexed as YAML lists flatten (`field[0]`,
    /// `field[1]`…), as Spring binds both; empty when unset.
    pub fn list(&self, field: &str) -> Vec<String> {
        if let Some(value) = self.get(field) {
            return split_list(&value);
        }
        (0..)
            .map_while(|i| self.get(&format!("{field}[{i}]")))
            .flat_map(|v| split_list(&v))
            .collect()
    }
}

impl Settings {
    /// The section under `prefix` (`""` for top-level keys).
    pub fn section(&self, prefix: &str) -> Section<'_> {
        Section {
            settings: self,
            prefixes: vec![prefix.to_owned()],
        }
    }

    /// Binds the section under `prefix` into `T`, once, failing on the first bad value.
    pub fn bind<T: FromSection>(&self, prefix: &str) -> Result<T, SettingsError> {
        self.section(prefix).bind()
    }
}

/// Whether `error` comes from a setting that could not be used: a service exits with
/// [`EX_CONFIG`] for it, before it binds a port.
pub fn is_configuration_error(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<SettingsError>())
}

/// The exit code of a service refusing its configuration (`EX_CONFIG` of BSD's `sysexits.h`).
pub const EX_CONFIG: u8 = 78;
