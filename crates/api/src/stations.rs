//! `/api/v1/stations`: registering stations and seeing them, with their EVSEs, connectors and
//! whether they are connected.

use arus_domain::availability::ConnectorRecord;
use arus_domain::link::Connection;
use arus_domain::provisioning::{RegistrationStatus, StationRecord};
use arus_domain::store::{Role, Write};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::page::{self, Page};
use crate::{ApiState, Caller, Problem, store_error};

/// The body of `POST /api/v1/stations`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Register {
    /// The station's identity (its URL path segment and Basic user name): no colon, slash or
    /// control character.
    #[schema(
        min_length = 1,
        max_length = 48,
        pattern = "^[^:/\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    id: String,
    /// Its HTTP Basic password. A new station registered without one connects without
    /// credentials; re-registering without one keeps the password it has (remove it with
    /// `DELETE /api/v1/stations/{id}/password`).
    #[schema(min_length = 1, max_length = 64)]
    password: Option<String>,
    /// `Accepted`, `Pending` or `Rejected`: how its boots are answered. A new station is
    /// `Accepted` unless told; re-registering without it keeps the policy it has.
    #[schema(pattern = "^(Accepted|Pending|Rejected)$")]
    boot_policy: Option<String>,
    /// The most current per phase it delivers, in A: what limits it where no charging profile
    /// does. Re-registering without it keeps the value it has.
    #[schema(minimum = 0)]
    max_current_a: Option<f64>,
    /// The most power it delivers, in W (all phases together).
    #[schema(minimum = 0)]
    max_power_w: Option<f64>,
    /// Its nominal voltage, phase to neutral, in V (230 when never set): converts between
    /// amperes and watts.
    #[schema(minimum = 1)]
    voltage_v: Option<f64>,
}

/// The longest station id: OCPP 2.0.1 identities are at most 48 characters.
const MAX_ID: usize = 48;

fn check_id(id: &str) -> Result<(), Problem> {
    if id.is_empty() || id.chars().count() > MAX_ID {
        return Err(Problem::bad_request(format!(
            "`id` must have 1 to {MAX_ID} characters"
        )));
    }
    // The id is the Basic user name (no colon) and a URL path segment (no slash).
    if id.chars().any(|c| c.is_control() || c == ':' || c == '/') {
        return Err(Problem::bad_request(
            "`id` must not contain a colon, a slash or control characters",
        ));
    }
    Ok(())
}

/// A JSON body as `T`. Numbers with no fraction (`108.0`) count as integers, as JSON Schema
/// says they are.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Problem> {
    let mut value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("invalid JSON body: {e}")))?;
    integral(&mut value);
    serde_json::from_value(value)
        .map_err(|e| Problem::bad_request(format!("invalid JSON body: {e}")))
}

