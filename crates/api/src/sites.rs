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
    // Load management's profiles leave its stations; what was measured there is forgotten.
    state.load.other_loads.forget(&id);
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
    let s = state
        .load
        .other_loads
        .applied(&s, chrono::Utc::now())
        .into_owned();
    let live =
        arus_domain::site_live::live_sessions(state.store.as_ref(), &s, &state.load.observed)
            .await
            .map_err(store_error)?;
    let mut allocations = arus_domain::site_live::allocate_live(&s, &live, chrono::Utc::now())
        .map_err(|e| Problem::bad_request(e.0))?;
    // Divided first come, first served; shown by station and EVSE.
    allocations.sort_by(|a, b| (&a.station_id, a.evse_id).cmp(&(&b.station_id, b.evse_id)));
    Ok(axum::Json(AllocationView {
        site_id: id,
        allocations,
    })
    .into_response())
}

/// A measurement of a group's load that is not charging.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OtherLoadPut {
    /// Per site phase (L1, L2, L3), A; negative for generation.
    current_a: [f64; 3],
    /// When it was measured (RFC 3339; now when not given).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A group's load that is not charging, as the live division counts it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OtherLoadView {
    site_id: String,
    group_id: String,
    /// Per site phase, A.
    current_a: [f64; 3],
    /// `measured` (a fresh measurement) or `configured` (the group's `otherLoadA`).
    source: &'static str,
    /// When it was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    at: Option<chrono::DateTime<chrono::Utc>>,
    /// Until when it holds without another measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    until: Option<chrono::DateTime<chrono::Utc>>,
}

fn other_load_view(
    state: &ApiState,
    s: &arus_domain::sites::Site,
    group: &str,
) -> Result<OtherLoadView, Problem> {
    let Some(g) = s.groups.iter().find(|g| g.id == group) else {
        return Err(Problem::not_found(format!(
            "site `{}` has no group `{group}`",
            s.id
        )));
    };
    let view = |current_a, source, at: Option<chrono::DateTime<chrono::Utc>>| OtherLoadView {
        site_id: s.id.clone(),
        group_id: group.to_string(),
        current_a,
        source,
        at,
        until: at.map(|t| t + arus_domain::other_load::FRESH),
    };
    Ok(
        match state
            .load
            .other_loads
            .fresh(&s.id, group, chrono::Utc::now())
        {
            Some(m) => view(m.current_a, "measured", Some(m.at)),
            None => view(g.other_load_a.unwrap_or([0.0; 3]), "configured", None),
        },
    )
}

