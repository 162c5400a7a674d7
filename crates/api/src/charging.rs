//! K Smart charging, read side: the charging profiles Arus knows a station holds
//! (`/api/v1/stations/{id}/charging-profiles`) and the composite schedule Arus computes from
//! them (`/api/v1/stations/{id}/composite-schedule`), in the shape of OCPP 2.0.1's
//! CompositeScheduleType. Profiles are set and cleared with the commands
//! `setChargingProfile` and `clearChargingProfile`.

use arus_domain::commands::{ChargingRateUnit, Command, GetCompositeSchedule, Outcome};
use arus_domain::smart_charging::Electrical;
use arus_domain::store::Role;
use arus_domain::store::StoredProfile;
use arus_domain::verify::Difference;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::page::Page;
use crate::{ApiState, Caller, Problem, store_error};

/// The longest window a composite schedule is computed for: 31 days.
const MAX_DURATION_S: i64 = 31 * 86_400;

/// The charging profiles a station holds, as far as Arus knows: those it installed and the
/// station accepted, and those the station reported (2.0.1 ReportChargingProfiles).
#[utoipa::path(get, operation_id = "listChargingProfiles", path = "/api/v1/stations/{id}/charging-profiles", tag = "smart charging",
    params(("id" = String, Path, description = "The station's identity")),
    responses((status = 200, body = Page<StoredProfile>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn profiles(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let store = &state.store;
    if store.station(&id).await.map_err(store_error)?.is_none() {
        return Err(Problem::not_found(format!("no station `{id}`")));
    }
    let items = store.charging_profiles(&id).await.map_err(store_error)?;
    Ok(axum::Json(Page {
        items,
        next_cursor: None,
    })
    .into_response())
}

/// Which composite schedule.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct CompositeQuery {
    /// The EVSE (1.6: the connector); 0 is the whole station (its grid connection).
    evse_id: Option<u32>,
    /// From when (RFC 3339); now when not given.
    start: Option<String>,
    /// For how many seconds (1 to 2,678,400: 31 days); a day when not given.
    duration: Option<i64>,
    /// `A` or `W` (default `A`).
    unit: Option<String>,
    /// `true`: also ask the station for its own (GetCompositeSchedule, from now; operator
    /// role) and show where the two differ.
    compare: Option<String>,
}

/// A period of a composite schedule (ChargingSchedulePeriodType).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PeriodView {
    /// Seconds from `scheduleStart`.
    start_period: i64,
    /// The limit in `chargingRateUnit`; `null` where nothing limits (no profile applies and
    /// the station's maximum is not registered).
    limit: Option<f64>,
    /// The phases, where the binding limit says.
    #[serde(skip_serializing_if = "Option::is_none")]
    number_phases: Option<u32>,
    /// What binds: a profile (its id and purpose) or the station's maximum.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    binding: Option<arus_domain::smart_charging::Binding>,
}

/// A composite schedule (CompositeScheduleType).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CompositeView {
    evse_id: u32,
    schedule_start: DateTime<Utc>,
    duration: i64,
    charging_rate_unit: ChargingRateUnit,
    charging_schedule_period: Vec<PeriodView>,
    /// With `compare`: what the station answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    station: Option<StationView>,
}

/// The station's own composite schedule, and where it differs from Arus's.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StationView {
    /// The command that asked it (`/api/v1/commands/{id}`).
    command_id: String,
    /// `Accepted` or `Rejected`, or why nothing came back (`notConnected`, `timeout`...).
    status: String,
    /// Its schedule, as it sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    schedule: Option<arus_domain::commands::CompositeSchedule>,
    /// Whether it holds the same limits as Arus computed, within 0.1 (A or W), over the window
    /// both cover.
    #[serde(skip_serializing_if = "Option::is_none")]
    matches: Option<bool>,
    /// Where they differ, in seconds from `scheduleStart`.
    differences: Vec<Difference>,
    /// Whether the station allows more than Arus computed anywhere: it lost or ignores a
    /// profile (load management finds this by itself, and sends the profiles again).
    #[serde(skip_serializing_if = "Option::is_none")]
    allows_more: Option<bool>,
}

