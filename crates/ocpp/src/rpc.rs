//! The OCPP-J RPC framework (OCPP-J 1.6 §4, OCPP 2.0.1 part 4 §4, OCPP 2.1 part 4 §4).
//!
//! Every WebSocket text message is one JSON array:
//!
//! | type | layout |
//! |---|---|
//! | CALL (2) | `[2, "<id>", "<action>", {payload}]` |
//! | CALLRESULT (3) | `[3, "<id>", {payload}]` |
//! | CALLERROR (4) | `[4, "<id>", "<code>", "<description>", {details}]` |
//! | CALLRESULTERROR (5, 2.1 only) | `[5, "<id>", "<code>", "<description>", {details}]` |
//! | SEND (6, 2.1 only) | `[6, "<id>", "<action>", {payload}]` |
//!
//! [`parse`] reads a frame without copying its payload (a borrowed [`RawValue`]), and when a frame
//! is malformed it still recovers the message id where it can, so the error can be answered with
//! it (or with `"-1"`, OCPP 2.0.1 part 4 §4.2.3). [`FrameError::reply`] says whether and how to
//! answer a malformed frame in each version; [`ErrorCode::for_violation`] maps a schema violation
//! to the error code of each version, with the 1.6 spellings (`FormationViolation`,
//! `OccurenceConstraintViolation`) that the OCPP-J 1.6 errata keep on purpose.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::value::RawValue;

use crate::Version;
use crate::validate::{Rule, Violation};

/// Message ids are strings of at most 36 characters (OCPP-J 1.6 §4.1.4, 2.0.1 part 4 §4.1.4).
pub const MAX_MESSAGE_ID_LEN: usize = 36;
/// CALLERROR descriptions are at most 255 characters (2.0.1 part 4 §4.2.3); Arus keeps to it in
/// every version.
pub const MAX_DESCRIPTION_LEN: usize = 255;

/// A well-formed frame, borrowing from the text it was read from.
#[derive(Debug)]
pub enum Frame<'a> {
    /// A request.
    Call {
        /// The message id.
        id: Cow<'a, str>,
        /// The action name (case-sensitive).
        action: Cow<'a, str>,
        /// The payload object (`null` is read as `{}`).
        payload: &'a RawValue,
    },
    /// A successful response.
    CallResult {
        /// The id of the CALL it answers.
        id: Cow<'a, str>,
        /// The payload object.
        payload: &'a RawValue,
    },
    /// An error response to a CALL, or (2.1) a CALLRESULTERROR reporting that our CALLRESULT could
    /// not be processed.
    CallError {
        /// The id of the CALL (or CALLRESULT) it refers to.
        id: Cow<'a, str>,
        /// The error code, as sent.
        code: Cow<'a, str>,
        /// The error description.
        description: Cow<'a, str>,
        /// The error details object.
        details: &'a RawValue,
        /// True for 2.1's CALLRESULTERROR (type 5).
        result_error: bool,
    },
    /// 2.1's unconfirmed message: never answered.
    Send {
        /// The message id.
        id: Cow<'a, str>,
        /// The action name.
        action: Cow<'a, str>,
        /// The payload object.
        payload: &'a RawValue,
    },
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameErrorKind {
    /// Not JSON at all, or JSON broken inside the payload.
    NotJson,
    /// Valid JSON but not a non-empty array.
    NotArray,
    /// The first element is not an integer.
    BadMessageType,
    /// A message type number this version does not define.
    UnknownMessageType(u64),
    /// The message id is missing or not a string.
    BadMessageId,
    /// The message id is longer than 36 characters.
    MessageIdTooLong,
    /// The wrong number of elements for the message type.
    WrongLength,
    /// The action (or error code / description) is missing or not a string.
    BadField,
    /// The payload (or error details) is not a JSON object.
    PayloadNotObject,
}

/// A frame that could not be read, with what could be recovered of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// What is wrong.
    pub kind: FrameErrorKind,
    /// The message type number, if it could be read.
    pub message_type: Option<u64>,
    /// The message id, if it could be read.
    pub id: Option<String>,
}

