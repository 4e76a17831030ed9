//! The pure domain: no I/O, no feature flags, the same code on the server and in the browser.
//!
//! A command goes through two steps, the classic decide/evolve split:
//!
//! * [`decide`](decide::decide) checks a [`Command`] against the current [`BoardState`] and
//!   answers with the business [`Event`] it causes, or a [`DomainError`]. Only the server
//!   decides: it alone knows the next seq, which is also how new ids are chosen.
//! * [`evolve`](evolve::evolve) applies an [`Event`] to a state. It cannot fail and never
//!   looks at the clock or a random source, so the server and a `push-events` client that run
//!   it on the same state get the same board.
//!
//! [`execute`] runs both and derives the two other views of the same change that the wire
//! patterns send: the [`Op`]s (whole entities put or deleted) and the field-level [`Diff`].
//! Property tests in `tests/` prove that each view rebuilds the server's state.
//!
//! [`undo`] computes the command that takes a change back (undo is a new change, not a
//! deletion from the log).
//!
//! A todo's place in its column is a sparse [`Position`] key ([`position`]), so a move
//! changes the todo that moved and nothing else.

pub mod command;
pub mod decide;
pub mod demo;
pub mod diff;
pub mod error;
pub mod event;
pub mod evolve;
pub mod model;
pub mod op;
pub mod position;
pub mod undo;

pub use command::Command;
pub use diff::Diff;
pub use error::DomainError;
pub use event::Event;
pub use model::{Board, BoardState, Id, Sprint, SprintStatus, Todo, TodoStatus};
pub use op::Op;
pub use position::Position;

/// The longest todo title the domain accepts, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// The longest sprint or board name the domain accepts, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// How big one board may grow. A board is read whole by every command and every snapshot,
/// so its size is what bounds the cost of both; beyond these, commands that add answer
/// `422`. The server takes them from `MAX_TODOS_PER_BOARD` and `MAX_SPRINTS_PER_BOARD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardLimits {
    pub max_todos: usize,
    pub max_sprints: usize,
    /// The bytes of text (titles and names, UTF-8) one board may hold: its storage quota.
    /// Every snapshot, page and `push-state` frame carries them all.
    pub max_text_bytes: usize,
}

impl Default for BoardLimits {
    fn default() -> Self {
        BoardLimits { max_todos: 5000, max_sprints: 200, max_text_bytes: 4 * 1024 * 1024 }
    }
}

/// Everything one committed command produced: the event, the two derived views of the
/// change, and the state after it (whose `seq` is the command's seq).
#[derive(Clone, Debug, PartialEq)]
pub struct Executed {
    pub event: Event,
    pub ops: Vec<Op>,
    pub diff: Diff,
    pub state: BoardState,
    /// The id the command created (a new todo or sprint), for the command's answer.
    pub created: Option<Id>,
}

/// Decides and applies `command` on `state` within the default [`BoardLimits`].
pub fn execute(state: &BoardState, command: &Command) -> Result<Executed, DomainError> {
    execute_within(state, command, &BoardLimits::default())
}

/// Decides and applies `command` on `state`: the one entry point the server uses to write.
pub fn execute_within(state: &BoardState, command: &Command, limits: &BoardLimits) -> Result<Executed, DomainError> {
    let event = decide::decide_within(state, command, limits)?;
    Ok(apply(state, event))
}

/// Applies an event that is already decided (a command's, or one the server makes itself
/// such as [`Event::ColumnRespaced`]) and derives its ops and diff.
pub fn apply(state: &BoardState, event: Event) -> Executed {
    let mut next = state.clone();
    evolve::evolve(&mut next, &event);
    Executed {
        ops: op::between(state, &next),
        diff: diff::between(state, &next),
        created: event.created_id(),
        event,
        state: next,
    }
}
