//! The OpenAPI 3.1 document, generated from the handlers and types themselves (so it cannot
//! drift from what the server does), served at `/api/v1/openapi.json`; and the interactive
//! documentation at `/api/docs`, whose assets are compiled into the binary.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::Problem;

/// The errors every authenticated route may answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Errors {
    /// The request is not valid.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No valid token.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The token's role does not allow this.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such resource.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The store is unavailable.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// The errors a command adds to [`Errors`], or describes otherwise (listed after it, so its
/// descriptions win); the problem's `command` member holds the command's record.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum CommandErrors {
    /// No such station.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The station is not connected (and the command was not to be queued), or the
    /// Idempotency-Key was used for another request (`commandId` names its command).
    #[response(status = 409, content_type = "application/problem+json")]
    NotConnected(Problem),
    /// The station's OCPP version cannot do this (or not with these values).
    #[response(status = 422, content_type = "application/problem+json")]
    Unsupported(Problem),
    /// The station refused the request (CALLERROR), answered invalidly, or disconnected.
    #[response(status = 502, content_type = "application/problem+json")]
    Refused(Problem),
    /// The station did not answer in time.
    #[response(status = 504, content_type = "application/problem+json")]
    Timeout(Problem),
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Arus operator API",
        description = "Operate charging stations of OCPP 1.6 and 2.0.1 through one interface. \
            Authenticate with `Authorization: Bearer TOKEN`. Errors are RFC 9457 problem details. \
            Lists are pages of `items` with a `nextCursor` to pass as `cursor`.",
    ),
    paths(
        crate::stations::list,
        crate::stations::register,
        crate::stations::show,
        crate::stations::remove_password,
        crate::frames::list,
        crate::variables::list,
        crate::charging::profiles,
        crate::charging::composite,
        crate::models::list,
        crate::models::put,
        crate::sites::put,
        crate::sites::list,
        crate::sites::show,
        crate::sites::delete,
        crate::sites::preview,
        crate::sites::live,
        crate::sites::load,
        crate::sites::plan,
        crate::sites::other_load,
        crate::sites::put_other_load,
        crate::sites::plan_preview,
        crate::id_tokens::put,
        crate::id_tokens::show,
        crate::transactions::list,
        crate::transactions::meter_values,
        crate::needs::show,
        crate::needs::put,
        crate::commands::command,
        crate::commands::list,
        crate::commands::show,
        crate::bulk::start,
        crate::bulk::show,
        crate::bulk::list,
        crate::tokens::list,
        crate::tokens::create,
        crate::tokens::revoke,
        crate::audit::list,
        crate::events::stream,
        crate::webhooks::create,
        crate::webhooks::list,
        crate::webhooks::delete,
        crate::webhooks::deliveries,
        crate::webhooks::retry,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "stations", description = "Charging stations, their EVSEs, connectors and frames"),
        (name = "commands", description = "Every CSMS-initiated operation of OCPP 1.6 and 2.0.1"),
        (name = "transactions", description = "Charging sessions"),
        (name = "smart charging", description = "Charging profiles and composite schedules (K)"),
        (name = "sites", description = "Sites, their limits, and how their capacity is divided among sessions"),
        (name = "id tokens", description = "The tokens stations authorize"),
        (name = "access", description = "API tokens and the audit log"),
        (name = "events", description = "Everything that happens, live (SSE) and as webhooks"),
    )
)]
struct ApiDoc;

/// The document as served: [`document`] with the rules between members that the derive cannot
/// state (JSON Schema 2020-12 `anyOf` and `dependentRequired`), so that what the server
/// refuses is what the document forbids.
pub fn json() -> String {
    let Ok(mut doc) = serde_json::to_value(document()) else {
        return String::new();
    };
    constrain(&mut doc);
    doc.to_string()
}