/// A group's load that is not charging, as the live division counts it now: the latest
/// measurement if it is fresh, else the group's configured `otherLoadA`.
#[utoipa::path(get, operation_id = "getSiteOtherLoad", path = "/api/v1/sites/{id}/groups/{group}/other-load", tag = "sites",
    params(("id" = String, Path, description = "The site's id"), ("group" = String, Path, description = "The group's id")),
    responses((status = 200, body = OtherLoadView, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn other_load(
    State(state): State<ApiState>,
    Path((id, group)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let s = site(&state, &id).await?;
    Ok(axum::Json(other_load_view(&state, &s, &group)?).into_response())
}

/// Pushes a measurement of a group's load that is not charging (a building meter, solar as a
/// negative load), every few seconds: the live division gives the cars what it leaves, at
/// once. A measurement holds for two minutes; then the group's configured `otherLoadA`
/// applies again. The safe default stations fall back to keeps the configured value.
#[utoipa::path(put, operation_id = "putSiteOtherLoad", path = "/api/v1/sites/{id}/groups/{group}/other-load", tag = "sites",
    params(("id" = String, Path, description = "The site's id"), ("group" = String, Path, description = "The group's id")),
    request_body = OtherLoadPut,
    responses((status = 200, body = OtherLoadView, description = "Taken"), crate::openapi::Errors))]
pub(crate) async fn put_other_load(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((id, group)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let m: OtherLoadPut = parse(&body)?;
    if m.current_a
        .iter()
        .any(|a| !a.is_finite() || a.abs() > 100_000.0)
    {
        return Err(Problem::bad_request(
            "`currentA` is three numbers of at most 100,000 A",
        ));
    }
    let now = chrono::Utc::now();
    let at = m.at.unwrap_or(now);
    if at > now + chrono::TimeDelta::seconds(60) || now - at >= arus_domain::other_load::FRESH {
        return Err(Problem::bad_request(
            "`at` is not now: a measurement older than two minutes, or in the future, holds nothing",
        ));
    }
    let s = site(&state, &id).await?;
    if !s.groups.iter().any(|g| g.id == group) {
        return Err(Problem::not_found(format!(
            "site `{id}` has no group `{group}`"
        )));
    }
    state.load.other_loads.measure(
        &id,
        &group,
        arus_domain::other_load::Measured {
            current_a: m.current_a,
            at: at.min(now),
        },
    );
    Ok(axum::Json(other_load_view(&state, &s, &group)?).into_response())
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
    if !(1..=(to - from).num_seconds().max(1)).contains(&step)
        || (to - from).num_seconds() / step >= arus_domain::site_load::MAX_BUCKETS
    {
        return Err(Problem::bad_request(format!(
            "`step` must be 1 second to the window's length and make at most {} buckets",
            arus_domain::site_load::MAX_BUCKETS
        )));
    }
    let s = site(&state, &id).await?;
    let drawn = arus_domain::site_load::drawn(state.store.as_ref(), &s, from, to)
        .await
        .map_err(store_error)?;
    Ok(axum::Json(arus_domain::site_load::load(&s, &drawn, from, to, step)).into_response())
}

/// The plan of the cars charging now whose energy and departure are known (said by an ISO
/// 15118 car or through `charging-needs`): the slots from now to the last departure, and per
/// car its current in each, the energy it gets and its shortfall (what it cannot get before it
/// leaves, the site's capacity then and its own maximum being what they are).
#[utoipa::path(get, operation_id = "getSitePlan", path = "/api/v1/sites/{id}/plan", tag = "sites",
    params(("id" = String, Path, description = "The site's id")),
    responses((status = 200, body = PlanView, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn plan(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let s = site(&state, &id).await?;
    let s = state
        .load
        .other_loads
        .applied(&s, chrono::Utc::now())
        .into_owned();
    let live = arus_domain::site_live::live(state.store.as_ref(), &s, &state.load.observed)
        .await
        .map_err(store_error)?;
    let (slots, plans) =
        arus_domain::plan::plan_told(&s, &live.sessions, &live.told, chrono::Utc::now());
    Ok(axum::Json(PlanView {
        site_id: id,
        slots: slot_views(&slots),
        plans: plans
            .into_iter()
            .filter_map(|p| {
                let session = live.sessions.get(p.index)?;
                Some(CarPlan {
                    station_id: session.station_id.clone(),
                    evse_id: session.evse_id,
                    transaction_id: live.transactions.get(p.index).cloned(),
                    departure: Some(p.departure),
                    plan: p.planned,
                })
            })
            .collect(),
    })
    .into_response())
}

/// A car to plan: where it charges, what it takes, what it needs and when it leaves.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PlanCar {
    station_id: String,
    evse_id: u32,
    /// The phases it charges on (default the EVSE's).
    #[serde(default)]
    phases: Option<u8>,
    /// The most current per phase it takes, A (default the EVSE's maximum).
    #[serde(default)]
    max_current_a: Option<f64>,
    /// The energy it needs, Wh.
    energy_wh: f64,
    /// When it leaves (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    departure: chrono::DateTime<chrono::Utc>,
}

/// Cars to plan.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PlanPreview {
    cars: Vec<PlanCar>,
    /// From when (RFC 3339; now when not given).
    #[serde(default)]
    at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A car's plan.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CarPlan {
    station_id: String,
    evse_id: u32,
    /// On the live site: the transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_id: Option<String>,
    /// On the live site: when the car leaves.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    departure: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(flatten)]
    plan: arus_domain::plan::Planned,
}

/// The slots of a plan as shown.
fn slot_views(
    slots: &[(chrono::DateTime<chrono::Utc>, arus_domain::plan::Slot)],
) -> Vec<arus_domain::plan::SlotView> {
    slots
        .iter()
        .map(|(start, slot)| arus_domain::plan::SlotView {
            start: *start,
            price: slot.price,
            capacity_a: slot.capacity_a,
        })
        .collect()
}

/// A site's plan.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlanView {
    site_id: String,
    /// The slots, with the price and the capacity of each.
    slots: Vec<arus_domain::plan::SlotView>,
    /// Per car, in the order given: its current in each slot and what it cannot get.
    plans: Vec<CarPlan>,
}

/// How the energy cars need by their departure would be planned into the site's hours: the
/// cheapest before each departure, within the capacity then of the grid connection and of
/// each group the car is under (their limits over time, less their other load), earliest
/// departure first; what cannot be met is each car's
/// shortfall.
#[utoipa::path(post, operation_id = "previewSitePlan", path = "/api/v1/sites/{id}/plan/preview", tag = "sites",
    params(("id" = String, Path, description = "The site's id")), request_body = PlanPreview,
    responses((status = 200, body = PlanView, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn plan_preview(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let req: PlanPreview = parse(&body)?;
    let s = site(&state, &id).await?;
    let now = req.at.unwrap_or_else(chrono::Utc::now);
    let mut cars = Vec::with_capacity(req.cars.len());
    for c in &req.cars {
        let Some(e) = s.evse(&c.station_id, c.evse_id) else {
            return Err(Problem::bad_request(format!(
                "EVSE {} of `{}` is not on site `{id}`",
                c.evse_id, c.station_id
            )));
        };
        if !(c.energy_wh.is_finite() && c.energy_wh >= 0.0)
            || c.max_current_a
                .is_some_and(|m| !(m.is_finite() && m >= 0.0))
            || c.phases.is_some_and(|p| !(1..=3).contains(&p))
        {
            return Err(Problem::bad_request(
                "`energyWh` and `maxCurrentA` are numbers ≥ 0, `phases` 1 to 3",
            ));
        }
        let evse_max = e
            .max_current_a
            .unwrap_or(arus_domain::sites::DEFAULT_EVSE_MAX_A);
        cars.push((
            c.departure,
            arus_domain::plan::Car {
                max_a: c.max_current_a.map_or(evse_max, |m| m.min(evse_max)),
                phases: c.phases.or(e.phases).unwrap_or(3),
                energy_wh: c.energy_wh,
                departure_slot: 0,
            },
        ));
    }
    let until = cars.iter().map(|c| c.0).max().unwrap_or(now);
    let departures: Vec<chrono::DateTime<chrono::Utc>> = cars.iter().map(|c| c.0).collect();
    let slots = s.slots_cut(now, until, &departures);
    let under: Vec<Vec<usize>> = req
        .cars
        .iter()
        .map(|c| s.feeders_of(&c.station_id, c.evse_id))
        .collect();
    let planned = arus_domain::plan::plan_within(
        &slots.iter().map(|(_, slot)| *slot).collect::<Vec<_>>(),
        &s.group_capacities(&slots),
        &cars
            .iter()
            .map(|(departure, car)| arus_domain::plan::Car {
                departure_slot: slots.iter().take_while(|(t, _)| t < departure).count(),
                ..*car
            })
            .collect::<Vec<_>>(),
        &under,
        s.voltage_v.unwrap_or(230.0),
    );
    Ok(axum::Json(PlanView {
        site_id: id,
        slots: slot_views(&slots),
        plans: req
            .cars
            .iter()
            .zip(planned)
            .map(|(c, plan)| CarPlan {
                station_id: c.station_id.clone(),
                evse_id: c.evse_id,
                transaction_id: None,
                departure: None,
                plan,
            })
            .collect(),
    })
    .into_response())
}
