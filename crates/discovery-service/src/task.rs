//! The changes the registry hands to peer replication: one [`ReplicationTask`] per change a
//! client made directly on this node, with the [`Action`] a peer replays, and their JSON form in
//! a `peerreplication/batch/` body.
//!
//! Its own module so that the registry (which emits tasks) and the replicator (which sends and
//! receives them) both depend on it and not on each other.

use platform::discovery::model::{self, Format, InstanceInfo, Status};
use serde_json::{Value, json};

/// What a replication task does on the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Register the carried instance.
    Register,
    /// Renew a lease.
    Heartbeat,
    /// Cancel a lease.
    Cancel,
    /// Record a status override.
    StatusUpdate,
    /// Remove a status override.
    DeleteStatusOverride,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Register => "Register",
            Action::Heartbeat => "Heartbeat",
            Action::Cancel => "Cancel",
            Action::StatusUpdate => "StatusUpdate",
            Action::DeleteStatusOverride => "DeleteStatusOverride",
        }
    }

    fn parse(raw: &str) -> Option<Action> {
        [
            Action::Register,
            Action::Heartbeat,
            Action::Cancel,
            Action::StatusUpdate,
            Action::DeleteStatusOverride,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(raw))
    }
}

/// One change to replay on peers.
#[derive(Debug, Clone)]
pub struct ReplicationTask {
    /// What to do.
    pub action: Action,
    /// Upper-cased app name.
    pub app: String,
    /// Instance id.
    pub id: String,
    /// Our `lastDirtyTimestamp` for the instance.
    pub last_dirty_timestamp: Option<i64>,
    /// Heartbeat: our status; StatusUpdate: the new status; DeleteStatusOverride: the fallback.
    pub status: Option<Status>,
    /// Heartbeat: our recorded override.
    pub overridden_status: Option<Status>,
    /// Register: the whole instance.
    pub instance: Option<InstanceInfo>,
}

impl ReplicationTask {
    /// A Register task carrying `instance`.
    pub fn register(instance: InstanceInfo) -> Self {
        Self {
            action: Action::Register,
            app: instance.app.clone(),
            id: instance.effective_id(),
            last_dirty_timestamp: Some(instance.last_dirty_timestamp),
            status: Some(instance.status),
            overridden_status: None,
            instance: Some(instance),
        }
    }

    /// A task with only an action and an instance key.
    pub fn simple(action: Action, app: &str, id: &str) -> Self {
        Self {
            action,
            app: app.to_owned(),
            id: id.to_owned(),
            last_dirty_timestamp: None,
            status: None,
            overridden_status: None,
            instance: None,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut item = serde_json::Map::new();
        item.insert("appName".into(), json!(self.app));
        item.insert("id".into(), json!(self.id));
        if let Some(ldt) = self.last_dirty_timestamp {
            item.insert("lastDirtyTimestamp".into(), json!(ldt));
        }
        if let Some(status) = self.status {
            item.insert("status".into(), json!(status.as_str()));
        }
        if let Some(status) = self.overridden_status {
            item.insert("overriddenStatus".into(), json!(status.as_str()));
        }
        if let Some(instance) = &self.instance {
            item.insert("instanceInfo".into(), model::instance_json_value(instance));
        }
        item.insert("action".into(), json!(self.action.as_str()));
        Value::Object(item)
    }

    pub(crate) fn from_json(value: &Value) -> Result<Self, String> {
        let text = |name: &str| -> Option<String> {
            match value.get(name)? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let action = text("action")
            .and_then(|a| Action::parse(&a))
            .ok_or("missing or unknown action")?;
        let status = |name: &str| -> Result<Option<Status>, String> {
            text(name)
                .map(|s| Status::parse(&s).ok_or(format!("unknown {name} `{s}`")))
                .transpose()
        };
        let instance = match value.get("instanceInfo").filter(|v| !v.is_null()) {
            Some(tree) => {
                Some(model::instance_from_tree(tree, Format::Json).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        let app = text("appName")
            .or_else(|| instance.as_ref().map(|i| i.app.clone()))
            .ok_or("missing appName")?;
        let id = text("id")
            .or_else(|| instance.as_ref().map(InstanceInfo::effective_id))
            .ok_or("missing id")?;
        Ok(Self {
            action,
            app: app.to_ascii_uppercase(),
            id,
            last_dirty_timestamp: text("lastDirtyTimestamp").and_then(|t| t.trim().parse().ok()),
            status: status("status")?,
            overridden_status: status("overriddenStatus")?,
            instance,
        })
    }
}
