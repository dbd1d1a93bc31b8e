//! Settings in Spring Boot's vocabulary and precedence.
//!
//! A service's configuration is an ordered stack of flat property sources (`server.port`,
//! `eureka.client.service-url.defaultZone`, `app.list[0]`), the same model Spring's
//! `Environment` has and the config-service serves. Lookups walk the stack from the highest
//! precedence down and compare keys in Spring's *relaxed* canonical form, so that
//! `SERVER_PORT`, `server.port` and `server-port`-style spellings meet.
//!
//! Precedence, lowest first (see [`Settings::load`]):
//! built-in defaults < local `application.yml` (+ `application-{profile}.yml`) <
//! config-service (when a client fills that layer in) < environment variables < command-line flags.

mod data_size;
mod duration;
mod placeholder;
mod section;
mod yaml;

use std::{fmt, path::Path, str::FromStr, sync::Arc};

use anyhow::Context as _;
use indexmap::IndexMap;

pub use data_size::parse_data_size;
pub use duration::{DurationError, DurationUnit, expected_duration, parse_duration};
pub use placeholder::resolve_placeholders;
pub use section::{
    ConnectionLimits, EX_CONFIG, FacturaSettings, FromSection, Section, ServerSettings,
    is_configuration_error,
};
pub use yaml::{
    ON_PROFILE, YamlDocument, parse_yaml_documents, profile_expression_matches, value_text,
};

/// One named layer of flat properties, e.g. `applicationConfig: [file:./application.yml]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertySource {
    /// Where the properties came from, as Spring names its sources.
    pub name: String,
    /// Properties in file order, keyed as written (`eureka.client.service-url.defaultZone`).
    pub properties: IndexMap<String, String>,
    /// The same properties keyed by [`canonical_key`], for relaxed lookup.
    canonical: IndexMap<String, String>,
}

impl PropertySource {
    /// Builds a source from `(key, value)` pairs, keeping their order.
    pub fn new(
        name: impl Into<String>,
        properties: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let properties: IndexMap<String, String> = properties.into_iter().collect();
        let canonical = properties
            .iter()
            .map(|(k, v)| (canonical_key(k), v.clone()))
            .collect();
        Self {
            name: name.into(),
            properties,
            canonical,
        }
    }

    /// The value for `key` compared in relaxed form, if this source has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.canonical.get(&canonical_key(key)).map(String::as_str)
    }

    /// Every environment variable, named the way Spring names that source.
    pub fn from_environment_variables() -> Self {
        Self::new(
            "systemEnvironment",
            std::env::vars().map(|(k, v)| (environment_key(&k), v)),
        )
    }

    /// `--key=value` command-line arguments (Spring's `commandLineArgs` source).
    pub fn from_command_line(args: &[String]) -> Result<Self, SettingsError> {
        let mut properties = Vec::new();
        for arg in args {
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(SettingsError::Argument(arg.clone()));
            };
            let Some((key, value)) = flag.split_once('=') else {
                return Err(SettingsError::Argument(arg.clone()));
            };
            if key.is_empty() {
                return Err(SettingsError::Argument(arg.clone()));
            }
            properties.push((key.to_owned(), value.to_owned()));
        }
        Ok(Self::new("commandLineArgs", properties))
    }
}

