//! `/api/v1/stations/{id}/variables`: a station's device model and configuration as reported
//! (2.0.1 NotifyReport) and as last read or set through commands (GetVariables, SetVariables,
//! 1.6 GetConfiguration and ChangeConfiguration).

use arus_domain::device_model::DeviceVariable;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::page::Page;
use crate::{ApiState, Problem, store_error};

/// Which variables.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VariableQuery {
    /// Only this component's (`""` is where 1.6 configuration keys live).
    component: Option<String>,
    /// Only variables of this name.
    variable: Option<String>,
}

/// A variable and when it was last reported or confirmed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VariableView {
    #[serde(flatten)]
    variable: DeviceVariable,
    updated_at: DateTime<Utc>,
}

/// A station's device model and configuration.
#[utoipa::path(get, operation_id = "listVariables", path = "/api/v1/stations/{id}/variables", tag = "stations",
    params(("id" = String, Path, description = "The station's identity"), VariableQuery),
    responses((status = 200, body = Page<VariableView>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<VariableQuery>,
) -> Result<Response, Problem> {
    let store = &state.store;
    if store.station(&id).await.map_err(store_error)?.is_none() {
        return Err(Problem::not_found(format!("no station `{id}`")));
    }
    let rows = store
        .variables(&id, q.component, q.variable)
        .await
        .map_err(store_error)?;
    let items = rows
        .into_iter()
        .map(|(variable, updated_at)| VariableView {
            variable: arus_domain::device_model::sanitized(variable),
            updated_at,
        })
        .collect();
    Ok(axum::Json(Page {
        items,
        next_cursor: None,
    })
    .into_response())
}
