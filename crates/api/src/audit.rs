//! The audit log: every state-changing API request (who, when, what, and the result), recorded
//! before its response leaves, and `/api/v1/audit` to read it.

use arus_domain::store::{RecordKind, RecordQuery, Role, StoredRecord, Write};
use axum::Extension;
use axum::extract::{Query, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
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
    /// The response's status.
    status: u16,
    /// The resource it made or acted on, when the response names one (a command's location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<String>,
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
    let response = next.run(request).await;
    let (true, Some(caller)) = (changes, caller) else {
        return response;
    };
    let entry = AuditEntry {
        id: format!("{:013x}{:04x}", at.timestamp_micros(), next_suffix()),
        at,
        actor: caller.name.clone(),
        token_id: caller.token_id.clone(),
        role: caller.role.as_str().to_string(),
        method,
        path,
        status: response.status().as_u16(),
        location: response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let Ok(body) = serde_json::to_string(&entry) else {
        return response;
    };
    let write = Write::PutRecord(Box::new(StoredRecord {
        kind: RecordKind::Audit,
        id: entry.id.clone(),
        seq: 0,
        station_id: None,
        tag: Some(entry.token_id.clone()),
        status: Some(entry.status.to_string()),
        at,
        body,
    }));
    if let Err(e) = state.csms.store().commit(vec![write]).await {
        // The change happened; failing the response would invite a retry of it.
        tracing::error!(error = %e, method = %entry.method, path = %entry.path, "the audit log could not record a request");
    }
    response
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
