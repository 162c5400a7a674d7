//! The operator HTTP API.
//!
//! # Layout
//!
//! - [`router`]: every route, with bearer-token authentication on `/api/v1`.
//! - `problem`: RFC 9457 problem+json errors.
//! - `stations`, `frames`, `id_tokens`, `transactions`: one module per resource.
//!
//! JSON is camelCase, as in OCPP. The API reaches stations only through the domain's ports
//! (the store, and the [`StationLink`] the gateway implements); it never touches a socket.
//!
//! # Invariants
//!
//! - Every `/api/v1` request carries a valid, unrevoked token; tokens are stored as SHA-256
//!   hashes only.
//! - Input that the OCPP wire could not carry (an id token longer than 36 characters, a
//!   station id with a colon) is refused here, so that what stations receive is always valid.

mod frames;
mod id_tokens;
mod problem;
mod stations;
mod transactions;

use std::sync::Arc;

use arus_domain::Csms;
use arus_domain::link::StationLink;
use arus_domain::store::{Role, StoreError};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};

pub use problem::Problem;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The domain service (and through it the store).
    pub csms: Arc<Csms>,
    /// Who is connected.
    pub link: Arc<dyn StationLink>,
}

/// The SHA-256 of an API token, hex: the only form in which tokens are stored.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// All routes.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/stations", get(stations::list).post(stations::register))
        .route("/stations/{id}", get(stations::show))
        .route("/stations/{id}/frames", get(frames::list))
        .route("/id-tokens", post(id_tokens::put))
        .route("/transactions", get(transactions::list))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "no such resource") });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/api/v1", api)
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "no such resource") })
        .with_state(state)
}

/// The role of the request's token, for handlers that need more than reading.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller(pub Role);

impl Caller {
    pub(crate) fn require(self, role: Role) -> Result<(), Problem> {
        if self.0 >= role {
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
    match state.csms.store().api_token(&token_hash(&token)).await {
        Ok(Some(t)) if t.revoked_at.is_none() => {
            request.extensions_mut().insert(Caller(t.role));
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

/// 200 when the store answers, 503 otherwise.
async fn healthz(State(state): State<ApiState>) -> Response {
    let check = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.csms.store().api_token_count(),
    )
    .await;
    match check {
        Ok(Ok(_)) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ok" })),
        )
            .into_response(),
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