/// Spring's relaxed canonical form of a property name: lower case, dashes dropped,
/// indexes written as `.0`. `eureka.client.service-url.defaultZone` and
/// `eureka.client.serviceUrl.defaultzone` both become `eureka.client.serviceurl.defaultzone`.
pub fn canonical_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        match c {
            '-' | ']' => {}
            '[' => out.push('.'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// An environment variable name turned into a property name the way Spring binds
/// them: `EUREKA_CLIENT_SERVICEURL_DEFAULTZONE` → `eureka.client.serviceurl.defaultzone`.
pub fn environment_key(name: &str) -> String {
    name.to_lowercase().replace('_', ".")
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A command-line argument was not of the `--key=value` form.
    #[error("command-line argument `{0}` is not of the form --key=value")]
    Argument(String),
    /// A configuration file could not be read or parsed.
    #[error("configuration file {path}: {reason}")]
    File {
        /// The file's path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A property exists but its value has the wrong shape: the one way every service refuses
    /// a setting, naming the key, the value and the form expected.
    #[error("property `{key}` = `{value}`: expected {expected}")]
    Invalid {
        /// The property.
        key: String,
        /// Its raw value.
        value: String,
        /// The form that would have been accepted (`a whole number (u16)`, `true or false`).
        expected: String,
    },
}

/// The layered configuration of one running service, highest precedence first.
///
/// Cheap to clone; a refresh builds a new `Settings` and swaps it in.
#[derive(Clone, Default)]
pub struct Settings {
    sources: Arc<Vec<PropertySource>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.sources.iter().map(|s| &s.name))
            .finish()
    }
}

/// The layers a service starts from, before any remote source is added.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    /// Built-in defaults of the service (lowest precedence).
    pub defaults: Vec<(String, String)>,
    /// `--config <file>`: the local file to read instead of `./application.yml`.
    pub config_file: Option<std::path::PathBuf>,
    /// `--key=value` flags (highest precedence).
    pub args: Vec<String>,
    /// Whether to read the process environment (tests turn this off).
    pub use_environment: bool,
}

impl Bootstrap {
    /// Defaults for a service named `name` listening on `port`, reading the environment.
    pub fn new(name: &str, port: u16) -> Self {
        Self {
            defaults: vec![
                ("spring.application.name".into(), name.into()),
                ("server.port".into(), port.to_string()),
            ],
            config_file: None,
            args: Vec::new(),
            use_environment: true,
        }
    }

    /// Adds a built-in default.
    pub fn default(mut self, key: &str, value: impl Into<String>) -> Self {
        self.defaults.push((key.into(), value.into()));
        self
    }
}

