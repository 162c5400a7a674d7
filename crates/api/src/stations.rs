//! `/api/v1/stations`: registering stations and seeing them, with their EVSEs, connectors and
//! whether they are connected.

use arus_domain::availability::ConnectorRecord;
use arus_domain::link::Connection;
use arus_domain::provisioning::{RegistrationStatus, StationRecord};
use arus_domain::store::{Role, Write};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiState, Caller, Problem, store_error};

/// The body of `POST /api/v1/stations`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Register {
    /// The station's identity (its URL path segment and Basic user name).
    id: String,
    /// Its HTTP Basic password; without one the station connects without credentials.
    password: Option<String>,
    /// `Accepted` (default), `Pending` or `Rejected`: how its boots are answered.
    boot_policy: Option<String>,
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

pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Problem> {
    serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("invalid JSON body: {e}")))
}

pub(crate) async fn register(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(Role::Operator)?;
    let req: Register = parse(&body)?;
    check_id(&req.id)?;
    let boot_policy = match req.boot_policy.as_deref() {
        None => RegistrationStatus::Accepted,
        Some(p) => RegistrationStatus::parse(p).ok_or_else(|| {
            Problem::bad_request("`bootPolicy` must be Accepted, Pending or Rejected")
        })?,
    };
    let password_hash = match req.password {
        None => None,
        Some(p) if p.is_empty() || p.len() > 64 => {
            return Err(Problem::bad_request(
                "`password` must have 1 to 64 bytes (OCPP uses 16 to 40 characters)",
            ));
        }
        Some(p) => Some(
            tokio::task::spawn_blocking(move || arus_gateway::auth::hash_password(&p))
                .await
                .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
                .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e))?,
        ),
    };
    let store = state.csms.store();
    let existed = store.station(&req.id).await.map_err(store_error)?.is_some();
    store
        .commit(vec![Write::PutStation {
            id: req.id.clone(),
            password_hash,
            boot_policy,
            at: chrono::Utc::now(),
        }])
        .await
        .map_err(store_error)?;
    let body = detail(&state, &req.id).await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(body)).into_response())
}

pub(crate) async fn list(State(state): State<ApiState>) -> Result<Response, Problem> {
    let stations = state.csms.store().stations().await.map_err(store_error)?;
    let items: Vec<Value> = stations
        .iter()
        .map(|s| summary(s, state.link.connection(&s.id)))
        .collect();
    Ok(axum::Json(json!({ "items": items })).into_response())
}

pub(crate) async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(axum::Json(detail(&state, &id).await?).into_response())
}

async fn detail(state: &ApiState, id: &str) -> Result<Value, Problem> {
    let store = state.csms.store();
    let Some(station) = store.station(id).await.map_err(store_error)? else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("no station `{id}`"),
        ));
    };
    let connectors = store.connectors(id).await.map_err(store_error)?;
    let mut v = summary(&station, state.link.connection(id));
    let b = station.boot.as_ref();
    v["serialNumber"] = json!(b.and_then(|b| b.serial_number.clone()));
    v["firmwareVersion"] = json!(b.and_then(|b| b.firmware_version.clone()));
    v["iccid"] = json!(b.and_then(|b| b.iccid.clone()));
    v["imsi"] = json!(b.and_then(|b| b.imsi.clone()));
    v["meterType"] = json!(b.and_then(|b| b.meter_type.clone()));
    v["meterSerialNumber"] = json!(b.and_then(|b| b.meter_serial_number.clone()));
    v["bootReason"] = json!(b.and_then(|b| b.reason.clone()));
    v["status"] = json!(
        connectors
            .iter()
            .find(|c| c.evse_id == 0)
            .map(|c| c.status.as_str())
    );
    v["evses"] = evses(&connectors);
    Ok(v)
}

/// What the list shows of a station.
fn summary(s: &StationRecord, connection: Option<Connection>) -> Value {
    json!({
        "id": s.id,
        "connected": connection.is_some(),
        "connectedSince": connection.as_ref().map(|c| c.since),
        "ocppVersion": connection.map(|c| c.protocol).or_else(|| s.protocol.clone()),
        "vendor": s.boot.as_ref().map(|b| &b.vendor),
        "model": s.boot.as_ref().map(|b| &b.model),
        "registrationStatus": s.registration.map(|r| r.as_str()),
        "bootPolicy": s.boot_policy.as_str(),
        "hasPassword": s.password_hash.is_some(),
        "lastBootAt": s.booted_at,
        "lastSeenAt": s.last_seen_at,
        "createdAt": s.created_at,
    })
}

/// EVSEs (1 and up) with their connectors; EVSE 0 is the station itself (its `status`).
fn evses(connectors: &[ConnectorRecord]) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for c in connectors.iter().filter(|c| c.evse_id > 0) {
        let connector = json!({
            "id": c.connector_id,
            "status": c.status.as_str(),
            "errorCode": c.error_code,
            "info": c.info,
            "updatedAt": c.updated_at,
        });
        match out.last_mut() {
            Some(e) if e["id"] == json!(c.evse_id) => {
                if let Some(list) = e["connectors"].as_array_mut() {
                    list.push(connector);
                }
            }
            _ => out.push(json!({ "id": c.evse_id, "connectors": [connector] })),
        }
    }
    Value::Array(out)
}
