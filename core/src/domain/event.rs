//! What happened, in business terms: the payload of the `push-events` pattern and half of
//! `event-diff`. An event is a fact that already passed every rule, so [`evolve`] can apply
//! it without checking anything.
//!
//! [`evolve`]: super::evolve::evolve

use serde::{Deserialize, Serialize};

use super::model::{Id, Position, TodoStatus};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// `position` is after the last todo of its column, chosen by `decide`.
    TodoAdded {
        id: Id,
        title: String,
        sprint_id: Option<Id>,
        position: Position,
    },
    TodoRenamed {
        id: Id,
        title: String,
    },
    TodoStatusChanged {
        id: Id,
        status: TodoStatus,
    },
    /// `position` is the key between the todo's new neighbours, chosen by `decide`: the
    /// only todo that changes is this one.
    TodoMoved {
        id: Id,
        sprint_id: Option<Id>,
        position: Position,
    },
    TodoDeleted {
        id: Id,
    },
    SprintAdded {
        id: Id,
        name: String,
    },
    SprintStarted {
        id: Id,
    },
    /// The reducer moves the sprint's unfinished todos to the end of the backlog.
    SprintCompleted {
        id: Id,
    },
    /// The server gave a column (`None` = backlog) evenly spread short keys, keeping its
    /// order, because one key had grown long (see `domain::position`). Not a user's
    /// command: the server commits it after the change that made the long key.
    ColumnRespaced {
        sprint_id: Option<Id>,
    },
}

impl Event {
    /// The id this event brought into existence, if any.
    pub fn created_id(&self) -> Option<Id> {
        match self {
            Event::TodoAdded { id, .. } | Event::SprintAdded { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// A one-line human description, for the page's activity feed.
    pub fn describe(&self) -> String {
        match self {
            Event::TodoAdded { title, .. } => format!("added “{title}”"),
            Event::TodoRenamed { title, .. } => format!("renamed a todo to “{title}”"),
            Event::TodoStatusChanged { status, .. } => format!("marked a todo {}", status.as_str()),
            Event::TodoMoved { sprint_id: None, .. } => "moved a todo to the backlog".into(),
            Event::TodoMoved { .. } => "moved a todo to a sprint".into(),
            Event::TodoDeleted { .. } => "deleted a todo".into(),
            Event::SprintAdded { name, .. } => format!("added sprint “{name}”"),
            Event::SprintStarted { .. } => "started a sprint".into(),
            Event::SprintCompleted { .. } => "completed a sprint".into(),
            Event::ColumnRespaced { .. } => "tidied a column's order keys".into(),
        }
    }
}
