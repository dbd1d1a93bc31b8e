//! The Eureka wire model: instances, applications, and how they are read and written.
//!
//! One model serves the discovery-service (which reads registrations and writes registries) and
//! the discovery client (which writes its registration and reads registries). Reading is
//! deliberately lenient (numbers as strings, `port` as a bare number, missing optional blocks,
//! `null`s, unknown fields), because real clients send all of these. Writing follows the Java
//! server's shapes exactly: field order, strings where Java writes strings, `@class` on
//! `dataCenterInfo`, arrays even for one element.
//!
//! The instance's fields are described once, in [`schema`] (names in both formats, order, how
//! each is written and read); the JSON writer, the XML writer and the reader walk that table.

use std::fmt::Write as _;

use indexmap::IndexMap;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use self::schema::Wire;
use super::xml;

mod schema;

/// `dataCenterInfo.@class` for every data center except Amazon.
pub const DEFAULT_DATA_CENTER_CLASS: &str =
    "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo";
/// `dataCenterInfo.@class` for `Amazon`.
pub const AMAZON_DATA_CENTER_CLASS: &str = "com.netflix.appinfo.AmazonInfo";
/// How Java writes an empty metadata map.
const EMPTY_MAP_CLASS: &str = "java.util.Collections$EmptyMap";

/// An instance's status, as Eureka spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Status {
    /// Ready to receive traffic.
    Up,
    /// Failed its own health check.
    Down,
    /// Still starting.
    Starting,
    /// Taken out of rotation by an operator (a status override).
    OutOfService,
    /// Nothing is known; also "no override".
    #[default]
    Unknown,
}

impl Status {
    /// Every status, in the lexicographic order of their names (the order `apps__hashcode` uses).
    pub const ALL: [Status; 5] = [
        Status::Down,
        Status::OutOfService,
        Status::Starting,
        Status::Unknown,
        Status::Up,
    ];

    /// The wire spelling (`UP`, `OUT_OF_SERVICE`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Down => "DOWN",
            Status::Starting => "STARTING",
            Status::OutOfService => "OUT_OF_SERVICE",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// Parses a status, ignoring case; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw.trim()))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a delta entry says happened to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionType {
    /// Registered (or re-registered).
    Added,
    /// Status or override changed.
    Modified,
    /// Cancelled or evicted.
    Deleted,
}

impl ActionType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Added => "ADDED",
            ActionType::Modified => "MODIFIED",
            ActionType::Deleted => "DELETED",
        }
    }

    fn parse(raw: &str) -> Option<ActionType> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "ADDED" => Some(ActionType::Added),
            "MODIFIED" => Some(ActionType::Modified),
            "DELETED" => Some(ActionType::Deleted),
            _ => None,
        }
    }
}

/// A port and whether it is in use (`{"$":8081,"@enabled":"true"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortInfo {
    /// The port number.
    pub port: u16,
    /// Whether the instance serves on it.
    pub enabled: bool,
}

/// Where the instance runs (`MyOwn`, `Amazon`, `Netflix`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataCenterInfo {
    /// The data center kind.
    pub name: String,
    /// Amazon's extra facts (`instance-id`, `availability-zone`…); empty elsewhere.
    pub metadata: IndexMap<String, String>,
}

impl DataCenterInfo {
    /// `MyOwn`, what every non-cloud client sends.
    pub fn my_own() -> Self {
        Self {
            name: "MyOwn".into(),
            metadata: IndexMap::new(),
        }
    }

    /// The Java class name clients expect in `@class`.
    pub fn class(&self) -> &'static str {
        if self.name == "Amazon" {
            AMAZON_DATA_CENTER_CLASS
        } else {
            DEFAULT_DATA_CENTER_CLASS
        }
    }
}

/// A lease as the server reports it; a client only chooses the two intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseInfo {
    /// How often the client renews, in seconds (default 30).
    pub renewal_interval_in_secs: i64,
    /// How long the lease lasts without a renewal, in seconds (default 90).
    pub duration_in_secs: i64,
    /// Epoch milliseconds of the first registration.
    pub registration_timestamp: i64,
    /// Epoch milliseconds of the last renewal.
    pub last_renewal_timestamp: i64,
    /// Epoch milliseconds of the eviction, 0 while alive.
    pub eviction_timestamp: i64,
    /// Epoch milliseconds of the first time the instance was UP.
    pub service_up_timestamp: i64,
}

impl Default for LeaseInfo {
    fn default() -> Self {
        Self {
            renewal_interval_in_secs: 30,
            duration_in_secs: 90,
            registration_timestamp: 0,
            last_renewal_timestamp: 0,
            eviction_timestamp: 0,
            service_up_timestamp: 0,
        }
    }
}

