//! `/api/v1/stations/{id}/frames`: the frame log of a station, newest first.

use arus_domain::store::Direction;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiState, Problem, store_error};

/// The query of the frame log.
#[derive(Debug, Deserialize)]
pub(crate) struct FramesQuery {
    limit: Option<String>,
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<FramesQuery>,
) -> Result<Response, Problem> {
    let limit = match q.limit.as_deref() {
        None => 100,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| Problem::bad_request("`limit` must be 1 to 1000"))?,
    };
    let frames = state
        .csms
        .store()
        .frames(&id, limit)
        .await
        .map_err(store_error)?;
    let items: Vec<Value> = frames
        .into_iter()
        .map(|f| {
            json!({
                "at": f.at,
                "direction": match f.direction { Direction::In => "in", Direction::Out => "out" },
                "text": f.text,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "items": items })).into_response())
}
