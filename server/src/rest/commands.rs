//! `POST /api/boards/{board}/commands`: the one way to change a board over HTTP, with an
//! optional `Idempotency-Key` and `Board-Actor` (the sender's name, for history). The
//! command service it calls (`service::commands`) is the one the WebSocket, the server
//! functions and the seeding call too.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::Json;

use board_core::api::CommandAnswer;
use board_core::domain::Command;

use super::extract::JsonBody;
use crate::access::Writer;
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::service::commands::{self, bad_key, Via};
use crate::state::AppState;
use crate::store::Envelope;

pub async fn post(
    State(app): State<AppState>,
    Writer(grant): Writer,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(command): JsonBody<Command>,
) -> Result<Json<CommandAnswer>, AppError> {
    let key = match headers.get("idempotency-key") {
        Some(value) => Some(value.to_str().map_err(|_| bad_key())?),
        None => None,
    };
    let actor = headers.get("board-actor").map(actor).transpose()?;
    // Not valid text: no trace context, as W3C says of any `traceparent` that does not parse.
    let traceparent = headers.get("traceparent").and_then(|value| value.to_str().ok());
    let via = Via { transport: "http", traceparent };
    commands::execute(&app, &grant, ip, &command, Envelope { key, actor: actor.as_deref() }, via).await.map(Json)
}

/// `Board-Actor`: the sender's presence name, percent-encoded UTF-8 (a header carries
/// ASCII only; a page encodes with `encodeURIComponent`).
fn actor(value: &HeaderValue) -> Result<String, AppError> {
    let refused = || AppError::BadRequest("Board-Actor must be a percent-encoded UTF-8 name".into());
    let ascii = value.to_str().map_err(|_| refused())?;
    percent_encoding::percent_decode_str(ascii).decode_utf8().map(|name| name.into_owned()).map_err(|_| refused())
}
