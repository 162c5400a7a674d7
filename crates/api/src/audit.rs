//! The audit log: every state-changing API request (who, when, what it acted on, and the
//! result), and `/api/v1/audit` to read it.
//!
//! # Invariants
//!
//! - Nothing changes without an entry: the entry is committed *before* the handler runs (without
//!   a status); if it cannot be, the request fails with 503 and the handler does not run. Once
//!   the response is known the entry is completed with its status and what the request made;
//!   if that second write fails the change stands (failing the response would invite a retry
//!   of it) and the entry keeps naming the request, without a status.
//! - An entry names the objects acted on: those in the path (`/stations/{id}/...` is the
//!   station), the one the response's `Location` names (a command, a bulk operation), and the
//!   one a handler made ([`made`]).

use arus_domain::store::{RecordKind, RecordQuery, Role, StoredRecord, Write};
use axum::Extension;
use axum::extract::{Query, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::page::{self, Page, PageQuery};
use crate::{ApiState, Caller, Problem};

/// An audit entry.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditEntry {
    /// Its id.
    id: String,
    /// When the request came.
    at: DateTime<Utc>,
    /// The token's name.
    actor: String,
    /// The token's id.
    token_id: String,
    /// The token's role.
    role: String,
    /// The request's method.
    method: String,
    /// The request's path and query.
    path: String,
    /// The response's status; absent while the request runs, and if its outcome could not be
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// The resource it made or acted on, when the response names one (a command's location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    /// What it acted on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    objects: Vec<Object>,
}

/// An object a request acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Object {
    /// What it is: `station`, `command`, `bulk`, `token`, `idToken`, `webhook`, `delivery`.
    kind: String,
    /// Its id.
    id: String,
}

/// What a handler made, for the audit entry (a response extension: see [`made`]).
#[derive(Debug, Clone)]
pub(crate) struct Made(&'static str, String);

/// Names in `response` the object a handler made, whose id is in neither the path nor a
/// `Location` header.
pub(crate) fn made(mut response: Response, kind: &'static str, id: &str) -> Response {
    response.extensions_mut().insert(Made(kind, id.to_string()));
    response
}

/// The kind of object a path segment holding an id names, from the segment before it.
fn kind_of(collection: &str, param: &str) -> Option<&'static str> {
    Some(match (collection, param) {
        ("stations", _) => "station",
        ("commands", "id") => "command",
        ("bulk", _) => "bulk",
        ("tokens", _) => "token",
        ("id-tokens", _) => "idToken",
        ("webhooks", _) => "webhook",
        ("sites", _) => "site",
        ("deliveries", _) => "delivery",
        _ => return None,
    })
}

/// The objects a path names: `pattern` is the route (`/api/v1/stations/{id}/password`), `path`
/// the path requested.
fn objects_in_path(pattern: &str, path: &str) -> Vec<Object> {
    let (pattern, path): (Vec<&str>, Vec<&str>) =
        (pattern.split('/').collect(), path.split('/').collect());
    // A pattern without the prefix the router is nested under matches the path's end.
    let Some(skip) = path.len().checked_sub(pattern.len()) else {
        return Vec::new();
    };
    let path = &path[skip..];
    let mut out = Vec::new();
    for i in 1..pattern.len() {
        let Some(param) = pattern[i]
            .strip_prefix('{')
            .and_then(|p| p.strip_suffix('}'))
        else {
            continue;
        };
        if let Some(kind) = kind_of(pattern[i - 1], param) {
            let id = percent_decode(path[i]);
            out.push(Object {
                kind: kind.into(),
                id,
            });
        }
    }
    out
}

/// A path segment as sent, percent-decoded (station ids may hold any character).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The object a `Location` header names (`/api/v1/commands/{id}`, `/api/v1/bulk/{id}`).
fn object_at(location: &str) -> Option<Object> {
    let rest = location.strip_prefix("/api/v1/")?;
    let (collection, id) = rest.split_once('/')?;
    let kind = kind_of(collection, "id")?;
    Some(Object {
        kind: kind.into(),
        id: percent_decode(id),
    })
}

