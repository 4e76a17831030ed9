//! This tab's undo and redo, as the engine keeps them: the domain's [`UndoStack`] (which
//! computes each inverse and refuses one that would overwrite somebody else's change),
//! and which of the commands on their way are undos or redos, so that each answer's step
//! lands on the right side of the stack.
//!
//! An undo is sent like any command (the outbox, an Idempotency-Key, shown at once), and
//! only once everything this tab sent before it is on the confirmed board: the inverse is
//! computed against that board, so it must already hold the change it takes back.

use std::collections::HashMap;

use board_core::domain::undo::{Blocked, Field, Step, UndoStack};
use board_core::domain::{BoardState, Command, Id};

/// Which way the person asked to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Undo,
    Redo,
}

/// What a command of this tab is, for the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// A change the person made: undoable, and it empties the redo side.
    Made,
    Undo,
    Redo,
}

/// What the page's buttons say: the change an undo or a redo would take back or do again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UndoShown {
    pub undo: Option<String>,
    pub redo: Option<String>,
}

/// An undo or redo the domain refused, for the page to say who changed what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedNote {
    pub todo: Id,
    /// What the step changed (which change of theirs to name).
    pub field: Field,
    /// What happened since, in words without the who: "renamed it to “tea”".
    pub what: String,
    pub direction: Direction,
}

/// The commands this tab issued are at most the outbox's; the oldest purposes go past this
/// (a page left open for a day must not grow without end).
const MAX_PURPOSES: usize = 500;

#[derive(Debug, Default)]
pub struct Undos {
    stack: UndoStack,
    /// Each issued command's purpose, by Idempotency-Key, until its answer.
    purposes: HashMap<String, Purpose>,
    /// Issue order of `purposes`' keys, to drop the oldest past [`MAX_PURPOSES`].
    order: std::collections::VecDeque<String>,
    /// An undo or redo asked for while earlier commands were on their way: done once
    /// they are all on the confirmed board.
    wanted: Option<Direction>,
}

impl Undos {
    /// A change the person made is on its way with `key`.
    pub fn made(&mut self, key: &str) {
        self.issue(key, Purpose::Made);
    }

    /// The person asked to go back or forward: `Ok(Some(command))` to send now (its key is
    /// given to [`Undos::sent`]), `Ok(None)` when there is nothing to do or it must wait for
    /// `settled` (earlier commands still on their way), or why the domain refuses.
    pub fn ask(
        &mut self,
        direction: Direction,
        board: &BoardState,
        settled: bool,
    ) -> Result<Option<Command>, BlockedNote> {
        if !settled {
            self.wanted = Some(direction);
            return Ok(None);
        }
        self.wanted = None;
        let next = match direction {
            Direction::Undo => self.stack.undo(board),
            Direction::Redo => self.stack.redo(board),
        };
        let step = match direction {
            Direction::Undo => self.stack.peek().0,
            Direction::Redo => self.stack.peek().1,
        };
        match next {
            None => Ok(None),
            Some(Ok(command)) => Ok(Some(command)),
            Some(Err(blocked)) => Err(BlockedNote {
                todo: step.map_or(0, Step::todo_id),
                field: match &blocked {
                    Blocked::Changed { field, .. } => *field,
                    Blocked::Deleted { .. } | Blocked::Restored { .. } => Field::Existence,
                },
                what: blocked.describe(),
                direction,
            }),
        }
    }

    /// The undo or redo [`Undos::ask`] gave went with `key`.
    pub fn sent(&mut self, key: &str, direction: Direction) {
        self.issue(key, if direction == Direction::Undo { Purpose::Undo } else { Purpose::Redo });
    }

    /// The command sent with `key` committed, making `step` (if undoable).
    pub fn committed(&mut self, key: &str, step: Option<Step>) {
        let Some(purpose) = self.forget(key) else { return };
        let Some(step) = step else { return };
        match purpose {
            Purpose::Made => self.stack.made(step),
            Purpose::Undo => self.stack.undone(step),
            Purpose::Redo => self.stack.redone(step),
        }
    }

    /// The command sent with `key` was refused or dropped: nothing moves.
    pub fn refused(&mut self, key: &str) {
        self.forget(key);
    }

    /// An undo or redo waiting for the board to settle, if it has now.
    pub fn due(&mut self, settled: bool) -> Option<Direction> {
        if settled {
            self.wanted.take()
        } else {
            None
        }
    }

    /// What the buttons say.
    pub fn shown(&self) -> UndoShown {
        let (undo, redo) = self.stack.peek();
        UndoShown { undo: undo.map(|s| describe(s, true)), redo: redo.map(|s| describe(s, false)) }
    }

    fn issue(&mut self, key: &str, purpose: Purpose) {
        self.purposes.insert(key.to_owned(), purpose);
        self.order.push_back(key.to_owned());
        while self.order.len() > MAX_PURPOSES {
            if let Some(old) = self.order.pop_front() {
                self.purposes.remove(&old);
            }
        }
    }

    fn forget(&mut self, key: &str) -> Option<Purpose> {
        self.order.retain(|k| k != key);
        self.purposes.remove(key)
    }
}

/// A change in words, as the undo or redo button names it: "renaming “tea” to “coffee”".
/// An undo's `step` is the change itself; a redo's is the undo's own step, so the change it
/// does again is that step's inverse.
pub fn describe(step: &Step, undo: bool) -> String {
    let (done_from, done_to) = if undo { (&step.before, &step.after) } else { (&step.after, &step.before) };
    let title = |t: &Option<board_core::domain::Todo>| t.as_ref().map(|t| t.title.clone()).unwrap_or_default();
    match (done_from, done_to) {
        (None, Some(_)) => format!("adding “{}”", title(done_to)),
        (Some(_), None) => format!("deleting “{}”", title(done_from)),
        _ => match step.field() {
            Field::Title => format!("renaming “{}” to “{}”", title(done_from), title(done_to)),
            Field::Status => {
                let status = done_to.as_ref().map_or("", |t| t.status.as_str());
                format!("marking “{}” {status}", title(done_to))
            }
            _ => format!("moving “{}”", title(done_to)),
        },
    }
}
