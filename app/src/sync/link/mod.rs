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
    pub fn open(client: BoardClient, generation: u64, transport: Transport, pattern: PatternKind, since: u64) -> Option<Link> {
        let board = client.board_id();
        let path = match transport {
            Transport::Poll => "poll",
            Transport::LongPoll => "long-poll",
            Transport::Sse => "sse",
            Transport::Ws => "ws",
        };
        let url = format!("/api/boards/{board}/{path}?pattern={pattern}&since={since}");
        match transport {
            Transport::Sse => sse::open(client, generation, &url).map(Link::Sse),
            Transport::Ws => ws::open(client, generation, &url).map(Link::Ws),
            Transport::Poll => Some(Link::Requests(poll::open(client, generation, board, pattern, since))),
            Transport::LongPoll => Some(Link::Requests(long_poll::open(client, generation, board, pattern, since))),
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

/// The seq to ask from next after a batch: past every frame received (a `reset` moves it
/// to the head), so a batch is never asked for twice.
pub(super) fn next_since(since: u64, frames: &[crate::patterns::Frame]) -> u64 {
    use crate::patterns::Frame;
    frames.iter().fold(since, |acc, f| match f {
        Frame::Reset { head } => *head,
        other => other.seq().map_or(acc, |seq| acc.max(seq)),
    })
}
