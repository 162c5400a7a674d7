//! B Provisioning in each version: Reset (1.6 Hard/Soft), 2.0.1 GetVariables / SetVariables
//! and 1.6 GetConfiguration / ChangeConfiguration (one per key), 2.0.1 GetBaseReport (1.6:
//! GetConfiguration of every key) and GetReport, 2.0.1 SetNetworkProfile.

use arus_domain::commands::*;
use arus_ocpp::{Version, v16, v201};

use super::{Link, ToStation, assigned, convert, evse, id, int, reason, unsupported};

convert!(reset_status_16: v16::ResetStatus => ResetStatus { Accepted, Rejected });
convert!(reset_status: v201::ResetStatusEnum => ResetStatus { Accepted, Rejected, Scheduled });
convert!(reset_kind: ResetKind => v201::ResetEnum { Immediate, OnIdle });

impl ToStation for Reset {
    async fn send(&self, link: &Link<'_>) -> Result<ResetOutcome, SendError> {
        if link.version == Version::V16 {
            if self.evse_id.is_some() {
                return Err(unsupported("resetting one EVSE", link.version));
            }
            let a = link
                .call(&v16::ResetRequest {
                    r#type: match self.kind {
                        ResetKind::Immediate => v16::ResetType::Hard,
                        ResetKind::OnIdle => v16::ResetType::Soft,
                    },
                })
                .await?;
            return Ok(ResetOutcome {
                status: reset_status_16(a.status),
                reason: None,
            });
        }
        let a = link
            .call(&v201::ResetRequest {
                custom_data: None,
                r#type: reset_kind(self.kind),
                evse_id: self.evse_id.map(int),
            })
            .await?;
        Ok(ResetOutcome {
            status: reset_status(a.status),
            reason: reason(a.status_info),
        })
    }
}

convert!(attribute: AttributeType => v201::AttributeEnum { Actual, Target, MinSet, MaxSet });
convert!(attribute_of: v201::AttributeEnum => AttributeType { Actual, Target, MinSet, MaxSet });
convert!(get_status: v201::GetVariableStatusEnum => GetVariableStatus {
    Accepted, Rejected, UnknownComponent, UnknownVariable, NotSupportedAttributeType
});
convert!(set_status: v201::SetVariableStatusEnum => SetVariableStatus {
    Accepted, Rejected, UnknownComponent, UnknownVariable, NotSupportedAttributeType, RebootRequired
});
convert!(set_status_16: v16::ConfigurationStatus => SetVariableStatus {
    Accepted, Rejected, RebootRequired, NotSupported
});

fn component(v: &VariableRef) -> v201::Component {
    v201::Component {
        custom_data: None,
        evse: v.evse_id.map(|e| evse(e, v.connector_id)),
        name: v.component.clone(),
        instance: v.component_instance.clone(),
    }
}

fn variable(v: &VariableRef) -> v201::Variable {
    v201::Variable {
        custom_data: None,
        name: v.variable.clone(),
        instance: v.variable_instance.clone(),
    }
}

/// The variable a 2.0.1 answer is about.
fn target(
    c: v201::Component,
    v: v201::Variable,
    attribute: Option<v201::AttributeEnum>,
) -> VariableRef {
    VariableRef {
        component: c.name,
        component_instance: c.instance,
        evse_id: c.evse.as_ref().and_then(|e| id(e.id)),
        connector_id: c.evse.and_then(|e| e.connector_id).and_then(id),
        variable: v.name,
        variable_instance: v.instance,
        attribute: attribute.map(attribute_of),
    }
}

/// 1.6 GetConfiguration of some keys, or of every key when none is named.
async fn configuration(
    link: &Link<'_>,
    keys: &[VariableRef],
) -> Result<Vec<VariableResult>, SendError> {
    let a = link
        .call(&v16::GetConfigurationRequest {
            key: (!keys.is_empty()).then(|| keys.iter().map(|v| v.variable.clone()).collect()),
        })
        .await?;
    let known = a
        .configuration_key
        .into_iter()
        .flatten()
        .map(|k| VariableResult {
            target: VariableRef::key(&k.key),
            status: GetVariableStatus::Accepted,
            value: k.value,
            mutability: Some(if k.readonly {
                Mutability::ReadOnly
            } else {
                Mutability::ReadWrite
            }),
            reason: None,
        });
    let unknown = a.unknown_key.into_iter().flatten().map(|k| VariableResult {
        target: VariableRef::key(&k),
        status: GetVariableStatus::UnknownVariable,
        value: None,
        mutability: None,
        reason: None,
    });
    Ok(known.chain(unknown).collect())
}

impl ToStation for GetVariables {
    async fn send(&self, link: &Link<'_>) -> Result<GetVariablesOutcome, SendError> {
        if link.version == Version::V16 {
            return Ok(GetVariablesOutcome {
                variables: configuration(link, &self.variables).await?,
            });
        }
        if self.variables.is_empty() {
            return Err(SendError::Invalid(
                "name the variables to read (or ask for a base report)".into(),
            ));
        }
        let a = link
            .call(&v201::GetVariablesRequest {
                custom_data: None,
                get_variable_data: self
                    .variables
                    .iter()
                    .map(|v| v201::GetVariableData {
                        custom_data: None,
                        attribute_type: v.attribute.map(attribute),
                        component: component(v),
                        variable: variable(v),
                    })
                    .collect(),
            })
            .await?;
        Ok(GetVariablesOutcome {
            variables: a
                .get_variable_result
                .into_iter()
                .map(|r| VariableResult {
                    target: target(r.component, r.variable, r.attribute_type),
                    status: get_status(r.attribute_status),
                    value: r.attribute_value,
                    mutability: None,
                    reason: reason(r.attribute_status_info),
                })
                .collect(),
        })
    }
}