/// The limit a station, or one of its EVSEs, is held to over a window, computed by Arus from
/// the profiles it holds (the merge a station performs: stack levels, purposes, validity,
/// recurrence, relative profiles from the transaction's start, the station's maximum), without
/// asking the station. Ask the station itself with the `getCompositeSchedule` command.
#[utoipa::path(get, operation_id = "compositeSchedule", path = "/api/v1/stations/{id}/composite-schedule", tag = "smart charging",
    params(("id" = String, Path, description = "The station's identity"), CompositeQuery),
    responses((status = 200, body = CompositeView, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn composite(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<CompositeQuery>,
) -> Result<Response, Problem> {
    let compare = crate::page::flag("compare", q.compare.as_deref())?.unwrap_or(false);
    if compare {
        caller.require(Role::Operator)?;
        if q.start.is_some() {
            return Err(Problem::bad_request(
                "`compare` asks the station for its schedule from now: give no `start`",
            ));
        }
    }
    let store = &state.store;
    let Some(station) = store.station(&id).await.map_err(store_error)? else {
        return Err(Problem::not_found(format!("no station `{id}`")));
    };
    let start = match q.start.as_deref() {
        None => Utc::now(),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|e| Problem::bad_request(format!("`start` is not an RFC 3339 time: {e}")))?
            .with_timezone(&Utc),
    };
    let duration = q.duration.unwrap_or(86_400);
    if !(1..=MAX_DURATION_S).contains(&duration) {
        return Err(Problem::bad_request(format!(
            "`duration` must be 1 to {MAX_DURATION_S} seconds"
        )));
    }
    let unit = match q.unit.as_deref() {
        None => ChargingRateUnit::A,
        Some(u) => ChargingRateUnit::parse(u)
            .ok_or_else(|| Problem::bad_request("`unit` must be A or W"))?,
    };
    let evse_id = q.evse_id.unwrap_or(0);
    let electrical = Electrical::of(&station.electrical, unit);
    let voltage = electrical.voltage;
    let periods = arus_domain::smart_charging::composite(
        store.as_ref(),
        &id,
        electrical,
        evse_id,
        start,
        duration,
        unit,
    )
    .await
    .map_err(store_error)?;
    let periods: Vec<PeriodView> = periods
        .into_iter()
        .map(|p| PeriodView {
            start_period: p.start_s,
            limit: p.limit.map(|l| (l * 10.0).round() / 10.0),
            number_phases: p.phases,
            binding: p.binding,
        })
        .collect();
    let station = if compare {
        let ours: Vec<(i64, Option<f64>)> =
            periods.iter().map(|p| (p.start_period, p.limit)).collect();
        Some(
            ask(
                &state, &caller, &id, evse_id, duration, unit, voltage, start, &ours,
            )
            .await?,
        )
    } else {
        None
    };
    Ok(axum::Json(CompositeView {
        evse_id,
        schedule_start: start,
        duration,
        charging_rate_unit: unit,
        charging_schedule_period: periods,
        station,
    })
    .into_response())
}

/// Asks the station for its composite schedule and compares it with `ours` (from `start`).
#[allow(clippy::too_many_arguments)]
async fn ask(
    state: &ApiState,
    caller: &Caller,
    station_id: &str,
    evse_id: u32,
    duration: i64,
    unit: ChargingRateUnit,
    voltage: f64,
    start: DateTime<Utc>,
    ours: &[(i64, Option<f64>)],
) -> Result<StationView, Problem> {
    let submitted = state
        .commander
        .submit(arus_domain::commander::Submission {
            station_id: station_id.to_string(),
            command: Command::GetCompositeSchedule(GetCompositeSchedule {
                evse_id,
                duration_s: duration,
                unit: Some(unit),
            }),
            requested_by: caller.name.clone(),
            idempotency_key: None,
            queue_until: None,
            bulk_id: None,
        })
        .await
        .map_err(crate::commands::submit_error)?;
    let mut record = submitted.record;
    if let Some(done) = submitted.done
        && let Ok(Ok(r)) = tokio::time::timeout(state.command_wait, done).await
    {
        record = r;
    }
    let answer = match &record.outcome {
        Some(Outcome::GetCompositeSchedule(o)) => Some(o.clone()),
        _ => None,
    };
    let Some(answer) = answer else {
        return Ok(StationView {
            command_id: record.id,
            status: record.status.as_str().to_string(),
            schedule: None,
            matches: None,
            differences: Vec::new(),
            allows_more: None,
        });
    };
    let differences = answer
        .schedule
        .as_ref()
        .map(|s| arus_domain::verify::compare(ours, s, start, unit, voltage, duration));
    let allows_more = differences
        .as_ref()
        .map(|d| d.iter().any(Difference::station_allows_more));
    Ok(StationView {
        command_id: record.id,
        status: answer.status.as_str().to_string(),
        schedule: answer.schedule,
        matches: differences.as_ref().map(Vec::is_empty),
        differences: differences.unwrap_or_default(),
        allows_more,
    })
}
