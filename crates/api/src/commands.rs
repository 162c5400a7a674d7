//! `/api/v1/stations/{id}/commands/*` and `/api/v1/commands`: every CSMS-initiated operation,
//! one route per concept for both OCPP versions, and the records they leave.
//!
//! A command waits for the station's answer (at most `timeout` seconds) and returns its
//! record: 200 when the station answered (whatever it answered), 202 when it is still under
//! way or queued, and a problem with the record in its `command` member when it could not be
//! carried out (409 not connected, 422 not in the station's version, 502 refused or
//! disconnected, 504 no answer in time). `?async=true` returns 202 at once.

use std::time::Duration;

use arus_domain::commander::{Submission, SubmitError};
use arus_domain::commands::*;
use arus_domain::store::Role;
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::page::{self, Page, PageQuery};
use crate::stations::parse;
use crate::{ApiState, Caller, Problem, store_error};

/// How a command is sent.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct CommandQuery {
    /// `true`: answer 202 with the command's record at once instead of waiting.
    #[param(value_type = Option<bool>)]
    r#async: Option<String>,
    /// If the station is not connected, keep the command this many seconds (1 to 2592000) and
    /// send it when the station connects, instead of failing.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 2592000)]
    queue_for: Option<String>,
    /// Seconds to wait for the answer (1 to 300) before answering 202.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 300)]
    timeout: Option<String>,
}

const MAX_QUEUE_S: i64 = 30 * 24 * 3600;

fn seconds(name: &str, v: Option<&str>, max: i64) -> Result<Option<i64>, Problem> {
    v.map(|s| {
        s.parse::<i64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| Problem::bad_request(format!("`{name}` must be 1 to {max} seconds")))
    })
    .transpose()
}

/// The `Idempotency-Key` header, scoped to the caller's token, the station and the command: a
/// key names one request to one route, so the same key on another route is another request.
fn idempotency_key(
    headers: &HeaderMap,
    caller: &Caller,
    station_id: &str,
    command: &Command,
) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v.as_bytes();
    if key.is_empty() || key.len() > 255 {
        return Err(Problem::bad_request(
            "`Idempotency-Key` must have 1 to 255 bytes",
        ));
    }
    Ok(Some(format!(
        "{}:{}:{station_id}:{}",
        caller.token_id,
        command.name(),
        String::from_utf8_lossy(key)
    )))
}

