//! What a user asks for: the body of `POST /api/boards/{board}/commands` and of a command
//! sent up a WebSocket. Commands are requests; the server may refuse them.

use serde::{Deserialize, Serialize};

use super::model::{Id, TodoStatus};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    AddTodo {
        title: String,
        /// `None` (or absent) adds to the backlog.
        #[serde(default)]
        sprint_id: Option<Id>,
    },
    RenameTodo {
        id: Id,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_version: Option<u64>,
    },
    SetTodoStatus {
        id: Id,
        status: TodoStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_version: Option<u64>,
    },
    MoveTodo {
        id: Id,
        /// `null` moves to the backlog.
        sprint_id: Option<Id>,
        /// Place in the target column; absent or past the end appends.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_version: Option<u64>,
    },
    DeleteTodo {
        id: Id,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_version: Option<u64>,
    },
    /// Brings back a deleted todo, as it was (the undo of its delete): the same id, title
    /// and status, at `position` in its column (absent or past the end appends). Refused
    /// for an id the board holds or never gave out.
    RestoreTodo {
        id: Id,
        title: String,
        status: TodoStatus,
        /// `None` (or absent) restores to the backlog.
        #[serde(default)]
        sprint_id: Option<Id>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<u32>,
    },
    AddSprint {
        name: String,
    },
    StartSprint {
        id: Id,
    },
    CompleteSprint {
        id: Id,
    },
}

impl Command {
    /// The `type` tag, for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::AddTodo { .. } => "add_todo",
            Command::RenameTodo { .. } => "rename_todo",
            Command::SetTodoStatus { .. } => "set_todo_status",
            Command::MoveTodo { .. } => "move_todo",
            Command::DeleteTodo { .. } => "delete_todo",
            Command::RestoreTodo { .. } => "restore_todo",
            Command::AddSprint { .. } => "add_sprint",
            Command::StartSprint { .. } => "start_sprint",
            Command::CompleteSprint { .. } => "complete_sprint",
        }
    }
}
