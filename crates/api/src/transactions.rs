//! `/api/v1/transactions`: transactions of every version in one shape, newest first.

use arus_domain::store::{TransactionQuery, TransactionRow};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::page::{self, Page, PageQuery};
use crate::{ApiState, Problem, store_error};

/// Filters of the transaction list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only this station's.
    station_id: Option<String>,
    /// Only ongoing (true) or ended (false) transactions. An orphan is never ongoing.
    #[param(value_type = Option<bool>)]
    ongoing: Option<String>,
    /// Only orphans (true) or only the others (false): see `orphan` in the transaction.
    #[param(value_type = Option<bool>)]
    orphan: Option<String>,
}

/// A transaction.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TransactionView {
    /// Its id as the station knows it: a number for 1.6 (assigned by Arus), a string for
    /// 2.0.1.
    transaction_id: TransactionId,
    station_id: String,
    evse_id: Option<u32>,
    connector_id: Option<u32>,
    id_token: Option<String>,
    started_at: Option<DateTime<Utc>>,
    stopped_at: Option<DateTime<Utc>>,
    meter_start_wh: Option<f64>,
    meter_stop_wh: Option<f64>,
    /// Energy delivered so far, Wh.
    energy_wh: Option<f64>,
    stop_reason: Option<String>,
    charging_state: Option<String>,
    /// A 1.6 station sent a StopTransaction or MeterValues naming a transaction id Arus never
    /// gave it: what it sent is kept here for review, and Arus never gives that station that
    /// id, so it is never merged into a real transaction.
    orphan: bool,
    #[serde(skip)]
    seq: i64,
}

/// A transaction id: 1.6 numbers, 2.0.1 strings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum TransactionId {
    /// Assigned by Arus to a 1.6 transaction.
    Number(i64),
    /// Given by a 2.0.1 station.
    Text(String),
}

/// Lists transactions, the most recently seen first.
#[utoipa::path(get, operation_id = "listTransactions", path = "/api/v1/transactions", tag = "transactions", params(ListQuery, PageQuery),
    responses((status = 200, body = Page<TransactionView>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Response, Problem> {
    let limit = paging.limit()?;
    let ongoing = page::flag("ongoing", q.ongoing.as_deref())?;
    let orphan = page::flag("orphan", q.orphan.as_deref())?;
    let rows = state
        .store
        .transactions(TransactionQuery {
            station_id: q.station_id,
            ongoing,
            orphan,
            before: paging.before()?,
            limit,
        })
        .await
        .map_err(store_error)?;
    let items: Vec<TransactionView> = rows.iter().map(view).collect();
    Ok(axum::Json(Page::of(items, limit, |t| t.seq.to_string())).into_response())
}

fn view(r: &TransactionRow) -> TransactionView {
    let id = match (r.csms_assigned, r.transaction_id.parse::<i64>()) {
        (true, Ok(n)) => TransactionId::Number(n),
        _ => TransactionId::Text(r.transaction_id.clone()),
    };
    TransactionView {
        transaction_id: id,
        station_id: r.station_id.clone(),
        evse_id: r.evse_id,
        connector_id: r.connector_id,
        id_token: r.id_token.clone(),
        started_at: r.started_at,
        stopped_at: r.stopped_at,
        meter_start_wh: r.meter_start_wh,
        meter_stop_wh: r.meter_stop_wh,
        energy_wh: r.energy_wh,
        stop_reason: r.stop_reason.clone(),
        charging_state: r.charging_state.clone(),
        orphan: r.orphan,
        seq: r.seq,
    }
}

/// A transaction's meter values.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MeterValuesView {
    station_id: String,
    transaction_id: String,
    /// Each reading once, by time: `timestamp` and `samples` (`value`, or `raw` when the
    /// station wrote something other than a number; `context`, `measurand`, `phase`,
    /// `location`, `unit` as the station sent them).
    #[schema(value_type = Vec<Object>)]
    meter_values: Vec<arus_domain::metering::MeterValue>,
}

/// The meter values of a transaction, by time: what billing and load read back rest on.
#[utoipa::path(get, operation_id = "getTransactionMeterValues",
    path = "/api/v1/stations/{id}/transactions/{transactionId}/meter-values", tag = "transactions",
    params(("id" = String, Path, description = "The station's identity"),
           ("transactionId" = String, Path, description = "The transaction's id as the station knows it")),
    responses((status = 200, body = MeterValuesView, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn meter_values(
    State(state): State<ApiState>,
    axum::extract::Path((station_id, transaction_id)): axum::extract::Path<(String, String)>,
) -> Result<Response, Problem> {
    if state
        .store
        .transaction(&station_id, &transaction_id)
        .await
        .map_err(store_error)?
        .is_none()
    {
        return Err(Problem::not_found(format!(
            "no transaction `{transaction_id}` of station `{station_id}`"
        )));
    }
    let meter_values = state
        .store
        .meter_values(&station_id, &transaction_id)
        .await
        .map_err(store_error)?;
    Ok(axum::Json(MeterValuesView {
        station_id,
        transaction_id,
        meter_values,
    })
    .into_response())
}
