//! The client side of the four transports, one small file each with the same shape:
//! `open(client, generation, url)` starts the connection and reports to the engine
//! (`opened`, `deliver`, `failed`); closing drops the browser objects. None of them applies
//! a frame or decides about gaps: the engine does, the same way for all four.

mod long_poll;
mod poll;
mod sse;
mod ws;

use std::cell::Cell;
use std::rc::Rc;

use crate::api::Position;
use crate::domain::Command;
use crate::patterns::PatternKind;
use crate::sync::client::BoardClient;
use crate::sync::Transport;

/// An open connection. Dropping or closing it stops all of its callbacks.
pub enum Link {
    Sse(sse::SseLink),
    Ws(ws::WsLink),
    /// Poll and long-poll are loops of requests; the flag stops the loop.
    Requests(Rc<Cell<bool>>),
}

impl Link {
    pub fn open(
        client: BoardClient,
        generation: u64,
        transport: Transport,
        pattern: PatternKind,
        from: Position,
    ) -> Option<Link> {
        let board = client.board_id();
        let path = match transport {
            Transport::Poll => "poll",
            Transport::LongPoll => "long-poll",
            Transport::Sse => "sse",
            Transport::Ws => "ws",
        };
        // The epoch rides in the URL: an `EventSource` repeats it when it reconnects.
        let url = format!("/api/boards/{board}/{path}?pattern={pattern}&{}", from.query());
        match transport {
            Transport::Sse => sse::open(client, generation, &url).map(Link::Sse),
            Transport::Ws => ws::open(client, generation, &url).map(Link::Ws),
            Transport::Poll => Some(Link::Requests(poll::open(client, generation, pattern, from.seq))),
            Transport::LongPoll => Some(Link::Requests(long_poll::open(client, generation, pattern, from.seq))),
        }
    }

    pub fn close(self) {
        match self {
            Link::Sse(link) => link.close(),
            Link::Ws(link) => link.close(),
            Link::Requests(stopped) => stopped.set(true),
        }
    }

    /// Sends a command up the connection if it can carry one (an open WebSocket).
    pub fn send_command(&self, request_id: &str, key: &str, command: &Command) -> bool {
        match self {
            Link::Ws(link) => link.send_command(request_id, key, command),
            _ => false,
        }
    }
}

/// The loop behind poll and long-poll: ask for the frames after `since`, hand them to the
/// engine, and ask again (`pause_ms` later, or at once). Stops when the link is closed or
/// replaced; a failed request hands over to the engine's reconnect.
pub(super) fn request_loop(
    client: BoardClient,
    generation: u64,
    endpoint: &'static str,
    pattern: PatternKind,
    since: u64,
    hold_secs: impl Fn(u32) -> Option<u32> + 'static,
    pause_ms: impl Fn() -> u32 + 'static,
) -> Rc<Cell<bool>> {
    use leptos::prelude::*;
    use leptos::task::spawn_local;

    use crate::sync::{engine, http};

    let stopped = Rc::new(Cell::new(false));
    let flag = stopped.clone();
    let board = client.board_id();
    spawn_local(async move {
        let mut since = since;
        let mut requests = 0u32;
        while !flag.get() && engine::current(client, generation) {
            client.wire.update(|w| w.requests += 1);
            let from = Position { seq: since, ..engine::position(client) };
            let answer = http::frames(&board, endpoint, pattern, &from, hold_secs(requests)).await;
            requests += 1;
            if flag.get() {
                return;
            }
            match answer {
                Ok(batch) => {
                    engine::opened(client, generation);
                    let mut behind = false;
                    if let Some((page, sizes)) = batch {
                        engine::saw_epoch(client, &page.epoch);
                        since = next_since(since, &page.frames);
                        // A capped answer stops before the head: ask for the rest at once.
                        behind = since < page.head;
                        for (frame, bytes) in page.frames.into_iter().zip(sizes) {
                            engine::deliver(client, generation, frame, bytes);
                        }
                    }
                    if behind {
                        continue;
                    }
                }
                // 404: the board is gone, or the key this page holds no longer opens it.
                Err(http::HttpError::Status { status: 404, .. }) => return engine::revoked(client, generation),
                Err(_) => return engine::failed(client, generation),
            }
            let pause = pause_ms();
            if pause > 0 {
                gloo_timers::future::TimeoutFuture::new(pause).await;
            }
        }
    });
    stopped
}

/// The seq to ask from next after a batch: past every frame received (a `reset` moves it
/// to the head), so a batch is never asked for twice.
pub(super) fn next_since(since: u64, frames: &[crate::patterns::Frame]) -> u64 {
    use crate::patterns::Frame;
    frames.iter().fold(since, |acc, f| match f {
        Frame::Reset { head } => *head,
        other => other.seq().map_or(acc, |seq| acc.max(seq)),
    })
}
