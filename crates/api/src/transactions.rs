//! `/api/v1/transactions`: charging sessions, newest first.

use arus_domain::store::{TransactionQuery, TransactionRow};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiState, Problem, store_error};

/// The query of `GET /api/v1/transactions`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    station_id: Option<String>,
    limit: Option<String>,
}

/// The most transactions one request returns.
const MAX_LIMIT: u32 = 1000;

pub(crate) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, Problem> {
    let limit = match q.limit.as_deref() {
        None => 100,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| Problem::bad_request(format!("`limit` must be 1 to {MAX_LIMIT}")))?,
    };
    let rows = state
        .csms
        .store()
        .transactions(TransactionQuery {
            station_id: q.station_id,
            limit,
        })
        .await
        .map_err(store_error)?;
    let items: Vec<Value> = rows.iter().map(view).collect();
    Ok(axum::Json(json!({ "items": items })).into_response())
}

/// A transaction as the API shows it. Its id is the one the station knows: a number for the
/// ids the CSMS assigned (1.6), a string otherwise (2.0.1).
fn view(r: &TransactionRow) -> Value {
    let id = match (r.csms_assigned, r.transaction_id.parse::<i64>()) {
        (true, Ok(n)) => json!(n),
        _ => json!(r.transaction_id),
    };
    json!({
        "transactionId": id,
        "stationId": r.station_id,
        "evseId": r.evse_id,
        "connectorId": r.connector_id,
        "idToken": r.id_token,
        "startedAt": r.started_at,
        "stoppedAt": r.stopped_at,
        "meterStartWh": r.meter_start_wh,
        "meterStopWh": r.meter_stop_wh,
        "energyWh": r.energy_wh,
        "stopReason": r.stop_reason,
        "chargingState": r.charging_state,
    })
}
