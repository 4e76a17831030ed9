//! The outbox a browser's tabs of one board share. Pure: the engine keeps its copy, the
//! platform carries [`Shared`] changes between tabs (a `BroadcastChannel` in the browser)
//! and keeps them where closing the browser does not lose them (IndexedDB).
//!
//! * Every tab holds the same pending commands and shows them on its board. A tab that
//!   makes a command, releases a held one or takes one back tells the others
//!   ([`Shared::Put`], [`Shared::Dropped`]).
//! * Exactly one tab sends: the one holding the board's leader lock (`Platform::lead`;
//!   when it closes, a waiting tab gets the lock and sends what is left, with the same
//!   Idempotency-Keys, so a command the old leader had on the wire still applies once).
//!   It tells every tab the server's answer ([`Shared::Answered`]): the tab that made the
//!   command files its undo step, and a refusal shows on the card in every tab.
//! * Each tab settles commands by its own confirmed board (a change's frame carries its
//!   key), so no tab's card blinks while its stream is a little behind another's.
//! * A command that waited longer than the page's limit, or was made against an earlier
//!   epoch of the board, is [`Overdue`]: listed for the person with what it would do now
//!   ([`overdue`]), sent or discarded by them, never silently.

use serde::{Deserialize, Serialize};

use super::answer::{Answered, HttpError};
use board_core::domain::{execute, BoardState};
use board_core::optimistic::{Outbox, Overdue, Pending};

/// How long a command may wait and still go by itself: a day.
pub const MAX_AGE_MS: i64 = 24 * 3_600_000;

/// A change to the shared outbox, as one tab tells the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shared {
    /// Pending in every tab: made, released from its hold, approved after being overdue.
    Put { pending: Pending },
    /// The server answered the sending tab: committed (with the undo step) or refused.
    /// (An unreachable server is no answer: the command stays pending everywhere.)
    Answered { key: String, answer: Result<Answered, HttpError> },
    /// Taken back unsent: a held delete undone, an overdue command discarded.
    Dropped { key: String },
}

/// A pending command waiting for the person, with what it would do on the board as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct OverdueCommand {
    pub key: String,
    pub why: Overdue,
    /// When it was made (Unix ms).
    pub made_at: i64,
    /// What sending it would do now ("added “milk”"), or why the server would refuse it.
    pub outcome: Result<String, String>,
}

/// The overdue commands of `outbox` at `now`, in order, each tried on `confirmed` with the
/// commands before it applied (as the server would run them).
pub fn overdue(
    outbox: &Outbox,
    confirmed: &BoardState,
    now: i64,
    max_age_ms: i64,
    epoch: Option<&str>,
) -> Vec<OverdueCommand> {
    let mut board = confirmed.clone();
    let mut listed = Vec::new();
    for pending in outbox.iter().filter(|p| p.seq.is_none()) {
        let tried = execute(&board, &pending.command);
        let outcome = match &tried {
            Ok(done) => Ok(done.event.describe()),
            Err(err) => Err(err.to_string()),
        };
        if let Ok(done) = tried {
            board = done.state;
        }
        if let Some(why) = pending.overdue(now, max_age_ms, epoch) {
            listed.push(OverdueCommand { key: pending.key.clone(), why, made_at: pending.made_at, outcome });
        }
    }
    listed
}

/// May `pending` go now, by itself? Not when overdue, nor while the board's epoch is not
/// known and the command names one (it could be another board by now).
pub fn may_go(pending: &Pending, now: i64, max_age_ms: i64, epoch: Option<&str>) -> bool {
    let unknown = pending.epoch.is_some() && epoch.is_none();
    !unknown && pending.overdue(now, max_age_ms, epoch).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use board_core::domain::Command;

    fn add(title: &str) -> Command {
        Command::AddTodo { title: title.into(), sprint_id: None }
    }

    #[test]
    fn an_overdue_list_says_what_each_command_would_do_after_those_before_it() {
        let mut outbox = Outbox::default();
        outbox.put(Pending::new("a".into(), add("milk"), 1, Some("e1".into())));
        outbox.put(Pending::new(
            "b".into(),
            Command::RenameTodo { id: 1, title: "oat milk".into(), expected_version: None },
            2,
            Some("e1".into()),
        ));
        outbox.put(Pending::new(
            "c".into(),
            Command::DeleteTodo { id: 9, expected_version: None },
            3,
            Some("e1".into()),
        ));
        let board = BoardState::empty("b", "B");
        let listed = overdue(&outbox, &board, 10, 5, Some("e2"));
        let outcomes: Vec<_> = listed.iter().map(|o| (o.key.as_str(), o.outcome.is_ok())).collect();
        assert_eq!(outcomes, [("a", true), ("b", true), ("c", false)], "b renames the todo a adds");
        assert!(listed.iter().all(|o| o.why == Overdue::OtherEpoch));
        assert_eq!(listed[0].outcome, Ok("added “milk”".into()));
        assert!(overdue(&outbox, &board, 10, 5, Some("e1")).len() == 3, "all older than 5 ms");
        assert!(overdue(&outbox, &board, 4, 5, Some("e1")).is_empty(), "none old in e1");
    }

    #[test]
    fn a_command_naming_an_epoch_waits_until_the_page_knows_the_boards() {
        let pending = Pending::new("a".into(), add("x"), 1, Some("e1".into()));
        assert!(!may_go(&pending, 2, MAX_AGE_MS, None));
        assert!(may_go(&pending, 2, MAX_AGE_MS, Some("e1")));
        assert!(!may_go(&pending, 2, MAX_AGE_MS, Some("e2")));
        let unstamped = Pending::new("b".into(), add("y"), 1, None);
        assert!(may_go(&unstamped, 2, MAX_AGE_MS, None), "made before any epoch was known");
    }

    #[test]
    fn shared_changes_cross_between_tabs_as_json() {
        let changes = [
            Shared::Put { pending: Pending::new("k".into(), add("x"), 5, None) },
            Shared::Answered { key: "k".into(), answer: Ok(Answered { seq: 3, step: None }) },
            Shared::Answered {
                key: "k".into(),
                answer: Err(HttpError::Status { status: 422, message: "no todo 9".into() }),
            },
            Shared::Dropped { key: "k".into() },
        ];
        for change in changes {
            let json = serde_json::to_string(&change).unwrap();
            assert_eq!(serde_json::from_str::<Shared>(&json).unwrap(), change, "{json}");
        }
    }
}