/// How to answer a malformed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The id to answer with: the frame's, or `"-1"` when it could not be read.
    pub id: String,
    /// The error code.
    pub code: ErrorCode,
    /// A description for the CALLERROR.
    pub description: String,
}

impl FrameError {
    /// The CALLERROR that answers this frame in `version`, or `None` when the specification says
    /// to ignore it: a frame that is (or claims to be) a response is never answered, and an
    /// unknown message type is ignored in 1.6 (OCPP-J 1.6 §4.1.3) and 2.1 (2.1 part 4 §4.4) but
    /// answered with `MessageTypeNotSupported` in 2.0.1 (2.0.1 part 4 §4.4).
    pub fn reply(&self, version: Version) -> Option<ErrorReply> {
        if let FrameErrorKind::UnknownMessageType(t) = self.kind {
            return match version {
                Version::V201 => Some(ErrorReply {
                    id: self.id.clone().unwrap_or_else(|| "-1".into()),
                    code: ErrorCode::MessageTypeNotSupported,
                    description: format!("message type {t} is not supported"),
                }),
                Version::V16 | Version::V21 => None,
            };
        }
        if matches!(self.message_type, Some(3..=6)) {
            return None;
        }
        let (code, description) = match self.kind {
            FrameErrorKind::NotJson if self.id.is_some() => (
                ErrorCode::FormatViolation,
                "payload is not valid JSON".to_string(),
            ),
            FrameErrorKind::NotJson => (ErrorCode::RpcFrameworkError, "not valid JSON".into()),
            FrameErrorKind::NotArray => (
                ErrorCode::RpcFrameworkError,
                "a message must be a JSON array".into(),
            ),
            FrameErrorKind::BadMessageType => (
                ErrorCode::RpcFrameworkError,
                "the message type must be an integer".into(),
            ),
            FrameErrorKind::BadMessageId => (
                ErrorCode::RpcFrameworkError,
                "the message id must be a string".into(),
            ),
            FrameErrorKind::MessageIdTooLong => (
                ErrorCode::RpcFrameworkError,
                format!("the message id is longer than {MAX_MESSAGE_ID_LEN} characters"),
            ),
            FrameErrorKind::WrongLength => (
                ErrorCode::RpcFrameworkError,
                "a CALL has exactly four elements".into(),
            ),
            FrameErrorKind::BadField => (
                ErrorCode::RpcFrameworkError,
                "the action must be a string".into(),
            ),
            FrameErrorKind::PayloadNotObject => (
                ErrorCode::FormatViolation,
                "the payload must be a JSON object".into(),
            ),
            FrameErrorKind::UnknownMessageType(_) => return None,
        };
        Some(ErrorReply {
            id: self.id.clone().unwrap_or_else(|| "-1".into()),
            code,
            description,
        })
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed frame: {:?}", self.kind)?;
        if let Some(id) = &self.id {
            write!(f, " (message id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for FrameError {}

/// Parses one frame of `version` (2.1 adds message types 5 and 6).
pub fn parse(text: &str, version: Version) -> Result<Frame<'_>, FrameError> {
    let elements: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(_) => return Err(recover(text)),
    };
    let err = |kind, message_type, id: Option<&Cow<'_, str>>| FrameError {
        kind,
        message_type,
        id: id.map(|s| s.to_string()),
    };
    let Some(first) = elements.first() else {
        return Err(err(FrameErrorKind::NotArray, None, None));
    };
    let Ok(message_type) = first.get().parse::<u64>() else {
        // The id may still be readable for the reply.
        let id = elements
            .get(1)
            .and_then(|r| raw_str(r))
            .filter(|id| id_ok(id));
        return Err(err(FrameErrorKind::BadMessageType, None, id.as_ref()));
    };
    let id = match elements.get(1).map(|r| raw_str(r)) {
        Some(Some(id)) => id,
        _ => return Err(err(FrameErrorKind::BadMessageId, Some(message_type), None)),
    };
    let known = matches!((message_type, version), (2..=4, _) | (5 | 6, Version::V21));
    if !known {
        return Err(err(
            FrameErrorKind::UnknownMessageType(message_type),
            Some(message_type),
            id_ok(&id).then_some(&id),
        ));
    }
    if !id_ok(&id) {
        return Err(FrameError {
            kind: FrameErrorKind::MessageIdTooLong,
            message_type: Some(message_type),
            id: Some(id.into_owned()),
        });
    }
    let expected_len = match message_type {
        2 | 6 => 4,
        3 => 3,
        _ => 5,
    };
    if elements.len() != expected_len {
        return Err(err(
            FrameErrorKind::WrongLength,
            Some(message_type),
            Some(&id),
        ));
    }
    let object = |r: &'_ RawValue| {
        let s = r.get();
        s.starts_with('{') || s == "null"
    };
    match message_type {
        2 | 6 => {
            let Some(action) = raw_str(elements[2]) else {
                return Err(err(FrameErrorKind::BadField, Some(message_type), Some(&id)));
            };
            if !object(elements[3]) {
                return Err(err(
                    FrameErrorKind::PayloadNotObject,
                    Some(message_type),
                    Some(&id),
                ));
            }
            let payload = null_as_empty(elements[3]);
            Ok(if message_type == 2 {
                Frame::Call {
                    id,
                    action,
                    payload,
                }
            } else {
                Frame::Send {
                    id,
                    action,
                    payload,
                }
            })
        }
        3 => {
            if !object(elements[2]) {
                return Err(err(
                    FrameErrorKind::PayloadNotObject,
                    Some(message_type),
                    Some(&id),
                ));
            }
            Ok(Frame::CallResult {
                id,
                payload: null_as_empty(elements[2]),
            })
        }
        _ => {
            let (Some(code), Some(description)) = (raw_str(elements[2]), raw_str(elements[3]))
            else {
                return Err(err(FrameErrorKind::BadField, Some(message_type), Some(&id)));
            };
            if !object(elements[4]) {
                return Err(err(
                    FrameErrorKind::PayloadNotObject,
                    Some(message_type),
                    Some(&id),
                ));
            }
            Ok(Frame::CallError {
                id,
                code,
                description,
                details: null_as_empty(elements[4]),
                result_error: message_type == 5,
            })
        }
    }
}

