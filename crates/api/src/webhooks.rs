//! `/api/v1/webhooks`: subscriptions to the event stream, their deliveries, and retrying dead
//! ones. Admin only: a webhook sends data out of the system.

use arus_domain::events::Event;
use arus_domain::store::Role;
use arus_webhooks::{Delivery, DeliveryStatus, Error, Subscription};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::page::{Page, PageQuery};
use crate::stations::parse;
use crate::{ApiState, Caller, Problem, store_error};

/// A subscription to make.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewWebhook {
    /// Where to POST the events (http or https).
    #[schema(
        max_length = 2048,
        pattern = "^https?://[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?([/?#][!-~]*)?$"
    )]
    url: String,
    /// The HMAC key of the `Arus-Signature` header; generated when absent.
    #[schema(min_length = 16, max_length = 256)]
    secret: Option<String>,
    /// Only these event types (all when absent).
    #[serde(default)]
    #[schema(value_type = Vec<EventType>)]
    types: Vec<String>,
    /// Only these stations' events (all when absent).
    #[serde(default)]
    station_ids: Vec<String>,
    /// A note for people.
    #[schema(max_length = 200)]
    description: Option<String>,
}

/// The event types.
#[derive(utoipa::ToSchema)]
#[schema(as = EventType)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub(crate) enum EventType {
    StationConnected,
    StationDisconnected,
    Boot,
    StatusChanged,
    Transaction,
    MeterValues,
    Command,
    FirmwareStatus,
    LogStatus,
    SecurityEvent,
    Notice,
}

/// A subscription as listed (without its secret).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebhookView {
    id: String,
    url: String,
    types: Vec<String>,
    station_ids: Vec<String>,
    description: Option<String>,
    created_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

fn view(s: Subscription) -> WebhookView {
    WebhookView {
        id: s.id,
        url: s.url,
        types: s.types,
        station_ids: s.station_ids,
        description: s.description,
        created_at: s.created_at,
        deleted_at: s.deleted_at,
    }
}

fn error(e: Error) -> Problem {
    match e {
        Error::Invalid(s) => Problem::bad_request(s),
        Error::Url(ref source) => Problem::bad_request(format!("{e}: {source}")),
        Error::Store(e) => store_error(e),
        Error::Client(_) | Error::Random(_) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Error::Encode(_) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Subscribes an endpoint to events (admin). The answer holds the secret, shown only now.
#[utoipa::path(post, operation_id = "createWebhook", path = "/api/v1/webhooks", tag = "events", request_body = NewWebhook,
    responses((status = 201, body = Subscription, description = "Created"), crate::openapi::Errors))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    let req: NewWebhook = parse(&body)?;
    if req.url.len() > 2048 {
        return Err(Problem::bad_request("`url` has at most 2048 bytes"));
    }
    if let Some(bad) = req
        .types
        .iter()
        .find(|t| !Event::KINDS.contains(&t.as_str()))
    {
        return Err(Problem::bad_request(format!(
            "unknown event type `{bad}`; the types are {}",
            Event::KINDS.join(", ")
        )));
    }
    if req
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 200)
    {
        return Err(Problem::bad_request(
            "`description` has at most 200 characters",
        ));
    }
    let s = state
        .webhooks
        .subscribe(
            req.url,
            req.secret,
            req.types,
            req.station_ids,
            req.description,
        )
        .await
        .map_err(error)?;
    let id = s.id.clone();
    Ok(crate::audit::made(
        (StatusCode::CREATED, axum::Json(s)).into_response(),
        "webhook",
        &id,
    ))
}

/// Lists subscriptions, deleted ones included (admin).
#[utoipa::path(get, operation_id = "listWebhooks", path = "/api/v1/webhooks", tag = "events",
    responses((status = 200, body = Page<WebhookView>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    let items = state
        .webhooks
        .subscriptions()
        .into_iter()
        .map(view)
        .collect();
    Ok(axum::Json(Page {
        items,
        next_cursor: None,
    })
    .into_response())
}

/// Deletes a subscription (admin): nothing more is delivered to it.
#[utoipa::path(delete, operation_id = "deleteWebhook", path = "/api/v1/webhooks/{webhookId}", tag = "events",
    params(("webhookId" = String, Path, description = "The subscription's id")),
    responses((status = 200, body = WebhookView, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    match state.webhooks.unsubscribe(&id).await.map_err(error)? {
        Some(s) => Ok(axum::Json(view(s)).into_response()),
        None => Err(Problem::not_found(format!("no webhook `{id}`"))),
    }
}

/// Filters of the delivery list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryQuery {
    /// Only `pending`, `delivered` or `dead` deliveries.
    #[param(value_type = Option<DeliveryStatus>)]
    status: Option<String>,
}

/// A subscription's deliveries, newest first (admin); `status=dead` is the dead-letter list.
#[utoipa::path(get, operation_id = "listDeliveries", path = "/api/v1/webhooks/{webhookId}/deliveries", tag = "events",
    params(("webhookId" = String, Path, description = "The subscription's id"), DeliveryQuery, PageQuery),
    responses((status = 200, body = Page<Delivery>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn deliveries(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<DeliveryQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    let limit = paging.limit()?;
    let status = match q.status.as_deref() {
        None => None,
        Some("pending") => Some(DeliveryStatus::Pending),
        Some("delivered") => Some(DeliveryStatus::Delivered),
        Some("dead") => Some(DeliveryStatus::Dead),
        Some(_) => {
            return Err(Problem::bad_request(
                "`status` is pending, delivered or dead",
            ));
        }
    };
    if !state.webhooks.subscriptions().iter().any(|s| s.id == id) {
        return Err(Problem::not_found(format!("no webhook `{id}`")));
    }
    let rows = state
        .webhooks
        .deliveries(&id, status, paging.before()?, limit)
        .await
        .map_err(error)?;
    Ok(axum::Json(Page::placed(rows, limit)).into_response())
}

/// Sends a dead delivery again (admin).
#[utoipa::path(post, operation_id = "retryDelivery", path = "/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/retry", tag = "events",
    params(("webhookId" = String, Path, description = "The subscription's id"),
        ("deliveryId" = String, Path, description = "The delivery's id")),
    responses((status = 200, body = Delivery, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn retry(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    match state.webhooks.retry(&id, &delivery).await.map_err(error)? {
        Some(d) => Ok(axum::Json(d).into_response()),
        None => Err(Problem::not_found(format!(
            "no delivery `{delivery}` of webhook `{id}`"
        ))),
    }
}