/// One registered instance: Eureka's `InstanceInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// The id the client chose; `None` when it sent none (eureka-js-client).
    pub instance_id: Option<String>,
    /// Host name others use to reach it.
    pub host_name: String,
    /// The application name, upper-cased.
    pub app: String,
    /// IP address.
    pub ip_addr: String,
    /// Effective status.
    pub status: Status,
    /// Operator override (`UNKNOWN` = none).
    pub overridden_status: Status,
    /// Plain port.
    pub port: PortInfo,
    /// TLS port.
    pub secure_port: PortInfo,
    /// Always 1 in practice.
    pub country_id: i64,
    /// `None` when the client sent none (rejected on register).
    pub data_center_info: Option<DataCenterInfo>,
    /// Lease intervals and timestamps.
    pub lease_info: LeaseInfo,
    /// Free-form key/values (`management.port`, `zone`…).
    pub metadata: IndexMap<String, String>,
    /// Optional group.
    pub app_group_name: Option<String>,
    /// `http://host:port/`.
    pub home_page_url: Option<String>,
    /// Usually `/actuator/info`.
    pub status_page_url: Option<String>,
    /// Usually `/actuator/health`.
    pub health_check_url: Option<String>,
    /// The TLS health URL, if any.
    pub secure_health_check_url: Option<String>,
    /// Comma-separated virtual addresses (lower-case app name by default).
    pub vip_address: Option<String>,
    /// Comma-separated secure virtual addresses.
    pub secure_vip_address: Option<String>,
    /// True only on a discovery server's own entry.
    pub is_coordinating_discovery_server: bool,
    /// Epoch milliseconds of the last server-side change.
    pub last_updated_timestamp: i64,
    /// Epoch milliseconds of the last client-side change; decides replication conflicts.
    pub last_dirty_timestamp: i64,
    /// What a delta says happened.
    pub action_type: Option<ActionType>,
    /// AWS auto-scaling group.
    pub asg_name: Option<String>,
}

impl InstanceInfo {
    /// A minimal UP instance of `app` at `host:port`, with Spring's defaults for everything else.
    pub fn new(app: &str, host_name: &str, ip_addr: &str, port: u16) -> Self {
        let now = now_millis();
        Self {
            instance_id: None,
            host_name: host_name.into(),
            app: app.to_ascii_uppercase(),
            ip_addr: ip_addr.into(),
            status: Status::Up,
            overridden_status: Status::Unknown,
            port: PortInfo {
                port,
                enabled: true,
            },
            secure_port: PortInfo {
                port: 443,
                enabled: false,
            },
            country_id: 1,
            data_center_info: Some(DataCenterInfo::my_own()),
            lease_info: LeaseInfo::default(),
            metadata: IndexMap::new(),
            app_group_name: None,
            home_page_url: None,
            status_page_url: None,
            health_check_url: None,
            secure_health_check_url: None,
            vip_address: Some(app.to_ascii_lowercase()),
            secure_vip_address: Some(app.to_ascii_lowercase()),
            is_coordinating_discovery_server: false,
            last_updated_timestamp: now,
            last_dirty_timestamp: now,
            action_type: None,
            asg_name: None,
        }
    }

    /// The registry key: `instanceId`, else Amazon's `instance-id`, else Spring's legacy
    /// `hostName:metadata.instanceId`, else `hostName`.
    pub fn effective_id(&self) -> String {
        if let Some(id) = self
            .instance_id
            .as_deref()
            .filter(|id| !id.trim().is_empty())
        {
            return id.to_owned();
        }
        if let Some(dc) = &self.data_center_info
            && dc.name == "Amazon"
            && let Some(id) = dc.metadata.get("instance-id").filter(|id| !id.is_empty())
        {
            return id.clone();
        }
        if let Some(legacy) = self.metadata.get("instanceId").filter(|id| !id.is_empty()) {
            return format!("{}:{legacy}", self.host_name);
        }
        self.host_name.clone()
    }

    /// Whether callers use TLS: the secure port is enabled (Spring Cloud's
    /// `EurekaServiceInstance.isSecure`, whatever the non-secure port says).
    pub fn is_secure(&self) -> bool {
        self.secure_port.enabled
    }

    /// The port callers use: the secure one when [`Self::is_secure`].
    pub fn service_port(&self) -> u16 {
        if self.is_secure() {
            self.secure_port.port
        } else {
            self.port.port
        }
    }

    /// `https://host:securePort` when the secure port is enabled, else `http://host:port`, for
    /// callers (Spring Cloud LoadBalancer's choice).
    pub fn base_url(&self) -> String {
        let scheme = if self.is_secure() { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host_name, self.service_port())
    }

