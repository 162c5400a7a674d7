//! The operator HTTP API.
//!
//! # Layout
//!
//! - [`router`]: every route, with bearer-token authentication and the audit log on
//!   `/api/v1`.
//! - `openapi`: the OpenAPI 3.1 document generated from the handlers (`/api/v1/openapi.json`)
//!   and the interactive docs (`/api/docs`).
//! - `problem`: RFC 9457 problem+json errors; `page`: keyset pagination.
//! - `stations`, `frames`, `variables` (the device model), `id_tokens`, `transactions`: one
//!   module per resource.
//! - `commands`: every CSMS-initiated operation (through the domain's `Commander`) and the
//!   command records; `bulk`: one command for many stations.
//! - `tokens`, `audit`: API tokens with roles, and the record of every state-changing call.
//! - `events`: the live event stream (Server-Sent Events, resumable); `webhooks`: the
//!   subscriptions that `arus-webhooks` delivers.
//!
//! JSON is camelCase, as in OCPP. The API reaches stations only through the domain's ports
//! (the store, and the [`StationLink`] the gateway implements); it never touches a socket.
//!
//! # Invariants
//!
//! - Every `/api/v1` request carries a valid, unrevoked token (checked against the store on
//!   each request, so a revocation takes effect at once); tokens are stored as SHA-256 hashes
//!   only. Reading needs `read-only`, changing needs `operator`, tokens and the audit log need
//!   `admin`.
//! - Every state-changing request is in the audit log before its response leaves.
//! - Input that the OCPP wire could not carry (an id token longer than 36 characters, a
//!   station id with a colon) is refused here, so that what stations receive is always valid.

mod audit;
mod bulk;
mod charging;
mod commands;
mod events;
mod frames;
mod id_tokens;
mod models;
mod needs;
pub mod openapi;
mod page;
mod problem;
mod sites;
mod stations;
mod tokens;
mod transactions;
mod variables;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use arus_domain::Csms;
use arus_domain::commander::Commander;
use arus_domain::link::StationLink;
use arus_domain::store::{Role, StoreError};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use sha2::{Digest, Sha256};

pub use problem::Problem;
pub use tokens::new_token;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The domain service.
    pub csms: Arc<Csms>,
    /// The store as operators read it: the domain's store with read capacity of its own
    /// ([`Store::operator_view`](arus_domain::store::Store::operator_view)), so that API reads
    /// never take the station path's.
    pub store: Arc<dyn arus_domain::store::Store>,
    /// Who is connected.
    pub link: Arc<dyn StationLink>,
    /// Sends commands and keeps their records.
    pub commander: Arc<Commander>,
    /// Webhook subscriptions and deliveries.
    pub webhooks: Arc<arus_webhooks::Webhooks>,
    /// How long a command waits for the station's answer unless the caller says otherwise.
    pub command_wait: Duration,
    /// Tells open event streams that a token was revoked.
    pub revocations: Revocations,
    /// What load management shares: what it has seen the cars draw, and word of changed
    /// sites.
    pub load: Arc<arus_domain::load::LoadShared>,
}

/// Tells open event streams that a token was revoked here, so that each checks its own at
/// once (they also check every [`events::RECHECK`], for revocations made by another node).
#[derive(Debug, Clone)]
pub struct Revocations(Arc<tokio::sync::watch::Sender<u64>>);

impl Default for Revocations {
    fn default() -> Revocations {
        Revocations(Arc::new(tokio::sync::watch::channel(0).0))
    }
}