fn id_ok(id: &str) -> bool {
    id.chars().count() <= MAX_MESSAGE_ID_LEN
}

fn null_as_empty(r: &RawValue) -> &RawValue {
    if r.get() == "null" { empty_object() } else { r }
}

fn empty_object() -> &'static RawValue {
    static EMPTY: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| RawValue::from_string("{}".into()).expect("`{}` is JSON"))
}

/// A JSON string element, borrowed when it has no escapes.
fn raw_str(r: &RawValue) -> Option<Cow<'_, str>> {
    let s = r.get();
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(s).ok().map(Cow::Owned)
}

/// Reads the message type and id from the start of a frame that could not be parsed whole (a
/// broken payload, or only the first bytes of a message too big to keep).
pub fn peek(text: &str) -> (Option<u64>, Option<String>) {
    let e = recover(text);
    (e.message_type, e.id)
}

/// For text that is not JSON: recovers `[<type>, "<id>"` from its start, so that a CALL whose
/// payload is broken is answered with its own id.
fn recover(text: &str) -> FrameError {
    let mut rest = text.trim_start();
    let mut out = FrameError {
        kind: FrameErrorKind::NotJson,
        message_type: None,
        id: None,
    };
    let Some(r) = rest.strip_prefix('[') else {
        return out;
    };
    rest = r.trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let Ok(t) = rest[..digits].parse::<u64>() else {
        return out;
    };
    out.message_type = Some(t);
    rest = rest[digits..].trim_start();
    let Some(r) = rest.strip_prefix(',') else {
        return out;
    };
    rest = r.trim_start();
    let Some(r) = rest.strip_prefix('"') else {
        return out;
    };
    if let Some(end) = r.find('"') {
        let id = &r[..end];
        if !id.contains('\\') && id.chars().count() <= MAX_MESSAGE_ID_LEN {
            out.id = Some(id.to_string());
        }
    }
    out
}