    /// The virtual addresses, split on commas.
    pub fn vip_addresses(&self) -> impl Iterator<Item = &str> {
        split_vips(self.vip_address.as_deref())
    }

    /// The secure virtual addresses, split on commas.
    pub fn secure_vip_addresses(&self) -> impl Iterator<Item = &str> {
        split_vips(self.secure_vip_address.as_deref())
    }

    /// What a register call lacks, in the Java server's words; `path_app` is the app named in
    /// the URL.
    pub fn validate_for_register(&self, path_app: &str) -> Result<(), String> {
        let missing = |what: &str| Err(format!("Missing {what}"));
        if self.effective_id().trim().is_empty() {
            return missing("instanceId");
        }
        if self.host_name.trim().is_empty() {
            return missing("hostname");
        }
        if self.ip_addr.trim().is_empty() {
            return missing("ip address");
        }
        if self.app.trim().is_empty() {
            return missing("appName");
        }
        if !self.app.eq_ignore_ascii_case(path_app) {
            return Err(format!(
                "Mismatched appName, expecting {} but was {}",
                path_app.to_ascii_uppercase(),
                self.app
            ));
        }
        match &self.data_center_info {
            None => return missing("dataCenterInfo"),
            Some(dc) if dc.name.trim().is_empty() => return missing("dataCenterInfo Name"),
            Some(_) => {}
        }
        for (name, value) in [
            ("durationInSecs", self.lease_info.duration_in_secs),
            (
                "renewalIntervalInSecs",
                self.lease_info.renewal_interval_in_secs,
            ),
        ] {
            if !(0..=MAX_LEASE_SECONDS).contains(&value) {
                return Err(format!(
                    "Invalid leaseInfo.{name}: must be between 0 and {MAX_LEASE_SECONDS}"
                ));
            }
        }
        Ok(())
    }
}

/// The longest lease or renewal interval accepted: a day. Anything longer is a mistake that
/// would pin a dead instance in the registry.
pub const MAX_LEASE_SECONDS: i64 = 86_400;

fn split_vips(raw: Option<&str>) -> impl Iterator<Item = &str> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Epoch milliseconds now: platform's one clock (wall clock: wire timestamps only, never
/// lease arithmetic).
pub use crate::time::now_millis;

/// One application: a name and its instances.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Application {
    /// Upper-cased name.
    pub name: String,
    /// Its instances.
    pub instances: Vec<InstanceInfo>,
}

/// A registry or a delta: `{"applications":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applications {
    /// `"1"` for a full registry, a counter for deltas, `"-1"` for VIP answers.
    pub versions_delta: String,
    /// [`apps_hashcode`] of the full registry.
    pub apps_hashcode: String,
    /// Applications, each with at least one instance.
    pub applications: Vec<Application>,
}

impl Applications {
    /// Every instance, app by app.
    pub fn instances(&self) -> impl Iterator<Item = &InstanceInfo> {
        self.applications.iter().flat_map(|a| a.instances.iter())
    }

    /// The application called `name` (case-insensitive).
    pub fn application(&self, name: &str) -> Option<&Application> {
        self.applications
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// This registry's hash code, computed from its instances.
    pub fn compute_hashcode(&self) -> String {
        apps_hashcode(self.instances().map(|i| i.status))
    }
}

/// Eureka's registry fingerprint: `NAME_count_` per status with instances, statuses sorted by
/// name (`DOWN_1_UP_3_`); empty for an empty registry.
pub fn apps_hashcode(statuses: impl IntoIterator<Item = Status>) -> String {
    let mut counts = [0usize; 5];
    for status in statuses {
        let index = Status::ALL
            .iter()
            .position(|s| *s == status)
            .unwrap_or_default();
        counts[index] += 1;
    }
    let mut out = String::new();
    for (status, count) in Status::ALL.iter().zip(counts) {
        if count > 0 {
            let _ = write!(out, "{}_{count}_", status.as_str());
        }
    }
    out
}

// === reading ===

/// Which syntax a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `application/xml` (XStream's shapes).
    Xml,
}

impl Format {
    /// The Content-Type to answer with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not well-formed JSON or XML.
    #[error("cannot parse request body: {0}")]
    Syntax(String),
    /// Well-formed, but not the expected document.
    #[error("cannot parse request body: {0}")]
    Shape(String),
}

/// Parses a body into a JSON-shaped tree (XML is converted: attributes become `@name`, text
/// next to attributes becomes `$`).
pub fn parse_tree(body: &[u8], format: Format) -> Result<Value, ReadError> {
    match format {
        Format::Json => serde_json::from_slice(body).map_err(|e| ReadError::Syntax(e.to_string())),
        Format::Xml => xml::to_tree(body).map_err(ReadError::Syntax),
    }
}

