//! The OpenAPI 3.1 document, generated from the handlers and types themselves (so it cannot
//! drift from what the server does), served at `/api/v1/openapi.json`; and the interactive
//! documentation at `/api/docs`, whose assets are compiled into the binary.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::Problem;

/// The errors every authenticated route may answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Errors {
    /// The request is not valid.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No valid token.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The token's role does not allow this.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such resource.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The store is unavailable.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// The errors of a command; the problem's `command` member holds the command's record.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum CommandErrors {
    /// The request is not valid.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No valid token.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The token's role does not allow this.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such station.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The station is not connected (and the command was not to be queued).
    #[response(status = 409, content_type = "application/problem+json")]
    NotConnected(Problem),
    /// The station's OCPP version cannot do this (or not with these values), or the
    /// idempotency key was used for another request.
    #[response(status = 422, content_type = "application/problem+json")]
    Unsupported(Problem),
    /// The station refused the request (CALLERROR), answered invalidly, or disconnected.
    #[response(status = 502, content_type = "application/problem+json")]
    Refused(Problem),
    /// The store is unavailable.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
    /// The station did not answer in time.
    #[response(status = 504, content_type = "application/problem+json")]
    Timeout(Problem),
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Arus operator API",
        description = "Operate charging stations of OCPP 1.6 and 2.0.1 through one interface. \
            Authenticate with `Authorization: Bearer TOKEN`. Errors are RFC 9457 problem details. \
            Lists are pages of `items` with a `nextCursor` to pass as `cursor`.",
    ),
    paths(
        crate::stations::list,
        crate::stations::register,
        crate::stations::show,
        crate::frames::list,
        crate::variables::list,
        crate::id_tokens::put,
        crate::id_tokens::show,
        crate::transactions::list,
        crate::commands::list,
        crate::commands::show,
        crate::bulk::start,
        crate::bulk::show,
        crate::bulk::list,
        crate::tokens::list,
        crate::tokens::create,
        crate::tokens::revoke,
        crate::audit::list,
        crate::events::stream,
        crate::webhooks::create,
        crate::webhooks::list,
        crate::webhooks::delete,
        crate::webhooks::deliveries,
        crate::webhooks::retry,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "stations", description = "Charging stations, their EVSEs, connectors and frames"),
        (name = "commands", description = "Every CSMS-initiated operation of OCPP 1.6 and 2.0.1"),
        (name = "transactions", description = "Charging sessions"),
        (name = "id tokens", description = "The tokens stations authorize"),
        (name = "access", description = "API tokens and the audit log"),
        (name = "events", description = "Everything that happens, live (SSE) and as webhooks"),
    )
)]
struct ApiDoc;

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::commands::CommandPaths::openapi());
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}
