//! The reducer: applies an event to a state. Total (never fails) and deterministic, so the
//! server and every `push-events` client reach the same board from the same events.
//!
//! `version` counts changes a todo was the subject of (renamed, re-statused, moved, sent back
//! to the backlog). A todo renumbered only because a neighbour moved keeps its version, so a
//! user editing it is not refused for someone else's drag.

use super::event::Event;
use super::model::{BoardState, Id, Sprint, SprintStatus, Todo, TodoStatus};

/// Applies `event` to `state` and advances `state.seq` by one.
///
/// An event that names an entity the state lacks is ignored rather than a panic: a
/// client that somehow applies out of order then shows a stale board, which its
/// fingerprint check reveals, instead of crashing the page.
pub fn evolve(state: &mut BoardState, event: &Event) {
    state.seq += 1;
    match event {
        Event::TodoAdded { id, title, sprint_id } => {
            let position = state.todos.iter().filter(|t| t.sprint_id == *sprint_id).count() as u32;
            state.put_todo(Todo {
                id: *id,
                title: title.clone(),
                status: TodoStatus::Todo,
                sprint_id: *sprint_id,
                position,
                version: 1,
            });
        }
        Event::TodoRenamed { id, title } => touch(state, *id, |t| t.title = title.clone()),
        Event::TodoStatusChanged { id, status } => touch(state, *id, |t| t.status = *status),
        Event::TodoMoved { id, sprint_id, position } => {
            let Some(from) = state.todo(*id).map(|t| t.sprint_id) else { return };
            touch(state, *id, |t| t.sprint_id = *sprint_id);
            // Order the target column without the mover, then slot it in at `position`.
            let mut column: Vec<Id> = column_ids(state, *sprint_id).into_iter().filter(|i| i != id).collect();
            let at = (*position as usize).min(column.len());
            column.insert(at, *id);
            set_positions(state, &column);
            if from != *sprint_id {
                renumber(state, from);
            }
        }
        Event::TodoDeleted { id } => {
            if let Some(todo) = state.remove_todo(*id) {
                renumber(state, todo.sprint_id);
            }
        }
        Event::SprintAdded { id, name } => {
            state.put_sprint(Sprint { id: *id, name: name.clone(), status: SprintStatus::Planned })
        }
        Event::SprintStarted { id } => set_sprint_status(state, *id, SprintStatus::Active),
        Event::SprintCompleted { id } => {
            set_sprint_status(state, *id, SprintStatus::Completed);
            // Unfinished work goes back to the end of the backlog, in its sprint order.
            let returning: Vec<Id> = column_ids(state, Some(*id))
                .into_iter()
                .filter(|i| state.todo(*i).is_some_and(|t| t.status != TodoStatus::Done))
                .collect();
            let mut backlog = column_ids(state, None);
            for todo_id in &returning {
                touch(state, *todo_id, |t| t.sprint_id = None);
                backlog.push(*todo_id);
            }
            set_positions(state, &backlog);
            renumber(state, Some(*id));
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

/// The ids of a column in display order.
fn column_ids(state: &BoardState, sprint_id: Option<Id>) -> Vec<Id> {
    state.column(sprint_id).into_iter().map(|t| t.id).collect()
}

/// Gives the listed todos the positions 0, 1, 2, ... in that order.
fn set_positions(state: &mut BoardState, ordered: &[Id]) {
    for (position, id) in ordered.iter().enumerate() {
        if let Ok(i) = state.todos.binary_search_by_key(id, |t| t.id) {
            state.todos[i].position = position as u32;
        }
    }
}

/// Closes the holes a removal left in a column.
fn renumber(state: &mut BoardState, sprint_id: Option<Id>) {
    let ids = column_ids(state, sprint_id);
    set_positions(state, &ids);
}