/// Reads `{"instance":{…}}` (or a bare instance object).
pub fn read_instance(body: &[u8], format: Format) -> Result<InstanceInfo, ReadError> {
    let tree = parse_tree(body, format)?;
    let inner = match tree.get("instance") {
        Some(inner) if inner.is_object() => inner,
        _ if tree.is_object() => &tree,
        _ => return Err(ReadError::Shape("expected an instance object".into())),
    };
    instance_from_tree(inner, format)
}

/// Reads `{"applications":{…}}` (a full registry or a delta).
pub fn read_applications(body: &[u8], format: Format) -> Result<Applications, ReadError> {
    let tree = parse_tree(body, format)?;
    let inner = tree
        .get("applications")
        .filter(|v| v.is_object())
        .ok_or_else(|| ReadError::Shape("expected an applications object".into()))?;
    applications_from_tree(inner, format)
}

/// Reads the inside of an `applications` object.
pub fn applications_from_tree(tree: &Value, format: Format) -> Result<Applications, ReadError> {
    let mut applications = Vec::new();
    for app in as_list(tree.get("application")) {
        let name = app.get("name").and_then(text).unwrap_or_default();
        let mut instances = Vec::new();
        for instance in as_list(app.get("instance")) {
            instances.push(instance_from_tree(instance, format)?);
        }
        applications.push(Application {
            name: name.to_ascii_uppercase(),
            instances,
        });
    }
    Ok(Applications {
        versions_delta: tree
            .get("versions__delta")
            .and_then(text)
            .unwrap_or_default(),
        apps_hashcode: tree
            .get("apps__hashcode")
            .and_then(text)
            .unwrap_or_default(),
        applications,
    })
}

/// Reads one instance object, leniently (see the module docs), field by field from
/// [`schema::INSTANCE_FIELDS`]; a field may use its JSON or its XML name in either format.
pub fn instance_from_tree(tree: &Value, format: Format) -> Result<InstanceInfo, ReadError> {
    let Some(map) = tree.as_object() else {
        return Err(ReadError::Shape("expected an instance object".into()));
    };
    let mut instance = InstanceInfo::read_defaults();
    for field in schema::INSTANCE_FIELDS {
        let value = map
            .get(field.json)
            .or_else(|| map.get(field.xml))
            .filter(|v| !v.is_null());
        if let Some(value) = value {
            (field.read)(&mut instance, value, format)?;
        }
    }
    Ok(instance)
}

impl InstanceInfo {
    /// What a read instance holds for every field its body leaves out: UP, ports 7001 (on)
    /// and 7002 (off), country 1, Spring's lease intervals, no data center (refused on
    /// register), and the read time for both timestamps.
    fn read_defaults() -> Self {
        let now = now_millis();
        Self {
            instance_id: None,
            host_name: String::new(),
            app: String::new(),
            ip_addr: String::new(),
            status: Status::Up,
            overridden_status: Status::Unknown,
            port: PortInfo {
                port: 7001,
                enabled: true,
            },
            secure_port: PortInfo {
                port: 7002,
                enabled: false,
            },
            country_id: 1,
            data_center_info: None,
            lease_info: LeaseInfo::default(),
            metadata: IndexMap::new(),
            app_group_name: None,
            home_page_url: None,
            status_page_url: None,
            health_check_url: None,
            secure_health_check_url: None,
            vip_address: None,
            secure_vip_address: None,
            is_coordinating_discovery_server: false,
            last_updated_timestamp: now,
            last_dirty_timestamp: now,
            action_type: None,
            asg_name: None,
        }
    }
}

fn port_from_tree(
    value: Option<&Value>,
    default: u16,
    enabled: bool,
) -> Result<PortInfo, ReadError> {
    let invalid = || ReadError::Shape("port is not a number between 0 and 65535".into());
    let number = |v: &Value| {
        integer(v)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(invalid)
    };
    match value {
        None => Ok(PortInfo {
            port: default,
            enabled,
        }),
        Some(Value::Object(map)) => Ok(PortInfo {
            port: match map.get("$").filter(|v| !v.is_null()) {
                Some(v) => number(v)?,
                None => default,
            },
            enabled: map.get("@enabled").and_then(boolean).unwrap_or(enabled),
        }),
        Some(other) => Ok(PortInfo {
            port: number(other)?,
            enabled,
        }),
    }
}

fn metadata_from_tree(value: &Value, format: Format) -> IndexMap<String, String> {
    let Some(map) = value.as_object() else {
        return IndexMap::new();
    };
    map.iter()
        .filter(|(k, _)| !k.starts_with('@'))
        .filter_map(|(k, v)| {
            let key = match format {
                Format::Json => k.clone(),
                Format::Xml => xml::unescape_name(k),
            };
            Some((key, text(v)?))
        })
        .collect()
}

