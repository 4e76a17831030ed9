//! The field-level diff: for each entity a change touched, which fields went from what to
//! what. It is the second half of `event-diff`: the event says *why*, the diff says *what*,
//! so a client can both explain a change and apply it without running the reducer.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::{BoardState, Id};
use super::op::{merge_walk, Change};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub board: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sprints: Vec<EntityDiff>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub todos: Vec<EntityDiff>,
}

/// One entity's change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum EntityDiff {
    Created { id: Id, value: Value },
    Updated { id: Id, fields: Vec<FieldChange> },
    Deleted { id: Id },
}

/// One field's old and new value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// The field-level difference from `old` to `new` (seq aside). Only the entities that
/// changed are converted to JSON, so its cost follows the change, not the board.
pub fn between(old: &BoardState, new: &BoardState) -> Diff {
    let mut sprints = Vec::new();
    merge_walk(&old.sprints, &new.sprints, |s| s.id, &mut |change| sprints.push(entity(change, |s| s.id)));
    let mut todos = Vec::new();
    merge_walk(&old.todos, &new.todos, |t| t.id, &mut |change| todos.push(entity(change, |t| t.id)));
    Diff { board: fields(&to_object(&old.board), &to_object(&new.board)), sprints, todos }
}

/// Applies a diff field by field. Unknown ids are skipped: a diff is only meaningful on the
/// state it was computed against, which the seq check guarantees.
pub fn apply(state: &mut BoardState, diff: &Diff) -> Result<(), serde_json::Error> {
    if !diff.board.is_empty() {
        state.board = patched(&state.board, &diff.board)?;
    }
    for change in &diff.sprints {
        match change {
            EntityDiff::Created { value, .. } => state.put_sprint(serde_json::from_value(value.clone())?),
            EntityDiff::Updated { id, fields } => {
                if let Some(sprint) = state.sprint(*id) {
                    let sprint = patched(sprint, fields)?;
                    state.put_sprint(sprint);
                }
            }
            EntityDiff::Deleted { id } => {
                state.remove_sprint(*id);
            }
        }
    }
    for change in &diff.todos {
        match change {
            EntityDiff::Created { value, .. } => state.put_todo(serde_json::from_value(value.clone())?),
            EntityDiff::Updated { id, fields } => {
                if let Some(todo) = state.todo(*id) {
                    let todo = patched(todo, fields)?;
                    state.put_todo(todo);
                }
            }
            EntityDiff::Deleted { id } => {
                state.remove_todo(*id);
            }
        }
    }
    Ok(())
}

fn entity<T: Serialize>(change: Change<'_, T>, id: impl Fn(&T) -> Id) -> EntityDiff {
    match change {
        Change::Deleted(id) => EntityDiff::Deleted { id },
        Change::Put { old: None, new } => {
            EntityDiff::Created { id: id(new), value: serde_json::to_value(new).expect("entities serialise") }
        }
        Change::Put { old: Some(old), new } => {
            EntityDiff::Updated { id: id(new), fields: fields(&to_object(old), &to_object(new)) }
        }
    }
}

fn to_object<T: Serialize>(item: &T) -> Map<String, Value> {
    match serde_json::to_value(item).expect("entities serialise") {
        Value::Object(map) => map,
        _ => unreachable!("entities are JSON objects"),
    }
}

/// The fields whose values differ, in field-name order.
fn fields(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    for (field, to) in new {
        let from = old.get(field).cloned().unwrap_or(Value::Null);
        if &from != to {
            out.push(FieldChange { field: field.clone(), from, to: to.clone() });
        }
    }
    out
}

/// A copy of `item` with the given fields set to their new values.
fn patched<T: Serialize + for<'de> Deserialize<'de>>(
    item: &T,
    changes: &[FieldChange],
) -> Result<T, serde_json::Error> {
    let mut object = to_object(item);
    for change in changes {
        object.insert(change.field.clone(), change.to.clone());
    }
    serde_json::from_value(Value::Object(object))
}