pub(crate) async fn submit(
    state: ApiState,
    caller: Caller,
    station_id: String,
    q: CommandQuery,
    headers: HeaderMap,
    command: Command,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let asynchronous = page::flag("async", q.r#async.as_deref())?.unwrap_or(false);
    let queue_until = seconds("queueFor", q.queue_for.as_deref(), MAX_QUEUE_S)?
        .map(|s| Utc::now() + chrono::Duration::seconds(s));
    let wait = seconds("timeout", q.timeout.as_deref(), 300)?
        .map(|s| Duration::from_secs(s as u64))
        .unwrap_or(state.command_wait);
    let idempotency_key = idempotency_key(&headers, &caller, &station_id, &command)?;
    let submitted = state
        .commander
        .submit(Submission {
            station_id,
            command,
            requested_by: caller.name.clone(),
            idempotency_key,
            queue_until,
            bulk_id: None,
        })
        .await
        .map_err(submit_error)?;
    let mut record = submitted.record;
    if !asynchronous && let Some(done) = submitted.done {
        match tokio::time::timeout(wait, done).await {
            Ok(Ok(r)) => record = r,
            _ => {
                if let Some(r) = state.commander.get(&record.id).await.map_err(store_error)? {
                    record = r;
                }
            }
        }
    }
    let mut response = respond(record);
    if submitted.replayed {
        response
            .headers_mut()
            .insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

pub(crate) fn submit_error(e: SubmitError) -> Problem {
    match e {
        SubmitError::Invalid(s) => Problem::bad_request(s),
        SubmitError::UnknownStation(s) => Problem::not_found(format!("no station `{s}`")),
        SubmitError::KeyReused(ref id) => {
            // A conflict with the earlier request that used the key (its command is named).
            Problem::new(StatusCode::CONFLICT, e.to_string()).with("commandId", id)
        }
        SubmitError::Store(e) => store_error(e),
    }
}

/// A record as the API shows it: secret values redacted.
pub(crate) fn shown(mut record: CommandRecord) -> CommandRecord {
    record.command = record.command.redacted();
    record
}

/// The response for a command's record after submission.
pub(crate) fn respond(record: CommandRecord) -> Response {
    let record = shown(record);
    let location = HeaderValue::from_str(&format!("/api/v1/commands/{}", record.id)).ok();
    let (status, detail) = match record.status {
        CommandStatus::Answered => (StatusCode::OK, None),
        CommandStatus::Queued | CommandStatus::Pending => (StatusCode::ACCEPTED, None),
        CommandStatus::NotDelivered if record.sent_at.is_none() => (
            StatusCode::CONFLICT,
            Some(format!(
                "station `{}` is not connected (add `queueFor` to queue the command)",
                record.station_id
            )),
        ),
        CommandStatus::Expired => (StatusCode::CONFLICT, record.error.clone()),
        CommandStatus::Unsupported | CommandStatus::Invalid => {
            (StatusCode::UNPROCESSABLE_ENTITY, record.error.clone())
        }
        CommandStatus::Timeout => (StatusCode::GATEWAY_TIMEOUT, record.error.clone()),
        CommandStatus::NotDelivered | CommandStatus::Failed => {
            (StatusCode::BAD_GATEWAY, record.error.clone())
        }
    };
    let mut response = match detail {
        None => (status, axum::Json(&record)).into_response(),
        Some(d) => Problem::new(status, d)
            .with("command", &record)
            .into_response(),
    };
    if let Some(l) = location {
        response.headers_mut().insert(header::LOCATION, l);
    }
    response
}

/// The route every command takes: `{command}` is its name (`reset`, `getVariables`...) and the
/// body its parameters. The OpenAPI document has one path per command, made from this one by
/// [`command_paths`].
#[utoipa::path(post, path = "/api/v1/stations/{id}/commands/{command}", tag = "commands",
    request_body = Object,
    params(("id" = String, Path, description = "The station's identity"),
        ("command" = String, Path, description = "The command's name"), CommandQuery,
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
            description = "Makes a retried request safe: the same request with the same key gets the first one's command; a different request with it is refused (409)")),
    responses(
        (status = 200, body = CommandRecord, description = "The station answered"),
        (status = 202, body = CommandRecord, description = "Queued, or still waiting for the answer"),
        crate::openapi::Errors, crate::openapi::CommandErrors))]
pub(crate) async fn command(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
    Query(q): Query<CommandQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let command = parse_command(&name, &body)?;
    submit(state, caller, id, q, headers, command).await
}

/// The command a route's name and body make.
fn parse_command(name: &str, body: &Bytes) -> Result<Command, Problem> {
    let params: serde_json::Value = parse(body)?;
    let command = Command::from_parts(name, params)
        .ok_or_else(|| Problem::not_found(format!("no command `{name}`")))?
        .map_err(|e| Problem::bad_request(format!("invalid JSON body: {e}")))?;
    not_reserved(&command)?;
    Ok(command)
}

/// Refuses a charging profile with an id load management keeps for its own profiles: the
/// station would replace one with the other.
pub(crate) fn not_reserved(command: &Command) -> Result<(), Problem> {
    let profile = match command {
        Command::SetChargingProfile(c) => Some(&c.charging_profile),
        Command::RemoteStart(c) => c.charging_profile.as_ref(),
        _ => None,
    };
    if let Some(p) = profile
        && p.id >= arus_domain::load::RESERVED_IDS_FROM
    {
        return Err(Problem::bad_request(format!(
            "charging profile ids from {} up are load management's own",
            arus_domain::load::RESERVED_IDS_FROM
        )));
    }
    Ok(())
}

/// The command routes, under `/api/v1`.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/stations/{id}/commands/{command}", post(command))
}

macro_rules! command_docs {
    ($($variant:ident($request:ty => $outcome:ty) $name:literal $summary:literal;)*) => {
        /// The document's command paths: one per command, each the generic route with that
        /// command's summary and body.
        pub(crate) fn command_paths(doc: &mut utoipa::openapi::OpenApi) {
            let template = "/api/v1/stations/{id}/commands/{command}";
            let Some(item) = doc.paths.paths.remove(template) else {
                return;
            };
            $(add_command::<$request>(doc, &item, $name, $summary);)*
        }
    };
}

