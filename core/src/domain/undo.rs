//! Undo and redo: taking a change back is a new change, never a deletion from the log.
//!
//! The log is the truth and every client has already applied the change, so an undo cannot
//! "unhappen" it. Instead the tab that made a change keeps its [`Step`] (the todo just
//! before and just after it) and, to undo, asks [`Step::inverse`] for the command that puts
//! the todo back: delete ↔ restore (same id, fields and place), rename back, status back,
//! move back. That command is sent like any other, with its own Idempotency-Key, shown at
//! once like any other, and lands in the log as a change of its own; its answer's step is
//! what a redo inverts in turn. Sprint changes have no way back in the domain (a completed
//! sprint already sent its unfinished todos to the backlog), so they are not undoable.
//!
//! **No silent overwrite.** Between the change and its undo, somebody else may have changed
//! the same todo. The inverse compares the board as it is *now* with the step's "after":
//! if the field the step changed no longer holds what the step left there, the undo is
//! [`Blocked`] and says what it holds instead (the page adds who, from the todo's history).
//! Changes to *other* fields do not block: undoing your rename does not revert their move.
//! The command also carries `expected_version` (the todo's version now), so a change that
//! lands between this check and the server's is refused there (`409`) rather than
//! overwritten.
//!
//! The invariant, proved by `tests/undo.rs` with other people's commands interleaved:
//! undoing several changes and then redoing them leaves every field they touched as it was.

use serde::{Deserialize, Serialize};

use super::command::Command;
use super::event::Event;
use super::model::{BoardState, Id, Position, Todo};

/// One change to one todo, as its undo needs it: the todo before and after. Exactly one of
/// the two is `None` for an add or restore (`before`) and for a delete (`after`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub before: Option<Todo>,
    pub after: Option<Todo>,
    /// The todos just before and just after it in its column before the change (`None`:
    /// it was first, or last; or it did not exist): where taking a move or a delete back
    /// puts it. Its neighbours, not its key, because a column's re-spacing gives every todo
    /// a new key meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precedes: Option<Id>,
}

/// The part of a todo a step changed: what another person's change must not have touched
/// since, for the step to be taken back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The todo itself: added, deleted or restored.
    Existence,
    Title,
    Status,
    /// Its column and its place in it.
    Place,
}

impl Field {
    /// Does `event` change this field of its todo? What finds, in a todo's history, the
    /// change that blocked an undo (and so who made it).
    pub fn changed_by(self, event: &Event) -> bool {
        match self {
            Field::Title => matches!(event, Event::TodoRenamed { .. }),
            Field::Status => matches!(event, Event::TodoStatusChanged { .. }),
            Field::Place => matches!(event, Event::TodoMoved { .. } | Event::SprintCompleted { .. }),
            Field::Existence => matches!(event, Event::TodoDeleted { .. } | Event::TodoRestored { .. }),
        }
    }
}

/// Why a step cannot be taken back on the board as it is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "blocked", rename_all = "snake_case")]
pub enum Blocked {
    /// The todo is gone: someone deleted it since.
    Deleted { id: Id },
    /// The deleted todo is back already: someone restored it since.
    Restored { id: Id },
    /// Someone changed the field the step changed: `now` is the todo as it is.
    Changed { field: Field, now: Box<Todo> },
}

impl Blocked {
    /// What happened, in words, without the who (the page knows who from the history).
    pub fn describe(&self) -> String {
        match self {
            Blocked::Deleted { .. } => "deleted it".into(),
            Blocked::Restored { .. } => "brought it back already".into(),
            Blocked::Changed { field: Field::Title, now } => format!("renamed it to “{}”", now.title),
            Blocked::Changed { field: Field::Status, now } => format!("marked it {}", now.status.as_str()),
            Blocked::Changed { field: Field::Place, .. } => "moved it".into(),
            Blocked::Changed { field: Field::Existence, .. } => "changed it".into(),
        }
    }
}