/// A scalar as text: strings as they are, numbers and booleans printed; `None` otherwise.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f as i64)
            })
        }
        _ => None,
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// An object or an array of objects, as a list (XML and the legacy JSON codec write a single
/// element without the array).
fn as_list(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    }
}

// === writing JSON ===

/// Serializes as the Java server's `InstanceInfo` JSON (without the `instance` wrapper).
impl Serialize for InstanceInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        LeasedInstance {
            instance: self,
            lease: &self.lease_info,
        }
        .serialize(serializer)
    }
}

/// An instance written with these lease facts instead of its own (the registry keeps lease
/// times apart from the shared, rarely changing instance data).
#[derive(Debug, Clone, Copy)]
pub struct LeasedInstance<'a> {
    /// The instance.
    pub instance: &'a InstanceInfo,
    /// The lease facts to write.
    pub lease: &'a LeaseInfo,
}

impl Serialize for LeasedInstance<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for field in schema::INSTANCE_FIELDS {
            if let Some(value) = (field.write)(self.instance, self.lease) {
                map.serialize_entry(field.json, &JsonWire(value))?;
            }
        }
        map.end()
    }
}

/// A field's value in JSON: strings where Java writes strings (flags, timestamps).
struct JsonWire<'a>(Wire<'a>);

impl Serialize for JsonWire<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Wire::Text(text) => serializer.serialize_str(text),
            Wire::Number(number) => serializer.serialize_i64(number),
            Wire::Flag(flag) => serializer.serialize_str(if flag { "true" } else { "false" }),
            Wire::Stamp(millis) => serializer.serialize_str(&millis.to_string()),
            Wire::Port(port) => JsonPort(port).serialize(serializer),
            Wire::DataCenter(dc) => JsonDataCenter(dc).serialize(serializer),
            Wire::Lease(lease) => JsonLease(lease).serialize(serializer),
            Wire::Metadata(metadata) => JsonMetadata(metadata).serialize(serializer),
        }
    }
}

struct JsonPort(PortInfo);

impl Serialize for JsonPort {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("$", &self.0.port)?;
        map.serialize_entry("@enabled", if self.0.enabled { "true" } else { "false" })?;
        map.end()
    }
}

struct JsonDataCenter<'a>(Option<&'a DataCenterInfo>);

impl Serialize for JsonDataCenter<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let my_own = DataCenterInfo::my_own();
        let dc = self.0.unwrap_or(&my_own);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("@class", dc.class())?;
        map.serialize_entry("name", &dc.name)?;
        if !dc.metadata.is_empty() {
            map.serialize_entry("metadata", &dc.metadata)?;
        }
        map.end()
    }
}

struct JsonLease<'a>(&'a LeaseInfo);

impl Serialize for JsonLease<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(schema::LEASE_FIELDS.len()))?;
        for field in schema::LEASE_FIELDS {
            map.serialize_entry(field.name, &(field.get)(self.0))?;
        }
        map.end()
    }
}

struct JsonMetadata<'a>(&'a IndexMap<String, String>);

impl Serialize for JsonMetadata<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry("@class", EMPTY_MAP_CLASS)?;
            map.end()
        } else {
            self.0.serialize(serializer)
        }
    }
}

struct JsonApplication<'a>(&'a str, &'a [LeasedInstance<'a>]);

impl Serialize for JsonApplication<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("name", self.0)?;
        map.serialize_entry("instance", self.1)?;
        map.end()
    }
}

struct JsonApplications<'a> {
    versions_delta: &'a str,
    apps_hashcode: &'a str,
    applications: &'a [(&'a str, Vec<LeasedInstance<'a>>)],
}

impl Serialize for JsonApplications<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("versions__delta", self.versions_delta)?;
        map.serialize_entry("apps__hashcode", self.apps_hashcode)?;
        let list: Vec<JsonApplication<'_>> = self
            .applications
            .iter()
            .map(|(name, instances)| JsonApplication(name, instances))
            .collect();
        map.serialize_entry("application", &list)?;
        map.end()
    }
}

struct Wrapped<'a, T>(&'static str, &'a T);

impl<T: Serialize> Serialize for Wrapped<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

/// `{"instance":{…}}` or `<instance>…</instance>`.
pub fn write_instance(instance: &InstanceInfo, format: Format) -> Vec<u8> {
    match format {
        Format::Json => to_json(&Wrapped("instance", instance)),
        Format::Xml => {
            let mut out = String::with_capacity(1024);
            xml_instance(&mut out, instance, &instance.lease_info);
            out.into_bytes()
        }
    }
}

