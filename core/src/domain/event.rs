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
    /// A deleted todo back with its id, title and status; `position` chosen by `decide` as
    /// for a move. Its version starts again at 1.
    TodoRestored {
        id: Id,
        title: String,
        status: TodoStatus,
        sprint_id: Option<Id>,
        position: Position,
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
            Event::TodoAdded { id, .. } | Event::TodoRestored { id, .. } | Event::SprintAdded { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// The one todo this event is about, if it is about one: what a todo's history and an
    /// undo follow. Sprint events and re-spacing are about a column or a sprint.
    pub fn todo_id(&self) -> Option<Id> {
        match self {
            Event::TodoAdded { id, .. }
            | Event::TodoRenamed { id, .. }
            | Event::TodoStatusChanged { id, .. }
            | Event::TodoMoved { id, .. }
            | Event::TodoDeleted { id }
            | Event::TodoRestored { id, .. } => Some(*id),
            Event::SprintAdded { .. }
            | Event::SprintStarted { .. }
            | Event::SprintCompleted { .. }
            | Event::ColumnRespaced { .. } => None,
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
            Event::TodoRestored { title, .. } => format!("brought back “{title}”"),
            Event::SprintAdded { name, .. } => format!("added sprint “{name}”"),
            Event::SprintStarted { .. } => "started a sprint".into(),
            Event::SprintCompleted { .. } => "completed a sprint".into(),
            Event::ColumnRespaced { .. } => "tidied a column's order keys".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_about_one_todo_are_the_todo_ones() {
        let id = 1;
        let position = Position::first();
        let events = [
            Event::TodoAdded { id, title: "t".into(), sprint_id: None, position: position.clone() },
            Event::TodoRenamed { id, title: "t".into() },
            Event::TodoStatusChanged { id, status: TodoStatus::Done },
            Event::TodoMoved { id, sprint_id: None, position: position.clone() },
            Event::TodoDeleted { id },
            Event::TodoRestored { id, title: "t".into(), status: TodoStatus::Done, sprint_id: None, position },
            Event::SprintAdded { id, name: "s".into() },
            Event::SprintStarted { id },
            Event::SprintCompleted { id },
            Event::ColumnRespaced { sprint_id: None },
        ];
        for event in events {
            let tag = serde_json::to_value(&event).unwrap()["type"].as_str().unwrap().to_owned();
            assert_eq!(event.todo_id().is_some(), tag.starts_with("todo_"), "{tag}");
        }
    }
}