impl Step {
    /// What `event` did to the one todo it is about, read off the boards just before
    /// (`before`) and just after (`after`) it. `None` for changes that cannot be undone:
    /// sprint changes and re-spacing.
    pub fn of(before: &BoardState, after: &BoardState, event: &Event) -> Option<Step> {
        let id = event.todo_id()?;
        let was = before.todo(id);
        let (follows, precedes) = was.map_or((None, None), |was| {
            let column = before.todos.iter().filter(|t| t.sprint_id == was.sprint_id);
            let by_order = |a: &&Todo, b: &&Todo| order(a).cmp(&order(b));
            (
                column.clone().filter(|t| order(t) < order(was)).max_by(by_order).map(|t| t.id),
                column.filter(|t| order(t) > order(was)).min_by(by_order).map(|t| t.id),
            )
        });
        let step = Step { before: was.cloned(), after: after.todo(id).cloned(), follows, precedes };
        (step.before.is_some() || step.after.is_some()).then_some(step)
    }

    /// The todo this step is about.
    pub fn todo_id(&self) -> Id {
        self.before.as_ref().or(self.after.as_ref()).map_or(0, |t| t.id)
    }

    /// What the step changed.
    pub fn field(&self) -> Field {
        match (&self.before, &self.after) {
            (Some(b), Some(a)) if b.title != a.title => Field::Title,
            (Some(b), Some(a)) if b.status != a.status => Field::Status,
            (Some(_), Some(_)) => Field::Place,
            _ => Field::Existence,
        }
    }

    /// The command that takes this step back on `now`, or why it cannot be. `left` is the
    /// todo as this tab's own latest change left it (this step's `after`, or what an undo
    /// or redo since made of it): a difference from it in version is somebody else's work.
    pub fn inverse(&self, now: &BoardState, left: Option<&Todo>) -> Result<Command, Blocked> {
        let id = self.todo_id();
        match (&self.before, &self.after) {
            // Deleted: bring it back as it was, at the place its key now falls.
            (Some(before), None) => {
                if now.todo(id).is_some() {
                    return Err(Blocked::Restored { id });
                }
                Ok(Command::RestoreTodo {
                    id,
                    title: before.title.clone(),
                    status: before.status,
                    sprint_id: before.sprint_id,
                    position: Some(self.place_back(now, before)),
                })
            }
            (before, Some(after)) => {
                let current = now.todo(id).ok_or(Blocked::Deleted { id })?;
                let left = left.unwrap_or(after);
                let field = self.field();
                if changed(field, after, left, current) {
                    return Err(Blocked::Changed { field, now: Box::new(current.clone()) });
                }
                let expected_version = Some(current.version);
                Ok(match (before, field) {
                    // Added or restored: delete it, unless someone changed it since (their
                    // work would go with it).
                    (None, _) => {
                        for field in [Field::Title, Field::Status, Field::Place] {
                            if changed(field, after, left, current) {
                                return Err(Blocked::Changed { field, now: Box::new(current.clone()) });
                            }
                        }
                        Command::DeleteTodo { id, expected_version }
                    }
                    (Some(before), Field::Title) => {
                        Command::RenameTodo { id, title: before.title.clone(), expected_version }
                    }
                    (Some(before), Field::Status) => {
                        Command::SetTodoStatus { id, status: before.status, expected_version }
                    }
                    (Some(before), _) => Command::MoveTodo {
                        id,
                        sprint_id: before.sprint_id,
                        position: Some(self.place_back(now, before)),
                        expected_version,
                    },
                })
            }
            (None, None) => Err(Blocked::Deleted { id }),
        }
    }
}

impl Step {
    /// Where taking the step back puts the todo in its old column of `now`: just after the
    /// todo it followed, if that one is still in the column; else just before the one it
    /// preceded; else first or last, if it was; else where its old key falls among the keys.
    fn place_back(&self, now: &BoardState, before: &Todo) -> u32 {
        let (id, column) = (before.id, before.sprint_id);
        let here = |neighbour: Option<Id>| neighbour.and_then(|n| now.todo(n)).filter(|t| t.sprint_id == column);
        let size = || now.todos.iter().filter(|t| t.sprint_id == column && t.id != id).count() as u32;
        match (here(self.follows), here(self.precedes)) {
            (Some(follows), _) => rank(now, id, column, (&follows.position, follows.id)) + 1,
            (None, Some(precedes)) => rank(now, id, column, (&precedes.position, precedes.id)),
            (None, None) if self.follows.is_none() => 0,
            (None, None) if self.precedes.is_none() => size(),
            (None, None) => rank(now, id, column, (&before.position, id)),
        }
    }
}