impl ToStation for SetVariables {
    async fn send(&self, link: &Link<'_>) -> Result<SetVariablesOutcome, SendError> {
        if link.version == Version::V16 {
            let mut results = Vec::with_capacity(self.variables.len());
            for v in &self.variables {
                let a = link
                    .call(&v16::ChangeConfigurationRequest {
                        key: v.variable.clone(),
                        value: v.value.clone(),
                    })
                    .await?;
                results.push(SetVariableResult {
                    target: v.reference(),
                    status: set_status_16(a.status),
                    reason: None,
                });
            }
            return Ok(SetVariablesOutcome::of(results));
        }
        let a = link
            .call(&v201::SetVariablesRequest {
                custom_data: None,
                set_variable_data: self
                    .variables
                    .iter()
                    .map(|v| {
                        let r = v.reference();
                        v201::SetVariableData {
                            custom_data: None,
                            attribute_type: r.attribute.map(attribute),
                            attribute_value: v.value.clone(),
                            component: component(&r),
                            variable: variable(&r),
                        }
                    })
                    .collect(),
            })
            .await?;
        Ok(SetVariablesOutcome::of(
            a.set_variable_result
                .into_iter()
                .map(|r| SetVariableResult {
                    target: target(r.component, r.variable, r.attribute_type),
                    status: set_status(r.attribute_status),
                    reason: reason(r.attribute_status_info),
                })
                .collect(),
        ))
    }
}

convert!(report_status: v201::GenericDeviceModelStatusEnum => ReportStatus {
    Accepted, Rejected, NotSupported, EmptyResultSet
});
convert!(report_base: ReportBase => v201::ReportBaseEnum {
    ConfigurationInventory, FullInventory, SummaryInventory
});
convert!(criterion: ComponentCriterion => v201::ComponentCriterionEnum {
    Active, Available, Enabled, Problem
});

impl ToStation for GetBaseReport {
    async fn send(&self, link: &Link<'_>) -> Result<ReportOutcome, SendError> {
        if link.version == Version::V16 {
            // 1.6 has no reports: every key, read at once, is the report.
            return Ok(ReportOutcome {
                status: ReportStatus::Accepted,
                reason: None,
                variables: configuration(link, &[]).await?,
            });
        }
        let a = link
            .call(&v201::GetBaseReportRequest {
                custom_data: None,
                request_id: assigned(self.request_id, "requestId")?,
                report_base: report_base(self.report),
            })
            .await?;
        Ok(ReportOutcome {
            status: report_status(a.status),
            reason: reason(a.status_info),
            variables: Vec::new(),
        })
    }
}

impl ToStation for GetReport {
    async fn send(&self, link: &Link<'_>) -> Result<ReportOutcome, SendError> {
        if link.version == Version::V16 {
            return Err(unsupported("GetReport", link.version));
        }
        let a = link
            .call(&v201::GetReportRequest {
                custom_data: None,
                component_variable: (!self.variables.is_empty()).then(|| {
                    self.variables
                        .iter()
                        .map(|v| v201::ComponentVariable {
                            custom_data: None,
                            component: component(v),
                            variable: (!v.variable.is_empty()).then(|| variable(v)),
                        })
                        .collect()
                }),
                request_id: assigned(self.request_id, "requestId")?,
                component_criteria: (!self.criteria.is_empty())
                    .then(|| self.criteria.iter().copied().map(criterion).collect()),
            })
            .await?;
        Ok(ReportOutcome {
            status: report_status(a.status),
            reason: reason(a.status_info),
            variables: Vec::new(),
        })
    }
}

convert!(network_status: v201::SetNetworkProfileStatusEnum => SetNetworkProfileStatus {
    Accepted, Rejected, Failed
});
convert!(ocpp_version: OcppVersion => v201::OCPPVersionEnum { OCPP12, OCPP15, OCPP16, OCPP20 });
convert!(interface: OcppInterface => v201::OCPPInterfaceEnum {
    Wired0, Wired1, Wired2, Wired3, Wireless0, Wireless1, Wireless2, Wireless3
});

impl ToStation for SetNetworkProfile {
    async fn send(&self, link: &Link<'_>) -> Result<SetNetworkProfileOutcome, SendError> {
        if link.version == Version::V16 {
            return Err(unsupported("SetNetworkProfile", link.version));
        }
        let a = link
            .call(&v201::SetNetworkProfileRequest {
                custom_data: None,
                configuration_slot: self.configuration_slot,
                connection_data: v201::NetworkConnectionProfile {
                    custom_data: None,
                    apn: None,
                    ocpp_version: ocpp_version(self.ocpp_version.unwrap_or(OcppVersion::OCPP20)),
                    ocpp_transport: v201::OCPPTransportEnum::JSON,
                    ocpp_csms_url: self.csms_url.clone(),
                    message_timeout: self.message_timeout_s,
                    security_profile: self.security_profile,
                    ocpp_interface: interface(self.interface.unwrap_or(OcppInterface::Wired0)),
                    vpn: None,
                },
            })
            .await?;
        Ok(SetNetworkProfileOutcome {
            status: network_status(a.status),
            reason: reason(a.status_info),
        })
    }
}
