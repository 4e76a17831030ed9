//! The five delivery patterns, one file each behind one trait.
//!
//! Every pattern answers two questions about a committed change: what does the server put
//! on the wire ([`Pattern::encode`], run once per change on the server), and how does a
//! client that holds seq N-1 reach seq N ([`Pattern::apply`], run in the browser). All of
//! them use the shared [`domain`](crate::domain), so none can drift from the server.
//!
//! | pattern | frame | client work |
//! | --- | --- | --- |
//! | `poke-pull` | `{"kind":"poke","seq":N}` | pulls `GET /api/boards/{board}` |
//! | `push-state` | `{"kind":"state","seq":N,"state":{..}}` | replaces its state |
//! | `push-ops` | `{"kind":"ops","seq":N,"ops":[..]}` | puts/deletes entities |
//! | `push-events` | `{"kind":"event","seq":N,"event":{..}}` | runs the reducer |
//! | `event-diff` | `{"kind":"event-diff","seq":N,"event":{..},"diff":{..}}` | sets fields |

mod event_diff;
mod frame;
mod poke_pull;
mod push_events;
mod push_ops;
mod push_state;

use serde::{Deserialize, Serialize};

use crate::domain::{BoardState, Diff, Event, Executed, Op};
pub use crate::protocol::PatternKind;

pub use event_diff::EventDiff;
pub use frame::{DataHeader, Frame};
pub use poke_pull::PokePull;
pub use push_events::PushEvents;
pub use push_ops::PushOps;
pub use push_state::PushState;

/// One entry of a board's change log: everything needed to encode the change in any
/// pattern except `push-state`, whose frame is the board after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub seq: u64,
    /// Commit time, Unix milliseconds: lets a client measure commit-to-receipt latency.
    pub at: i64,
    pub event: Event,
    pub ops: Vec<Op>,
    pub diff: Diff,
    /// The Idempotency-Key the command was sent with, if any: its data frames carry it, so
    /// the client that sent the command recognises its own change even when the frame
    /// arrives before the command's answer (an optimistic client must not show it twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Who made the change: the presence name its command was sent with, if any. Kept in
    /// the log for history (a todo's changes, the time-travel view); no data frame
    /// carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The trace id of the command (32 hex digits), when it was traced: the change's data
    /// frames carry it, so the tab that applies one can say when (the last hop of the
    /// change's trace). Never stored: a change read back from the log has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

impl ChangeRecord {
    /// The log entry of a change the domain executed, committed at `at`, sent without a key.
    pub fn new(done: &Executed, at: i64) -> ChangeRecord {
        ChangeRecord {
            seq: done.state.seq,
            at,
            event: done.event.clone(),
            ops: done.ops.clone(),
            diff: done.diff.clone(),
            key: None,
            actor: None,
            trace: None,
        }
    }

    /// The same entry, for a command sent with `key`.
    pub fn keyed(self, key: Option<&str>) -> ChangeRecord {
        ChangeRecord { key: key.map(str::to_owned), ..self }
    }

    /// The same entry, for a command sent by `actor`.
    pub fn by(self, actor: Option<&str>) -> ChangeRecord {
        ChangeRecord { actor: actor.map(str::to_owned), ..self }
    }
}

