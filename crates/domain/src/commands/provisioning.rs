//! B Provisioning: resetting (B11, B12), reading and changing variables (B06, B05; 1.6
//! GetConfiguration and ChangeConfiguration), device model reports (B07, B08) and network
//! connection profiles (B09).
//!
//! What a read or a change confirms is kept in the device model: a value read with status
//! `Accepted`, a value set with status `Accepted` (or `RebootRequired`).

use serde::{Deserialize, Serialize};

use super::{
    Answer, AttributeType, Mutability, REDACTED, Spec, VariableRef, ocpp_enum, status_command,
};
use crate::device_model::{DeviceVariable, is_secret};
use crate::notices::NoticeKind;

ocpp_enum! {
    /// When a reset happens (ResetEnumType; 1.6 ResetType spells them `Hard` and `Soft`).
    ResetKind {
        /// Now, stopping transactions (1.6 `Hard`).
        #[serde(alias = "Hard")]
        Immediate,
        /// Once no transaction runs (1.6 `Soft`).
        #[serde(alias = "Soft")]
        OnIdle,
    }
}

/// Parameters of a reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reset {
    /// When.
    pub kind: ResetKind,
    /// Only this EVSE (2.0.1 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
}

status_command! {
    /// What a station answered to a reset.
    Reset => ResetOutcome,
    /// The answer to a reset (ResetStatusEnumType; 1.6 ResetStatus has no `Scheduled`).
    ResetStatus { Accepted, Rejected, Scheduled }
}

/// Parameters of a variable read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetVariables {
    /// The variables; an empty list asks a 1.6 station for every key.
    #[serde(default)]
    pub variables: Vec<VariableRef>,
}

ocpp_enum! {
    /// The answer for one variable read (GetVariableStatusEnumType; a 1.6 key is `Accepted`
    /// or, listed among the unknown keys, `UnknownVariable`).
    GetVariableStatus { Accepted, Rejected, UnknownComponent, UnknownVariable, NotSupportedAttributeType }
}

/// One variable read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariableResult {
    /// The variable.
    #[serde(flatten)]
    pub target: VariableRef,
    /// Whether it could be read.
    pub status: GetVariableStatus,
    /// Its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Whether it can be changed, if the station said (1.6 `readonly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutability: Option<Mutability>,
    /// The reason the station gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a station answered to a read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetVariablesOutcome {
    /// Each variable asked for (1.6 without keys: each the station has).
    pub variables: Vec<VariableResult>,
}

impl Answer for GetVariablesOutcome {
    fn status(&self) -> Option<&'static str> {
        None
    }
}

/// The variables read that the station confirmed.
fn confirmed_reads(results: &[VariableResult]) -> Vec<DeviceVariable> {
    results
        .iter()
        .filter(|r| r.status == GetVariableStatus::Accepted)
        .map(|r| {
            let mut v = r.target.with_value(r.value.clone());
            v.mutability = r.mutability.map(|m| m.as_str().to_string());
            v
        })
        .collect()
}

impl Spec for GetVariables {
    type Outcome = GetVariablesOutcome;

    fn redact_outcome(outcome: &mut GetVariablesOutcome) {
        for v in &mut outcome.variables {
            if v.value.is_some() && is_secret(&v.target.component, &v.target.variable) {
                v.value = Some(REDACTED.into());
            }
        }
    }

    fn confirms(&self, outcome: &GetVariablesOutcome) -> Vec<DeviceVariable> {
        confirmed_reads(&outcome.variables)
    }
}

crate::device_model::with_variable_identity! {
/// A variable and the value to give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariableValue {
    /// The attribute (default `Actual`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<AttributeType>,
    /// The new value.
    pub value: String,
}
}

impl VariableValue {
    /// The variable it sets.
    pub fn reference(&self) -> VariableRef {
        VariableRef {
            component: self.component.clone(),
            component_instance: self.component_instance.clone(),
            evse_id: self.evse_id,
            connector_id: self.connector_id,
            variable: self.variable.clone(),
            variable_instance: self.variable_instance.clone(),
            attribute: self.attribute,
        }
    }
}

/// Parameters of a variable change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetVariables {
    /// The variables and their values.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub variables: Vec<VariableValue>,
}

ocpp_enum! {
    /// The answer for one variable changed (SetVariableStatusEnumType; 1.6
    /// ConfigurationStatus adds `NotSupported`).
    SetVariableStatus {
        Accepted, Rejected, UnknownComponent, UnknownVariable, NotSupportedAttributeType,
        RebootRequired, NotSupported,
    }
}

