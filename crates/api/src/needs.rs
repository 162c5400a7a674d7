//! `/api/v1/stations/{id}/transactions/{transactionId}/charging-needs`: what a transaction's
//! car needs by when ([`arus_domain::needs`]). An ISO 15118 car says it itself
//! (NotifyEVChargingNeeds); for any other car the operator (a fleet's schedule, a driver's app)
//! says it here, and load management plans the energy into the hours before the departure.

use arus_domain::needs::{For, Told, Wanted};
use arus_domain::store::Role;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use crate::stations::parse;
use crate::{ApiState, Caller, Problem, store_error};

/// The needs said for a transaction (by its car or an operator), if any.
#[utoipa::path(get, operation_id = "getChargingNeeds",
    path = "/api/v1/stations/{id}/transactions/{transactionId}/charging-needs", tag = "sites",
    params(("id" = String, Path, description = "The station's identity"),
           ("transactionId" = String, Path, description = "The transaction's id as the station knows it")),
    responses((status = 200, body = Told, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    Path((station_id, transaction_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    match arus_domain::needs::of_transaction(state.store.as_ref(), &station_id, &transaction_id)
        .await
        .map_err(store_error)?
    {
        Some(told) => Ok(axum::Json(told).into_response()),
        None => Err(Problem::not_found(format!(
            "nothing was said of what the car of transaction `{transaction_id}` of station \
             `{station_id}` needs"
        ))),
    }
}

/// Says what the car of a transaction going on needs: the energy it wants from now
/// (`energyWh`) by when it leaves (`departure`), and, if known, the most and least current
/// per phase it takes. Load management plans the energy into the hours before the departure
/// (the cheapest, where the site has prices) and serves it before the other cars of its
/// priority; the site's plan says when it cannot be met. What is said replaces what was said
/// before, by the car or an operator.
#[utoipa::path(put, operation_id = "putChargingNeeds",
    path = "/api/v1/stations/{id}/transactions/{transactionId}/charging-needs", tag = "sites",
    params(("id" = String, Path, description = "The station's identity"),
           ("transactionId" = String, Path, description = "The transaction's id as the station knows it")),
    request_body = Wanted,
    responses((status = 200, body = Told, description = "Recorded"), crate::openapi::Errors))]
pub(crate) async fn put(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((station_id, transaction_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let wanted: Wanted = parse(&body)?;
    let number = |x: Option<f64>| x.is_none_or(|v| v.is_finite() && v >= 0.0);
    if !(number(wanted.energy_wh) && number(wanted.max_current_a) && number(wanted.min_current_a)) {
        return Err(Problem::bad_request(
            "`energyWh`, `maxCurrentA` and `minCurrentA` are numbers ≥ 0",
        ));
    }
    if let (Some(lo), Some(hi)) = (wanted.min_current_a, wanted.max_current_a)
        && lo > hi
    {
        return Err(Problem::bad_request("`minCurrentA` is above `maxCurrentA`"));
    }
    if wanted.departure.is_some_and(|d| d <= chrono::Utc::now()) {
        return Err(Problem::bad_request("`departure` is not in the future"));
    }
    if wanted.energy_wh.is_some() != wanted.departure.is_some() {
        return Err(Problem::bad_request(
            "`energyWh` and `departure` go together: the energy wanted by when",
        ));
    }
    let Some(tx) = state
        .store
        .transaction(&station_id, &transaction_id)
        .await
        .map_err(store_error)?
    else {
        return Err(Problem::not_found(format!(
            "no transaction `{transaction_id}` of station `{station_id}`"
        )));
    };
    let told = if tx.tx.fold.ended.is_some() || tx.orphan {
        None
    } else {
        arus_domain::needs::tell(
            state.store.as_ref(),
            state.csms.events(),
            &station_id,
            For::Transaction(&transaction_id),
            wanted,
            &caller.name,
        )
        .await
        .map_err(store_error)?
    };
    let Some(told) = told else {
        return Err(Problem::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "transaction `{transaction_id}` is not going on at an EVSE: needs are said for a \
             car charging"
            ),
        ));
    };
    let id = format!("{station_id}/{transaction_id}");
    Ok(crate::audit::made(
        axum::Json(told).into_response(),
        "chargingNeeds",
        &id,
    ))
}