/// The error codes of OCPP-J. Each version spells and uses them a little differently; see
/// [`ErrorCode::wire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 2.x `FormatViolation`, 1.6 `FormationViolation`: the payload is syntactically incorrect.
    FormatViolation,
    /// Any other error.
    GenericError,
    /// The receiver failed while processing a valid request.
    InternalError,
    /// 2.x: an unknown message type number.
    MessageTypeNotSupported,
    /// The action is not known.
    NotImplemented,
    /// The action is known but not supported.
    NotSupported,
    /// 2.x `OccurrenceConstraintViolation`, 1.6 `OccurenceConstraintViolation`.
    OccurrenceConstraintViolation,
    /// A field holds an invalid value.
    PropertyConstraintViolation,
    /// 1.6: the payload is incomplete; 2.x: the payload does not conform to the PDU structure.
    ProtocolError,
    /// 2.x: not a valid RPC request (for example the message id could not be read).
    RpcFrameworkError,
    /// A security issue prevented processing (for example a station that was not accepted).
    SecurityError,
    /// A field violates its data type.
    TypeConstraintViolation,
}

impl ErrorCode {
    /// The code as `version` spells it. 1.6 has neither `RpcFrameworkError` nor
    /// `MessageTypeNotSupported`; their 1.6 counterparts are `FormationViolation` and
    /// `NotSupported`.
    pub const fn wire(self, version: Version) -> &'static str {
        let v16 = matches!(version, Version::V16);
        match self {
            ErrorCode::FormatViolation if v16 => "FormationViolation",
            ErrorCode::FormatViolation => "FormatViolation",
            ErrorCode::GenericError => "GenericError",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::MessageTypeNotSupported if v16 => "NotSupported",
            ErrorCode::MessageTypeNotSupported => "MessageTypeNotSupported",
            ErrorCode::NotImplemented => "NotImplemented",
            ErrorCode::NotSupported => "NotSupported",
            ErrorCode::OccurrenceConstraintViolation if v16 => "OccurenceConstraintViolation",
            ErrorCode::OccurrenceConstraintViolation => "OccurrenceConstraintViolation",
            ErrorCode::PropertyConstraintViolation => "PropertyConstraintViolation",
            ErrorCode::ProtocolError => "ProtocolError",
            ErrorCode::RpcFrameworkError if v16 => "FormationViolation",
            ErrorCode::RpcFrameworkError => "RpcFrameworkError",
            ErrorCode::SecurityError => "SecurityError",
            ErrorCode::TypeConstraintViolation => "TypeConstraintViolation",
        }
    }

    /// Reads a code as sent by a peer of `version`, accepting both spellings of the two codes
    /// 1.6 misspells.
    pub fn from_wire(code: &str) -> Option<ErrorCode> {
        Some(match code {
            "FormatViolation" | "FormationViolation" => ErrorCode::FormatViolation,
            "GenericError" => ErrorCode::GenericError,
            "InternalError" => ErrorCode::InternalError,
            "MessageTypeNotSupported" => ErrorCode::MessageTypeNotSupported,
            "NotImplemented" => ErrorCode::NotImplemented,
            "NotSupported" => ErrorCode::NotSupported,
            "OccurrenceConstraintViolation" | "OccurenceConstraintViolation" => {
                ErrorCode::OccurrenceConstraintViolation
            }
            "PropertyConstraintViolation" => ErrorCode::PropertyConstraintViolation,
            "ProtocolError" => ErrorCode::ProtocolError,
            "RpcFrameworkError" => ErrorCode::RpcFrameworkError,
            "SecurityError" => ErrorCode::SecurityError,
            "TypeConstraintViolation" => ErrorCode::TypeConstraintViolation,
            _ => return None,
        })
    }

    /// The code for a payload that broke a schema rule, by the definitions in OCPP-J 1.6 §4.2.3
    /// (table 7) and 2.0.1 part 4 §4.3 (table 8):
    ///
    /// | rule broken | 1.6 | 2.0.1 / 2.1 |
    /// |---|---|---|
    /// | not JSON, payload not an object | FormationViolation | FormatViolation |
    /// | required property missing | ProtocolError ("payload is incomplete") | OccurrenceConstraintViolation |
    /// | property the schema does not have | FormationViolation ("not conform the PDU structure") | ProtocolError ("not conform the PDU structure") |
    /// | wrong JSON type, string too long, bad date-time | TypeConstraintViolation | TypeConstraintViolation |
    /// | value outside its enumeration or bounds | PropertyConstraintViolation | PropertyConstraintViolation |
    /// | too few or too many array items | OccurenceConstraintViolation | OccurrenceConstraintViolation |
    pub fn for_violation(violation: &Violation, version: Version) -> ErrorCode {
        let v16 = matches!(version, Version::V16);
        match &violation.rule {
            Rule::Syntax(_) | Rule::Other(_) => ErrorCode::FormatViolation,
            Rule::Type { .. } if violation.pointer().is_empty() => ErrorCode::FormatViolation,
            Rule::Type { .. } | Rule::MaxLength { .. } | Rule::Format { .. } => {
                ErrorCode::TypeConstraintViolation
            }
            Rule::Required(_) if v16 => ErrorCode::ProtocolError,
            Rule::Required(_) => ErrorCode::OccurrenceConstraintViolation,
            Rule::Unknown(_) if v16 => ErrorCode::FormatViolation,
            Rule::Unknown(_) => ErrorCode::ProtocolError,
            Rule::Enum(_) | Rule::Range(_) => ErrorCode::PropertyConstraintViolation,
            Rule::Items { .. } => ErrorCode::OccurrenceConstraintViolation,
        }
    }
}

