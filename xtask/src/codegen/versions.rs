//! What differs between the OCPP versions the generator reads: where their schemas are, how
//! their request files are named, which side sends each action, and (1.6) the specification's
//! names for the schemas' inline objects and enumerations.
//!
//! Data only; adding a version is adding an entry to [`VERSIONS`].

/// What differs between the three versions.
pub(super) struct VersionSpec {
    /// Module and schema directory name.
    pub(super) module: &'static str,
    /// Human name, for docs.
    pub(super) title: &'static str,
    /// Suffix of request schema file names (`""` in 1.6, `"Request"` later).
    pub(super) request_suffix: &'static str,
    /// Actions whose request the charging station sends.
    pub(super) station_initiated: &'static [&'static str],
    /// Actions either side may send.
    pub(super) both: &'static [&'static str],
    /// Names for inline (anonymous) objects and enumerations, keyed by `File:json.path[]`.
    pub(super) inline_names: &'static [(&'static str, &'static str)],
}

const V16_STATION: &[&str] = &[
    "Authorize",
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
];

const V201_STATION: &[&str] = &[
    "Authorize",
    "BootNotification",
    "ClearedChargingLimit",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyReport",
    "PublishFirmwareStatusNotification",
    "ReportChargingProfiles",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
];

const V21_STATION: &[&str] = &[
    "Authorize",
    "BatterySwap",
    "BootNotification",
    "ClearedChargingLimit",
    "ClosePeriodicEventStream",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateChainStatus",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDERAlarm",
    "NotifyDERStartStop",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyPeriodicEventStream",
    "NotifyPriorityCharging",
    "NotifyReport",
    "NotifySettlement",
    "OpenPeriodicEventStream",
    "PublishFirmwareStatusNotification",
    "PullDynamicScheduleUpdate",
    "ReportChargingProfiles",
    "ReportDERControl",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
    "VatNumberValidation",
];

