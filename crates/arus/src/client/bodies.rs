//! The API's request bodies as the client sends them, and typed views of the members it reads
//! from the answers. A view is lenient: what is missing or of another type is left at its
//! default, so that an answer with more (or fewer) members still prints; tables and `--json`
//! show the answer as the server sent it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /api/v1/stations`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewStation {
    pub(super) id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) boot_policy: Option<String>,
}

/// `POST /api/v1/tokens`.
#[derive(Serialize)]
pub(super) struct NewToken {
    pub(super) name: String,
    pub(super) role: String,
}

/// `POST /api/v1/id-tokens`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewIdToken {
    pub(super) id_token: String,
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) group_id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) expiry_date: Option<String>,
    /// Sent only when set (the API's default is false).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) concurrent_use: bool,
}

/// `POST /api/v1/bulk`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewBulk {
    pub(super) command: BulkCommand,
    pub(super) concurrency: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) connected_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) station_ids: Option<Vec<String>>,
}

/// A bulk operation's command: its name as `type`, its parameters beside it.
#[derive(Serialize)]
pub(super) struct BulkCommand {
    #[serde(rename = "type")]
    pub(super) name: String,
    #[serde(flatten)]
    pub(super) params: Map<String, Value>,
}

/// The members of an answer the client reads: what is missing or of another type is left at
/// its default, so that an answer with more (or fewer) members still prints.
pub(super) fn view<T: serde::de::DeserializeOwned + Default>(v: &Value) -> T {
    T::deserialize(v).unwrap_or_default()
}

/// A problem answer (RFC 9457).
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct ProblemView {
    pub(super) detail: Option<String>,
}

impl ProblemView {
    /// The problem's detail, or `otherwise`.
    pub(super) fn detail(v: &Value, otherwise: &str) -> String {
        view::<ProblemView>(v)
            .detail
            .unwrap_or_else(|| otherwise.to_string())
    }
}

/// A station's EVSEs, for the connector table.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct StationView {
    pub(super) evses: Vec<EvseView>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct EvseView {
    pub(super) id: Value,
    pub(super) connectors: Vec<Map<String, Value>>,
}

/// A row of the connector table: the connector as sent, with its EVSE's id.
#[derive(Serialize)]
pub(super) struct ConnectorRow {
    pub(super) evse: Value,
    #[serde(flatten)]
    pub(super) connector: Map<String, Value>,
}

/// A bulk operation's progress.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct BulkView {
    pub(super) id: String,
    pub(super) status: String,
    pub(super) submitted: Value,
    pub(super) station_ids: Vec<Value>,
    pub(super) by_status: Value,
    pub(super) results: Vec<Value>,
}

/// A command's record.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct CommandView {
    pub(super) id: String,
    pub(super) command: CommandName,
    pub(super) station_id: String,
    pub(super) status: String,
    pub(super) outcome: Option<OutcomeView>,
    pub(super) error: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct CommandName {
    #[serde(rename = "type")]
    pub(super) name: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct OutcomeView {
    /// The command it answers (read so that it is not among the rest).
    #[serde(rename = "type")]
    pub(super) command: Option<String>,
    pub(super) status: Option<String>,
    pub(super) reason: Option<String>,
    /// What else the answer said (variables, a list version, certificates...).
    #[serde(flatten)]
    pub(super) rest: serde_json::Map<String, Value>,
}

/// An event: the members every event has, and the rest.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct EventView {
    pub(super) at: Value,
    #[serde(rename = "type")]
    pub(super) kind: Value,
    pub(super) station_id: Value,
    /// Read so that it is not among `rest`; the line does not show it.
    #[serde(rename = "id")]
    _id: Value,
    #[serde(flatten)]
    pub(super) rest: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_bodies_have_the_api_shape() {
        let bulk = NewBulk {
            command: BulkCommand {
                name: "reset".into(),
                params: Map::from_iter([("kind".to_string(), json!("Immediate"))]),
            },
            concurrency: 10,
            connected_only: true,
            station_ids: None,
        };
        assert_eq!(
            serde_json::to_value(bulk).expect("encodes"),
            json!({"command": {"type": "reset", "kind": "Immediate"}, "concurrency": 10,
                   "connectedOnly": true})
        );
        let station = NewStation {
            id: "CS1".into(),
            password: None,
            boot_policy: Some("Pending".into()),
        };
        assert_eq!(
            serde_json::to_value(station).expect("encodes"),
            json!({"id": "CS1", "bootPolicy": "Pending"})
        );
        let token = NewIdToken {
            id_token: "AB12".into(),
            kind: "ISO14443".into(),
            status: "Accepted".into(),
            group_id_token: None,
            expiry_date: Some("2030-01-01T00:00:00Z".into()),
            concurrent_use: true,
        };
        assert_eq!(
            serde_json::to_value(token).expect("encodes"),
            json!({"idToken": "AB12", "type": "ISO14443", "status": "Accepted",
                   "expiryDate": "2030-01-01T00:00:00Z", "concurrentUse": true})
        );
    }

    #[test]
    fn views_read_what_they_need_and_tolerate_the_rest() {
        let record: CommandView = view(&json!({
            "id": "c1", "stationId": "CS1", "command": {"type": "reset", "kind": "OnIdle"},
            "status": "answered", "outcome": {"type": "reset", "status": "Accepted", "version": 3},
            "createdAt": "2030-01-01T00:00:00Z"
        }));
        assert_eq!(
            (record.id.as_str(), record.command.name.as_str()),
            ("c1", "reset")
        );
        let outcome = record.outcome.expect("an outcome");
        assert_eq!(outcome.status.as_deref(), Some("Accepted"));
        assert_eq!(outcome.command.as_deref(), Some("reset"));
        assert_eq!(outcome.rest.keys().collect::<Vec<_>>(), ["version"]);
        let event: EventView = view(&json!({"id": 7, "type": "boot", "at": "t", "vendor": "V"}));
        assert_eq!(event.kind, json!("boot"));
        assert_eq!(event.rest.keys().collect::<Vec<_>>(), ["vendor"]);
        assert_eq!(
            ProblemView::detail(&json!("not json"), "refused"),
            "refused"
        );
    }
}
