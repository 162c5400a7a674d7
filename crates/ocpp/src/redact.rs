//! Secret values taken out of frames before they are kept (the frame log): the configuration
//! keys and device model variables a CSMS sets or a station reports that hold passwords and
//! keys (1.6 ChangeConfiguration and GetConfiguration, 2.0.1 SetVariables, GetVariables and
//! NotifyReport). Which variables are secret is the caller's rule, given as a predicate of
//! (component, variable); a 1.6 key is a variable of the component `""`.
//!
//! Invariant: a frame of another action comes back untouched (the same text, not re-encoded),
//! and a frame this module cannot read is kept whole only when it names no secret-bearing
//! action, so nothing is written out that was not looked at.

use serde_json::Value;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "********";

/// The actions whose frames may carry secret values, request or answer.
const BEARERS: [&str; 5] = [
    "ChangeConfiguration",
    "GetConfiguration",
    "SetVariables",
    "GetVariables",
    "NotifyReport",
];

/// Whether frames of `action` may carry secret values.
pub fn may_carry_secrets(action: &str) -> bool {
    BEARERS.contains(&action)
}

/// The frame (`text`, a CALL or CALLRESULT of `action`) with the values of secret variables
/// replaced by [`REDACTED`]; `None` when it has none, so the caller keeps its own text.
pub fn frame(action: &str, text: &str, is_secret: &dyn Fn(&str, &str) -> bool) -> Option<String> {
    if !may_carry_secrets(action) {
        return None;
    }
    let Ok(mut frame) = serde_json::from_str::<Value>(text) else {
        // Unreadable: keep none of it rather than a secret.
        return Some(format!("[\"{REDACTED}\"]"));
    };
    let payload = match frame.get(0).and_then(Value::as_u64) {
        Some(2) => frame.get_mut(3),
        Some(3) => frame.get_mut(2),
        _ => None,
    };
    let changed = payload.is_some_and(|p| redact_payload(p, is_secret));
    changed.then(|| frame.to_string())
}

/// Redacts the secret values of one payload; whether it changed anything.
fn redact_payload(p: &mut Value, is_secret: &dyn Fn(&str, &str) -> bool) -> bool {
    let mut changed = false;
    let mut hide = |v: &mut Value, key: &str| {
        if let Some(slot) = v.get_mut(key).filter(|s| s.is_string()) {
            *slot = Value::String(REDACTED.into());
            changed = true;
        }
    };
    let names = |v: &Value| -> (String, String) {
        let name = |o: &str| {
            v.get(o)
                .and_then(|x| x.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        (name("component"), name("variable"))
    };
    // 1.6 ChangeConfiguration.req: {key, value}.
    if let Some(key) = p.get("key").and_then(Value::as_str).map(str::to_string)
        && is_secret("", &key)
    {
        hide(p, "value");
    }
    // 1.6 GetConfiguration.conf: configurationKey[{key, value}].
    for kv in list(p, "configurationKey") {
        let key = kv
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if is_secret("", &key) {
            hide(kv, "value");
        }
    }
    // 2.0.1 SetVariablesRequest and GetVariablesResponse: {component, variable, attributeValue}.
    for list_key in ["setVariableData", "getVariableResult"] {
        for d in list(p, list_key) {
            let (c, v) = names(d);
            if is_secret(&c, &v) {
                hide(d, "attributeValue");
            }
        }
    }
    // 2.0.1 NotifyReportRequest: reportData[{component, variable, variableAttribute[{value}]}].
    for d in list(p, "reportData") {
        let (c, v) = names(d);
        if is_secret(&c, &v) {
            for a in list(d, "variableAttribute") {
                hide(a, "value");
            }
        }
    }
    changed
}

fn list<'a>(v: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    v.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(_: &str, v: &str) -> bool {
        v.eq_ignore_ascii_case("AuthorizationKey") || v.contains("Password")
    }

    fn redacted(action: &str, frame: Value) -> Value {
        let text = frame.to_string();
        super::frame(action, &text, &secret)
            .map(|t| serde_json::from_str(&t).expect("json"))
            .unwrap_or(frame)
    }

    #[test]
    fn secret_values_are_hidden_in_every_frame_that_carries_them() {
        let change = redacted(
            "ChangeConfiguration",
            json!([2, "1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": "0011"}]),
        );
        assert_eq!(change[3]["value"], json!(REDACTED));
        let conf = redacted(
            "GetConfiguration",
            json!([3, "2", {"configurationKey": [
                {"key": "AuthorizationKey", "readonly": false, "value": "0011"},
                {"key": "HeartbeatInterval", "readonly": false, "value": "300"}]}]),
        );
        assert_eq!(conf[2]["configurationKey"][0]["value"], json!(REDACTED));
        assert_eq!(conf[2]["configurationKey"][1]["value"], json!("300"));
        let set = redacted(
            "SetVariables",
            json!([2, "3", "SetVariables", {"setVariableData": [
                {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}, "attributeValue": "s3cret-s3cret-s3"},
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "60"}]}]),
        );
        assert_eq!(
            set[3]["setVariableData"][0]["attributeValue"],
            json!(REDACTED)
        );
        assert_eq!(set[3]["setVariableData"][1]["attributeValue"], json!("60"));
        let got = redacted(
            "GetVariables",
            json!([3, "4", {"getVariableResult": [
                {"attributeStatus": "Accepted", "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}, "attributeValue": "x"}]}]),
        );
        assert_eq!(
            got[2]["getVariableResult"][0]["attributeValue"],
            json!(REDACTED)
        );
        let report = redacted(
            "NotifyReport",
            json!([2, "5", "NotifyReport", {"requestId": 1, "generatedAt": "2026-01-01T00:00:00Z", "seqNo": 0, "reportData": [
                {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}, "variableAttribute": [{"value": "x"}]}]}]),
        );
        assert_eq!(
            report[3]["reportData"][0]["variableAttribute"][0]["value"],
            json!(REDACTED)
        );
    }

    #[test]
    fn other_frames_are_left_alone_and_unreadable_ones_are_not_kept() {
        let text = r#"[2,"1","Heartbeat",{}]"#;
        assert_eq!(frame("Heartbeat", text, &secret), None);
        let plain = r#"[2,"1","ChangeConfiguration",{"key":"HeartbeatInterval","value":"30"}]"#;
        assert_eq!(frame("ChangeConfiguration", plain, &secret), None);
        let broken = r#"[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"00"#;
        let kept = frame("ChangeConfiguration", broken, &secret).expect("replaced");
        assert!(!kept.contains("00\""));
    }
}
