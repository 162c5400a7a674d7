//! What stations report that Arus records but does not act on yet: firmware and log progress
//! (L, N), security events (A), reports and events of the device model (B, N), data transfers
//! (P), and the messages of features that later work builds on (smart charging limits,
//! certificates, reservations, display messages, customer information).
//!
//! Each is stored as a [`Notice`]: a kind, the time the station gave, a request id when it
//! answers a CSMS request, a status when it has one, and the details as a JSON object the
//! adapter writes in the domain's own terms (camelCase names, no protocol framing).
//!
//! The notices that follow a command and are shown on it (firmware and log progress, report
//! parts, customer information, reservation updates) carry details of one shape for both
//! versions: [`Progress`], [`ReportPart`], [`CustomerData`]; a reservation update says all in
//! its request id (the reservation) and status. The others keep the station's message as it
//! came, until their features give them a shape of their own.

use serde::{Deserialize, Serialize};

use crate::Time;

crate::names::named_enum! {
/// The kinds of notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NoticeKind {
    /// Firmware update progress (1.6 FirmwareStatusNotification, SignedFirmwareStatusNotification;
    /// 2.0.1 FirmwareStatusNotification).
    FirmwareStatus,
    /// 2.0.1 PublishFirmwareStatusNotification (local controllers).
    PublishFirmwareStatus,
    /// Diagnostics or log upload progress (1.6 DiagnosticsStatusNotification,
    /// LogStatusNotification; 2.0.1 LogStatusNotification).
    LogStatus,
    /// A security event (SecurityEventNotification, both versions).
    SecurityEvent,
    /// A part of a device model report (2.0.1 NotifyReport).
    Report,
    /// Events of the device model (2.0.1 NotifyEvent).
    Event,
    /// A monitoring report (2.0.1 NotifyMonitoringReport).
    MonitoringReport,
    /// Customer information (2.0.1 NotifyCustomerInformation).
    CustomerInformation,
    /// Charging profiles reported (2.0.1 ReportChargingProfiles).
    ChargingProfiles,
    /// A charging limit set or cleared by another party (2.0.1 NotifyChargingLimit,
    /// ClearedChargingLimit).
    ChargingLimit,
    /// ISO 15118 charging needs or schedule (2.0.1 NotifyEVChargingNeeds,
    /// NotifyEVChargingSchedule).
    EvCharging,
    /// Display messages (2.0.1 NotifyDisplayMessages).
    DisplayMessages,
    /// A reservation's status changed (2.0.1 ReservationStatusUpdate).
    ReservationStatus,
    /// A certificate request (SignCertificate, Get15118EVCertificate, GetCertificateStatus).
    Certificate,
    /// Vendor data (DataTransfer).
    DataTransfer,
}
}

/// A recorded notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// What it is.
    pub kind: NoticeKind,
    /// When it happened (the station's time, else the receipt time).
    pub at: Time,
    /// The CSMS request it reports on, if any.
    pub request_id: Option<i64>,
    /// Its status, if it has one (`Downloading`, `Uploaded`, a security event's type...).
    pub status: Option<String>,
    /// The details.
    pub details: serde_json::Value,
}

/// What a progress notice says besides its status (firmware download and installation, log
/// upload).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The log it is about, when the message tells (1.6: DiagnosticsStatusNotification is
    /// about the diagnostics log, LogStatusNotification about the security log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<crate::commands::LogType>,
}

/// A part of a device model report (2.0.1 NotifyReport).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportPart {
    /// The part's number, from 0.
    pub seq_no: i64,
    /// Whether more parts follow.
    pub tbc: bool,
    /// The variables reported in this part (values of secret and write-only variables left
    /// out).
    pub variables: Vec<crate::device_model::DeviceVariable>,
}

/// A part of a customer's information (2.0.1 NotifyCustomerInformation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerData {
    /// The part's number, from 0.
    pub seq_no: i64,
    /// Whether more parts follow.
    pub tbc: bool,
    /// What the station keeps about the customer (free text).
    pub data: String,
}

/// Vendor data a station sent (DataTransfer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorData {
    /// The vendor.
    pub vendor_id: String,
    /// The message.
    pub message_id: Option<String>,
    /// The data (a string from a 1.6 station). Data larger than the limit is kept as the
    /// start of its JSON text, as a string, and `truncatedFrom` says how large it was.
    pub data: Option<serde_json::Value>,
    /// The size of the data's JSON text in bytes, when it was cut to the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_from: Option<usize>,
}

impl VendorData {
    /// Vendor data, its data cut to at most `max` bytes of JSON text.
    pub fn capped(
        vendor_id: &str,
        message_id: Option<&str>,
        data: Option<serde_json::Value>,
        max: usize,
    ) -> VendorData {
        let mut truncated_from = None;
        let data = data.map(|d| {
            let text = d.to_string();
            if text.len() <= max {
                return d;
            }
            truncated_from = Some(text.len());
            let mut text = text;
            cut(&mut text, max);
            serde_json::Value::String(text)
        });
        VendorData {
            vendor_id: vendor_id.to_string(),
            message_id: message_id.map(str::to_string),
            data,
            truncated_from,
        }
    }
}

/// Cuts `text` to at most `max` bytes, at a character boundary; whether it was cut.
pub fn cut(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

/// The details of a notice in the domain's shape.
pub fn details<T: Serialize>(details: &T) -> serde_json::Value {
    serde_json::to_value(details).unwrap_or(serde_json::Value::Null)
}

/// The answer to a station's DataTransfer: Arus has no vendor extensions yet, so every vendor
/// is unknown (1.6 §4.3 and 2.0.1 P02.FR.06: `UnknownVendorId`, never an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataTransferAnswer {
    /// No handler for this vendor.
    UnknownVendorId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_a_character_boundary() {
        let mut s = "aé".repeat(3);
        assert!(cut(&mut s, 5));
        assert_eq!(s, "aéa");
        let mut short = String::from("abc");
        assert!(!cut(&mut short, 3));
        assert_eq!(short, "abc");
    }

    #[test]
    fn vendor_data_over_the_limit_keeps_its_start_and_size() {
        let big = serde_json::Value::String("x".repeat(100));
        let v = VendorData::capped("V", Some("M"), Some(big), 20);
        assert_eq!(v.truncated_from, Some(102));
        assert_eq!(
            v.data,
            Some(serde_json::Value::String(format!("\"{}", "x".repeat(19))))
        );
        let small = serde_json::json!({"a": 1});
        let v = VendorData::capped("V", None, Some(small.clone()), 20);
        assert_eq!((v.data, v.truncated_from), (Some(small), None));
    }

    #[test]
    fn every_kind_reads_back_from_its_name() {
        assert_eq!(NoticeKind::ALL.len(), 15);
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(NoticeKind::parse("firmwareStatus"), None, "names are exact");
    }
}
