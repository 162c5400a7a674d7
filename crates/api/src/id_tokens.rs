//! `/api/v1/id-tokens`: the tokens stations authorize (RFID cards, app users, key codes).

use arus_domain::authorization::{AuthorizationStatus, IdTokenRecord};
use arus_domain::store::{Role, Write};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::stations::parse;
use crate::{ApiState, Caller, Problem, store_error};

/// The body of `POST /api/v1/id-tokens`.
/// An id token to register or change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PutToken {
    /// The token (case-insensitive).
    #[schema(max_length = 36)]
    id_token: String,
    /// The token's type.
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^(Central|eMAID|ISO14443|ISO15693|KeyCode|Local|MacAddress|NoAuthorization)$")]
    kind: String,
    /// How stations are to answer it.
    #[schema(value_type = String, pattern = "^(Accepted|Blocked|Expired|Invalid|ConcurrentTx|NoCredit|NotAllowedTypeEVSE|NotAtThisLocation|NotAtThisTime|Unknown)$")]
    status: String,
    /// Its group.
    #[schema(min_length = 1, max_length = 36)]
    group_id_token: Option<String>,
    /// When it expires (RFC 3339).
    #[schema(format = DateTime)]
    expiry_date: Option<String>,
    /// It (or, for a group's own token, every token of the group) may be in more than one
    /// transaction at once; otherwise a start while it is in another transaction is answered
    /// ConcurrentTx. Default false.
    #[serde(default)]
    concurrent_use: bool,
}

/// An id token as registered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IdTokenView {
    id_token: String,
    #[serde(rename = "type")]
    kind: String,
    status: String,
    group_id_token: Option<String>,
    expiry_date: Option<chrono::DateTime<chrono::Utc>>,
    concurrent_use: bool,
}

impl From<IdTokenRecord> for IdTokenView {
    fn from(record: IdTokenRecord) -> IdTokenView {
        IdTokenView {
            status: record.status.as_str().to_string(),
            id_token: record.id_token,
            kind: record.kind,
            group_id_token: record.group_id_token,
            expiry_date: record.expiry_date,
            concurrent_use: record.concurrent_use,
        }
    }
}

/// The token types of OCPP 2.0.1 (IdTokenEnumType).
const TYPES: [&str; 8] = [
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
];

/// The longest token value OCPP can carry (2.0.1 IdTokenType; 1.6 stations take 20).
const MAX_TOKEN: usize = 36;

/// Registers an id token, or changes it.
#[utoipa::path(post, operation_id = "putIdToken", path = "/api/v1/id-tokens", tag = "id tokens", request_body = PutToken,
    responses((status = 201, body = IdTokenView, description = "Created"), crate::openapi::Errors))]
pub(crate) async fn put(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let req: PutToken = parse(&body)?;
    if req.id_token.chars().count() > MAX_TOKEN {
        return Err(Problem::bad_request(format!(
            "`idToken` has at most {MAX_TOKEN} characters"
        )));
    }
    let kind = TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(&req.kind))
        .ok_or_else(|| {
            Problem::bad_request(format!("`type` must be one of {}", TYPES.join(", ")))
        })?;
    let status = AuthorizationStatus::parse(&req.status).ok_or_else(|| {
        Problem::bad_request("`status` must be Accepted, Blocked, Expired, Invalid, ...")
    })?;
    if let Some(g) = &req.group_id_token
        && (g.is_empty() || g.chars().count() > MAX_TOKEN)
    {
        return Err(Problem::bad_request(format!(
            "`groupIdToken` has 1 to {MAX_TOKEN} characters"
        )));
    }
    let expiry_date = match &req.expiry_date {
        None => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| Problem::bad_request("`expiryDate` must be an RFC 3339 date-time"))?
                .with_timezone(&chrono::Utc),
        ),
    };
    let record = IdTokenRecord {
        id_token: req.id_token,
        kind: kind.to_string(),
        status,
        group_id_token: req.group_id_token,
        expiry_date,
        concurrent_use: req.concurrent_use,
    };
    state
        .store
        .commit(vec![Write::PutIdToken(record.clone())])
        .await
        .map_err(store_error)?;
    let id = record.id_token.clone();
    Ok(crate::audit::made(
        (StatusCode::CREATED, axum::Json(IdTokenView::from(record))).into_response(),
        "idToken",
        &id,
    ))
}

/// Shows an id token (matched case-insensitively, as stations' tokens are).
#[utoipa::path(get, operation_id = "getIdToken", path = "/api/v1/id-tokens/{idToken}", tag = "id tokens",
    params(("idToken" = String, Path, description = "The token")),
    responses((status = 200, body = IdTokenView, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Result<Response, Problem> {
    let Some(record) = state
        .store
        .id_token(&token, None)
        .await
        .map_err(store_error)?
    else {
        return Err(Problem::not_found(format!("no id token `{token}`")));
    };
    Ok(axum::Json(IdTokenView::from(record)).into_response())
}