/// An instance as XML under another element name (`<responseEntity>…</responseEntity>` in a
/// peer replication answer).
pub fn write_instance_as(instance: &InstanceInfo, element: &str) -> Vec<u8> {
    let mut out = String::with_capacity(1024);
    xml_instance_named(&mut out, element, instance, &instance.lease_info);
    out.into_bytes()
}

/// The bare instance JSON (no wrapper), as peer replication sends it.
pub fn instance_json_value(instance: &InstanceInfo) -> Value {
    serde_json::to_value(instance).unwrap_or(Value::Null)
}

/// `{"application":{"name":…,"instance":[…]}}` or its XML.
pub fn write_application(app: &Application, format: Format) -> Vec<u8> {
    let instances = leased(&app.instances);
    match format {
        Format::Json => to_json(&Wrapped(
            "application",
            &JsonApplication(&app.name, &instances),
        )),
        Format::Xml => {
            let mut out = String::with_capacity(1024 * (app.instances.len() + 1));
            xml_application(&mut out, &app.name, &instances);
            out.into_bytes()
        }
    }
}

fn leased(instances: &[InstanceInfo]) -> Vec<LeasedInstance<'_>> {
    instances
        .iter()
        .map(|i| LeasedInstance {
            instance: i,
            lease: &i.lease_info,
        })
        .collect()
}