fn constrain(doc: &mut serde_json::Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    // N09.FR.09: a customer is named; and the request reports, clears, or both.
    if let Some(c) = schemas.get_mut("CustomerInformation") {
        c["allOf"] = Rule::value(vec![
            Rule::any_of(vec![
                Rule::has("customerIdentifier", "string"),
                Rule::has("idToken", "string"),
                Rule::has("certificate", "object"),
            ]),
            Rule::any_of(vec![Rule::is_true("report"), Rule::is_true("clear")]),
        ]);
    }
    // A signed firmware update carries both its signature and the certificate.
    if let Some(u) = schemas.get_mut("UpdateFirmware") {
        u["dependentRequired"] = Rule::value(both_or_neither("signature", "signingCertificate"));
    }
    // A bulk operation's command is one of the command routes' bodies, with its name as `type`.
    let names: Vec<String> = doc
        .get("paths")
        .and_then(serde_json::Value::as_object)
        .map(|p| {
            p.keys()
                .filter_map(|k| k.strip_prefix("/api/v1/stations/{id}/commands/"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    if let Some(b) = schemas.get_mut("NewBulk") {
        b["properties"]["command"] = Rule::value(Rule {
            kind: Some("object"),
            description: Some(
                "The command: `type` names it (as the command routes do) and the other members \
                 are its body.",
            ),
            ..Rule::has(
                "type",
                Rule {
                    kind: Some("string"),
                    allowed: Some(names),
                    ..Rule::default()
                },
            )
        });
    }
    // SetVariables names at least one variable.
    if let Some(v) = schemas.get_mut("SetVariables") {
        v["properties"]["variables"]["minItems"] = serde_json::Value::from(1);
    }
}

/// A fragment of JSON Schema 2020-12, for the rules between members that the derive cannot
/// state. Only the keywords used here; absent ones are left out.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    required: Vec<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    properties: BTreeMap<&'static str, Rule>,
    #[serde(rename = "const", skip_serializing_if = "Option::is_none")]
    constant: Option<bool>,
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    allowed: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    any_of: Vec<Rule>,
}

impl Rule {
    /// A value of this JSON type.
    fn typed(kind: &'static str) -> Rule {
        Rule {
            kind: Some(kind),
            ..Rule::default()
        }
    }

    /// An object that has `member`, matching `rule` (a [`Rule`], or a JSON type's name).
    fn has(member: &'static str, rule: impl Into<Rule>) -> Rule {
        Rule {
            required: vec![member],
            properties: BTreeMap::from([(member, rule.into())]),
            ..Rule::default()
        }
    }

    /// An object whose `member`, if present, is `true`.
    fn is_true(member: &'static str) -> Rule {
        let is_true = Rule {
            constant: Some(true),
            ..Rule::default()
        };
        Rule {
            properties: BTreeMap::from([(member, is_true)]),
            ..Rule::default()
        }
    }

    /// At least one of `rules` holds.
    fn any_of(rules: Vec<Rule>) -> Rule {
        Rule {
            any_of: rules,
            ..Rule::default()
        }
    }

    /// The rule (or rules) as JSON, for the document.
    fn value(rule: impl Serialize) -> serde_json::Value {
        serde_json::to_value(rule).unwrap_or(serde_json::Value::Null)
    }
}

impl From<&'static str> for Rule {
    fn from(kind: &'static str) -> Rule {
        Rule::typed(kind)
    }
}

/// `dependentRequired` for two members that come together or not at all.
fn both_or_neither(a: &'static str, b: &'static str) -> BTreeMap<&'static str, [&'static str; 1]> {
    BTreeMap::from([(a, [b]), (b, [a])])
}

/// The whole document, as generated.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    crate::commands::command_paths(&mut doc);
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_rules_between_members_are_in_the_document() {
        let doc: serde_json::Value = serde_json::from_str(&super::json()).expect("JSON");
        let s = &doc["components"]["schemas"];
        assert_eq!(
            s["CustomerInformation"]["allOf"],
            json!([
                {"anyOf": [
                    {"required": ["customerIdentifier"], "properties": {"customerIdentifier": {"type": "string"}}},
                    {"required": ["idToken"], "properties": {"idToken": {"type": "string"}}},
                    {"required": ["certificate"], "properties": {"certificate": {"type": "object"}}}
                ]},
                {"anyOf": [
                    {"properties": {"report": {"const": true}}},
                    {"properties": {"clear": {"const": true}}}
                ]}
            ])
        );
        assert_eq!(
            s["UpdateFirmware"]["dependentRequired"],
            json!({"signature": ["signingCertificate"], "signingCertificate": ["signature"]})
        );
        let command = &s["NewBulk"]["properties"]["command"];
        assert_eq!(command["type"], "object");
        assert_eq!(command["required"], json!(["type"]));
        let names = command["properties"]["type"]["enum"]
            .as_array()
            .expect("the command names");
        assert!(names.contains(&json!("reset")), "{names:?}");
        assert_eq!(s["SetVariables"]["properties"]["variables"]["minItems"], 1);
    }
}
