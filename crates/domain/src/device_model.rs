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

/// Declares a struct that starts with the fields naming a variable of a station's device
/// model: the component (2.0.1 ComponentType: name, instance, EVSE, connector) and the variable
/// (VariableType: name, instance). A 1.6 configuration key is a variable of the component `""`.
/// The rest of the struct follows as written.
macro_rules! with_variable_identity {
    ($(#[$meta:meta])* pub struct $name:ident { $($rest:tt)* }) => {
        $(#[$meta])*
        pub struct $name {
            /// The component's name (2.0.1; `""` for a 1.6 configuration key).
            #[serde(default)]
            pub component: String,
            /// The component's instance.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub component_instance: Option<String>,
            /// The component's EVSE.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub evse_id: Option<u32>,
            /// The connector of the component's EVSE.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub connector_id: Option<u32>,
            /// The variable's name (1.6: the configuration key).
            pub variable: String,
            /// The variable's instance.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub variable_instance: Option<String>,
            $($rest)*
        }
    };
}
pub(crate) use with_variable_identity;

with_variable_identity! {
/// A variable of a station's device model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceVariable {
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

/// The variables a command's answer confirms, as they may be kept: values read
/// (GetVariables, 1.6 GetConfiguration and the 1.6 form of GetBaseReport) and values set
/// (SetVariables), without secrets.
pub fn from_outcome(command: &Command, outcome: &Outcome) -> Vec<DeviceVariable> {
    command
        .confirmed(outcome)
        .into_iter()
        .map(sanitized)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{
        GetVariableStatus, GetVariables, GetVariablesOutcome, VariableRef, VariableResult,
    };

    #[test]
    fn secrets_and_write_only_values_are_not_kept() {
        assert!(is_secret("", "AuthorizationKey"));
        assert!(is_secret("SecurityCtrlr", "BasicAuthPassword"));
        assert!(!is_secret("OCPPCommCtrlr", "HeartbeatInterval"));
        let got = from_outcome(
            &Command::GetVariables(GetVariables { variables: vec![] }),
            &Outcome::GetVariables(GetVariablesOutcome {
                variables: vec![VariableResult {
                    target: VariableRef::key("AuthorizationKey"),
                    status: GetVariableStatus::Accepted,
                    value: Some("s3cr3t".into()),
                    mutability: None,
                    reason: None,
                }],
            }),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].value, None);
        let mut w = DeviceVariable::named("X", "Y", Some("v".into()));
        w.mutability = Some("WriteOnly".into());
        assert_eq!(sanitized(w).value, None);
    }
}