impl Revocations {
    fn revoked(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// The SHA-256 of an API token, hex: the only form in which tokens are stored.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The id of a token: the first 16 hex digits of its hash (enough to tell tokens apart, too
/// few to help find the token).
pub fn token_id(hash: &str) -> String {
    hash.chars().take(16).collect()
}

/// All routes.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/stations", get(stations::list).post(stations::register))
        .route("/stations/{id}", get(stations::show))
        .route("/stations/{id}/password", delete(stations::remove_password))
        .route("/stations/{id}/frames", get(frames::list))
        .route("/stations/{id}/variables", get(variables::list))
        .route("/stations/{id}/charging-profiles", get(charging::profiles))
        .route(
            "/stations/{id}/composite-schedule",
            get(charging::composite),
        )
        .route("/station-models", get(models::list).post(models::put))
        .route("/sites", get(sites::list).post(sites::put))
        .route("/sites/{id}", get(sites::show).delete(sites::delete))
        .route("/sites/{id}/allocation", get(sites::live))
        .route("/sites/{id}/load", get(sites::load))
        .route("/sites/{id}/allocation/preview", post(sites::preview))
        .route("/sites/{id}/plan", get(sites::plan))
        .route(
            "/sites/{id}/groups/{group}/other-load",
            get(sites::other_load).put(sites::put_other_load),
        )
        .route("/sites/{id}/plan/preview", post(sites::plan_preview))
        .route("/id-tokens", post(id_tokens::put))
        .route("/id-tokens/{token}", get(id_tokens::show))
        .route("/transactions", get(transactions::list))
        .route(
            "/stations/{id}/transactions/{transaction_id}/meter-values",
            get(transactions::meter_values),
        )
        .route(
            "/stations/{id}/transactions/{transaction_id}/charging-needs",
            get(needs::show).put(needs::put),
        )
        .route("/commands", get(commands::list))
        .route("/bulk", get(bulk::list).post(bulk::start))
        .route("/bulk/{id}", get(bulk::show))
        .route("/commands/{id}", get(commands::show))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route("/audit", get(audit::list))
        .route("/events", get(events::stream))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/{id}", delete(webhooks::delete))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/webhooks/{id}/deliveries/{delivery}/retry",
            post(webhooks::retry),
        )
        .merge(commands::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), audit::record))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .route("/openapi.json", get(openapi_json))
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this resource does not take that method",
            )
        })
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "no such resource") });
    // The docs page reads the document from its own route (served without a token).
    let docs: Router<ApiState> = utoipa_swagger_ui::SwaggerUi::new("/api/docs")
        .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json"))
        .into();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/api/v1", api.layer(middleware::map_response(as_problem)))
        .merge(docs)
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "no such resource") })
        .with_state(state)
}

/// Errors that the framework answers itself (a query or path it cannot read, a body too
/// large) become problem details like every other error of the API.
async fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let detail = String::from_utf8_lossy(&body).trim().to_string();
    let detail = if detail.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        detail
    };
    Problem::new(status, detail).into_response()
}

async fn openapi_json() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOC.get_or_init(openapi::json);
    ([(header::CONTENT_TYPE, "application/json")], body.as_str()).into_response()
}

/// Who makes the request: their token's role, name and id.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub role: Role,
    pub name: String,
    pub token_id: String,
    /// The hash of the token, to check later whether it was revoked.
    pub hash: String,
}

impl Caller {
    pub(crate) fn require(&self, role: Role) -> Result<(), Problem> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!("this needs a token with the {} role", role.as_str()),
            ))
        }
    }
}

async fn authenticate(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
    let Some(token) = token else {
        return unauthorized("an `Authorization: Bearer TOKEN` header is required");
    };
    match state.store.api_token(&token_hash(&token)).await {
        Ok(Some(t)) if t.revoked_at.is_none() => {
            request.extensions_mut().insert(Caller {
                role: t.role,
                token_id: token_id(&t.hash),
                name: t.name,
                hash: t.hash,
            });
            next.run(request).await
        }
        Ok(_) => unauthorized("unknown or revoked token"),
        Err(e) => store_error(e).into_response(),
    }
}

fn unauthorized(detail: &str) -> Response {
    let mut r = Problem::new(StatusCode::UNAUTHORIZED, detail).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

pub(crate) fn store_error(e: StoreError) -> Problem {
    tracing::error!(error = %e, "store error in the API");
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
}

/// The body of a healthy answer: `{"status":"ok"}`.
#[derive(serde::Serialize)]
struct Health {
    status: &'static str,
}

/// 200 when the store answers and its writes commit; 503 with the reason otherwise (a store
/// that reads but cannot commit cannot take a station's transaction either).
async fn healthz(State(state): State<ApiState>) -> Response {
    if let Some(problem) = state.store.write_problem() {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("storage cannot commit writes: {problem}"),
        )
        .into_response();
    }
    let check = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.store.api_token_count(),
    )
    .await;
    match check {
        Ok(Ok(_)) => (StatusCode::OK, axum::Json(Health { status: "ok" })).into_response(),
        _ => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response(),
    }
}

async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        arus_telemetry::metrics().render(),
    )
        .into_response()
}
