//! What the engine hears, on one channel: what the links report and what the page asks.
//! The page's [`BoardClient`](super::BoardClient) and each link hold a sender; the engine
//! is the one receiver.

use futures::channel::mpsc::UnboundedSender;

pub use super::answer::Answered;
use super::answer::HttpError;
use super::platform::LinkEvent;
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
    CancelHeld(board_core::domain::Id),
    /// The person asked to undo their newest change (Ctrl+Z, the Undo button).
    Undo,
    /// ... or to do again the newest one they undid (Ctrl+Shift+Z, Redo).
    Redo,
    /// The page went to the background (`false`) or is in front again (`true`).
    Visible(bool),
    /// The server's answer to a command posted beside the engine, or why not.
    Answer { key: String, answer: Result<Answered, HttpError> },
    /// The page sends a signal or relayed cursor (ephemeral: lost if it fails).
    Signal(Signal),
    /// The browser went offline (`false`) or came back online (`true`).
    Network(bool),
    /// The person asked to try the connection now rather than after the backoff delay.
    RetryNow,
    /// Another tab of this browser changed the board's shared outbox.
    Shared(super::outbox::Shared),
    /// This tab became the one that sends the shared outbox (it got the leader lock).
    Lead,
    /// A big outbox's turn to be shown on the page again (see `engine::publish_outbox`).
    ShowOutbox,
    /// The person chose to send an overdue command (its key) all the same...
    Approve(String),
    /// ... or to discard it.
    Discard(String),
}

/// A sender of inputs to the engine.
pub type Inbox = UnboundedSender<Input>;