arus_domain::for_each_command!(command_docs);

/// Adds one command's path, made from the generic route's, and its body's schemas.
fn add_command<R: utoipa::ToSchema>(
    doc: &mut utoipa::openapi::OpenApi,
    item: &utoipa::openapi::PathItem,
    name: &str,
    summary: &str,
) {
    use utoipa::openapi::{Content, Ref, Required, request_body::RequestBodyBuilder};
    let mut item = item.clone();
    if let Some(op) = item.post.as_mut() {
        op.summary = Some(summary.to_string());
        op.operation_id = Some(name.to_string());
        if let Some(params) = op.parameters.as_mut() {
            params.retain(|p| !matches!(p, utoipa::openapi::RefOr::T(p) if p.name == "command"));
        }
        let body = Content::new(Some(Ref::from_schema_name(R::name())));
        op.request_body = Some(
            RequestBodyBuilder::new()
                .content("application/json", body)
                .required(Some(Required::True))
                .build()
                .into(),
        );
    }
    doc.paths
        .paths
        .insert(format!("/api/v1/stations/{{id}}/commands/{name}"), item);
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert(R::name().to_string(), R::schema());
    let mut nested = Vec::new();
    R::schemas(&mut nested);
    components.schemas.extend(nested);
}

/// Filters of the command list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only this station's.
    station_id: Option<String>,
    /// Only with this status.
    #[param(value_type = Option<CommandStatus>)]
    status: Option<String>,
    /// Only the commands of this bulk operation.
    bulk_id: Option<String>,
}

/// Lists commands, newest first.
#[utoipa::path(get, operation_id = "listCommands", path = "/api/v1/commands", tag = "commands", params(ListQuery, PageQuery),
    responses((status = 200, body = Page<CommandRecord>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Response, Problem> {
    use arus_domain::store::{RecordKind, RecordQuery};
    let limit = paging.limit()?;
    if let Some(s) = &q.status
        && CommandStatus::parse(s).is_none()
    {
        return Err(Problem::bad_request("unknown `status`"));
    }
    let mut query = RecordQuery::of(RecordKind::Command, limit);
    query.station_id = q.station_id;
    query.status = q.status;
    query.tag = q.bulk_id.as_deref().map(arus_domain::commander::bulk_tag);
    query.before = paging.before()?;
    page::records(&state, query, |r| {
        arus_domain::commander::decode(r).map(shown)
    })
    .await
}

/// A notification a station sent about a command (firmware and log progress, report parts,
/// customer information, reservation status).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FollowUp {
    /// What it is (`FirmwareStatus`, `LogStatus`, `Report`...).
    kind: String,
    /// When it arrived.
    received_at: DateTime<Utc>,
    /// The time the station gave.
    at: DateTime<Utc>,
    /// Its status, if any.
    status: Option<String>,
    /// What it said.
    details: serde_json::Value,
}

/// A command with what followed it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommandDetail {
    #[serde(flatten)]
    record: CommandRecord,
    /// The station's notifications about this command, oldest first.
    follow_ups: Vec<FollowUp>,
}

/// Shows a command, with the notifications that followed it.
#[utoipa::path(get, operation_id = "getCommand", path = "/api/v1/commands/{commandId}", tag = "commands",
    params(("commandId" = String, Path, description = "The command's id")),
    responses((status = 200, body = CommandDetail, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let Some(record) = state.commander.get(&id).await.map_err(store_error)? else {
        return Err(Problem::not_found(format!("no command `{id}`")));
    };
    let mut follow_ups = Vec::new();
    if let (Some((kind, request_id)), Some(sent)) = (record.command.follow_up(), record.sent_at) {
        let notices = state
            .store
            .notices(&record.station_id, kind, request_id, sent)
            .await
            .map_err(store_error)?;
        follow_ups = notices
            .into_iter()
            .map(|(received_at, n)| FollowUp {
                kind: n.kind.as_str().to_string(),
                received_at,
                at: n.at,
                status: n.status,
                details: n.details,
            })
            .collect();
    }
    Ok(axum::Json(CommandDetail {
        record: shown(record),
        follow_ups,
    })
    .into_response())
}
