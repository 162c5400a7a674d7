//! `/api/v1/bulk`: one command for many stations (a firmware campaign, a configuration change
//! across a fleet), with bounded concurrency, progress, and a result per station. Each
//! station's command is an ordinary command record, tagged with the operation.

use std::collections::BTreeMap;

use arus_domain::commander::{BulkRecord, bulk_tag, decode};
use arus_domain::commands::Command;
use arus_domain::store::{RecordKind, RecordQuery, Role};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::commands::submit_error;
use crate::page::{self, Page, PageQuery};
use crate::stations::parse;
use crate::{ApiState, Caller, Problem, store_error};

/// A bulk operation to start.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewBulk {
    /// The command: `type` is a command's name (`reset`, `updateFirmware`, `setVariables`...)
    /// and the other members are that command's body.
    #[schema(value_type = Object)]
    command: serde_json::Value,
    /// The stations; without them, every registered station (or every connected one, with
    /// `connectedOnly`).
    #[serde(default)]
    station_ids: Option<Vec<String>>,
    /// With no `stationIds`: only the stations connected now.
    #[serde(default)]
    connected_only: bool,
    /// Commands under way at once, 1 to 200 (default 10).
    #[schema(minimum = 1, maximum = 200)]
    concurrency: Option<u32>,
    /// Queue each command this many seconds for a station that is not connected.
    #[schema(minimum = 1, maximum = 2592000)]
    queue_for: Option<i64>,
}

/// Starts a bulk operation (operator); answers at once with its record.
#[utoipa::path(post, operation_id = "startBulk", path = "/api/v1/bulk", tag = "commands", request_body = NewBulk,
    responses((status = 202, body = BulkRecord, description = "Started"), crate::openapi::Errors))]
pub(crate) async fn start(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let req: NewBulk = parse(&body)?;
    let command: Command = serde_json::from_value(req.command)
        .map_err(|e| Problem::bad_request(format!("invalid `command`: {e}")))?;
    crate::commands::not_reserved(&command)?;
    let concurrency = req.concurrency.unwrap_or(10);
    if !(1..=200).contains(&concurrency) {
        return Err(Problem::bad_request("`concurrency` must be 1 to 200"));
    }
    if req.queue_for.is_some_and(|s| !(1..=2_592_000).contains(&s)) {
        return Err(Problem::bad_request(
            "`queueFor` must be 1 to 2592000 seconds",
        ));
    }
    let stations = match req.station_ids {
        Some(ids) if ids.is_empty() => {
            return Err(Problem::bad_request("`stationIds` names no station"));
        }
        Some(ids) => ids,
        None => state
            .store
            .stations()
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|s| s.id)
            .filter(|id| !req.connected_only || state.link.connection(id).is_some())
            .collect(),
    };
    let record = state
        .commander
        .bulk(
            stations,
            command,
            concurrency,
            req.queue_for,
            caller.name.clone(),
        )
        .await
        .map_err(submit_error)?;
    let mut record = record;
    record.command = record.command.redacted();
    let mut response = (StatusCode::ACCEPTED, axum::Json(&record)).into_response();
    if let Ok(l) = HeaderValue::from_str(&format!("/api/v1/bulk/{}", record.id)) {
        response.headers_mut().insert(header::LOCATION, l);
    }
    Ok(response)
}

/// One station's result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StationResult {
    station_id: String,
    command_id: String,
    /// The command's status.
    status: String,
    /// The station's answer status, when it answered.
    outcome: Option<String>,
    /// Why it failed.
    error: Option<String>,
}

/// A bulk operation with its progress and results.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkDetail {
    #[serde(flatten)]
    record: BulkRecord,
    /// How many stations' commands are in each status.
    by_status: BTreeMap<String, u32>,
    /// Each station's result (the latest 10 000).
    results: Vec<StationResult>,
}

/// Shows a bulk operation's progress and per-station results.
#[utoipa::path(get, operation_id = "getBulk", path = "/api/v1/bulk/{bulkId}", tag = "commands",
    params(("bulkId" = String, Path, description = "The operation's id")),
    responses((status = 200, body = BulkDetail, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let store = &state.store;
    let Some(row) = store
        .record(RecordKind::Bulk, &id)
        .await
        .map_err(store_error)?
    else {
        return Err(Problem::not_found(format!("no bulk operation `{id}`")));
    };
    let record: BulkRecord = serde_json::from_str(&row.body)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut q = RecordQuery::of(RecordKind::Command, 10_000);
    q.tag = Some(bulk_tag(&id));
    let rows = store.records(q).await.map_err(store_error)?;
    let mut by_status = BTreeMap::new();
    let results: Vec<StationResult> = rows
        .iter()
        .filter_map(decode)
        .map(|c| {
            *by_status.entry(c.status.as_str().to_string()).or_insert(0) += 1;
            StationResult {
                station_id: c.station_id,
                command_id: c.id,
                status: c.status.as_str().to_string(),
                outcome: c
                    .outcome
                    .as_ref()
                    .and_then(|o| o.status())
                    .map(str::to_string),
                error: c.error,
            }
        })
        .collect();
    // The stored count lags while the operation runs; the records do not.
    let mut record = record;
    record.command = record.command.redacted();
    record.submitted = record
        .submitted
        .max(u32::try_from(results.len()).unwrap_or(u32::MAX));
    Ok(axum::Json(BulkDetail {
        record,
        by_status,
        results,
    })
    .into_response())
}

/// Lists bulk operations, newest first.
#[utoipa::path(get, operation_id = "listBulk", path = "/api/v1/bulk", tag = "commands", params(PageQuery),
    responses((status = 200, body = Page<BulkRecord>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Query(paging): Query<PageQuery>,
) -> Result<Response, Problem> {
    let mut query = RecordQuery::of(RecordKind::Bulk, paging.limit()?);
    query.before = paging.before()?;
    page::records(&state, query, |r| {
        serde_json::from_str::<BulkRecord>(&r.body)
            .ok()
            .map(|mut record| {
                record.command = record.command.redacted();
                record
            })
    })
    .await
}
