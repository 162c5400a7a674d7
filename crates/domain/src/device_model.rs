//! The device model (B Provisioning): what a station reports of its components and variables,
//! and the values Arus last read or set, in one shape for both versions (a 1.6 configuration
//! key is a variable of the component named `""`).
//!
//! Sources: 2.0.1 NotifyReport parts (through the adapter), and the answers to GetVariables,
//! SetVariables and 1.6 GetConfiguration / ChangeConfiguration (through the commander). The
//! functions here turn a command's outcome into variables; they are pure.
//!
//! # Invariants
//!
//! - A variable is identified by station, component (name, instance, EVSE, connector),
//!   variable (name, instance) and attribute type; the latest report or answer replaces what
//!   was known of it.
//! - Only what the station confirmed is recorded: a value read with status `Accepted`, a value
//!   set with status `Accepted` (or 1.6 `RebootRequired`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::commands::{Command, Outcome};

/// A variable of a station's device model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceVariable {
    /// The component's name (`""` for a 1.6 configuration key).
    pub component: String,
    /// The component's instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_instance: Option<String>,
    /// The component's EVSE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// The component's connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
    /// The variable's name (the 1.6 key).
    pub variable: String,
    /// The variable's instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_instance: Option<String>,
    /// `Actual`, `Target`, `MinSet` or `MaxSet`.
    pub attribute: String,
    /// Its value, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `ReadOnly`, `WriteOnly` or `ReadWrite`, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutability: Option<String>,
    /// What the station said of its type and limits (2.0.1 variableCharacteristics:
    /// `dataType`, `unit`, `minLimit`, `maxLimit`, `valuesList`, `supportsMonitoring`), if
    /// reported.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub characteristics: Value,
}

impl DeviceVariable {
    /// A variable with only its identity and value.
    pub fn named(component: &str, variable: &str, value: Option<String>) -> DeviceVariable {
        DeviceVariable {
            component: component.to_string(),
            component_instance: None,
            evse_id: None,
            connector_id: None,
            variable: variable.to_string(),
            variable_instance: None,
            attribute: "Actual".into(),
            value,
            mutability: None,
            characteristics: Value::Null,
        }
    }
}

/// Whether a variable holds a secret whose value must not be kept or shown: 1.6
/// `AuthorizationKey`, 2.0.1 `SecurityCtrlr.BasicAuthPassword`, and anything named like a
/// password, secret or key of a security component.
pub fn is_secret(component: &str, variable: &str) -> bool {
    let v = variable.to_ascii_lowercase();
    v == "authorizationkey"
        || v.contains("password")
        || v.contains("secret")
        || (component.eq_ignore_ascii_case("SecurityCtrlr") && v.contains("key"))
}

/// The value to keep: none for a secret or a write-only variable.
fn keepable(
    component: &str,
    variable: &str,
    mutability: Option<&str>,
    value: Option<String>,
) -> Option<String> {
    if is_secret(component, variable) || mutability == Some("WriteOnly") {
        None
    } else {
        value
    }
}