/// Writes a CALL frame; `payload` must be a JSON object.
pub fn write_call(out: &mut String, id: &str, action: &str, payload: &str) {
    out.push_str("[2,");
    push_json_str(out, id);
    out.push(',');
    push_json_str(out, action);
    out.push(',');
    out.push_str(payload);
    out.push(']');
}

/// Writes a CALLRESULT frame; `payload` must be a JSON object.
pub fn write_result(out: &mut String, id: &str, payload: &str) {
    out.push_str("[3,");
    push_json_str(out, id);
    out.push(',');
    out.push_str(payload);
    out.push(']');
}

/// Writes a CALLERROR frame in `version`'s spelling. The description is cut to 255 characters;
/// `details` must be a JSON object (`{}` when there is nothing to add).
pub fn write_error(
    out: &mut String,
    version: Version,
    id: &str,
    code: ErrorCode,
    description: &str,
    details: &str,
) {
    out.push_str("[4,");
    push_json_str(out, id);
    out.push(',');
    push_json_str(out, code.wire(version));
    out.push(',');
    let cut = description
        .char_indices()
        .nth(MAX_DESCRIPTION_LEN)
        .map_or(description, |(i, _)| &description[..i]);
    push_json_str(out, cut);
    out.push(',');
    out.push_str(details);
    out.push(']');
}

fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // Escaping rules of JSON; serde_json writes them exactly.
        let _ = write!(
            out,
            "{}",
            serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(text: &str) -> (String, String, String) {
        match parse(text, Version::V201) {
            Ok(Frame::Call {
                id,
                action,
                payload,
            }) => (id.into_owned(), action.into_owned(), payload.get().into()),
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn reads_a_call() {
        let (id, action, payload) = call(r#"[2, "19223201", "BootNotification", {"a": 1}]"#);
        assert_eq!(id, "19223201");
        assert_eq!(action, "BootNotification");
        assert_eq!(payload, r#"{"a": 1}"#);
        let (id, _, payload) = call(r#"[2,"a\"b","Heartbeat",null]"#);
        assert_eq!(id, "a\"b");
        assert_eq!(payload, "{}");
    }

    #[test]
    fn reads_results_and_errors() {
        assert!(matches!(
            parse(r#"[3,"1",{"status":"Accepted"}]"#, Version::V16),
            Ok(Frame::CallResult { .. })
        ));
        assert!(matches!(
            parse(r#"[4,"1","NotSupported","",{}]"#, Version::V16),
            Ok(Frame::CallError {
                result_error: false,
                ..
            })
        ));
        assert!(matches!(
            parse(r#"[5,"1","FormatViolation","",{}]"#, Version::V21),
            Ok(Frame::CallError {
                result_error: true,
                ..
            })
        ));
        assert!(matches!(
            parse(r#"[6,"1","NotifyPeriodicEventStream",{}]"#, Version::V21),
            Ok(Frame::Send { .. })
        ));
    }

    fn reply(text: &str, v: Version) -> Option<(String, &'static str)> {
        let e = parse(text, v).expect_err("malformed");
        e.reply(v).map(|r| (r.id, r.code.wire(v)))
    }

    /// OCPP 2.0.1 part 4 §4.2.3: the id "-1" when it cannot be read.
    #[test]
    fn unreadable_ids_are_answered_with_minus_one() {
        for text in ["not json", "{}", "[]", r#"[2,3,"Heartbeat",{}]"#] {
            let (id, code) = reply(text, Version::V201).expect("answered");
            assert_eq!(id, "-1", "{text}");
            assert_eq!(code, "RpcFrameworkError", "{text}");
            let (id, code) = reply(text, Version::V16).expect("answered");
            assert_eq!(id, "-1", "{text}");
            assert_eq!(code, "FormationViolation", "{text}");
        }
    }

    #[test]
    fn broken_payload_keeps_its_id() {
        let (id, code) = reply(r#"["2","x","Heartbeat",{}]"#, Version::V201).expect("answered");
        assert_eq!((id.as_str(), code), ("x", "RpcFrameworkError"));
        let (id, code) = reply(r#"[2,"abc","Heartbeat",{"#, Version::V201).expect("answered");
        assert_eq!((id.as_str(), code), ("abc", "FormatViolation"));
        let (id, code) = reply(r#"[2,"abc","Heartbeat",[]]"#, Version::V16).expect("answered");
        assert_eq!((id.as_str(), code), ("abc", "FormationViolation"));
        let (id, code) = reply(r#"[2,"abc","Heartbeat"]"#, Version::V201).expect("answered");
        assert_eq!((id.as_str(), code), ("abc", "RpcFrameworkError"));
        let (id, _) = reply(
            &format!(r#"[2,"{}","Heartbeat",{{}}]"#, "x".repeat(37)),
            Version::V201,
        )
        .expect("answered");
        assert_eq!(id.len(), 37);
    }

    /// 1.6 (OCPP-J §4.1.3) and 2.1 (part 4 §4.4) ignore unknown message types; 2.0.1 (part 4 §4.4)
    /// answers MessageTypeNotSupported.
    #[test]
    fn unknown_message_types() {
        assert_eq!(reply(r#"[7,"x",{}]"#, Version::V16), None);
        assert_eq!(reply(r#"[7,"x",{}]"#, Version::V21), None);
        assert_eq!(
            reply(r#"[7,"x",{}]"#, Version::V201),
            Some(("x".into(), "MessageTypeNotSupported"))
        );
        // Types 5 and 6 exist only in 2.1.
        assert_eq!(
            reply(r#"[6,"x","A",{}]"#, Version::V201),
            Some(("x".into(), "MessageTypeNotSupported"))
        );
    }

    #[test]
    fn malformed_responses_are_never_answered() {
        assert_eq!(reply(r#"[3,"x"]"#, Version::V201), None);
        assert_eq!(reply(r#"[4,"x","c"]"#, Version::V16), None);
    }

    #[test]
    fn writes_frames() {
        let mut s = String::new();
        write_error(
            &mut s,
            Version::V16,
            "1",
            ErrorCode::OccurrenceConstraintViolation,
            &"é".repeat(300),
            "{}",
        );
        let v: serde_json::Value = serde_json::from_str(&s).expect("json");
        assert_eq!(v[2], "OccurenceConstraintViolation");
        assert_eq!(v[3].as_str().map(|d| d.chars().count()), Some(255));
        s.clear();
        write_call(&mut s, "q\"1", "Reset", r#"{"type":"Soft"}"#);
        let v: serde_json::Value = serde_json::from_str(&s).expect("json");
        assert_eq!(v[1], "q\"1");
    }
}
