//! The discovery server's own sections, bound once at start with Eureka's keys:
//! `eureka.server.*` (leases, eviction, self-preservation, replication), `eureka.dashboard.*`,
//! and the `eureka.environment` / `eureka.datacenter` labels the dashboard shows.

use std::time::Duration;

use platform::settings::{FromSection, Section, SettingsError};

use crate::registry::RegistryConfig;

/// `eureka.server.*`.
#[derive(Debug, Clone)]
pub struct EurekaServerSettings {
    /// The registry's leases, eviction, self-preservation and caches.
    pub registry: RegistryConfig,
    /// `registry-sync-retries` (5): attempts at the start-up copy from a peer.
    pub sync_retries: u32,
    /// `registry-sync-retry-wait-ms` (2 s).
    pub sync_wait: Duration,
    /// `peer-node-read-timeout-ms` (5 s; Netflix's 200 ms is too tight under load).
    pub peer_timeout: Duration,
    /// `my-url`: this node's own URL, left out of the peers in `defaultZone`.
    pub my_url: Option<String>,
}

impl FromSection for EurekaServerSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let threshold: f64 = section.parse_or("renewal-percent-threshold", 0.85)?;
        if !(0.0..=1.0).contains(&threshold) {
            return Err(SettingsError::Invalid {
                key: section.key("renewal-percent-threshold"),
                value: threshold.to_string(),
                expected: "a number between 0 and 1".into(),
            });
        }
        Ok(Self {
            registry: RegistryConfig {
                self_preservation: section.flag("enable-self-preservation", true)?,
                renewal_percent_threshold: threshold,
                eviction_interval: millis(section, "eviction-interval-timer-in-ms", 60_000)?,
                delta_retention: millis(section, "retention-time-in-ms-in-delta-queue", 180_000)?,
                response_cache_ttl: millis(section, "response-cache-update-interval-ms", 30_000)?,
                override_expiry: Duration::from_secs(3600),
                warning_grace: millis(section, "self-preservation-warning-grace-ms", 300_000)?,
            },
            sync_retries: section.parse_or("registry-sync-retries", 5)?,
            sync_wait: millis(section, "registry-sync-retry-wait-ms", 2_000)?,
            peer_timeout: millis(section, "peer-node-read-timeout-ms", 5_000)?,
            my_url: section.get("my-url"),
        })
    }
}

/// `eureka.dashboard.*` with the `eureka.environment` and `eureka.datacenter` labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardSettings {
    /// `eureka.dashboard.enabled` (true).
    pub enabled: bool,
    /// `eureka.dashboard.path` (`/`).
    pub path: String,
    /// `eureka.dashboard.refresh-seconds` (10): the page's automatic refresh.
    pub refresh_seconds: u64,
    /// `eureka.environment` (`test`, as Netflix's default).
    pub environment: String,
    /// `eureka.datacenter` (`default`).
    pub datacenter: String,
}

impl FromSection for DashboardSettings {
    fn from_section(section: &Section<'_>) -> Result<Self, SettingsError> {
        let path = section.get_or("path", "/");
        if !path.starts_with('/') {
            return Err(SettingsError::Invalid {
                key: section.key("path"),
                value: path,
                expected: "a path starting with /".into(),
            });
        }
        let labels = section.settings().section("eureka");
        Ok(Self {
            enabled: section.flag("enabled", true)?,
            path,
            refresh_seconds: section.parse_or("refresh-seconds", 10)?,
            environment: labels.get_or("environment", "test"),
            datacenter: labels.get_or("datacenter", "default"),
        })
    }
}

/// A `…-ms` key: whole milliseconds between 1 and 30 days.
fn millis(section: &Section<'_>, field: &str, default: u64) -> Result<Duration, SettingsError> {
    let ms: u64 = section.parse_or(field, default)?;
    if ms == 0 || ms > 30 * 24 * 3_600_000 {
        return Err(SettingsError::Invalid {
            key: section.key(field),
            value: ms.to_string(),
            expected: "whole milliseconds between 1 and 30 days".into(),
        });
    }
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use platform::Settings;

    use super::*;

    #[test]
    fn eureka_defaults_apply_and_bad_values_name_their_key() {
        let bound: EurekaServerSettings = Settings::from_pairs(&[]).bind("eureka.server").unwrap();
        assert!(bound.registry.self_preservation);
        assert_eq!(bound.registry.eviction_interval, Duration::from_secs(60));
        assert_eq!(bound.peer_timeout, Duration::from_secs(5));

        let error = Settings::from_pairs(&[("eureka.server.renewal-percent-threshold", "1.5")])
            .bind::<EurekaServerSettings>("eureka.server")
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("eureka.server.renewal-percent-threshold"),
            "{error}"
        );
        let error = Settings::from_pairs(&[("eureka.server.eviction-interval-timer-in-ms", "0")])
            .bind::<EurekaServerSettings>("eureka.server")
            .unwrap_err();
        assert!(
            error.to_string().contains("between 1 and 30 days"),
            "{error}"
        );
    }

    #[test]
    fn the_dashboard_labels_come_from_the_top_level_eureka_keys() {
        let bound: DashboardSettings = Settings::from_pairs(&[
            ("eureka.environment", "prod"),
            ("eureka.dashboard.path", "/registry"),
        ])
        .bind("eureka.dashboard")
        .unwrap();
        assert_eq!(bound.environment, "prod");
        assert_eq!(bound.datacenter, "default");
        assert_eq!(bound.path, "/registry");
        assert!(
            Settings::from_pairs(&[("eureka.dashboard.path", "registry")])
                .bind::<DashboardSettings>("eureka.dashboard")
                .is_err()
        );
    }
}
