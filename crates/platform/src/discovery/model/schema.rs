//! The Eureka instance schema, stated once: every field of an `InstanceInfo` and of its
//! `leaseInfo`, in the Java serializer's order, with its JSON and XML names, how it is written
//! and how it is read. The JSON writer, the XML writer and the (format-independent) reader all
//! walk these tables, so a field added here appears in every format.

use serde_json::Value;

use super::{
    ActionType, DataCenterInfo, Format, InstanceInfo, LeaseInfo, ReadError, Status, boolean,
    integer, metadata_from_tree, port_from_tree, text,
};

/// A field's value as the writers see it; each writer renders the kinds its own way.
#[derive(Debug, Clone, Copy)]
pub(super) enum Wire<'a> {
    /// A string (JSON string, XML text).
    Text(&'a str),
    /// A number written as a number in JSON (`countryId`).
    Number(i64),
    /// A boolean written as the string `"true"`/`"false"` in JSON, as Java does.
    Flag(bool),
    /// Epoch milliseconds written as a string in JSON, as Java does.
    Stamp(i64),
    /// `{"$":8081,"@enabled":"true"}` / `<port enabled="true">8081</port>`.
    Port(super::PortInfo),
    /// The data center (`MyOwn` when the client sent none), with its Java `@class`.
    DataCenter(Option<&'a DataCenterInfo>),
    /// The lease, written from [`LEASE_FIELDS`].
    Lease(&'a LeaseInfo),
    /// Free-form key/values (`java.util.Collections$EmptyMap` when empty).
    Metadata(&'a indexmap::IndexMap<String, String>),
}

/// Reads one field's (non-null) value into the instance being built.
type Read = fn(&mut InstanceInfo, &Value, Format) -> Result<(), ReadError>;

/// One field of an instance.
pub(super) struct Field {
    /// Its JSON key.
    pub(super) json: &'static str,
    /// Its XML element name (differs only for `overriddenstatus`); readers accept both.
    pub(super) xml: &'static str,
    /// Its value for writing, `None` to omit it (Java omits nulls).
    pub(super) write: for<'a> fn(&'a InstanceInfo, &'a LeaseInfo) -> Option<Wire<'a>>,
    /// How it is read; an absent or `null` field keeps [`InstanceInfo`]'s reading default.
    pub(super) read: Read,
}

fn timestamp(name: &str, value: &Value) -> Result<i64, ReadError> {
    integer(value).ok_or_else(|| ReadError::Shape(format!("{name} is not a number")))
}

/// Every instance field, in the order the Java server writes them.
pub(super) const INSTANCE_FIELDS: &[Field] = &[
    Field {
        json: "instanceId",
        xml: "instanceId",
        write: |i, _| i.instance_id.as_deref().map(Wire::Text),
        read: |i, v, _| {
            i.instance_id = text(v).filter(|id| !id.is_empty());
            Ok(())
        },
    },
    Field {
        json: "hostName",
        xml: "hostName",
        write: |i, _| Some(Wire::Text(&i.host_name)),
        read: |i, v, _| {
            i.host_name = text(v).unwrap_or_default();
            Ok(())
        },
    },
    Field {
        json: "app",
        xml: "app",
        write: |i, _| Some(Wire::Text(&i.app)),
        read: |i, v, _| {
            i.app = text(v).unwrap_or_default().to_ascii_uppercase();
            Ok(())
        },
    },
    Field {
        json: "ipAddr",
        xml: "ipAddr",
        write: |i, _| Some(Wire::Text(&i.ip_addr)),
        read: |i, v, _| {
            i.ip_addr = text(v).unwrap_or_default();
            Ok(())
        },
    },
    Field {
        json: "status",
        xml: "status",
        write: |i, _| Some(Wire::Text(i.status.as_str())),
        read: |i, v, _| {
            if let Some(raw) = text(v) {
                i.status = read_status(&raw);
            }
            Ok(())
        },
    },
    Field {
        json: "overriddenStatus",
        xml: "overriddenstatus",
        write: |i, _| Some(Wire::Text(i.overridden_status.as_str())),
        read: |i, v, _| {
            if let Some(raw) = text(v) {
                i.overridden_status = read_status(&raw);
            }
            Ok(())
        },
    },
    Field {
        json: "port",
        xml: "port",
        write: |i, _| Some(Wire::Port(i.port)),
        read: |i, v, _| {
            i.port = port_from_tree(Some(v), i.port.port, i.port.enabled)?;
            Ok(())
        },
    },
    Field {
        json: "securePort",
        xml: "securePort",
        write: |i, _| Some(Wire::Port(i.secure_port)),
        read: |i, v, _| {
            i.secure_port = port_from_tree(Some(v), i.secure_port.port, i.secure_port.enabled)?;
            Ok(())
        },
    },
    Field {
        json: "countryId",
        xml: "countryId",
        write: |i, _| Some(Wire::Number(i.country_id)),
        read: |i, v, _| {
            if let Some(id) = integer(v) {
                i.country_id = id;
            }
            Ok(())
        },
    },
    Field {
        json: "dataCenterInfo",
        xml: "dataCenterInfo",
        write: |i, _| Some(Wire::DataCenter(i.data_center_info.as_ref())),
        read: |i, v, format| {
            i.data_center_info = Some(DataCenterInfo {
                name: v.get("name").and_then(text).unwrap_or_default(),
                metadata: v
                    .get("metadata")
                    .map(|m| metadata_from_tree(m, format))
                    .unwrap_or_default(),
            });
            Ok(())
        },
    },
    Field {
        json: "leaseInfo",
        xml: "leaseInfo",
        write: |_, lease| Some(Wire::Lease(lease)),
        read: |i, v, _| {
            for field in LEASE_FIELDS {
                if let Some(value) = v.get(field.name).filter(|v| !v.is_null()) {
                    let number = integer(value).ok_or_else(|| {
                        ReadError::Shape(format!("leaseInfo.{} is not a number", field.name))
                    })?;
                    (field.set)(&mut i.lease_info, number);
                }
            }
            Ok(())
        },
    },
    Field {
        json: "metadata",
        xml: "metadata",
        write: |i, _| Some(Wire::Metadata(&i.metadata)),
        read: |i, v, format| {
            i.metadata = metadata_from_tree(v, format);
            Ok(())
        },
    },
    Field {
        json: "appGroupName",
        xml: "appGroupName",
        write: |i, _| i.app_group_name.as_deref().map(Wire::Text),
        read: |i, v, _| {
            i.app_group_name = text(v);
            Ok(())
        },
    },
    Field {
        json: "homePageUrl",
        xml: "homePageUrl",
        write: |i, _| i.home_page_url.as_deref().map(Wire::Text),
        read: |i, v, _| {
            i.home_page_url = text(v);
            Ok(())
        },
    },
    Field {
        json: "statusPageUrl",
        xml: "statusPageUrl",
        write: |i, _| i.status_page_url.as_deref().map(Wire::Text),
        read: |i, v, _| {
            i.status_page_url = text(v);
            Ok(())
        },
    },
    Field {
        json: "healthCheckUrl",
        xml: "healthCheckUrl",
        write: |i, _| i.health_check_url.as_deref().map(Wire::Text),
        read: |i, v, _| {
            i.health_check_url = text(v);
            Ok(())
        },
    },
    Field {
        json: "secureHealthCheckUrl",
        xml: "secureHealthCheckUrl",
        write: |i, _| i.secure_health_check_url.as_deref().map(Wire::Text),
        read: |i, v, _| {
            i.secure_health_check_url = text(v);
            Ok(())
        },
    },
    Field {
        json: "vipAddress",
        xml: "vipAddress",
        write: |i, _| i.vip_address.as_deref().map(Wire::Text),
        read: |i, v, _| {
            i.vip_address = text(v);
            Ok(())
        },
    },
    Field {
        json: "secureVipAddress",
        xml: "secureVipAddress",
        write: |i, _| i.secure_vip_address.as_deref().map(Wire::Text),
        read: |i, v, _| {
            i.secure_vip_address = text(v);
            Ok(())
        },
    },
    Field {
        json: "isCoordinatingDiscoveryServer",
        xml: "isCoordinatingDiscoveryServer",
        write: |i, _| Some(Wire::Flag(i.is_coordinating_discovery_server)),
        read: |i, v, _| {
            i.is_coordinating_discovery_server = boolean(v).unwrap_or(false);
            Ok(())
        },
    },
    Field {
        json: "lastUpdatedTimestamp",
        xml: "lastUpdatedTimestamp",
        write: |i, _| Some(Wire::Stamp(i.last_updated_timestamp)),
        read: |i, v, _| {
            i.last_updated_timestamp = timestamp("lastUpdatedTimestamp", v)?;
            Ok(())
        },
    },
    Field {
        json: "lastDirtyTimestamp",
        xml: "lastDirtyTimestamp",
        write: |i, _| Some(Wire::Stamp(i.last_dirty_timestamp)),
        read: |i, v, _| {
            i.last_dirty_timestamp = timestamp("lastDirtyTimestamp", v)?;
            Ok(())
        },
    },
    Field {
        json: "actionType",
        xml: "actionType",
        write: |i, _| i.action_type.map(|a| Wire::Text(a.as_str())),
        read: |i, v, _| {
            i.action_type = text(v).and_then(|a| ActionType::parse(&a));
            Ok(())
        },
    },
    Field {
        json: "asgName",
        xml: "asgName",
        write: |i, _| i.asg_name.as_deref().map(Wire::Text),
        read: |i, v, _| {
            i.asg_name = text(v);
            Ok(())
        },
    },
];

/// An unknown status name reads as UNKNOWN, as Java's `InstanceStatus.toEnum` does.
fn read_status(raw: &str) -> Status {
    Status::parse(raw).unwrap_or(Status::Unknown)
}

/// One field of `leaseInfo` (a number in both formats, the same name in both).
pub(super) struct LeaseField {
    /// Its name.
    pub(super) name: &'static str,
    /// Its value.
    pub(super) get: fn(&LeaseInfo) -> i64,
    /// Sets it from a number read.
    pub(super) set: fn(&mut LeaseInfo, i64),
}

/// Every lease field, in the order the Java server writes them.
pub(super) const LEASE_FIELDS: &[LeaseField] = &[
    LeaseField {
        name: "renewalIntervalInSecs",
        get: |l| l.renewal_interval_in_secs,
        set: |l, v| l.renewal_interval_in_secs = v,
    },
    LeaseField {
        name: "durationInSecs",
        get: |l| l.duration_in_secs,
        set: |l, v| l.duration_in_secs = v,
    },
    LeaseField {
        name: "registrationTimestamp",
        get: |l| l.registration_timestamp,
        set: |l, v| l.registration_timestamp = v,
    },
    LeaseField {
        name: "lastRenewalTimestamp",
        get: |l| l.last_renewal_timestamp,
        set: |l, v| l.last_renewal_timestamp = v,
    },
    LeaseField {
        name: "evictionTimestamp",
        get: |l| l.eviction_timestamp,
        set: |l, v| l.eviction_timestamp = v,
    },
    LeaseField {
        name: "serviceUpTimestamp",
        get: |l| l.service_up_timestamp,
        set: |l, v| l.service_up_timestamp = v,
    },
];