/// `{"applications":{…}}` or its XML.
pub fn write_applications(apps: &Applications, format: Format) -> Vec<u8> {
    let borrowed: Vec<(&str, Vec<LeasedInstance<'_>>)> = apps
        .applications
        .iter()
        .map(|a| (a.name.as_str(), leased(&a.instances)))
        .collect();
    write_registry(
        &apps.versions_delta,
        &apps.apps_hashcode,
        &borrowed,
        format,
        0,
    )
}

/// `{"applications":{…}}` or its XML from borrowed parts, into a buffer of `capacity` bytes.
pub fn write_registry(
    versions_delta: &str,
    apps_hashcode: &str,
    applications: &[(&str, Vec<LeasedInstance<'_>>)],
    format: Format,
    capacity: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    // Writing into a Vec cannot fail.
    let _ = write_registry_to(
        &mut out,
        versions_delta,
        apps_hashcode,
        applications,
        format,
    );
    out
}

/// `{"applications":{…}}` or its XML from borrowed parts, streamed into `out` (the server
/// writes large registries into fixed-size chunks rather than one huge buffer).
pub fn write_registry_to<W: std::io::Write>(
    out: &mut W,
    versions_delta: &str,
    apps_hashcode: &str,
    applications: &[(&str, Vec<LeasedInstance<'_>>)],
    format: Format,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            let body = JsonApplications {
                versions_delta,
                apps_hashcode,
                applications,
            };
            serde_json::to_writer(out, &Wrapped("applications", &body))
                .map_err(std::io::Error::other)
        }
        Format::Xml => {
            let mut scratch = String::with_capacity(4096);
            scratch.push_str("<applications>");
            xml::element(&mut scratch, "versions__delta", versions_delta);
            xml::element(&mut scratch, "apps__hashcode", apps_hashcode);
            for (name, instances) in applications {
                scratch.push_str("<application>");
                xml::element(&mut scratch, "name", name);
                for leased in instances {
                    xml_instance(&mut scratch, leased.instance, leased.lease);
                    out.write_all(scratch.as_bytes())?;
                    scratch.clear();
                }
                scratch.push_str("</application>");
            }
            scratch.push_str("</applications>");
            out.write_all(scratch.as_bytes())
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these types cannot fail: every map key is a string.
    serde_json::to_vec(value).unwrap_or_default()
}

// === writing XML ===

fn xml_application(out: &mut String, name: &str, instances: &[LeasedInstance<'_>]) {
    out.push_str("<application>");
    xml::element(out, "name", name);
    for leased in instances {
        xml_instance(out, leased.instance, leased.lease);
    }
    out.push_str("</application>");
}

fn xml_instance(out: &mut String, i: &InstanceInfo, l: &LeaseInfo) {
    xml_instance_named(out, "instance", i, l);
}

fn xml_instance_named(out: &mut String, element: &str, i: &InstanceInfo, l: &LeaseInfo) {
    let _ = write!(out, "<{element}>");
    for field in schema::INSTANCE_FIELDS {
        if let Some(value) = (field.write)(i, l) {
            xml_value(out, field.xml, value);
        }
    }
    let _ = write!(out, "</{element}>");
}

/// One field as XStream writes it: attributes for `enabled` and `class`, elements otherwise.
fn xml_value(out: &mut String, name: &str, value: Wire<'_>) {
    match value {
        Wire::Text(text) => xml::element(out, name, text),
        Wire::Number(number) | Wire::Stamp(number) => {
            let _ = write!(out, "<{name}>{number}</{name}>");
        }
        Wire::Flag(flag) => {
            let _ = write!(out, "<{name}>{flag}</{name}>");
        }
        Wire::Port(port) => {
            let _ = write!(
                out,
                "<{name} enabled=\"{}\">{}</{name}>",
                port.enabled, port.port
            );
        }
        Wire::DataCenter(dc) => {
            let my_own = DataCenterInfo::my_own();
            let dc = dc.unwrap_or(&my_own);
            let _ = write!(out, "<{name} class=\"{}\">", dc.class());
            xml::element(out, "name", &dc.name);
            if !dc.metadata.is_empty() {
                xml_metadata(out, "metadata", &dc.metadata);
            }
            let _ = write!(out, "</{name}>");
        }
        Wire::Lease(lease) => {
            let _ = write!(out, "<{name}>");
            for field in schema::LEASE_FIELDS {
                let _ = write!(out, "<{0}>{1}</{0}>", field.name, (field.get)(lease));
            }
            let _ = write!(out, "</{name}>");
        }
        Wire::Metadata(metadata) if metadata.is_empty() => {
            let _ = write!(out, "<{name} class=\"{EMPTY_MAP_CLASS}\"/>");
        }
        Wire::Metadata(metadata) => xml_metadata(out, name, metadata),
    }
}

fn xml_metadata(out: &mut String, element: &str, metadata: &IndexMap<String, String>) {
    let _ = write!(out, "<{element}>");
    for (key, value) in metadata {
        let name = xml::escape_name(key);
        out.push('<');
        out.push_str(&name);
        out.push('>');
        xml::escape_text(out, value);
        out.push_str("</");
        out.push_str(&name);
        out.push('>');
    }
    let _ = write!(out, "</{element}>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashcode_sorts_statuses_by_name() {
        let statuses = [Status::Up, Status::Down, Status::Up, Status::Up];
        assert_eq!(apps_hashcode(statuses), "DOWN_1_UP_3_");
        assert_eq!(apps_hashcode([]), "");
    }

    #[test]
    fn reads_the_minimal_js_client_body() {
        let body = br#"{"instance":{"app":"js-svc","hostName":"h","ipAddr":"1.2.3.4",
            "port":{"$":3000,"@enabled":true},"vipAddress":"js-svc",
            "dataCenterInfo":{"name":"MyOwn"},"status":"UP"}}"#;
        let i = read_instance(body, Format::Json).expect("parses");
        assert_eq!(i.app, "JS-SVC");
        assert_eq!(
            i.port,
            PortInfo {
                port: 3000,
                enabled: true
            }
        );
        assert_eq!(i.effective_id(), "h");
        assert_eq!(i.lease_info.duration_in_secs, 90);
        assert!(i.validate_for_register("js-svc").is_ok());
    }

    #[test]
    fn reads_strings_for_numbers_nulls_and_a_bare_port() {
        let body =
            br#"{"instance":{"instanceId":"a:b:1","app":"B","hostName":"a","ipAddr":"1.1.1.1",
            "port":"8080","countryId":"1","appGroupName":null,"sid":"na",
            "leaseInfo":{"durationInSecs":"5","renewalIntervalInSecs":2},
            "metadata":{"@class":"java.util.Collections$EmptyMap"},
            "lastDirtyTimestamp":"1700000000000","isCoordinatingDiscoveryServer":false,
            "overriddenstatus":"OUT_OF_SERVICE","dataCenterInfo":{"@class":"x","name":"MyOwn"}}}"#;
        let i = read_instance(body, Format::Json).expect("parses");
        assert_eq!(i.port.port, 8080);
        assert_eq!(i.lease_info.duration_in_secs, 5);
        assert_eq!(i.lease_info.renewal_interval_in_secs, 2);
        assert!(i.metadata.is_empty());
        assert_eq!(i.last_dirty_timestamp, 1_700_000_000_000);
        assert_eq!(i.overridden_status, Status::OutOfService);
    }

    #[test]
    fn validation_names_the_missing_field() {
        let mut i = InstanceInfo::new("APP", "h", "1.1.1.1", 80);
        i.ip_addr.clear();
        assert_eq!(
            i.validate_for_register("APP"),
            Err("Missing ip address".to_owned())
        );
        let mut i = InstanceInfo::new("APP", "h", "1.1.1.1", 80);
        i.data_center_info = None;
        assert_eq!(
            i.validate_for_register("APP"),
            Err("Missing dataCenterInfo".to_owned())
        );
        let i = InstanceInfo::new("APP", "h", "1.1.1.1", 80);
        assert!(i.validate_for_register("OTHER").is_err());
        let mut i = InstanceInfo::new("APP", "h", "1.1.1.1", 80);
        i.lease_info.duration_in_secs = 10_000_000;
        assert!(i.validate_for_register("APP").is_err());
    }

    #[test]
    fn json_round_trips_and_keeps_java_shapes() {
        let mut i = InstanceInfo::new("customer-service", "h", "10.0.0.5", 8081);
        i.instance_id = Some("h:customer-service:8081".into());
        i.metadata.insert("management.port".into(), "8081".into());
        let bytes = write_applications(
            &Applications {
                versions_delta: "1".into(),
                apps_hashcode: "UP_1_".into(),
                applications: vec![Application {
                    name: "CUSTOMER-SERVICE".into(),
                    instances: vec![i.clone()],
                }],
            },
            Format::Json,
        );
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        let inst = &v["applications"]["application"][0]["instance"][0];
        assert_eq!(inst["port"]["@enabled"], "true");
        assert_eq!(
            inst["lastDirtyTimestamp"],
            i.last_dirty_timestamp.to_string()
        );
        assert_eq!(inst["isCoordinatingDiscoveryServer"], "false");
        assert_eq!(inst["dataCenterInfo"]["@class"], DEFAULT_DATA_CENTER_CLASS);
        let back = read_applications(&bytes, Format::Json).expect("reads back");
        assert_eq!(back.applications[0].instances[0], i);
    }

    #[test]
    fn xml_round_trips_with_escaped_metadata() {
        let mut i = InstanceInfo::new("py-svc", "h", "10.0.0.5", 9090);
        i.instance_id = Some("h:py-svc:9090".into());
        i.metadata.insert("my_key".into(), "a<b & c".into());
        i.metadata.insert("cost$".into(), "1".into());
        let bytes = write_instance(&i, Format::Xml);
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(text.contains("<my__key>a&lt;b &amp; c</my__key>"), "{text}");
        assert!(text.contains("<port enabled=\"true\">9090</port>"));
        let back = read_instance(&bytes, Format::Xml).expect("reads back");
        assert_eq!(back, i);
    }

    /// Every optional field set, so every schema field is written.
    fn full_instance() -> InstanceInfo {
        let mut i = InstanceInfo::new("full", "h", "10.0.0.1", 80);
        i.instance_id = Some("h:full:80".into());
        i.metadata.insert("k".into(), "v".into());
        i.app_group_name = Some("group".into());
        i.home_page_url = Some("http://h/".into());
        i.status_page_url = Some("http://h/info".into());
        i.health_check_url = Some("http://h/health".into());
        i.secure_health_check_url = Some("https://h/health".into());
        i.action_type = Some(ActionType::Modified);
        i.asg_name = Some("asg".into());
        i
    }

    #[test]
    fn both_writers_follow_the_one_schema() {
        let i = full_instance();
        let json = instance_json_value(&i);
        let keys: Vec<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        let names: Vec<&str> = schema::INSTANCE_FIELDS.iter().map(|f| f.json).collect();
        assert_eq!(keys, names);
        let xml = String::from_utf8(write_instance(&i, Format::Xml)).expect("utf8");
        let mut at = 0;
        for field in schema::INSTANCE_FIELDS {
            let found = xml[at..]
                .find(&format!("<{}", field.xml))
                .unwrap_or_else(|| panic!("{} missing or out of order in {xml}", field.xml));
            at += found;
        }
        for format in [Format::Json, Format::Xml] {
            let back = read_instance(&write_instance(&i, format), format).expect("reads back");
            assert_eq!(back, i, "{format:?}");
        }
    }

    #[test]
    fn empty_metadata_is_the_java_empty_map() {
        let i = InstanceInfo::new("a", "h", "1.1.1.1", 1);
        let v = instance_json_value(&i);
        assert_eq!(v["metadata"]["@class"], EMPTY_MAP_CLASS);
        let xml = String::from_utf8(write_instance(&i, Format::Xml)).expect("utf8");
        assert!(xml.contains("<metadata class=\"java.util.Collections$EmptyMap\"/>"));
        assert!(
            read_instance(xml.as_bytes(), Format::Xml)
                .expect("reads")
                .metadata
                .is_empty()
        );
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for body in [
            &b"{"[..],
            b"<instance><app>",
            b"[1,2]",
            b"\"x\"",
            b"",
            b"<a></b>",
        ] {
            for format in [Format::Json, Format::Xml] {
                let _ = read_instance(body, format);
            }
        }
        assert!(read_instance(b"{\"instance\":{\"port\":{\"$\":99999}}}", Format::Json).is_err());
        assert_eq!(
            read_instance(b"{\"instance\":{\"status\":\"SLEEPY\"}}", Format::Json)
                .map(|i| i.status),
            Ok(Status::Unknown)
        );
    }
}
