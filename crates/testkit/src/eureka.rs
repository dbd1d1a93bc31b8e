//! Stand-in Eureka instances: the JSON registration a Spring Cloud Netflix client sends, for
//! tests that register an instance by hand (the discovery service's own tests and the
//! conformance suite against Spring's Eureka server).

use serde_json::{Value, json};

/// The `lastDirtyTimestamp` of every stand-in registration (a fixed instant in 2023).
pub const DIRTY_TIMESTAMP: i64 = 1_700_000_000_000;

/// One instance to register; [`Registration::json`] is the request body.
#[derive(Debug, Clone)]
pub struct Registration {
    app: String,
    instance_id: String,
    host: String,
    ip: String,
    port: u16,
    lease_duration_secs: u32,
    metadata: Option<Value>,
}

impl Registration {
    /// `app` on `host:port`, with Spring's instance id `host:app:port`, address 127.0.0.1.
    pub fn new(app: &str, host: &str, port: u16) -> Self {
        Self {
            app: app.to_owned(),
            instance_id: format!("{host}:{}:{port}", app.to_ascii_lowercase()),
            host: host.to_owned(),
            ip: "127.0.0.1".to_owned(),
            port,
            lease_duration_secs: 90,
            metadata: None,
        }
    }

    /// Another instance id.
    pub fn id(mut self, instance_id: &str) -> Self {
        instance_id.clone_into(&mut self.instance_id);
        self
    }

    /// Another IP address.
    pub fn ip(mut self, ip: &str) -> Self {
        ip.clone_into(&mut self.ip);
        self
    }

    /// Another lease duration (90 s by default), e.g. one that outlives a test that never renews.
    pub fn lease_duration(mut self, seconds: u32) -> Self {
        self.lease_duration_secs = seconds;
        self
    }

    /// Other metadata (by default Spring's `management.port`).
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// The body, as Spring's client sends it (JSON).
    pub fn json(&self) -> Value {
        let Self {
            app,
            instance_id,
            host,
            ip,
            port,
            lease_duration_secs,
            metadata,
        } = self;
        let metadata = metadata
            .clone()
            .unwrap_or_else(|| json!({"management.port": port.to_string()}));
        json!({"instance": {
            "instanceId": instance_id,
            "hostName": host,
            "app": app.to_ascii_uppercase(),
            "ipAddr": ip,
            "status": "UP",
            "overriddenStatus": "UNKNOWN",
            "port": {"$": port, "@enabled": "true"},
            "securePort": {"$": 443, "@enabled": "false"},
            "countryId": 1,
            "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
            "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": lease_duration_secs},
            "metadata": metadata,
            "homePageUrl": format!("http://{host}:{port}/"),
            "statusPageUrl": format!("http://{host}:{port}/actuator/info"),
            "healthCheckUrl": format!("http://{host}:{port}/actuator/health"),
            "vipAddress": app.to_ascii_lowercase(),
            "secureVipAddress": app.to_ascii_lowercase(),
            "isCoordinatingDiscoveryServer": false,
            "lastUpdatedTimestamp": DIRTY_TIMESTAMP,
            "lastDirtyTimestamp": DIRTY_TIMESTAMP,
        }})
    }
}
