//! Server-Sent Events: one `data:` event per frame, `id:` set to the seq so that a browser
//! (or any SSE client) resumes with `Last-Event-ID` after a reconnect; the epoch is in the
//! URL (`&epoch=E`), which the browser repeats. A keep-alive comment goes out with each
//! `heartbeat` frame (every `HEARTBEAT_SECS`), so proxies keep an idle stream open; riding
//! on the heartbeat, it needs no timer per stream (a timeout around every frame cost a
//! timer armed and cancelled per delivery).
//!
//! The events are written here ([`events`]) rather than by axum's `Sse`, which copies
//! each event's data into a buffer of its own: a frame is encoded once and shared by every
//! subscriber (`live`), and a `push-state` frame of a big board is megabytes, so a copy per
//! slow client is what grew the server by hundreds of megabytes. A big frame goes out as
//! its shared bytes between the event's header and its end; a small one, in one piece.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};

use board_core::api::Position;
use board_core::protocol::Transport;

use super::{bounded, StreamParams};
use crate::access::Reader;
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::state::AppState;
use crate::stream::Outgoing;

/// `GET /api/boards/{board}/sse?pattern=P[&since=N]`
pub async fn handler(
    State(app): State<AppState>,
    Reader(grant): Reader,
    ClientIp(ip): ClientIp,
    mut params: StreamParams,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let pattern = params.pattern;
    // A reconnecting EventSource repeats the original URL and adds Last-Event-ID: the
    // header is the newer position, so it wins over `since`.
    // The epoch comes from the URL either way (`EventSource` repeats it).
    if let Some(value) = headers.get("last-event-id") {
        let seq = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| AppError::BadRequest("Last-Event-ID must be a seq (a whole number)".into()))?;
        params.from = Some(Position { seq, epoch: params.epoch.clone() });
    }
    // A revoked key's stream sends the `revoked` frame and ends; the browser's automatic
    // reconnect then gets 404.
    let (_head, frames, _) = params.open(&app, &grant, Transport::Sse, ip).await?.frames().await?;
    // A client that stops reading is cut off after SEND_TIMEOUT instead of held.
    let frames = bounded(frames, "sse");
    metrics::counter!("board_stream_opened_total", "transport" => Transport::Sse.as_str(), "pattern" => pattern.as_str()).increment(1);
    let mut response = Body::from_stream(events(frames)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx and other proxies must pass events through as they come, not buffer them.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Frames at least this long go out without a copy: their shared bytes, between the
/// event's header and its end; shorter ones are copied into one piece (one chunk).
const SHARED_FROM_BYTES: usize = 4096;

/// The event stream's bytes: each frame as `id: N` (when it has a seq) and `data: <json>`,
/// a heartbeat preceded by a `:keep-alive` comment.
fn events(
    frames: impl Stream<Item = Outgoing> + Send + 'static,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    async_stream::stream! {
        let mut frames = std::pin::pin!(frames);
        while let Some(out) = frames.next().await {
            // Frames are JSON: valid UTF-8, and never a raw line break.
            let head = match (out.heartbeat, out.seq) {
                (true, _) => ":keep-alive\n\ndata: ".to_owned(),
                (false, Some(seq)) => format!("id: {seq}\ndata: "),
                (false, None) => "data: ".to_owned(),
            };
            if out.json.len() < SHARED_FROM_BYTES {
                let mut event = Vec::with_capacity(head.len() + out.json.len() + 2);
                event.extend_from_slice(head.as_bytes());
                event.extend_from_slice(&out.json);
                event.extend_from_slice(b"\n\n");
                yield Ok(Bytes::from(event));
            } else {
                yield Ok(Bytes::from(head));
                yield Ok(out.json);
                yield Ok(Bytes::from_static(b"\n\n"));
            }
        }
    }
}