/// One variable changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetVariableResult {
    /// The variable.
    #[serde(flatten)]
    pub target: VariableRef,
    /// Whether it was changed.
    pub status: SetVariableStatus,
    /// The reason the station gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a station answered to a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetVariablesOutcome {
    /// The first status that is not `Accepted`, else `Accepted`.
    pub status: SetVariableStatus,
    /// Each variable's answer.
    pub variables: Vec<SetVariableResult>,
}

impl SetVariablesOutcome {
    /// The outcome of these answers.
    pub fn of(variables: Vec<SetVariableResult>) -> SetVariablesOutcome {
        let status = variables
            .iter()
            .map(|v| v.status)
            .find(|s| *s != SetVariableStatus::Accepted)
            .unwrap_or(SetVariableStatus::Accepted);
        SetVariablesOutcome { status, variables }
    }
}

impl Answer for SetVariablesOutcome {
    fn status(&self) -> Option<&'static str> {
        Some(self.status.as_str())
    }
}

impl Spec for SetVariables {
    type Outcome = SetVariablesOutcome;

    fn check(&self) -> Result<(), String> {
        if self.variables.is_empty() {
            return Err("`variables` must name at least one variable".into());
        }
        Ok(())
    }

    fn redact(&mut self) {
        for v in &mut self.variables {
            if is_secret(&v.component, &v.variable) {
                v.value = REDACTED.into();
            }
        }
    }

    fn confirms(&self, outcome: &SetVariablesOutcome) -> Vec<DeviceVariable> {
        self.variables
            .iter()
            .filter(|set| {
                // The answer for exactly this variable (component, instance, EVSE, connector,
                // variable, instance, attribute), accepted.
                let target = set.reference();
                outcome.variables.iter().any(|r| {
                    r.target.same(&target)
                        && matches!(
                            r.status,
                            SetVariableStatus::Accepted | SetVariableStatus::RebootRequired
                        )
                })
            })
            .map(|set| set.reference().with_value(Some(set.value.clone())))
            .collect()
    }
}

ocpp_enum! {
    /// Which base report (ReportBaseEnumType).
    ReportBase {
        /// Every configurable variable.
        ConfigurationInventory,
        /// Everything.
        FullInventory,
        /// Components and variables that report a problem or availability.
        SummaryInventory,
    }
}

/// Parameters of a base report request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetBaseReport {
    /// Which report.
    pub report: ReportBase,
    /// The request id the report parts will carry; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
}

ocpp_enum! {
    /// The answer to a report request (GenericDeviceModelStatusEnumType).
    ReportStatus { Accepted, Rejected, NotSupported, EmptyResultSet }
}

/// What a station answered to a report request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportOutcome {
    /// Whether the report will come.
    pub status: ReportStatus,
    /// The reason the station gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The variables themselves, when the answer carries them (1.6: GetConfiguration of every
    /// key); a 2.0.1 report arrives later, in NotifyReport parts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<VariableResult>,
}

impl Answer for ReportOutcome {
    fn status(&self) -> Option<&'static str> {
        Some(self.status.as_str())
    }
}

impl Spec for GetBaseReport {
    type Outcome = ReportOutcome;

    fn follow_up(&self) -> Option<(NoticeKind, Option<i64>)> {
        Some((NoticeKind::Report, self.request_id))
    }

    fn complete(&mut self, next_id: &mut dyn FnMut() -> i64) {
        super::assign(&mut self.request_id, next_id);
    }

    fn confirms(&self, outcome: &ReportOutcome) -> Vec<DeviceVariable> {
        confirmed_reads(&outcome.variables)
    }
}

ocpp_enum! {
    /// A criterion of the components a report covers (ComponentCriterionEnumType).
    ComponentCriterion { Active, Available, Enabled, Problem }
}

/// Parameters of a report request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetReport {
    /// The request id the report parts will carry; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
    /// Only components that meet these criteria.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<ComponentCriterion>,
    /// Only these components and variables (the variable name may be empty for a whole
    /// component).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<VariableRef>,
}

impl Spec for GetReport {
    type Outcome = ReportOutcome;

    fn follow_up(&self) -> Option<(NoticeKind, Option<i64>)> {
        Some((NoticeKind::Report, self.request_id))
    }

