//! Operations: the entity-level patch that turns one state into the next, the payload of
//! `push-ops`. A client applies them without knowing any rule; it only needs the state the
//! ops were computed against (seq N-1).

use serde::{Deserialize, Serialize};

use super::model::{BoardState, Id, Sprint, Todo};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    PutTodo { todo: Todo },
    DeleteTodo { id: Id },
    PutSprint { sprint: Sprint },
    DeleteSprint { id: Id },
    SetBoardName { name: String },
}

/// The ops that turn `old` into `new` (seq aside): every entity that differs is put whole,
/// every entity that vanished is deleted. Both lists are sorted by id, so one merge walk
/// finds them.
pub fn between(old: &BoardState, new: &BoardState) -> Vec<Op> {
    let mut ops = Vec::new();
    if old.board.name != new.board.name {
        ops.push(Op::SetBoardName { name: new.board.name.clone() });
    }
    merge_walk(&old.sprints, &new.sprints, |s| s.id, &mut |change| match change {
        Change::Put { new: sprint, .. } => ops.push(Op::PutSprint { sprint: sprint.clone() }),
        Change::Deleted(id) => ops.push(Op::DeleteSprint { id }),
    });
    merge_walk(&old.todos, &new.todos, |t| t.id, &mut |change| match change {
        Change::Put { new: todo, .. } => ops.push(Op::PutTodo { todo: todo.clone() }),
        Change::Deleted(id) => ops.push(Op::DeleteTodo { id }),
    });
    ops
}

/// Applies ops in order. Seq is the caller's business: it comes from the frame.
pub fn apply(state: &mut BoardState, ops: &[Op]) {
    for op in ops {
        match op {
            Op::PutTodo { todo } => state.put_todo(todo.clone()),
            Op::DeleteTodo { id } => {
                state.remove_todo(*id);
            }
            Op::PutSprint { sprint } => state.put_sprint(sprint.clone()),
            Op::DeleteSprint { id } => {
                state.remove_sprint(*id);
            }
            Op::SetBoardName { name } => state.board.name = name.clone(),
        }
    }
}

pub(crate) enum Change<'a, T> {
    /// Created (`old` is `None`) or changed: the entity as it was and as it is.
    Put {
        old: Option<&'a T>,
        new: &'a T,
    },
    Deleted(Id),
}

/// Walks two id-sorted lists together and reports each entity that was added, changed or
/// removed. Shared by ops and diffs so both see exactly the same set of changes.
pub(crate) fn merge_walk<'a, T: PartialEq>(
    old: &'a [T],
    new: &'a [T],
    id: impl Fn(&T) -> Id,
    emit: &mut dyn FnMut(Change<'a, T>),
) {
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if id(a) == id(b) => {
                if a != b {
                    emit(Change::Put { old: Some(a), new: b });
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if id(a) < id(b) => {
                emit(Change::Deleted(id(a)));
                i += 1;
            }
            (Some(a), None) => {
                emit(Change::Deleted(id(a)));
                i += 1;
            }
            (_, Some(b)) => {
                emit(Change::Put { old: None, new: b });
                j += 1;
            }
            (None, None) => unreachable!("the loop condition keeps one side non-empty"),
        }
    }
}