/// Records a state-changing request once its response is known.
pub(crate) async fn record(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let caller = request.extensions().get::<Caller>().cloned();
    let (method, path) = (
        request.method().to_string(),
        // The nested router sees the path without `/api/v1`; record the one the caller sent.
        request
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map(|u| &u.0)
            .unwrap_or(request.uri())
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
    );
    let at = Utc::now();
    let (true, Some(caller)) = (changes, caller) else {
        return next.run(request).await;
    };
    let objects = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| objects_in_path(m.as_str(), path.split('?').next().unwrap_or_default()))
        .unwrap_or_default();
    let mut entry = AuditEntry {
        id: format!("{:013x}{:04x}", at.timestamp_micros(), next_suffix()),
        at,
        actor: caller.name.clone(),
        token_id: caller.token_id.clone(),
        role: caller.role.as_str().to_string(),
        method,
        path,
        status: None,
        location: None,
        objects,
    };
    // Nothing changes unless the log can say so.
    if let Err(e) = commit(&state, &entry).await {
        tracing::error!(error = %e, method = %entry.method, path = %entry.path, "the audit log cannot record a request; it is refused");
        return Problem::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("the audit log cannot record this request, so it was not carried out: {e}"),
        )
        .into_response();
    }
    let response = next.run(request).await;
    entry.status = Some(response.status().as_u16());
    entry.location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let named = entry.location.as_deref().and_then(object_at);
    let made = response
        .extensions()
        .get::<Made>()
        .map(|Made(kind, id)| Object {
            kind: (*kind).into(),
            id: id.clone(),
        });
    for o in named.into_iter().chain(made) {
        if !entry.objects.contains(&o) {
            entry.objects.push(o);
        }
    }
    if let Err(e) = commit(&state, &entry).await {
        // The change happened; failing the response would invite a retry of it. The entry
        // recorded before still names the request.
        tracing::error!(error = %e, method = %entry.method, path = %entry.path, "the audit log could not record a request's outcome");
    }
    response
}

/// Writes (or completes) an entry.
async fn commit(state: &ApiState, entry: &AuditEntry) -> Result<(), String> {
    let body = serde_json::to_string(entry).map_err(|e| e.to_string())?;
    let station_id = entry
        .objects
        .iter()
        .find(|o| o.kind == "station")
        .map(|o| o.id.clone());
    let write = Write::PutRecord(Box::new(StoredRecord {
        kind: RecordKind::Audit,
        id: entry.id.clone(),
        seq: 0,
        station_id,
        tag: Some(entry.token_id.clone()),
        status: entry.status.map(|s| s.to_string()),
        at: entry.at,
        body,
    }));
    state
        .store
        .commit(vec![write])
        .await
        .map_err(|e| e.to_string())
}

/// Tells apart entries of the same microsecond.
fn next_suffix() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Filters of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only requests made with this token (its id).
    token_id: Option<String>,
}

/// Reads the audit log, newest first (admin).
#[utoipa::path(get, operation_id = "listAudit", path = "/api/v1/audit", tag = "access", params(ListQuery, PageQuery),
    responses((status = 200, body = Page<AuditEntry>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    let mut query = RecordQuery::of(RecordKind::Audit, paging.limit()?);
    query.tag = q.token_id;
    query.before = paging.before()?;
    page::records(&state, query, |r| {
        serde_json::from_str::<AuditEntry>(&r.body).ok()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(kind: &str, id: &str) -> Object {
        Object {
            kind: kind.into(),
            id: id.into(),
        }
    }

    #[test]
    fn entries_name_what_the_path_and_location_name() {
        assert_eq!(
            objects_in_path(
                "/api/v1/stations/{id}/commands/{name}",
                "/api/v1/stations/CS%2F1/commands/reset"
            ),
            [o("station", "CS/1")]
        );
        assert_eq!(
            objects_in_path(
                "/api/v1/webhooks/{id}/deliveries/{delivery}/retry",
                "/api/v1/webhooks/w1/deliveries/d2/retry"
            ),
            [o("webhook", "w1"), o("delivery", "d2")]
        );
        assert_eq!(
            objects_in_path("/tokens/{id}", "/api/v1/tokens/ab12"),
            [o("token", "ab12")]
        );
        assert_eq!(object_at("/api/v1/commands/c9"), Some(o("command", "c9")));
        assert_eq!(object_at("/api/v1/bulk/b1"), Some(o("bulk", "b1")));
        assert_eq!(object_at("https://elsewhere/x"), None);
    }
}