    fn complete(&mut self, next_id: &mut dyn FnMut() -> i64) {
        super::assign(&mut self.request_id, next_id);
    }
}

ocpp_enum! {
    /// The OCPP version of a network connection profile (OCPPVersionEnumType).
    OcppVersion { OCPP12, OCPP15, OCPP16, OCPP20 }
}

ocpp_enum! {
    /// The interface a network connection profile uses (OCPPInterfaceEnumType).
    OcppInterface { Wired0, Wired1, Wired2, Wired3, Wireless0, Wireless1, Wireless2, Wireless3 }
}

/// A network connection profile (2.0.1 NetworkConnectionProfileType).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetNetworkProfile {
    /// The slot (NetworkConfigurationPriority refers to it).
    pub configuration_slot: i64,
    /// The CSMS URL.
    pub csms_url: String,
    /// The OCPP version (default `OCPP20`, which 2.0.1 stations use for 2.0 and 2.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocpp_version: Option<OcppVersion>,
    /// The interface (default `Wired0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<OcppInterface>,
    /// Security profile 1 to 3.
    pub security_profile: i64,
    /// Seconds a message may wait for its answer.
    pub message_timeout_s: i64,
}

status_command! {
    /// What a station answered to a network profile.
    SetNetworkProfile => SetNetworkProfileOutcome,
    /// The answer to a network profile (SetNetworkProfileStatusEnumType).
    SetNetworkProfileStatus { Accepted, Rejected, Failed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(variable: VariableRef, status: GetVariableStatus, value: &str) -> VariableResult {
        VariableResult {
            target: variable,
            status,
            value: Some(value.into()),
            mutability: Some(Mutability::ReadWrite),
            reason: None,
        }
    }

    #[test]
    fn reads_keep_only_accepted_values() {
        let mut power = VariableRef::key("Power");
        power.component = "EVSE".into();
        power.evse_id = Some(1);
        power.attribute = Some(AttributeType::MaxSet);
        let outcome = GetVariablesOutcome {
            variables: vec![
                read(
                    VariableRef::key("HeartbeatInterval"),
                    GetVariableStatus::Accepted,
                    "300",
                ),
                read(
                    VariableRef::key("Nope"),
                    GetVariableStatus::UnknownVariable,
                    "",
                ),
                read(power, GetVariableStatus::Accepted, "22000"),
            ],
        };
        let got = GetVariables { variables: vec![] }.confirms(&outcome);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].value.as_deref(), Some("300"));
        assert_eq!(got[0].mutability.as_deref(), Some("ReadWrite"));
        assert_eq!(
            (got[1].evse_id, got[1].attribute.as_str()),
            (Some(1), "MaxSet")
        );
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
        let command = SetVariables {
            variables: vec![set("HeartbeatInterval", "60"), set("Locked", "x")],
        };
        let answer = |v: &VariableValue, status| SetVariableResult {
            // The station names the attribute the request left to its default.
            target: VariableRef {
                attribute: Some(AttributeType::Actual),
                ..v.reference()
            },
            status,
            reason: None,
        };
        let outcome = SetVariablesOutcome::of(vec![
            answer(&command.variables[0], SetVariableStatus::Accepted),
            answer(&command.variables[1], SetVariableStatus::Rejected),
        ]);
        assert_eq!(outcome.status, SetVariableStatus::Rejected);
        let got = command.confirms(&outcome);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].variable, "HeartbeatInterval");
        assert_eq!(got[0].value.as_deref(), Some("60"));
    }

    #[test]
    fn results_show_the_variable_beside_its_status() {
        let r = read(
            VariableRef::key("HeartbeatInterval"),
            GetVariableStatus::Accepted,
            "300",
        );
        let v = serde_json::to_value(&r).expect("serialize");
        assert_eq!(
            v,
            serde_json::json!({"component": "", "variable": "HeartbeatInterval",
                "status": "Accepted", "value": "300", "mutability": "ReadWrite"})
        );
        assert_eq!(
            serde_json::from_value::<VariableResult>(v).expect("parse"),
            r
        );
    }

    #[test]
    fn secret_values_are_redacted() {
        let mut c = SetVariables {
            variables: vec![VariableValue {
                component: String::new(),
                component_instance: None,
                evse_id: None,
                connector_id: None,
                variable: "AuthorizationKey".into(),
                variable_instance: None,
                attribute: None,
                value: "0123456789abcdef".into(),
            }],
        };
        c.redact();
        assert_eq!(c.variables[0].value, "********");
    }
}