fn integral(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                // Exact: within 2^53, and without a fraction.
                *v = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(integral),
        serde_json::Value::Object(o) => o.values_mut().for_each(integral),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_read_as_integers_and_others_stay() {
        #[derive(serde::Deserialize)]
        struct T {
            n: u32,
            x: f64,
        }
        let t: T = parse(&Bytes::from_static(br#"{"n": 108.0, "x": 1.5}"#)).expect("parses");
        assert_eq!((t.n, t.x), (108, 1.5));
        assert!(parse::<T>(&Bytes::from_static(br#"{"n": 1.5, "x": 1}"#)).is_err());
    }
}

/// Registers a station, or changes its password and boot policy.
#[utoipa::path(post, operation_id = "registerStation", path = "/api/v1/stations", tag = "stations", request_body = Register,
    responses((status = 201, body = StationDetail, description = "Registered"),
        (status = 200, body = StationDetail, description = "Updated"), crate::openapi::Errors))]
pub(crate) async fn register(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let req: Register = parse(&body)?;
    check_id(&req.id)?;
    let boot_policy = match req.boot_policy.as_deref() {
        None => None,
        Some(p) => Some(RegistrationStatus::parse(p).ok_or_else(|| {
            Problem::bad_request("`bootPolicy` must be Accepted, Pending or Rejected")
        })?),
    };
    let password_hash = match req.password {
        None => None,
        Some(p) if p.is_empty() || p.len() > 64 => {
            return Err(Problem::bad_request(
                "`password` must have 1 to 64 bytes (OCPP uses 16 to 40 characters)",
            ));
        }
        Some(p) => Some(
            tokio::task::spawn_blocking(move || arus_credentials::hash(p.as_bytes()))
                .await
                .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
                .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
        ),
    };
    for (name, v, least) in [
        ("maxCurrentA", req.max_current_a, 0.0),
        ("maxPowerW", req.max_power_w, 0.0),
        ("voltageV", req.voltage_v, 1.0),
    ] {
        if v.is_some_and(|v| !(v.is_finite() && v >= least)) {
            return Err(Problem::bad_request(format!(
                "`{name}` must be a number ≥ {least}"
            )));
        }
    }
    let store = &state.store;
    let existing = store.station(&req.id).await.map_err(store_error)?;
    // What the request does not name stays as it is.
    let (kept_hash, kept_policy) = existing.as_ref().map_or((None, None), |s| {
        (s.password_hash.clone(), Some(s.boot_policy))
    });
    let kept = existing.as_ref().map(|s| s.electrical).unwrap_or_default();
    let electrical = arus_domain::provisioning::Electrical {
        max_current_a: req.max_current_a.or(kept.max_current_a),
        max_power_w: req.max_power_w.or(kept.max_power_w),
        voltage_v: req.voltage_v.or(kept.voltage_v),
    };
    store
        .commit(vec![
            Write::PutStation {
                id: req.id.clone(),
                password_hash: password_hash.or(kept_hash),
                boot_policy: boot_policy
                    .or(kept_policy)
                    .unwrap_or(RegistrationStatus::Accepted),
                // Registered by an operator: adopted, never removed by retention.
                self_registered: false,
                at: chrono::Utc::now(),
            },
            Write::StationElectrical {
                id: req.id.clone(),
                electrical,
            },
        ])
        .await
        .map_err(store_error)?;
    let existed = existing.is_some();
    let body = axum::Json(detail(&state, &req.id).await?);
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(crate::audit::made(
        (status, body).into_response(),
        "station",
        &req.id,
    ))
}

/// A station as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StationSummary {
    /// Its identity.
    id: String,
    /// Whether it is connected now.
    connected: bool,
    /// Since when.
    connected_since: Option<DateTime<Utc>>,
    /// The OCPP version it speaks (or spoke last).
    ocpp_version: Option<String>,
    /// Its vendor, from its last boot.
    vendor: Option<String>,
    /// Its model.
    model: Option<String>,
    /// The answer to its last boot.
    registration_status: Option<String>,
    /// How its boots are answered.
    boot_policy: String,
    /// Whether it must give a password.
    has_password: bool,
    /// When it last booted.
    last_boot_at: Option<DateTime<Utc>>,
    /// When it was last heard from.
    last_seen_at: Option<DateTime<Utc>>,
    /// When it was registered.
    created_at: DateTime<Utc>,
}

/// A station with its EVSEs and connectors.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StationDetail {
    #[serde(flatten)]
    summary: StationSummary,
    serial_number: Option<String>,
    firmware_version: Option<String>,
    iccid: Option<String>,
    imsi: Option<String>,
    meter_type: Option<String>,
    meter_serial_number: Option<String>,
    /// Why it last booted (2.0.1).
    boot_reason: Option<String>,
    /// The status of the station as a whole (EVSE 0).
    status: Option<String>,
    /// What the operator registered of its electrical side.
    electrical: arus_domain::provisioning::Electrical,
    /// Its EVSEs.
    evses: Vec<EvseView>,
}

/// An EVSE.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EvseView {
    id: u32,
    connectors: Vec<ConnectorView>,
}

/// A connector and its last status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectorView {
    id: u32,
    status: String,
    error_code: Option<String>,
    info: Option<String>,
    updated_at: DateTime<Utc>,
}

/// Filters of the station list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only connected (true) or disconnected (false) stations.
    #[param(value_type = Option<bool>)]
    connected: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// Lists stations, ordered by id.