/// What applying a frame did to the client's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The state is now at the frame's seq.
    Applied,
    /// The frame carried no data (a poke): the client must pull the state itself.
    NeedsPull,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApplyError {
    #[error("a {pattern} client cannot apply a `{kind}` frame")]
    WrongKind { pattern: PatternKind, kind: &'static str },
    #[error("the diff does not fit the state: {0}")]
    BadDiff(String),
}

/// Everything that differs between patterns, in one place per pattern: what the server
/// sends for a change, what brings a client to a board, and how a client applies a frame.
/// Neither the server nor the browser engine asks which pattern it has; they ask this.
pub trait Pattern {
    const KIND: PatternKind;
    /// `true` when a frame stands alone (a poke or a whole state), so a client may skip
    /// seqs; `false` when frames are deltas that must be applied at exactly seq N-1.
    const SELF_CONTAINED: bool;
    /// The frame for `change`, built from the change alone; `None` when the frame is the
    /// board after it ([`snapshot_frame`](Pattern::snapshot_frame) builds that).
    fn encode(change: &ChangeRecord) -> Option<Frame>;
    /// For a self-contained pattern, the one frame that brings any client to `state`
    /// (committed at `at`); delta patterns have none (a client catches up from the log instead).
    fn snapshot_frame(state: &BoardState, at: i64) -> Option<Frame>;
    /// Applies a data frame's content to a state at `frame.seq() - 1` (or older, if
    /// self-contained). The seq is set by [`PatternKind::apply`], once for all patterns.
    fn apply_data(state: &mut BoardState, frame: &Frame) -> Result<Applied, ApplyError>;
}

/// A pattern's answers, for a [`PatternKind`] known only at run time (a client's choice, a
/// webhook's setting): the trait's constants and functions as values.
struct Answers {
    kind: PatternKind,
    self_contained: bool,
    encode: fn(&ChangeRecord) -> Option<Frame>,
    snapshot_frame: fn(&BoardState, i64) -> Option<Frame>,
    apply_data: fn(&mut BoardState, &Frame) -> Result<Applied, ApplyError>,
}

impl Answers {
    const fn of<P: Pattern>() -> Answers {
        Answers {
            kind: P::KIND,
            self_contained: P::SELF_CONTAINED,
            encode: P::encode,
            snapshot_frame: P::snapshot_frame,
            apply_data: P::apply_data,
        }
    }
}

/// What each pattern does (the names themselves are in [`crate::protocol`]).
impl PatternKind {
    /// The one place a pattern's name meets its implementation: a new pattern is a new
    /// arm here, and every method below follows.
    fn answers(self) -> Answers {
        let answers = match self {
            PatternKind::PokePull => Answers::of::<PokePull>(),
            PatternKind::PushState => Answers::of::<PushState>(),
            PatternKind::PushOps => Answers::of::<PushOps>(),
            PatternKind::PushEvents => Answers::of::<PushEvents>(),
            PatternKind::EventDiff => Answers::of::<EventDiff>(),
        };
        debug_assert_eq!(answers.kind, self, "{self} answered by another pattern");
        answers
    }

    pub fn self_contained(self) -> bool {
        self.answers().self_contained
    }

    /// See [`Pattern::encode`].
    pub fn encode(self, change: &ChangeRecord) -> Option<Frame> {
        (self.answers().encode)(change)
    }

    /// See [`Pattern::snapshot_frame`].
    pub fn snapshot_frame(self, state: &BoardState, at: i64) -> Option<Frame> {
        (self.answers().snapshot_frame)(state, at)
    }

    /// The frame for `change` whatever the pattern: encoded from the change, or (for
    /// `push-state`) built from `after`, the board right after it.
    pub fn frame_for(self, change: &ChangeRecord, after: &BoardState) -> Frame {
        self.encode(change)
            .or_else(|| {
                self.snapshot_frame(after, change.at)
                    .map(|frame| frame.tagged(change.key.clone(), change.trace.clone()))
            })
            .expect("every pattern encodes a change or frames the board after it")
    }

    /// Applies a data frame to a state at `frame.seq() - 1` (or older, if self-contained);
    /// once applied, the state is at the frame's seq.
    pub fn apply(self, state: &mut BoardState, frame: &Frame) -> Result<Applied, ApplyError> {
        let applied = (self.answers().apply_data)(state, frame)?;
        if let (Applied::Applied, Some(seq)) = (applied, frame.seq()) {
            state.seq = seq;
        }
        Ok(applied)
    }
}

/// The refusal every pattern gives a frame that is not its own.
pub(crate) fn wrong_kind(pattern: PatternKind, frame: &Frame) -> ApplyError {
    ApplyError::WrongKind { pattern, kind: frame.kind() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_answers_with_its_own_pattern() {
        for kind in PatternKind::ALL {
            assert_eq!(kind.answers().kind, kind);
        }
    }
}
