//! The browser's side of the four transports, one small file each with the same shape:
//! `open(…, report)` starts the connection and returns a [`Link`]; everything it learns
//! goes to `report` as a [`LinkEvent`] (opened, a frame, failed, revoked). A link knows
//! nothing of the engine: it neither applies a frame nor decides about gaps. [`shared`]
//! keeps a browser's streams within its connections to the origin.

mod requests;
mod shared;
mod sse;
mod ws;

use crate::sync::platform::{Link, LinkEvent, Opening, Report};
use board_core::patterns::Frame;
use board_core::protocol::Transport;

/// Opens `opening.transport`; `None` when the browser refuses to even start it. A stream
/// that holds one of the browser's few HTTP/1.1 connections goes through [`shared`], which
/// may borrow another tab's instead.
pub fn open(opening: Opening, report: Report) -> Option<Box<dyn Link>> {
    if shared::applies(opening.transport) {
        return Some(Box::new(shared::open(opening, report)));
    }
    direct(opening, report)
}

/// Opens `opening.transport` itself, whatever other tabs hold.
fn direct(opening: Opening, report: Report) -> Option<Box<dyn Link>> {
    let Opening { board, transport, pattern, from, .. } = &opening;
    // The epoch rides in the URL: an `EventSource` repeats it when it reconnects; so does
    // who this tab is, for the presence list.
    let who = opening.identity_query(encode);
    let url = format!("/api/boards/{board}/{transport}?pattern={pattern}&{}{who}", from.query());
    Some(match transport {
        Transport::Sse => Box::new(sse::open(&url, report)?),
        Transport::Ws => Box::new(ws::open(&url, report)?),
        Transport::Poll | Transport::LongPoll => Box::new(requests::open(opening, report)),
    })
}

/// A query value, percent-encoded.
fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}

/// A frame's JSON as a stream delivered it.
fn report_text(report: &Report, text: &str) {
    match serde_json::from_str::<Frame>(text) {
        Ok(frame) => report(LinkEvent::Frame(frame, text.len())),
        Err(err) => leptos::logging::warn!("ignoring a frame that does not parse: {err}"),
    }
}
