//! `POST /api/fn/{name}`: the server's side of the Leptos server functions in
//! `app::server_fns`. They run the one command service ([`commands::execute`]) behind the
//! same gate as `POST /api/boards/{board}/commands`; this file only adapts the request and
//! the refusal. The router provides `AppState` to them as `app::ssr::SharedCommands`.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use app::server_fns::Refused;
use app::ssr::Commands;
use board_core::api::CommandAnswer;
use board_core::domain::Command;

use crate::access::{self, Presented, Role};
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::limits::MAX_BODY_BYTES;
use crate::service::commands;
use crate::state::AppState;
use crate::store::Envelope;

#[async_trait::async_trait]
impl Commands for AppState {
    async fn run(
        &self,
        board: &str,
        request: &Parts,
        command: Command,
        idempotency_key: Option<String>,
    ) -> Result<CommandAnswer, Refused> {
        let result = async {
            let grant = access::authorize(self, board, &Presented::from_headers(&request.headers), Role::Write).await?;
            let ClientIp(ip) =
                ClientIp::from_request_parts(&mut request.clone(), self).await.unwrap_or_else(|never| match never {});
            let envelope = Envelope { key: idempotency_key.as_deref(), actor: None };
            let traceparent = request.headers.get("traceparent").and_then(|value| value.to_str().ok());
            let via = commands::Via { transport: "server-fn", traceparent };
            commands::execute(self, &grant, ip, &command, envelope, via).await
        }
        .await;
        result.map_err(|err| {
            // No `IntoResponse` carries this error to `log_errors`: report it here, once.
            err.report();
            let retry_after = err.retry_after().map(|wait| wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
            Refused { status: err.status().as_u16(), error: err.to_string(), retry_after }
        })
    }
}

/// `POST /api/fn/{name}` for a name that is no server function (each real one has its own
/// route, registered by `leptos_routes_with_context` with the pages' context, which
/// provides the command service): a JSON 404 like every other unknown route.
pub async fn unknown() -> AppError {
    AppError::NotFound("no such server function".into())
}

/// Middleware for the server functions' routes. Each takes only what docs/security.md says:
/// `run_command` a JSON body (`415` otherwise: a form cannot send one), `add_todo` the
/// no-script page's form (`application/x-www-form-urlencoded`) and only with an `Origin`
/// header, which every browser sends with a form's post (and the origin check has already
/// refused a foreign one); so no other site's form, and no form without a browser, reaches
/// a command. And arguments that do not decode fail before the function runs, which Leptos
/// answers `500`; the body (a `Refused`) knows it was the client's mistake, and the status
/// says so.
pub async fn refusal_status(request: Request<Body>, next: Next) -> Response {
    let ours = request.uri().path().starts_with(PREFIX);
    if ours {
        if let Err(refused) = takes(&request) {
            return refused.into_response();
        }
    }
    let response = next.run(request).await;
    if !ours || response.status() != StatusCode::INTERNAL_SERVER_ERROR || !is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.unwrap_or_default();
    if let Some(status) =
        serde_json::from_slice::<Refused>(&bytes).ok().and_then(|r| StatusCode::from_u16(r.status).ok())
    {
        parts.status = status;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Where `app::server_fns` mounts its functions.
const PREFIX: &str = "/api/fn/";

/// Does the server function at this path take this request's body?
fn takes(request: &Request<Body>) -> Result<(), AppError> {
    let mime = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let path = request.uri().path();
    if path == "/api/fn/add_todo" {
        if mime != "application/x-www-form-urlencoded" {
            return Err(AppError::UnsupportedMediaType("add_todo takes the page's form".into()));
        }
        if !request.headers().contains_key(axum::http::header::ORIGIN) {
            return Err(AppError::Forbidden("a form's post comes from a browser, which names its origin".into()));
        }
        return Ok(());
    }
    if mime != "application/json" {
        return Err(AppError::UnsupportedMediaType("send the body as Content-Type: application/json".into()));
    }
    Ok(())
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