impl Settings {
    /// Loads the local layers: defaults, the local file(s), environment, command line.
    ///
    /// The config-service layer is inserted later by [`Settings::with_remote`].
    pub fn load(bootstrap: &Bootstrap) -> Result<Self, SettingsError> {
        let defaults = PropertySource::new("defaultProperties", bootstrap.defaults.clone());
        let environment = if bootstrap.use_environment {
            PropertySource::from_environment_variables()
        } else {
            PropertySource::default()
        };
        let command_line = PropertySource::from_command_line(&bootstrap.args)?;

        // Profiles are needed to choose the profile-specific documents, and may be set in any
        // layer except the file itself being read; Spring resolves them the same way.
        let pre_file = Settings::from_sources(vec![
            command_line.clone(),
            environment.clone(),
            defaults.clone(),
        ]);
        let mut profiles = pre_file.active_profiles();

        let (path, explicit) = match &bootstrap.config_file {
            Some(path) => (path.clone(), true),
            None => (std::path::PathBuf::from("application.yml"), false),
        };
        let mut file_sources = Vec::new();
        if path.exists() || explicit {
            let text = std::fs::read_to_string(&path).map_err(|e| SettingsError::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let documents = parse_yaml_documents(&text).map_err(|reason| SettingsError::File {
                path: path.display().to_string(),
                reason,
            })?;
            if profiles.is_empty() {
                // The file itself may activate profiles.
                let base = documents.iter().find(|d| d.on_profile.is_none());
                if let Some(active) = base.and_then(|d| d.properties.get("spring.profiles.active"))
                {
                    profiles = split_list(active);
                }
            }
            file_sources = local_file_sources(&path, &documents, &profiles)?;
        }

        let mut sources = vec![command_line, environment];
        sources.extend(file_sources);
        sources.push(defaults);
        Ok(Settings::from_sources(sources))
    }

    /// One layer of `(key, value)` pairs (tests, tools).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self::from_sources(vec![PropertySource::new(
            "pairs",
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )])
    }

    /// Settings made of exactly these sources, highest precedence first.
    pub fn from_sources(sources: Vec<PropertySource>) -> Self {
        Self {
            sources: Arc::new(sources),
        }
    }

    /// The property sources, highest precedence first.
    pub fn sources(&self) -> &[PropertySource] {
        &self.sources
    }

    /// A copy with `remote` sources placed just below the environment variables, where Spring
    /// puts config-server sources. `remote` is highest precedence first.
    pub fn with_remote(&self, remote: Vec<PropertySource>) -> Self {
        let mut sources: Vec<PropertySource> =
            Vec::with_capacity(self.sources.len() + remote.len());
        let mut inserted = false;
        for source in self.sources.iter() {
            let is_local = !matches!(
                source.name.as_str(),
                // `overrides` is what tests and launchers force; it ranks like a flag.
                "commandLineArgs" | "systemEnvironment" | "overrides"
            );
            if is_local && !inserted {
                sources.extend(remote.iter().cloned());
                inserted = true;
            }
            sources.push(source.clone());
        }
        if !inserted {
            sources.extend(remote);
        }
        Self::from_sources(sources)
    }

    /// A copy with one more property at the highest precedence (tests and launchers use this).
    pub fn with_override(&self, key: &str, value: impl Into<String>) -> Self {
        let mut sources = (*self.sources).clone();
        match sources.first_mut() {
            Some(first) if first.name == "overrides" => {
                let mut props = first.properties.clone();
                props.insert(key.to_owned(), value.into());
                *first = PropertySource::new("overrides", props);
            }
            _ => sources.insert(
                0,
                PropertySource::new("overrides", [(key.to_owned(), value.into())]),
            ),
        }
        Self::from_sources(sources)
    }

    /// The raw value of `key` with `${…}` placeholders resolved, if any layer sets it.
    pub fn get(&self, key: &str) -> Option<String> {
        let raw = self.sources.iter().find_map(|s| s.get(key))?;
        Some(self.resolve(raw))
    }

    /// The value of `key`, or `default` when no layer sets it.
    pub fn get_or(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or_else(|| default.to_owned())
    }

    /// The value of `key` parsed as `T`; `Ok(None)` when unset.
    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, SettingsError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(key) {
            None => Ok(None),
            Some(value) => {
                value
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|e: T::Err| SettingsError::Invalid {
                        key: key.into(),
                        value,
                        expected: format!("{} ({e})", expected_form::<T>()),
                    })
            }
        }
    }

    /// The value of `key` parsed as `T`, or `default` when unset.
    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, SettingsError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        Ok(self.parse(key)?.unwrap_or(default))
    }

    /// A boolean property in Spring's spelling (`true`/`false`, any case).
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, SettingsError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => Ok(true),
                "false" | "no" | "off" => Ok(false),
                _ => Err(SettingsError::Invalid {
                    key: key.into(),
                    value: v,
                    expected: "true or false".into(),
                }),
            },
        }
    }

    /// A `Duration` property in Spring's relaxed form (`500ms`, `10s`, `PT10S`; a bare number
    /// is in `unit`, the key's own unit), or `default` when unset.
    pub fn duration_or(
        &self,
        key: &str,
        unit: DurationUnit,
        default: std::time::Duration,
    ) -> Result<std::time::Duration, SettingsError> {
        match self.get(key) {
            None => Ok(default),
            Some(value) => parse_duration(&value, unit).map_err(|e| SettingsError::Invalid {
                key: key.into(),
                value,
                expected: e.expected,
            }),
        }
    }

    /// Every property whose key starts with `prefix.` (relaxed), highest precedence winning,
    /// keyed by the part after the prefix in canonical form.
    pub fn with_prefix(&self, prefix: &str) -> IndexMap<String, String> {
        let prefix = format!("{}.", canonical_key(prefix));
        let mut out = IndexMap::new();
        for source in self.sources.iter().rev() {
            for (key, value) in &source.canonical {
                if let Some(rest) = key.strip_prefix(&prefix) {
                    out.insert(rest.to_owned(), self.resolve(value));
                }
            }
        }
        out
    }

    /// All effective properties, keyed canonically; used to diff settings on refresh.
    pub fn effective(&self) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        for source in self.sources.iter().rev() {
            if source.name == "systemEnvironment" {
                continue;
            }
            for (key, value) in &source.properties {
                out.insert(key.clone(), value.clone());
            }
        }
        out
    }

    /// `value` with its `${…}` placeholders resolved against these settings.
    fn resolve(&self, value: &str) -> String {
        resolve_placeholders(value, |key| {
            self.sources
                .iter()
                .find_map(|s| s.get(key))
                .map(str::to_owned)
        })
    }

    // === the keys every service reads ===

    /// `spring.application.name`.
    pub fn application_name(&self) -> String {
        self.get_or("spring.application.name", "application")
    }

    /// `spring.profiles.active` as a list.
    pub fn active_profiles(&self) -> Vec<String> {
        self.get("spring.profiles.active")
            .map(|v| split_list(&v))
            .unwrap_or_default()
    }

    /// `spring.config.import`, parsed.
    pub fn config_import(&self) -> Result<Vec<ConfigImport>, SettingsError> {
        let raw = self.get_or(
            "spring.config.import",
            "optional:configserver:http://localhost:8888",
        );
        split_list(&raw)
            .iter()
            .map(|item| ConfigImport::parse(item))
            .collect()
    }
}

