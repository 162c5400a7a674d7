//! `/api/v1/sites`: sites (a grid connection, its parts and their limits, the EVSEs behind
//! them) and how their capacity is divided among sessions: for sessions that might charge
//! (`allocation/preview`, for planning and for testing a site's settings) and for those charging
//! now (`allocation`).

use arus_domain::sites::{EvseAllocation, Site, SiteSession};
use arus_domain::store::{RecordKind, Role, StoredRecord, Write};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::page::Page;
use crate::stations::parse;
use crate::{ApiState, Caller, Problem, store_error};

/// The sites stored and not deleted.
async fn sites(state: &ApiState) -> Result<Vec<Site>, Problem> {
    arus_domain::sites::stored(state.store.as_ref())
        .await
        .map_err(store_error)
}

async fn site(state: &ApiState, id: &str) -> Result<Site, Problem> {
    let row = state
        .store
        .record(RecordKind::Site, id)
        .await
        .map_err(store_error)?
        .filter(|r| r.status.as_deref() == Some("active"));
    row.and_then(|r| serde_json::from_str(&r.body).ok())
        .ok_or_else(|| Problem::not_found(format!("no site `{id}`")))
}

fn record(site: &Site, status: &str) -> Result<Write, Problem> {
    Ok(Write::PutRecord(Box::new(StoredRecord {
        kind: RecordKind::Site,
        id: site.id.clone(),
        seq: 0,
        station_id: None,
        tag: None,
        status: Some(status.into()),
        at: chrono::Utc::now(),
        body: serde_json::to_string(site)
            .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
    })))
}

/// Creates a site, or replaces it whole.
#[utoipa::path(post, operation_id = "putSite", path = "/api/v1/sites", tag = "sites", request_body = Site,
    responses((status = 201, body = Site, description = "Created"), (status = 200, body = Site, description = "Replaced"),
        crate::openapi::Errors))]
pub(crate) async fn put(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let new: Site = parse(&body)?;
    new.check().map_err(|e| Problem::bad_request(e.0))?;
    let all = sites(&state).await?;
    for other in all.iter().filter(|s| s.id != new.id) {
        if let Some(e) = new
            .evses
            .iter()
            .find(|e| other.evse(&e.station_id, e.evse_id).is_some())
        {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                format!(
                    "EVSE {} of `{}` is on site `{}` already: an EVSE is on one site",
                    e.evse_id, e.station_id, other.id
                ),
            ));
        }
    }
    let existed = all.iter().any(|s| s.id == new.id);
    state
        .store
        .commit(vec![record(&new, "active")?])
        .await
        .map_err(store_error)?;
    // Its stations get their new safe default, and it is divided again, at once.
    state.load.sites_changed.notify_one();
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let id = new.id.clone();
    Ok(crate::audit::made(
        (status, axum::Json(new)).into_response(),
        "site",
        &id,
    ))
}

