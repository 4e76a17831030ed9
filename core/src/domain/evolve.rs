//! The reducer: applies an event to a state. Total (never fails) and deterministic, so the
//! server and every `push-events` client reach the same board from the same events.
//!
//! `version` counts changes a todo was the subject of (renamed, re-statused, moved, sent back
//! to the backlog). Neighbours of a moved todo do not change at all (positions are sparse
//! keys), and a todo whose key is re-spaced keeps its version, so a user editing it is not
//! refused for someone else's drag.

use super::event::Event;
use super::model::{BoardState, Id, Position, Sprint, SprintStatus, Todo, TodoStatus};

/// Applies `event` to `state` and advances `state.seq` by one.
///
/// An event that names an entity the state lacks is ignored rather than a panic: a
/// client that somehow applies out of order then shows a stale board, which its
/// fingerprint check reveals, instead of crashing the page.
pub fn evolve(state: &mut BoardState, event: &Event) {
    state.seq += 1;
    match event {
        Event::TodoAdded { id, title, sprint_id, position } => {
            state.put_todo(Todo {
                id: *id,
                title: title.clone(),
                status: TodoStatus::Todo,
                sprint_id: *sprint_id,
                position: position.clone(),
                version: 1,
            });
        }
        Event::TodoRenamed { id, title } => touch(state, *id, |t| t.title = title.clone()),
        Event::TodoStatusChanged { id, status } => touch(state, *id, |t| t.status = *status),
        // Keys are sparse: the moved todo takes its new key, no neighbour changes.
        Event::TodoMoved { id, sprint_id, position } => touch(state, *id, |t| {
            t.sprint_id = *sprint_id;
            t.position = position.clone();
        }),
        Event::TodoDeleted { id } => {
            state.remove_todo(*id);
        }
        Event::TodoRestored { id, title, status, sprint_id, position } => {
            state.put_todo(Todo {
                id: *id,
                title: title.clone(),
                status: *status,
                sprint_id: *sprint_id,
                position: position.clone(),
                version: 1,
            });
        }
        Event::SprintAdded { id, name } => {
            state.put_sprint(Sprint { id: *id, name: name.clone(), status: SprintStatus::Planned })
        }
        Event::SprintStarted { id } => set_sprint_status(state, *id, SprintStatus::Active),
        Event::SprintCompleted { id } => {
            set_sprint_status(state, *id, SprintStatus::Completed);
            // Unfinished work goes back to the end of the backlog, in its sprint order.
            let returning: Vec<Id> =
                state.column(Some(*id)).into_iter().filter(|t| t.status != TodoStatus::Done).map(|t| t.id).collect();
            let mut position = state.after_last(None);
            for todo_id in returning {
                let next = Position::after(&position);
                touch(state, todo_id, |t| {
                    t.sprint_id = None;
                    t.position = position;
                });
                position = next;
            }
        }
        Event::ColumnRespaced { sprint_id } => {
            // Same order, new keys; versions stay: nobody edited these todos.
            let ids: Vec<Id> = state.column(*sprint_id).into_iter().map(|t| t.id).collect();
            let keys = Position::spread(ids.len());
            for (id, position) in ids.into_iter().zip(keys) {
                if let Ok(i) = state.todos.binary_search_by_key(&id, |t| t.id) {
                    state.todos[i].position = position;
                }
            }
        }
    }
}

/// Changes one todo and bumps its version.
fn touch(state: &mut BoardState, id: Id, change: impl FnOnce(&mut Todo)) {
    if let Ok(i) = state.todos.binary_search_by_key(&id, |t| t.id) {
        let todo = &mut state.todos[i];
        change(todo);
        todo.version += 1;
    }
}

fn set_sprint_status(state: &mut BoardState, id: Id, status: SprintStatus) {
    if let Ok(i) = state.sprints.binary_search_by_key(&id, |s| s.id) {
        state.sprints[i].status = status;
    }
}
