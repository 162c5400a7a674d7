//! `/api/v1/station-models`: what Arus knows of station models' smart charging quirks
//! ([`arus_domain::quirks`]), which the sending of charging profiles respects.

use arus_domain::quirks::ModelQuirks;
use arus_domain::store::Role;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::page::Page;
use crate::stations::parse;
use crate::{ApiState, Caller, Problem, store_error};

/// Every model with quirks recorded.
#[utoipa::path(get, operation_id = "listStationModels", path = "/api/v1/station-models", tag = "smart charging",
    responses((status = 200, body = Page<ModelQuirks>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Response, Problem> {
    let items = arus_domain::quirks::all(state.store.as_ref())
        .await
        .map_err(store_error)?;
    Ok(axum::Json(Page {
        items,
        next_cursor: None,
    })
    .into_response())
}

/// Records a model's quirks (vendor and model as its stations report them at boot),
/// replacing what was recorded.
#[utoipa::path(post, operation_id = "putStationModel", path = "/api/v1/station-models", tag = "smart charging",
    request_body = ModelQuirks,
    responses((status = 200, body = ModelQuirks, description = "Recorded"), crate::openapi::Errors))]
pub(crate) async fn put(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let q: ModelQuirks = parse(&body)?;
    if q.vendor.is_empty() || q.model.is_empty() || q.vendor.len() > 50 || q.model.len() > 50 {
        return Err(Problem::bad_request(
            "`vendor` and `model` have 1 to 50 characters, as a station reports them",
        ));
    }
    if q.vendor.contains('\u{1f}') || q.model.contains('\u{1f}') {
        return Err(Problem::bad_request("`vendor` and `model` are text"));
    }
    arus_domain::quirks::record(state.store.as_ref(), &q)
        .await
        .map_err(store_error)?;
    let id = ModelQuirks::key(&q.vendor, &q.model);
    Ok(crate::audit::made(
        (StatusCode::OK, axum::Json(q)).into_response(),
        "stationModel",
        &id,
    ))
}