#[utoipa::path(get, operation_id = "listStations", path = "/api/v1/stations", tag = "stations", params(ListQuery),
    responses((status = 200, body = Page<StationSummary>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, Problem> {
    let limit = page::limit(q.limit.as_deref())?;
    let connected = page::flag("connected", q.connected.as_deref())?;
    let mut stations = state.store.stations().await.map_err(store_error)?;
    stations.sort_by(|a, b| a.id.cmp(&b.id));
    let items: Vec<StationSummary> = stations
        .iter()
        .filter(|s| q.cursor.as_deref().is_none_or(|c| s.id.as_str() > c))
        .map(|s| summary(s, state.link.connection(&s.id)))
        .filter(|s| connected.is_none_or(|c| s.connected == c))
        .take(limit as usize)
        .collect();
    Ok(axum::Json(Page::of(items, limit, |s| s.id.clone())).into_response())
}

/// Removes a station's password: from its next connection it connects without credentials
/// (security profile 1 without Basic authentication, for closed networks only).
#[utoipa::path(delete, operation_id = "removeStationPassword", path = "/api/v1/stations/{id}/password", tag = "stations",
    params(("id" = String, Path, description = "The station's identity")),
    responses((status = 200, body = StationDetail, description = "Removed"), crate::openapi::Errors))]
pub(crate) async fn remove_password(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let store = &state.store;
    let Some(station) = store.station(&id).await.map_err(store_error)? else {
        return Err(Problem::not_found(format!("no station `{id}`")));
    };
    store
        .commit(vec![Write::PutStation {
            id: id.clone(),
            password_hash: None,
            boot_policy: station.boot_policy,
            self_registered: false,
            at: chrono::Utc::now(),
        }])
        .await
        .map_err(store_error)?;
    Ok(axum::Json(detail(&state, &id).await?).into_response())
}

/// Shows a station with its EVSEs and connectors.
#[utoipa::path(get, operation_id = "getStation", path = "/api/v1/stations/{id}", tag = "stations",
    params(("id" = String, Path, description = "The station's identity")),
    responses((status = 200, body = StationDetail, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(axum::Json(detail(&state, &id).await?).into_response())
}

async fn detail(state: &ApiState, id: &str) -> Result<StationDetail, Problem> {
    let store = &state.store;
    let Some(station) = store.station(id).await.map_err(store_error)? else {
        return Err(Problem::not_found(format!("no station `{id}`")));
    };
    let connectors = store.connectors(id).await.map_err(store_error)?;
    let b = station.boot.as_ref();
    Ok(StationDetail {
        summary: summary(&station, state.link.connection(id)),
        serial_number: b.and_then(|b| b.serial_number.clone()),
        firmware_version: b.and_then(|b| b.firmware_version.clone()),
        iccid: b.and_then(|b| b.iccid.clone()),
        imsi: b.and_then(|b| b.imsi.clone()),
        meter_type: b.and_then(|b| b.meter_type.clone()),
        meter_serial_number: b.and_then(|b| b.meter_serial_number.clone()),
        boot_reason: b.and_then(|b| b.reason.clone()),
        status: connectors
            .iter()
            .find(|c| c.evse_id == 0)
            .map(|c| c.status.as_str().to_string()),
        electrical: station.electrical,
        evses: evses(&connectors),
    })
}

/// What the list shows of a station.
fn summary(s: &StationRecord, connection: Option<Connection>) -> StationSummary {
    StationSummary {
        id: s.id.clone(),
        connected: connection.is_some(),
        connected_since: connection.as_ref().map(|c| c.since),
        ocpp_version: connection
            .map(|c| c.protocol)
            .or_else(|| s.protocol.clone()),
        vendor: s.boot.as_ref().map(|b| b.vendor.clone()),
        model: s.boot.as_ref().map(|b| b.model.clone()),
        registration_status: s.registration.map(|r| r.as_str().to_string()),
        boot_policy: s.boot_policy.as_str().to_string(),
        has_password: s.password_hash.is_some(),
        last_boot_at: s.booted_at,
        last_seen_at: s.last_seen_at,
        created_at: s.created_at,
    }
}

/// EVSEs (1 and up) with their connectors; EVSE 0 is the station itself (its `status`).
fn evses(connectors: &[ConnectorRecord]) -> Vec<EvseView> {
    let mut out: Vec<EvseView> = Vec::new();
    for c in connectors.iter().filter(|c| c.evse_id > 0) {
        let connector = ConnectorView {
            id: c.connector_id,
            status: c.status.as_str().to_string(),
            error_code: c.error_code.clone(),
            info: c.info.clone(),
            updated_at: c.updated_at,
        };
        match out.last_mut() {
            Some(e) if e.id == c.evse_id => e.connectors.push(connector),
            _ => out.push(EvseView {
                id: c.evse_id,
                connectors: vec![connector],
            }),
        }
    }
    out
}
