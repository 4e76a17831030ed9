//! Server-Sent Events: one `data:` event per frame, `id:` set to the seq so that a browser
//! (or any SSE client) resumes with `Last-Event-ID` after a reconnect; the epoch is in the
//! URL (`&epoch=E`), which the browser repeats. Keep-alive comments
//! every heartbeat interval stop proxies from closing an idle stream.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use app::api::Position;
use app::protocol::Transport;

use super::{bounded, subscribe, StreamParams};
use crate::access::Reader;
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::state::AppState;

/// `GET /api/boards/{board}/sse?pattern=P[&since=N]`
pub async fn handler(
    State(app): State<AppState>,
    Reader(grant): Reader,
    ClientIp(ip): ClientIp,
    params: StreamParams,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let pattern = params.pattern;
    // A reconnecting EventSource repeats the original URL and adds Last-Event-ID: the
    // header is the newer position, so it wins over `since`.
    // The epoch comes from the URL either way (`EventSource` repeats it).
    let from = match headers.get("last-event-id") {
        Some(value) => {
            let seq = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| AppError::BadRequest("Last-Event-ID must be a seq (a whole number)".into()))?;
            Some(Position { seq, epoch: params.epoch.clone() })
        }
        None => params.from.clone(),
    };
    // A revoked key's stream sends the `revoked` frame and ends; the browser's automatic
    // reconnect then gets 404.
    let slot = app.limits.open_stream(ip)?;
    let here = params.enter(&app, &grant.board, Transport::Sse, ip).await?;
    let (_head, frames) =
        subscribe(&app, &grant, Some(slot), pattern, from, here, params.wants(Transport::Sse)).await?;
    // A client that stops reading is cut off after SEND_TIMEOUT instead of held.
    let frames = bounded(frames, "sse");
    metrics::counter!("board_stream_opened_total", "transport" => Transport::Sse.as_str(), "pattern" => pattern.as_str()).increment(1);
    let events = frames.map(|out| {
        // Frames are JSON, which is always valid UTF-8 and has no raw newlines.
        let mut event = Event::default().data(std::str::from_utf8(&out.json).unwrap_or_default());
        if let Some(seq) = out.seq {
            event = event.id(seq.to_string());
        }
        Ok::<_, Infallible>(event)
    });
    let keep_alive = KeepAlive::new().interval(app.heartbeat).text("keep-alive");
    let mut response = Sse::new(events).keep_alive(keep_alive).into_response();
    // nginx and other proxies must pass events through as they come, not buffer them.
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
