//! `/api/v1/stations/{id}/frames`: the frame log of a station, newest first.

use arus_domain::store::{Direction, Role};
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::page::Page;
use crate::{ApiState, Caller, Problem, store_error};

/// The query of the frame log.
/// The frame log's paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FramesQuery {
    /// How many frames, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// A logged frame.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FrameView {
    /// When it was sent or received.
    at: DateTime<Utc>,
    /// `in` (from the station) or `out`.
    direction: &'static str,
    /// The frame's text.
    text: String,
}

/// The frames most recently exchanged with a station (operator role: frames show what a
/// station and its drivers do; secret values are taken out before a frame is logged).
#[utoipa::path(get, operation_id = "listFrames", path = "/api/v1/stations/{id}/frames", tag = "stations",
    params(("id" = String, Path, description = "The station's identity"), FramesQuery),
    responses((status = 200, body = Page<FrameView>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<FramesQuery>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let limit = crate::page::limit(q.limit.as_deref())?;
    let frames = state.store.frames(&id, limit).await.map_err(store_error)?;
    let items: Vec<FrameView> = frames
        .into_iter()
        .map(|f| FrameView {
            at: f.at,
            direction: match f.direction {
                Direction::In => "in",
                Direction::Out => "out",
            },
            text: f.text,
        })
        .collect();
    Ok(axum::Json(Page {
        items,
        next_cursor: None,
    })
    .into_response())
}
