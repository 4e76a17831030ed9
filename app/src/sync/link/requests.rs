//! Short poll and long-poll: a loop of requests for the frames after the last seq received.
//!
//! * Short poll asks every `poll_ms` (default 2 s); `304` means nothing new. Cheap to build,
//!   costly at scale, and the latency is the interval.
//! * Long-poll asks again at once; the server holds each request until there is something
//!   (or its timeout). Near-SSE latency over plain requests, one round trip per batch.
//!
//! A capped answer (its last seq below `head`) is followed at once by the next request.
//! Closing the link aborts the request in flight: a held long-poll would otherwise keep its
//! place on the server (and this tab on everyone's presence list) until its timeout.

use std::cell::Cell;
use std::rc::Rc;

use leptos::task::spawn_local;

use crate::sync::http;
use crate::sync::platform::{HttpError, Link, LinkEvent, Metered, Opening, Report};
use board_core::patterns::Frame;
use board_core::protocol::Transport;

/// How long a long-poll asks the server to hold: shorter than the server's cap and typical
/// proxy timeouts.
const HOLD_SECS: u32 = 25;
/// The shortest pause between short polls, whatever the page asks.
const MIN_POLL_MS: u32 = 100;

pub struct RequestLink {
    /// Set by `close`: the loop stops before its next request, and ignores an answer in flight.
    stopped: Rc<Cell<bool>>,
    /// Aborts the request in flight.
    abort: Option<web_sys::AbortController>,
}

impl Link for RequestLink {
    fn close(self: Box<Self>) {
        self.stopped.set(true);
        if let Some(abort) = &self.abort {
            abort.abort();
        }
    }
}

pub fn open(opening: Opening, report: Report) -> RequestLink {
    open_after(opening, report, None)
}

/// As [`open`]; `after`, when given, is a seq the tab reached some other way (another
/// tab's relay, `shared`): each request starts after it, so no frame is fetched again.
pub fn open_after(opening: Opening, report: Report, after: Option<Rc<Cell<u64>>>) -> RequestLink {
    let stopped = Rc::new(Cell::new(false));
    let flag = stopped.clone();
    let who = opening.identity_query(super::encode);
    let abort = web_sys::AbortController::new().ok();
    let signal = abort.as_ref().map(|a| a.signal());
    spawn_local(async move {
        let Opening { board, transport, pattern, mut from, poll_ms, .. } = opening;
        let mut requests = 0u32;
        // The rev of the presence list we hold: the server sends a list only when it differs.
        let mut presence: Option<u64> = None;
        while !flag.get() {
            if let Some(after) = &after {
                from.seq = from.seq.max(after.get());
            }
            // A long-poll's first request is not held: its answer says we are connected.
            let hold = (transport == Transport::LongPoll).then_some(if requests == 0 { 0 } else { HOLD_SECS });
            // Who we are, the list we hold, and (short poll) how often we ask, so that the
            // server keeps us on the list between requests.
            let mut extra = who.clone();
            if let Some(rev) = presence {
                extra.push_str(&format!("&presence={rev}"));
            }
            if transport == Transport::Poll {
                extra.push_str(&format!("&every={}", poll_ms()));
            }
            let Metered { answer, cost } =
                http::frames(&board, transport, pattern, &from, hold, &extra, signal.as_ref()).await;
            requests += 1;
            if flag.get() {
                return;
            }
            if let Some(cost) = cost {
                report(LinkEvent::Exchange(cost));
            }
            match answer {
                Ok(batch) => {
                    report(LinkEvent::Opened);
                    let mut behind = false;
                    // `304`: nothing after `from`, which is therefore the head.
                    let mut head = from.seq;
                    if let Some((page, sizes)) = batch {
                        head = page.head;
                        if !page.epoch.is_empty() {
                            from.epoch = Some(page.epoch.clone());
                            report(LinkEvent::Epoch(page.epoch.clone()));
                        }
                        from.seq = next_since(from.seq, &page.frames);
                        behind = from.seq < page.head;
                        for (frame, bytes) in page.frames.into_iter().zip(sizes) {
                            if let Frame::Presence { rev, .. } = &frame {
                                presence = Some(*rev);
                            }
                            report(LinkEvent::Frame(frame, bytes));
                        }
                    }
                    if behind {
                        continue;
                    }
                    report(LinkEvent::AtHead(head));
                }
                // 404: the board is gone, or the key this page holds no longer opens it.
                Err(HttpError::Status { status: 404, .. }) => return report(LinkEvent::Revoked),
                Err(_) => return report(LinkEvent::Failed),
            }
            if transport == Transport::Poll {
                // Read anew each time, so the page's control takes effect at once.
                gloo_timers::future::TimeoutFuture::new(poll_ms().max(MIN_POLL_MS)).await;
            }
        }
    });
    RequestLink { stopped, abort }
}

/// The seq to ask from next after a batch: past every frame received (a `reset` moves it
/// to the head), so a batch is never asked for twice.
fn next_since(since: u64, frames: &[Frame]) -> u64 {
    frames.iter().fold(since, |acc, f| match f {
        Frame::Reset { head } => *head,
        other => other.seq().map_or(acc, |seq| acc.max(seq)),
    })
}
