//! `/api/v1/tokens`: API tokens, made and revoked by admins. A token is shown once, when it
//! is made; only its SHA-256 is stored, and its id is the start of that hash.

use arus_domain::store::{ApiTokenRecord, Role, Write};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::page::Page;
use crate::stations::parse;
use crate::{ApiState, Caller, Problem, store_error, token_hash, token_id};

/// A token to make.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    /// A name for people (who or what uses it).
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// `read-only`, `operator` or `admin`.
    #[schema(pattern = "^(read-only|operator|admin)$")]
    role: String,
}

/// A token as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenView {
    /// Its id (the start of its hash).
    id: String,
    name: String,
    /// `read-only`, `operator` or `admin`.
    role: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

/// A token just made, with its secret (shown only now).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedToken {
    #[serde(flatten)]
    view: TokenView,
    /// The token itself: send it as `Authorization: Bearer TOKEN`.
    token: String,
}

fn view(t: &ApiTokenRecord) -> TokenView {
    TokenView {
        id: token_id(&t.hash),
        name: t.name.clone(),
        role: t.role.as_str().to_string(),
        created_at: t.created_at,
        revoked_at: t.revoked_at,
    }
}

/// Lists API tokens (admin).
#[utoipa::path(get, operation_id = "listTokens", path = "/api/v1/tokens", tag = "access",
    responses((status = 200, body = Page<TokenView>, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    let tokens = state.store.api_tokens().await.map_err(store_error)?;
    Ok(axum::Json(Page {
        items: tokens.iter().map(view).collect(),
        next_cursor: None,
    })
    .into_response())
}

/// Makes an API token (admin).
#[utoipa::path(post, operation_id = "createToken", path = "/api/v1/tokens", tag = "access", request_body = NewToken,
    responses((status = 201, body = CreatedToken, description = "Created"), crate::openapi::Errors))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    let req: NewToken = parse(&body)?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Problem::bad_request("`name` must have 1 to 100 characters"));
    }
    let role = Role::parse(&req.role)
        .ok_or_else(|| Problem::bad_request("`role` must be read-only, operator or admin"))?;
    let token = new_token()?;
    let record = ApiTokenRecord {
        name: name.to_string(),
        hash: token_hash(&token),
        role,
        created_at: Utc::now(),
        revoked_at: None,
    };
    state
        .store
        .commit(vec![Write::PutApiToken(record.clone())])
        .await
        .map_err(store_error)?;
    let id = token_id(&record.hash);
    Ok(crate::audit::made(
        (
            StatusCode::CREATED,
            axum::Json(CreatedToken {
                view: view(&record),
                token,
            }),
        )
            .into_response(),
        "token",
        &id,
    ))
}

/// Revokes an API token (admin): it stops working at once.
#[utoipa::path(delete, operation_id = "revokeToken", path = "/api/v1/tokens/{tokenId}", tag = "access",
    params(("tokenId" = String, Path, description = "The token's id")),
    responses((status = 200, body = TokenView, description = "OK"), crate::openapi::Errors))]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    let store = &state.store;
    let tokens = store.api_tokens().await.map_err(store_error)?;
    let Some(t) = tokens.into_iter().find(|t| token_id(&t.hash) == id) else {
        return Err(Problem::not_found(format!("no token `{id}`")));
    };
    let revoked = ApiTokenRecord {
        revoked_at: Some(t.revoked_at.unwrap_or_else(Utc::now)),
        ..t
    };
    store
        .commit(vec![Write::PutApiToken(revoked.clone())])
        .await
        .map_err(store_error)?;
    // Open event streams of the token end.
    state.revocations.revoked();
    Ok(axum::Json(view(&revoked)).into_response())
}

/// A new random token: 32 bytes, hex.
pub fn new_token() -> Result<String, Problem> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("no randomness: {e}"),
        )
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
