//! The JSON shapes of the REST API that both sides use: the server answers with them and
//! the browser's client decodes them. (The board itself is `domain::BoardState`; stream
//! frames are `patterns::Frame`.)

use serde::{Deserialize, Serialize};

use crate::domain::{Event, Id};
use crate::patterns::Frame;

/// One entry of `GET /api/boards`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoardSummary {
    pub id: String,
    pub name: String,
    pub seq: u64,
}

/// Body of `POST /api/boards`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateBoard {
    pub name: String,
}

/// The `201` answer to `POST /api/boards`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BoardCreated {
    pub id: String,
    pub name: String,
}

/// The `200` answer to a command, also what a repeated Idempotency-Key gets back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandAnswer {
    pub seq: u64,
    /// The id of the todo or sprint the command created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    pub event: Event,
}

/// The answer of `/changes`, `/poll` and `/long-poll`: the frames after `since`, in order,
/// and the head seq. Fewer frames than `head - since` means "ask again from the last one".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FramesPage {
    pub head: u64,
    pub frames: Vec<Frame>,
}

/// A command sent up a WebSocket. The answer is an `ack` or `error` frame carrying the
/// same `request_id`; `idempotency_key` works as the HTTP header does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SocketCommand {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub command: crate::domain::Command,
}

/// Every refusal's body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}