/// What a stored variable may show: its value unless it is secret or write-only.
pub fn sanitized(mut v: DeviceVariable) -> DeviceVariable {
    v.value = keepable(
        &v.component,
        &v.variable,
        v.mutability.as_deref(),
        v.value.take(),
    );
    v
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn number(v: &Value, key: &str) -> Option<u32> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

fn accepted(status: Option<&str>) -> bool {
    matches!(status, Some("Accepted" | "RebootRequired"))
}

/// The variables a command's answer confirms: values read (GetVariables, 1.6 GetConfiguration
/// and the 1.6 form of GetBaseReport) and values set (SetVariables).
pub fn from_outcome(command: &Command, outcome: &Outcome) -> Vec<DeviceVariable> {
    from_answers(command, outcome)
        .into_iter()
        .map(sanitized)
        .collect()
}

fn from_answers(command: &Command, outcome: &Outcome) -> Vec<DeviceVariable> {
    let results = outcome
        .details
        .get("variables")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match command {
        Command::GetVariables(_) | Command::GetBaseReport(_) => results
            .iter()
            .filter(|r| accepted(r.get("status").and_then(Value::as_str)))
            .filter_map(|r| {
                let mut v = DeviceVariable::named(
                    &text(r, "component").unwrap_or_default(),
                    &text(r, "variable")?,
                    text(r, "value"),
                );
                v.component_instance = text(r, "componentInstance");
                v.evse_id = number(r, "evseId");
                v.connector_id = number(r, "connectorId");
                v.variable_instance = text(r, "variableInstance");
                if let Some(a) = text(r, "attribute") {
                    v.attribute = a;
                }
                v.mutability = r
                    .get("readonly")
                    .and_then(Value::as_bool)
                    .map(|ro| if ro { "ReadOnly" } else { "ReadWrite" }.to_string());
                Some(v)
            })
            .collect(),
        Command::SetVariables(c) => c
            .variables
            .iter()
            .filter(|set| {
                // The answer for exactly this variable (component, instance, EVSE, connector,
                // variable, instance, attribute), accepted.
                results.iter().any(|r| {
                    text(r, "variable").as_deref() == Some(set.variable.as_str())
                        && text(r, "component").unwrap_or_default() == set.component
                        && text(r, "componentInstance") == set.component_instance
                        && number(r, "evseId") == set.evse_id
                        && number(r, "connectorId") == set.connector_id
                        && text(r, "variableInstance") == set.variable_instance
                        && text(r, "attribute").as_deref().unwrap_or("Actual")
                            == set.attribute.as_deref().unwrap_or("Actual")
                        && accepted(r.get("status").and_then(Value::as_str))
                })
            })
            .map(|set| {
                let mut v =
                    DeviceVariable::named(&set.component, &set.variable, Some(set.value.clone()));
                v.component_instance = set.component_instance.clone();
                v.evse_id = set.evse_id;
                v.connector_id = set.connector_id;
                v.variable_instance = set.variable_instance.clone();
                if let Some(a) = &set.attribute {
                    v.attribute = a.clone();
                }
                v
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{GetVariables, SetVariables, VariableValue};
    use serde_json::json;

    fn outcome(details: Value) -> Outcome {
        Outcome {
            status: "Accepted".into(),
            reason: None,
            details,
        }
    }

    #[test]
    fn reads_keep_only_accepted_values() {
        let got = from_outcome(
            &Command::GetVariables(GetVariables { variables: vec![] }),
            &outcome(json!({"variables": [
                {"component": "", "variable": "HeartbeatInterval", "status": "Accepted", "value": "300", "readonly": false},
                {"component": "", "variable": "Nope", "status": "UnknownVariable"},
                {"component": "EVSE", "evseId": 1, "variable": "Power", "attribute": "MaxSet", "status": "Accepted", "value": "22000"}
            ]})),
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].value.as_deref(), Some("300"));
        assert_eq!(got[0].mutability.as_deref(), Some("ReadWrite"));
        assert_eq!(
            (got[1].evse_id, got[1].attribute.as_str()),
            (Some(1), "MaxSet")
        );
    }

    #[test]
    fn secrets_and_write_only_values_are_not_kept() {
        assert!(is_secret("", "AuthorizationKey"));
        assert!(is_secret("SecurityCtrlr", "BasicAuthPassword"));
        assert!(!is_secret("OCPPCommCtrlr", "HeartbeatInterval"));
        let got = from_outcome(
            &Command::GetVariables(GetVariables { variables: vec![] }),
            &outcome(json!({"variables": [
                {"component": "", "variable": "AuthorizationKey", "status": "Accepted", "value": "s3cr3t"}
            ]})),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].value, None);
        let mut w = DeviceVariable::named("X", "Y", Some("v".into()));
        w.mutability = Some("WriteOnly".into());
        assert_eq!(sanitized(w).value, None);
    }

    #[test]
    fn changes_record_the_values_the_station_accepted() {
        let set = |variable: &str, value: &str| VariableValue {
            component: "OCPPCommCtrlr".into(),
            component_instance: None,
            evse_id: None,
            connector_id: None,
            variable: variable.into(),
            variable_instance: None,
            attribute: None,
            value: value.into(),
        };
        let got = from_outcome(
            &Command::SetVariables(SetVariables {
                variables: vec![set("HeartbeatInterval", "60"), set("Locked", "x")],
            }),
            &outcome(json!({"variables": [
                {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "status": "Accepted"},
                {"component": "OCPPCommCtrlr", "variable": "Locked", "status": "Rejected"}
            ]})),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].variable, "HeartbeatInterval");
        assert_eq!(got[0].value.as_deref(), Some("60"));
    }
}