/// Does `current` no longer hold what `after` put in `field`? Title and status compare
/// values. A place compares the column, and within it asks whether anyone but this tab
/// touched the todo since it `left` it there (its version moved) *and* its key changed: a
/// column's re-spacing changes keys but not versions (nobody moved anything), and this
/// tab's own undo of a later move puts it back between the same neighbours under a new key.
fn changed(field: Field, after: &Todo, left: &Todo, current: &Todo) -> bool {
    match field {
        Field::Title => current.title != after.title,
        Field::Status => current.status != after.status,
        Field::Place => {
            current.sprint_id != after.sprint_id
                || (current.version != left.version && current.position != left.position)
        }
        Field::Existence => false,
    }
}

/// A tab's own changes that it can take back (newest last), the ones it took back that it
/// can do again, and how its latest change left each todo. Bounded: the oldest steps go
/// past [`UndoStack::DEPTH`]. A new change of its own empties the redo side, as in every
/// editor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UndoStack {
    undo: Vec<Step>,
    redo: Vec<Step>,
    /// Each todo as this tab's latest committed change left it (see [`Step::inverse`]).
    left: std::collections::BTreeMap<Id, Todo>,
}

impl UndoStack {
    /// How many changes back a tab can go.
    pub const DEPTH: usize = 100;

    /// A change of this tab's own committed with `step`.
    pub fn made(&mut self, step: Step) {
        for dropped in std::mem::take(&mut self.redo) {
            let id = dropped.todo_id();
            if !self.undo.iter().any(|s| s.todo_id() == id) && id != step.todo_id() {
                self.left.remove(&id);
            }
        }
        self.push_undo(step);
    }

    /// The command that undoes the newest change, against the board `now`, if there is one.
    pub fn undo(&self, now: &BoardState) -> Option<Result<Command, Blocked>> {
        self.undo.last().map(|step| self.inverse(step, now))
    }

    /// The command that redoes the newest undone change, if there is one.
    pub fn redo(&self, now: &BoardState) -> Option<Result<Command, Blocked>> {
        self.redo.last().map(|step| self.inverse(step, now))
    }

    /// The undo [`UndoStack::undo`] gave committed with `step` (its own): it moves to the
    /// redo side.
    pub fn undone(&mut self, step: Step) {
        if self.undo.pop().is_some() {
            self.leave(&step);
            self.redo.push(step);
        }
    }

    /// The redo [`UndoStack::redo`] gave committed with `step`: undoable again.
    pub fn redone(&mut self, step: Step) {
        if self.redo.pop().is_some() {
            self.push_undo(step);
        }
    }

    /// The newest undoable change, and the newest redoable one: what the buttons say.
    pub fn peek(&self) -> (Option<&Step>, Option<&Step>) {
        (self.undo.last(), self.redo.last())
    }

    fn push_undo(&mut self, step: Step) {
        self.leave(&step);
        self.undo.push(step);
        if self.undo.len() > Self::DEPTH {
            let gone = self.undo.remove(0).todo_id();
            if !self.undo.iter().chain(&self.redo).any(|s| s.todo_id() == gone) {
                self.left.remove(&gone);
            }
        }
    }

    fn leave(&mut self, step: &Step) {
        match &step.after {
            Some(after) => self.left.insert(after.id, after.clone()),
            None => self.left.remove(&step.todo_id()),
        };
    }

    fn inverse(&self, step: &Step, now: &BoardState) -> Result<Command, Blocked> {
        step.inverse(now, self.left.get(&step.todo_id()))
    }
}

/// A todo's place in display order: its key, then its id.
fn order(todo: &Todo) -> (&Position, Id) {
    (&todo.position, todo.id)
}

/// How many of the todos of column `sprint_id` of `now`, todo `id` aside, come before
/// `key` (a position and an id, the display order).
fn rank(now: &BoardState, id: Id, sprint_id: Option<Id>, key: (&Position, Id)) -> u32 {
    now.todos.iter().filter(|t| t.sprint_id == sprint_id && t.id != id && (&t.position, t.id) < key).count() as u32
}
