//! The config server's own sections, bound once at start with Spring Cloud Config's keys:
//! `spring.cloud.config.server.git.*`, `…native.*` and the server-wide `…prefix`,
//! `…encrypt.enabled`, `…accept-empty`.

use std::time::Duration;

use platform::settings::{DurationUnit, FromSection, Section, SettingsError};

/// `spring.cloud.config.server.git.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSettings {
    /// `uri`: the repository; without it the server serves a folder ([`NativeSettings`]).
    pub uri: Option<String>,
    /// `username` and `password` (a token works as the password).
    pub username: Option<String>,
    /// See `username`.
    pub password: Option<String>,
    /// `default-label` (the remote's default branch when unset).
    pub default_label: Option<String>,
    /// `try-master-branch` (true): fall back to `master` when `main` is asked for and missing.
    pub try_master_branch: bool,
    /// `search-paths`: folders searched besides the root, with `{application}` patterns.
    pub search_paths: Vec<String>,
    /// `refresh-rate` in seconds (0: as often as is sensible; negative: never after the clone).
    pub refresh_rate: i64,
    /// `timeout` in seconds (5) a clone or fetch may take.
    pub timeout: Duration,
    /// `basedir`: where the clone lives (a temporary folder when unset).
    pub basedir: Option<String>,
    /// `skip-ssl-validation` (false).
    pub skip_ssl_validation: bool,
    /// `force-pull` (false): accepted; the clone is fetch-only, so the remote always wins.
    pub force_pull: bool,
    /// `clone-on-start` (false): a clone that fails at start stops the server.
    pub clone_on_start: bool,
}

impl FromSection for GitSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            uri: section
                .get("uri")
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty()),
            username: section.get("username"),
            password: section.get("password"),
            default_label: section.get("default-label").filter(|l| !l.is_empty()),
            try_master_branch: section.flag("try-master-branch", true)?,
            search_paths: section.list("search-paths"),
            refresh_rate: section.parse_or("refresh-rate", 0)?,
            timeout: Duration::from_secs(section.parse_or("timeout", 5)?),
            basedir: section.get("basedir"),
            skip_ssl_validation: section.flag("skip-ssl-validation", false)?,
            force_pull: section.flag("force-pull", false)?,
            clone_on_start: section.flag("clone-on-start", false)?,
        })
    }
}

/// `spring.cloud.config.server.native.*`: serving a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeSettings {
    /// `search-locations` (`./config-repo`).
    pub search_locations: Vec<String>,
    /// `version`: the version reported for every Environment, when set.
    pub version: Option<String>,
    /// `default-label` (`master`).
    pub default_label: String,
    /// `poll-interval` (1 s; a bare number is milliseconds): how often the folder is checked
    /// for changes.
    pub poll_interval: Duration,
}

impl FromSection for NativeSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let locations = section.list("search-locations");
        Ok(Self {
            search_locations: if locations.is_empty() {
                vec!["./config-repo".to_owned()]
            } else {
                locations
            },
            version: section.get("version").filter(|v| !v.is_empty()),
            default_label: section.get_or("default-label", "master"),
            poll_interval: section.duration_or(
                "poll-interval",
                DurationUnit::Millis,
                Duration::from_secs(1),
            )?,
        })
    }
}

/// `spring.cloud.config.server.*` besides the backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigServerSettings {
    /// `prefix`: the path the API is served under, normalised to `/x` (empty: the root).
    pub prefix: String,
    /// `encrypt.enabled` (true): decrypt `{cipher}` values before serving them.
    pub decrypt_served_values: bool,
    /// `accept-empty` (true): an application with no files is an empty Environment, not a 404.
    pub accept_empty: bool,
}

impl FromSection for ConfigServerSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let mut prefix = section
            .get_or("prefix", "")
            .trim_end_matches('/')
            .to_owned();
        if !prefix.is_empty() && !prefix.starts_with('/') {
            prefix.insert(0, '/');
        }
        Ok(Self {
            prefix,
            decrypt_served_values: section.flag("encrypt.enabled", true)?,
            accept_empty: section.flag("accept-empty", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use platform::Settings;

    use super::*;

    #[test]
    fn the_sections_take_spring_cloud_configs_keys_and_defaults() {
        let settings = Settings::from_pairs(&[
            (
                "spring.cloud.config.server.git.uri",
                " https://git.example/r.git ",
            ),
            (
                "spring.cloud.config.server.git.search-paths",
                "{application}, shared",
            ),
            ("spring.cloud.config.server.prefix", "config/"),
        ]);
        let git: GitSettings = settings.bind("spring.cloud.config.server.git").unwrap();
        assert_eq!(git.uri.as_deref(), Some("https://git.example/r.git"));
        assert_eq!(git.search_paths, ["{application}", "shared"]);
        assert_eq!(git.timeout, Duration::from_secs(5));
        assert!(git.try_master_branch && !git.clone_on_start);
        let native: NativeSettings = settings.bind("spring.cloud.config.server.native").unwrap();
        assert_eq!(native.search_locations, ["./config-repo"]);
        assert_eq!(native.default_label, "master");
        let server: ConfigServerSettings = settings.bind("spring.cloud.config.server").unwrap();
        assert_eq!(server.prefix, "/config");
        assert!(server.decrypt_served_values && server.accept_empty);
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let error =
            Settings::from_pairs(&[("spring.cloud.config.server.git.clone-on-start", "soon")])
                .bind::<GitSettings>("spring.cloud.config.server.git")
                .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("spring.cloud.config.server.git.clone-on-start"),
            "{error}"
        );
    }
}
