//! What the engine hears, on one channel: what the links report and what the page asks.
//! The page's [`BoardClient`](super::BoardClient) and each link hold a sender; the engine
//! is the one receiver.

use futures::channel::mpsc::UnboundedSender;

use super::platform::{HttpError, LinkEvent};
use board_core::domain::Command;
use board_core::presence::Signal;

#[derive(Debug)]
pub enum Input {
    /// A link reported something; `generation` says which connection.
    Link { generation: u64, event: LinkEvent },
    /// The page chose another pattern or transport (already set on the client).
    Switch,
    /// The page sends a command.
    Send(Command),
    /// The page sends a command that waits `ms` before it goes, undoable meanwhile.
    SendHeld { command: Command, ms: u32 },
    /// A held command's wait is over (its key).
    Release(String),
    /// The person undid the held command about this todo.
    Undo(board_core::domain::Id),
    /// The server's answer to a command posted beside the engine: its seq, or why not.
    Answer { key: String, answer: Result<u64, HttpError> },
    /// The page sends a signal or relayed cursor (ephemeral: lost if it fails).
    Signal(Signal),
    /// The browser went offline (`false`) or came back online (`true`).
    Network(bool),
    /// The person asked to try the connection now rather than after the backoff delay.
    RetryNow,
}

/// A sender of inputs to the engine.
pub type Inbox = UnboundedSender<Input>;