/// One entry of `spring.config.import`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigImport {
    /// `optional:` prefix: a missing source is tolerated.
    pub optional: bool,
    /// What to import.
    pub location: ImportLocation,
}

/// Where an import points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportLocation {
    /// `configserver:[url]`; `None` means `spring.cloud.config.uri` or its default.
    ConfigServer(Option<String>),
    /// Any other location (`file:…`, `classpath:…`), kept as written.
    Other(String),
}

impl ConfigImport {
    /// Parses `optional:configserver:http://host:8888`.
    pub fn parse(raw: &str) -> Result<Self, SettingsError> {
        let raw = raw.trim();
        let (optional, rest) = match raw.strip_prefix("optional:") {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let location = match rest.strip_prefix("configserver:") {
            Some("") => ImportLocation::ConfigServer(None),
            Some(url) => {
                url::Url::parse(url).map_err(|e| SettingsError::Invalid {
                    key: "spring.config.import".into(),
                    value: raw.into(),
                    expected: format!("optional:configserver:<URL> ({e})"),
                })?;
                ImportLocation::ConfigServer(Some(url.to_owned()))
            }
            None if rest.is_empty() => {
                return Err(SettingsError::Invalid {
                    key: "spring.config.import".into(),
                    value: raw.into(),
                    expected: "a location, not an empty one".into(),
                });
            }
            None => ImportLocation::Other(rest.to_owned()),
        };
        Ok(Self { optional, location })
    }
}

/// How a value of type `T` is described when it does not parse.
fn expected_form<T>() -> String {
    let name = std::any::type_name::<T>();
    match name {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            format!("a whole number ({name})")
        }
        "f32" | "f64" => "a number".into(),
        _ => name.rsplit("::").next().unwrap_or(name).to_owned(),
    }
}

