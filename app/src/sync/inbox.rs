//! What the engine hears, on one channel: what the links report and what the page asks.
//! The page's [`BoardClient`](super::BoardClient) and each link hold a sender; the engine
//! is the one receiver.

use futures::channel::mpsc::UnboundedSender;

use super::platform::{HttpError, LinkEvent};
use crate::domain::Command;
use crate::presence::Signal;

#[derive(Debug)]
pub enum Input {
    /// A link reported something; `generation` says which connection.
    Link { generation: u64, event: LinkEvent },
    /// The page chose another pattern or transport (already set on the client).
    Switch,
    /// The page sends a command.
    Send(Command),
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