/// 1.6 schemas define most objects and enumerations inline; these are their names in the 1.6
/// specification (section 7, "Types").
const V16_INLINE: &[(&str, &str)] = &[
    ("AuthorizeResponse:idTagInfo", "IdTagInfo"),
    ("AuthorizeResponse:idTagInfo.status", "AuthorizationStatus"),
    ("BootNotificationResponse:status", "RegistrationStatus"),
    (
        "CancelReservationResponse:status",
        "CancelReservationStatus",
    ),
    ("ChangeAvailability:type", "AvailabilityType"),
    ("ChangeAvailabilityResponse:status", "AvailabilityStatus"),
    ("ChangeConfigurationResponse:status", "ConfigurationStatus"),
    ("ClearCacheResponse:status", "ClearCacheStatus"),
    (
        "ClearChargingProfile:chargingProfilePurpose",
        "ChargingProfilePurposeType",
    ),
    (
        "ClearChargingProfileResponse:status",
        "ClearChargingProfileStatus",
    ),
    ("DataTransferResponse:status", "DataTransferStatus"),
    ("DiagnosticsStatusNotification:status", "DiagnosticsStatus"),
    ("FirmwareStatusNotification:status", "FirmwareStatus"),
    (
        "GetCompositeSchedule:chargingRateUnit",
        "ChargingRateUnitType",
    ),
    (
        "GetCompositeScheduleResponse:status",
        "GetCompositeScheduleStatus",
    ),
    (
        "GetCompositeScheduleResponse:chargingSchedule",
        "ChargingSchedule",
    ),
    (
        "GetCompositeScheduleResponse:chargingSchedule.chargingRateUnit",
        "ChargingRateUnitType",
    ),
    (
        "GetCompositeScheduleResponse:chargingSchedule.chargingSchedulePeriod[]",
        "ChargingSchedulePeriod",
    ),
    ("GetConfigurationResponse:configurationKey[]", "KeyValue"),
    ("MeterValues:meterValue[]", "MeterValue"),
    ("MeterValues:meterValue[].sampledValue[]", "SampledValue"),
    (
        "MeterValues:meterValue[].sampledValue[].context",
        "ReadingContext",
    ),
    (
        "MeterValues:meterValue[].sampledValue[].format",
        "ValueFormat",
    ),
    (
        "MeterValues:meterValue[].sampledValue[].measurand",
        "Measurand",
    ),
    ("MeterValues:meterValue[].sampledValue[].phase", "Phase"),
    (
        "MeterValues:meterValue[].sampledValue[].location",
        "Location",
    ),
    (
        "MeterValues:meterValue[].sampledValue[].unit",
        "UnitOfMeasure",
    ),
    ("RemoteStartTransaction:chargingProfile", "ChargingProfile"),
    (
        "RemoteStartTransaction:chargingProfile.chargingProfilePurpose",
        "ChargingProfilePurposeType",
    ),
    (
        "RemoteStartTransaction:chargingProfile.chargingProfileKind",
        "ChargingProfileKindType",
    ),
    (
        "RemoteStartTransaction:chargingProfile.recurrencyKind",
        "RecurrencyKindType",
    ),
    (
        "RemoteStartTransaction:chargingProfile.chargingSchedule",
        "ChargingSchedule",
    ),
    (
        "RemoteStartTransaction:chargingProfile.chargingSchedule.chargingRateUnit",
        "ChargingRateUnitType",
    ),
    (
        "RemoteStartTransaction:chargingProfile.chargingSchedule.chargingSchedulePeriod[]",
        "ChargingSchedulePeriod",
    ),
    (
        "RemoteStartTransactionResponse:status",
        "RemoteStartStopStatus",
    ),
    (
        "RemoteStopTransactionResponse:status",
        "RemoteStartStopStatus",
    ),
    ("ReserveNowResponse:status", "ReservationStatus"),
    ("Reset:type", "ResetType"),
    ("ResetResponse:status", "ResetStatus"),
    (
        "SendLocalList:localAuthorizationList[]",
        "AuthorizationData",
    ),
    (
        "SendLocalList:localAuthorizationList[].idTagInfo",
        "IdTagInfo",
    ),
    (
        "SendLocalList:localAuthorizationList[].idTagInfo.status",
        "AuthorizationStatus",
    ),
    ("SendLocalList:updateType", "UpdateType"),
    ("SendLocalListResponse:status", "UpdateStatus"),
    ("SetChargingProfile:csChargingProfiles", "ChargingProfile"),
    (
        "SetChargingProfile:csChargingProfiles.chargingProfilePurpose",
        "ChargingProfilePurposeType",
    ),
    (
        "SetChargingProfile:csChargingProfiles.chargingProfileKind",
        "ChargingProfileKindType",
    ),
    (
        "SetChargingProfile:csChargingProfiles.recurrencyKind",
        "RecurrencyKindType",
    ),
    (
        "SetChargingProfile:csChargingProfiles.chargingSchedule",
        "ChargingSchedule",
    ),
    (
        "SetChargingProfile:csChargingProfiles.chargingSchedule.chargingRateUnit",
        "ChargingRateUnitType",
    ),
    (
        "SetChargingProfile:csChargingProfiles.chargingSchedule.chargingSchedulePeriod[]",
        "ChargingSchedulePeriod",
    ),
    ("SetChargingProfileResponse:status", "ChargingProfileStatus"),
    ("StartTransactionResponse:idTagInfo", "IdTagInfo"),
    (
        "StartTransactionResponse:idTagInfo.status",
        "AuthorizationStatus",
    ),
    ("StatusNotification:errorCode", "ChargePointErrorCode"),
    ("StatusNotification:status", "ChargePointStatus"),
    ("StopTransaction:reason", "Reason"),
    ("StopTransaction:transactionData[]", "TransactionData"),
    (
        "StopTransaction:transactionData[].sampledValue[]",
        "TransactionDataSampledValue",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].context",
        "ReadingContext",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].format",
        "ValueFormat",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].measurand",
        "Measurand",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].phase",
        "Phase",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].location",
        "Location",
    ),
    (
        "StopTransaction:transactionData[].sampledValue[].unit",
        "UnitOfMeasure",
    ),
    ("StopTransactionResponse:idTagInfo", "IdTagInfo"),
    (
        "StopTransactionResponse:idTagInfo.status",
        "AuthorizationStatus",
    ),
    ("TriggerMessage:requestedMessage", "MessageTrigger"),
    ("TriggerMessageResponse:status", "TriggerMessageStatus"),
    ("UnlockConnectorResponse:status", "UnlockStatus"),
];

pub(super) const VERSIONS: &[VersionSpec] = &[
    VersionSpec {
        module: "v16",
        title: "OCPP 1.6 (edition 2, with the security extension)",
        request_suffix: "",
        station_initiated: V16_STATION,
        both: &["DataTransfer"],
        inline_names: V16_INLINE,
    },
    VersionSpec {
        module: "v201",
        title: "OCPP 2.0.1",
        request_suffix: "Request",
        station_initiated: V201_STATION,
        both: &["DataTransfer"],
        inline_names: &[],
    },
    VersionSpec {
        module: "v21",
        title: "OCPP 2.1",
        request_suffix: "Request",
        station_initiated: V21_STATION,
        both: &["DataTransfer"],
        inline_names: &[],
    },
];