/// Splits a comma-separated property value, trimming and dropping empty items.
pub fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The property sources of a local file and its profile variants, highest precedence first:
/// `application-{profile}.yml` files (last profile wins), then profile-activated documents of
/// the main file, then its unconditional documents.
fn local_file_sources(
    path: &Path,
    documents: &[YamlDocument],
    profiles: &[String],
) -> Result<Vec<PropertySource>, SettingsError> {
    let mut sources = Vec::new();
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("application");
    let dir = path.parent().unwrap_or(Path::new("."));
    for profile in profiles.iter().rev() {
        let variant = dir.join(format!("{stem}-{profile}.yml"));
        if variant.exists() {
            let text = std::fs::read_to_string(&variant)
                .with_context(|| variant.display().to_string())
                .map_err(|e| SettingsError::File {
                    path: variant.display().to_string(),
                    reason: format!("{e:#}"),
                })?;
            let docs = parse_yaml_documents(&text).map_err(|reason| SettingsError::File {
                path: variant.display().to_string(),
                reason,
            })?;
            for doc in docs.into_iter().rev().filter(|d| d.applies_to(profiles)) {
                sources.push(PropertySource::new(
                    format!("Config resource 'file [{}]'", variant.display()),
                    doc.properties,
                ));
            }
        }
    }
    let name = format!("Config resource 'file [{}]'", path.display());
    for doc in documents
        .iter()
        .rev()
        .filter(|d| d.on_profile.is_some() && d.applies_to(profiles))
    {
        sources.push(PropertySource::new(name.clone(), doc.properties.clone()));
    }
    for doc in documents.iter().rev().filter(|d| d.on_profile.is_none()) {
        sources.push(PropertySource::new(name.clone(), doc.properties.clone()));
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(layers: &[(&str, &[(&str, &str)])]) -> Settings {
        Settings::from_sources(
            layers
                .iter()
                .map(|(name, props)| {
                    PropertySource::new(
                        *name,
                        props
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn relaxed_keys_meet_in_canonical_form() {
        assert_eq!(
            canonical_key("eureka.client.service-url.defaultZone"),
            environment_key("EUREKA_CLIENT_SERVICEURL_DEFAULTZONE")
        );
        assert_eq!(canonical_key("a.list[2].name"), "a.list.2.name");
    }

    #[test]
    fn connection_limits_bind_with_spring_boots_keys_and_defaults() {
        let limits = |pairs: &[(&str, &str)]| {
            settings(&[("test", pairs)])
                .bind::<ServerSettings>("server")
                .map(|s| s.connections)
        };
        let defaults = limits(&[]).unwrap();
        assert_eq!(defaults.max_header_bytes, 8 * 1024);
        assert_eq!(
            defaults.connection_timeout,
            Some(std::time::Duration::from_secs(60))
        );
        assert_eq!(defaults.keep_alive_timeout, defaults.connection_timeout);
        assert_eq!(defaults.max_connections, 8192);
        let set = limits(&[
            ("server.max-http-request-header-size", "16KB"),
            ("server.tomcat.connection-timeout", "5000"),
            ("server.netty.idle-timeout", "PT2S"),
            ("server.tomcat.max-connections", "10"),
        ])
        .unwrap();
        assert_eq!(set.max_header_bytes, 16 * 1024);
        assert_eq!(
            set.connection_timeout,
            Some(std::time::Duration::from_secs(5))
        );
        assert_eq!(
            set.keep_alive_timeout,
            Some(std::time::Duration::from_secs(2))
        );
        assert_eq!(set.max_connections, 10);
        let none = limits(&[("server.tomcat.connection-timeout", "-1")]).unwrap();
        assert_eq!(
            (none.connection_timeout, none.keep_alive_timeout),
            (None, None)
        );
        let bad = limits(&[("server.max-http-request-header-size", "8 kilobytes")]).unwrap_err();
        assert!(
            bad.to_string()
                .contains("server.max-http-request-header-size"),
            "{bad}"
        );
    }

    #[test]
    fn higher_layers_win() {
        let s = settings(&[
            ("systemEnvironment", &[("server.port", "9000")]),
            (
                "defaultProperties",
                &[("server.port", "8081"), ("spring.application.name", "x")],
            ),
        ]);
        assert_eq!(s.bind::<ServerSettings>("server").unwrap().port, 9000);
        assert_eq!(s.application_name(), "x");
    }

    #[test]
    fn placeholders_resolve_with_defaults_and_stay_when_unresolvable() {
        let s = settings(&[(
            "a",
            &[
                ("greeting", "hello ${name:world}"),
                ("who", "${missing}"),
                ("name2", "${greeting}!"),
                ("kind", "primary"),
                ("primary.url", "db://one"),
                ("nested", "${${kind}.url}"),
                ("escaped", r"\${kind}"),
                ("chained-default", "${missing:${kind}}"),
            ],
        )]);
        assert_eq!(s.get("nested").unwrap(), "db://one");
        assert_eq!(s.get("escaped").unwrap(), "${kind}");
        assert_eq!(s.get("chained-default").unwrap(), "primary");
        assert_eq!(s.get("greeting").unwrap(), "hello world");
        assert_eq!(s.get("who").unwrap(), "${missing}");
        assert_eq!(s.get("name2").unwrap(), "hello world!");
    }

    #[test]
    fn durations_bind_relaxed_and_bad_ones_name_key_value_and_form() {
        let s = settings(&[(
            "a",
            &[("wait", "PT0.5S"), ("bare", "20"), ("bad", "ten seconds")],
        )]);
        let ms = DurationUnit::Millis;
        let default = std::time::Duration::from_secs(1);
        assert_eq!(s.duration_or("wait", ms, default).unwrap().as_millis(), 500);
        assert_eq!(
            s.duration_or("bare", DurationUnit::Seconds, default)
                .unwrap()
                .as_secs(),
            20
        );
        assert_eq!(s.duration_or("unset", ms, default).unwrap(), default);
        let error = s.duration_or("bad", ms, default).unwrap_err().to_string();
        assert!(
            error.starts_with("property `bad` = `ten seconds`: expected a duration such as"),
            "{error}"
        );
        let error = s.parse::<u16>("bad").unwrap_err().to_string();
        assert!(error.contains("expected a whole number (u16)"), "{error}");
    }

    #[test]
    fn sections_bind_with_fallback_prefixes_and_name_the_full_key() {
        #[derive(Debug, PartialEq)]
        struct Retry {
            attempts: u32,
            wait: std::time::Duration,
        }
        impl FromSection for Retry {
            fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
                Ok(Self {
                    attempts: section.parse_or("max-attempts", 3)?,
                    wait: section.duration_or(
                        "wait",
                        DurationUnit::Millis,
                        std::time::Duration::ZERO,
                    )?,
                })
            }
        }
        let s = settings(&[(
            "a",
            &[
                ("retry.one.maxAttempts", "5"),
                ("retry.default.wait", "2s"),
                ("retry.bad.max-attempts", "many"),
            ],
        )]);
        let one: Retry = s.section("retry.one").or("retry.default").bind().unwrap();
        assert_eq!(
            one,
            Retry {
                attempts: 5,
                wait: std::time::Duration::from_secs(2)
            }
        );
        assert_eq!(s.bind::<Retry>("retry.none").unwrap().attempts, 3);
        let error = s
            .section("retry.bad")
            .or("retry.default")
            .bind::<Retry>()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "property `retry.bad.max-attempts` = `many`: expected a whole number (u32) \
             (invalid digit found in string)"
        );
        assert!(is_configuration_error(
            &anyhow::Error::from(error).context("starting")
        ));
    }

    #[test]
    fn command_line_flags_must_be_key_value() {
        assert!(PropertySource::from_command_line(&["--server.port=1".into()]).is_ok());
        assert!(matches!(
            PropertySource::from_command_line(&["server.port".into()]),
            Err(SettingsError::Argument(_))
        ));
    }

    #[test]
    fn config_import_parses_optional_config_server() {
        let import = ConfigImport::parse("optional:configserver:http://localhost:8888").unwrap();
        assert!(import.optional);
        assert_eq!(
            import.location,
            ImportLocation::ConfigServer(Some("http://localhost:8888".into()))
        );
        assert!(ConfigImport::parse("configserver:not a url").is_err());
    }

    #[test]
    fn remote_sources_sit_below_environment_and_above_files() {
        let s = settings(&[
            ("commandLineArgs", &[]),
            ("systemEnvironment", &[("b", "env")]),
            ("file", &[("a", "file"), ("b", "file"), ("c", "file")]),
        ]);
        let s = s.with_remote(vec![PropertySource::new(
            "configserver:app",
            [
                ("a".to_owned(), "remote".to_owned()),
                ("b".to_owned(), "remote".to_owned()),
            ],
        )]);
        assert_eq!(s.get("a").unwrap(), "remote");
        assert_eq!(s.get("b").unwrap(), "env");
        assert_eq!(s.get("c").unwrap(), "file");
    }

    #[test]
    fn local_file_and_profile_variant_layer_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("application.yml");
        std::fs::write(
            &main,
            "server:\n  port: 1000\nlevel: base\n---\nspring:\n  config:\n    activate:\n      on-profile: dev\nlevel: dev-doc\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("application-dev.yml"),
            "server.port: 2000\n",
        )
        .unwrap();
        let bootstrap = Bootstrap {
            defaults: vec![("spring.profiles.active".into(), "dev".into())],
            config_file: Some(main),
            args: vec![],
            use_environment: false,
        };
        let s = Settings::load(&bootstrap).unwrap();
        assert_eq!(s.bind::<ServerSettings>("server").unwrap().port, 2000);
        assert_eq!(s.get("level").unwrap(), "dev-doc");
    }
}