/// Every site.
#[utoipa::path(get, operation_id = "listSites", path = "/api/v1/sites", tag = "sites",
    responses((status = 200, body = Page<Site>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Response, Problem> {
    Ok(axum::Json(Page {
        items: sites(&state).await?,
        next_cursor: None,
    })
    .into_response())
}

/// One site.
#[utoipa::path(get, operation_id = "getSite", path = "/api/v1/sites/{id}", tag = "sites",
    params(("id" = String, Path, description = "The site's id")),
    responses((status = 200, body = Site, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(axum::Json(site(&state, &id).await?).into_response())
}

/// Removes a site (its EVSEs may then join another).
#[utoipa::path(delete, operation_id = "deleteSite", path = "/api/v1/sites/{id}", tag = "sites",
    params(("id" = String, Path, description = "The site's id")),
    responses((status = 204, description = "Removed"), crate::openapi::Errors))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let s = site(&state, &id).await?;
    state
        .store
        .commit(vec![record(&s, "deleted")?])
        .await
        .map_err(store_error)?;
    // Load management's profiles leave its stations.
    state.load.sites_changed.notify_one();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sessions that might charge.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Preview {
    /// Each at one of the site's EVSEs.
    sessions: Vec<SiteSession>,
    /// At what time (RFC 3339; now when not given): the limits scheduled then apply.
    #[serde(default)]
    at: Option<chrono::DateTime<chrono::Utc>>,
}

/// How a site's capacity is divided.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AllocationView {
    site_id: String,
    /// One per session, in the order given (for the live site: by station and EVSE).
    allocations: Vec<EvseAllocation>,
}

/// How the site's capacity would be divided among these sessions: the same function that
/// divides it live, for planning and for trying a site's settings.
#[utoipa::path(post, operation_id = "previewSiteAllocation", path = "/api/v1/sites/{id}/allocation/preview", tag = "sites",
    params(("id" = String, Path, description = "The site's id")), request_body = Preview,
    responses((status = 200, body = AllocationView, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn preview(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let req: Preview = parse(&body)?;
    let s = site(&state, &id).await?;
    let allocations = s
        .allocate(&req.sessions, req.at.unwrap_or_else(chrono::Utc::now))
        .map_err(|e| Problem::bad_request(e.0))?;
    Ok(axum::Json(AllocationView {
        site_id: id,
        allocations,
    })
    .into_response())
}

/// How the site's capacity is divided among the sessions charging now (one per EVSE of the
/// site with a transaction going on; each car taken as able to use all the EVSE's phases up to
/// the EVSE's maximum until its meter values show the phases it uses and that it takes less).
#[utoipa::path(get, operation_id = "getSiteAllocation", path = "/api/v1/sites/{id}/allocation", tag = "sites",
    params(("id" = String, Path, description = "The site's id")),
    responses((status = 200, body = AllocationView, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn live(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let s = site(&state, &id).await?;
    let sessions =
        arus_domain::sites::live_sessions(state.store.as_ref(), &s, &state.load.observed)
            .await
            .map_err(store_error)?;
    let allocations = s
        .allocate(&sessions, chrono::Utc::now())
        .map_err(|e| Problem::bad_request(e.0))?;
    Ok(axum::Json(AllocationView {
        site_id: id,
        allocations,
    })
    .into_response())
}

/// Which window of a site's load.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct LoadQuery {
    /// From when (RFC 3339); a day before `to` when not given.
    from: Option<String>,
    /// Until when (RFC 3339); now when not given.
    to: Option<String>,
    /// The bucket length in seconds (default 60; at most 10,000 buckets).
    step: Option<i64>,
}

fn time(name: &str, value: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, Problem> {
    value
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| Problem::bad_request(format!("`{name}` is not an RFC 3339 time: {e}")))
        })
        .transpose()
}

/// What the site drew over a window, read back from its sessions' meter values: per group,
/// the load on each phase (the highest in each bucket), its limit then, its peak, and every
/// moment it was above a limit.
#[utoipa::path(get, operation_id = "getSiteLoad", path = "/api/v1/sites/{id}/load", tag = "sites",
    params(("id" = String, Path, description = "The site's id"), LoadQuery),
    responses((status = 200, body = arus_domain::site_load::SiteLoad, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn load(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<LoadQuery>,
) -> Result<Response, Problem> {
    let to = time("to", q.to.as_deref())?.unwrap_or_else(chrono::Utc::now);
    let from = time("from", q.from.as_deref())?.unwrap_or(to - chrono::TimeDelta::days(1));
    let step = q.step.unwrap_or(60);
    if from >= to {
        return Err(Problem::bad_request("`from` must be before `to`"));
    }
    if step < 1 || (to - from).num_seconds() / step >= arus_domain::site_load::MAX_BUCKETS {
        return Err(Problem::bad_request(format!(
            "`step` must be at least 1 second and make at most {} buckets",
            arus_domain::site_load::MAX_BUCKETS
        )));
    }
    let s = site(&state, &id).await?;
    let drawn = arus_domain::site_load::drawn(state.store.as_ref(), &s, from, to)
        .await
        .map_err(store_error)?;
    Ok(axum::Json(arus_domain::site_load::load(&s, &drawn, from, to, step)).into_response())
}
