//! Optimistic updates, exactly: what the page shows is the **confirmed** board (the seq the
//! engine has applied) with the **pending** commands re-applied on top, in the order they
//! were sent, by the same `decide` and `evolve` the server runs. Pure: the
//! engine owns an [`Outbox`] and asks it for [`Shown`] whenever either side changes.
//!
//! A pending command leaves the outbox in exactly two ways:
//!
//! * **Settled**: the server committed it at seq N (its answer said so, or a frame carrying
//!   its Idempotency-Key did, whichever came first) and the confirmed board reached N. From
//!   then on the confirmed board contains it, so re-applying it would show it twice.
//! * **Refused**: the server answered `409`, `422` or `403`. It vanishes from the board and
//!   the page shows the server's message where it was.
//!
//! Until then it is re-applied on every new confirmed board (a *rebase*). A command that
//! no longer applies there (its todo was deleted by someone else, say) is left out of the
//! board and reported in [`Shown::conflicts`]; the server will refuse it too.
//!
//! New todos get their id from the seq they commit at, which only the server knows, so a
//! pending todo's id is provisional: it is the id it *would* get if nothing else committed
//! first. The page therefore does not let a pending card be edited (a command naming its
//! provisional id could reach another todo).
//!
//! The outbox serialises (the engine keeps it in the browser's storage), so pending
//! commands survive going offline and a reload, and are sent again with their original
//! keys: the server applies each at most once.
//!
//! A command made long ago, or against a board the server has since replaced (another
//! epoch), is not sent silently: it is [`Overdue`] until the person sends or discards it,
//! since its author may no longer mean it on the board as it now is.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::decide::decide;
use crate::domain::evolve::evolve;
use crate::domain::{apply, BoardState, Command, Event, Id, Op};

/// A command the page sent (or will send) that the confirmed board does not contain yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Its Idempotency-Key: the same on every resend, and how its frame is recognised.
    pub key: String,
    pub command: Command,
    /// The seq it committed at, once the server said so (`None`: waiting for an answer).
    #[serde(default)]
    pub seq: Option<u64>,
    /// Held back until this time (Unix ms): a delete the person may still undo. Shown on
    /// the board at once, sent when the hold ends, dropped if undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_until: Option<i64>,
    /// When it was made (Unix ms; strictly increasing within a tab, so sorting by it keeps
    /// each tab's order): how long it has waited, and its place among other tabs' commands.
    #[serde(default)]
    pub made_at: i64,
    /// The board's epoch it was made against, if the page knew it: in another epoch the
    /// board was replaced, and the command is overdue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// The person looked at it overdue and chose to send it all the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approved: bool,
}

impl Pending {
    /// A new command, to be sent.
    pub fn new(key: String, command: Command, made_at: i64, epoch: Option<String>) -> Pending {
        Pending { key, command, seq: None, hold_until: None, made_at, epoch, approved: false }
    }

    /// Why it may not be sent without asking, at `now` (Unix ms), `max_age_ms` being the
    /// longest a command waits and still goes by itself, and `epoch` the board's as the
    /// server last said (`None`: not known yet).
    pub fn overdue(&self, now: i64, max_age_ms: i64, epoch: Option<&str>) -> Option<Overdue> {
        if self.seq.is_some() || self.hold_until.is_some() || self.approved {
            return None;
        }
        if let (Some(made), Some(now)) = (self.epoch.as_deref(), epoch) {
            if made != now {
                return Some(Overdue::OtherEpoch);
            }
        }
        let age = now - self.made_at;
        (self.made_at > 0 && age > max_age_ms).then_some(Overdue::Old { age_ms: age })
    }
}

/// Why a pending command waits for the person rather than going by itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overdue {
    /// It has waited this long, more than the limit.
    Old { age_ms: i64 },
    /// The board was replaced since it was made (restored, or reset): another epoch.
    OtherEpoch,
}

/// The pending commands of one board, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    pending: Vec<Pending>,
}

/// A pending command the server refused: gone from the board, its message shown where it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub command: Command,
    /// The todo it was about (`None` for a new todo or a sprint command).
    pub todo: Option<Id>,
    /// The HTTP status of the answer (`None`: refused by the page itself, as when access
    /// was withdrawn). A `409` on a rename is an edit that lost a race: the card offers
    /// both values instead of the message.
    pub status: Option<u16>,
    pub message: String,
}

impl Refusal {
    /// Does the board show this refusal where the action was (on its card, or under the
    /// column a new todo was for)? Those that it does not are shown in the page's banner.
    pub fn has_place(&self) -> bool {
        self.todo.is_some() || matches!(self.command, Command::AddTodo { .. })
    }

    /// A rename refused because the title changed since the editor opened: `Some(the
    /// refused title)`, which the card offers beside the one that won.
    pub fn lost_rename(&self, todo: Id) -> Option<&str> {
        match &self.command {
            Command::RenameTodo { id, title, .. } if *id == todo && self.status == Some(409) => Some(title),
            _ => None,
        }
    }
}

/// What the page shows: the confirmed board with the pending commands applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Shown {
    /// The board to render. Its `seq` is the confirmed seq: pending changes have none yet.
    /// The confirmed board itself, shared, when nothing is pending (no copy: a page of
    /// several views of a big board would otherwise hold a copy per view).
    pub state: Arc<BoardState>,
    /// Todos a pending command added or changed: their cards are marked pending.
    pub pending_todos: BTreeSet<Id>,
    /// Todos a pending command added: their ids are provisional until the server assigns
    /// theirs, so no command may name them yet (it could reach another todo). A pending
    /// change to an existing todo is no such reason: its card stays usable (and keeps focus).
    pub provisional: BTreeSet<Id>,
    /// Keys of pending commands that do not apply to the confirmed board (the server will
    /// refuse them; until then they are left out).
    pub conflicts: Vec<String>,
}

impl Outbox {
    /// Queues a new command, to be sent.
    pub fn push(&mut self, key: String, command: Command) {
        self.pending.push(Pending::new(key, command, 0, None));
    }

    /// Queues a new command that is not sent before `until` (Unix ms): it can be undone
    /// until then (`undo`).
    pub fn push_held(&mut self, key: String, command: Command, until: i64) {
        self.pending.push(Pending { hold_until: Some(until), ..Pending::new(key, command, 0, None) });
    }

    /// A command as another tab of this browser tells it (made there, released from its
    /// hold, or answered by the server): added, in order of making (then of key, so that
    /// every tab holds the same order), or updated. An update never forgets a seq already
    /// learnt. `false` if nothing changed.
    pub fn put(&mut self, pending: Pending) -> bool {
        match self.find(&pending.key) {
            Some(known) => {
                let seq = known.seq.or(pending.seq);
                let merged = Pending { seq, ..pending };
                let changed = *known != merged;
                *known = merged;
                changed
            }
            None => {
                let at = self.pending.partition_point(|p| (p.made_at, &p.key) <= (pending.made_at, &pending.key));
                self.pending.insert(at, pending);
                true
            }
        }
    }

    /// Takes a command out unsent (undone in its hold, or discarded). `false` if absent.
    pub fn drop_key(&mut self, key: &str) -> bool {
        let before = self.pending.len();
        self.pending.retain(|p| p.key != key);
        self.pending.len() < before
    }

    /// The hold of `key` is over: it goes like any other. `false` if it was not held
    /// (undone meanwhile, or released already).
    pub fn release(&mut self, key: &str) -> bool {
        self.find(key).and_then(|p| p.hold_until.take()).is_some()
    }

    /// Undoes the held command about `todo`: it leaves the outbox unsent. Returns the keys
    /// that left: none if there was none (its hold ended: it went).
    pub fn undo(&mut self, todo: Id) -> Vec<String> {
        let mut undone = Vec::new();
        self.pending.retain(|p| {
            let held = p.hold_until.is_some() && subject(&p.command) == Some(todo);
            if held {
                undone.push(p.key.clone());
            }
            !held
        });
        undone
    }

    /// The pending command with `key`.
    pub fn get(&self, key: &str) -> Option<&Pending> {
        self.pending.iter().find(|p| p.key == key)
    }

    /// Is the command with `key` held back?
    pub fn held(&self, key: &str) -> bool {
        self.pending.iter().any(|p| p.key == key && p.hold_until.is_some())
    }

    /// The server committed the command sent with `key` at `seq` (its answer, or a frame
    /// that carried the key). `false` if no pending command has that key (another tab's,
    /// or already settled).
    pub fn committed(&mut self, key: &str, seq: u64) -> bool {
        match self.find(key) {
            Some(p) => {
                p.seq = Some(seq);
                true
            }
            None => false,
        }
    }

    /// The confirmed board reached `confirmed`: every command committed at or before it is
    /// in that board now, so it leaves the outbox. Returns how many left.
    pub fn settle(&mut self, confirmed: u64) -> usize {
        let before = self.pending.len();
        self.pending.retain(|p| p.seq.is_none_or(|seq| seq > confirmed));
        before - self.pending.len()
    }

    /// The server refused the command sent with `key` (with this HTTP `status`; `None`
    /// when the page gives up on it itself): it leaves the outbox.
    pub fn refused(&mut self, key: &str, status: Option<u16>, message: String) -> Option<Refusal> {
        let at = self.pending.iter().position(|p| p.key == key)?;
        let command = self.pending.remove(at).command;
        Some(Refusal { todo: subject(&command), command, status, message })
    }

    /// Commands the server has not answered yet (on their way, or waiting offline): what
    /// the page's header counts.
    pub fn waiting(&self) -> usize {
        self.pending.iter().filter(|p| p.seq.is_none()).count()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The pending commands, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Pending> {
        self.pending.iter()
    }

    /// The board to show: `confirmed` with every pending command re-applied on top.
    pub fn show(&self, confirmed: &Arc<BoardState>) -> Shown {
        if self.pending.is_empty() {
            return Shown {
                state: confirmed.clone(),
                pending_todos: BTreeSet::new(),
                provisional: BTreeSet::new(),
                conflicts: Vec::new(),
            };
        }
        // One copy of the board, each command decided and applied to it in place: the page
        // recomputes this on every change while a thousand commands may wait (offline), so
        // no copy or diff of the whole board per command.
        let mut state = (**confirmed).clone();
        let mut pending_todos = BTreeSet::new();
        let mut provisional = BTreeSet::new();
        let mut conflicts = Vec::new();
        for p in &self.pending {
            let event = match decide(&state, &p.command) {
                Ok(event) => event,
                Err(_) => {
                    conflicts.push(p.key.clone());
                    continue;
                }
            };
            match (&event, event.todo_id()) {
                (Event::TodoDeleted { id }, _) => {
                    pending_todos.remove(id);
                    provisional.remove(id);
                }
                (_, Some(id)) => {
                    pending_todos.insert(id);
                    if matches!(p.command, Command::AddTodo { .. }) {
                        provisional.insert(id);
                    }
                }
                // A sprint's change (completing one sends its unfinished todos back): the
                // todos it changed, from the ops, as the server would send them.
                (_, None) => {
                    let done = apply(&state, event.clone());
                    pending_todos.extend(done.ops.iter().filter_map(|op| match op {
                        Op::PutTodo { todo } => Some(todo.id),
                        _ => None,
                    }));
                }
            }
            evolve(&mut state, &event);
        }
        // Pending changes have no seq: the page's seq is the one it applied.
        state.seq = confirmed.seq;
        Shown { state: Arc::new(state), pending_todos, provisional, conflicts }
    }

    fn find(&mut self, key: &str) -> Option<&mut Pending> {
        self.pending.iter_mut().find(|p| p.key == key)
    }
}

/// The existing todo a command is about, if any.
pub fn subject(command: &Command) -> Option<Id> {
    match command {
        Command::RenameTodo { id, .. }
        | Command::SetTodoStatus { id, .. }
        | Command::MoveTodo { id, .. }
        | Command::DeleteTodo { id, .. } => Some(*id),
        Command::AddTodo { .. }
        | Command::RestoreTodo { .. }
        | Command::AddSprint { .. }
        | Command::StartSprint { .. }
        | Command::CompleteSprint { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{execute, TodoStatus};

    fn add(title: &str) -> Command {
        Command::AddTodo { title: title.into(), sprint_id: None }
    }

    #[test]
    fn a_held_delete_shows_at_once_and_undo_takes_it_back_unsent() {
        let mut confirmed = BoardState::empty("b", "B");
        confirmed = execute(&confirmed, &add("keep me")).unwrap().state;
        let confirmed = Arc::new(confirmed);
        let mut outbox = Outbox::default();
        outbox.push_held("k1".into(), Command::DeleteTodo { id: 1, expected_version: None }, 5_000);
        assert!(outbox.held("k1"));
        assert!(outbox.show(&confirmed).state.todos.is_empty(), "gone from the page at once");
        assert_eq!(outbox.waiting(), 1);
        assert_eq!(outbox.undo(1), ["k1"]);
        assert!(outbox.is_empty(), "undone: nothing left to send");
        assert_eq!(outbox.show(&confirmed).state.todos.len(), 1, "and the card is back");

        outbox.push_held("k2".into(), Command::DeleteTodo { id: 1, expected_version: None }, 5_000);
        assert!(outbox.release("k2") && !outbox.held("k2"));
        assert!(outbox.undo(1).is_empty(), "released: it went, too late to undo");
        assert!(!outbox.release("k2"));
    }

    #[test]
    fn a_pending_command_shows_at_once_and_settles_when_its_seq_is_applied() {
        let confirmed = BoardState::empty("b", "B");
        let mut outbox = Outbox::default();
        outbox.push("k1".into(), add("new"));
        let shown = outbox.show(&Arc::new(confirmed.clone()));
        assert_eq!(shown.state.todos.len(), 1, "shown before the server answers");
        assert_eq!(shown.state.seq, 0, "with the confirmed seq");
        assert_eq!(shown.pending_todos, BTreeSet::from([1]));

        // The frame (carrying k1) overtakes the answer: the confirmed board has the todo.
        let server = execute(&confirmed, &add("new")).unwrap().state;
        assert!(outbox.committed("k1", 1));
        assert_eq!(outbox.settle(server.seq), 1);
        let shown = outbox.show(&Arc::new(server.clone()));
        assert_eq!(*shown.state, server, "shown once, not twice");
        assert!(shown.pending_todos.is_empty());
        assert!(!outbox.committed("k1", 1), "the late answer finds nothing to do");
    }

    #[test]
    fn a_committed_command_stays_shown_until_the_board_reaches_its_seq() {
        let confirmed = BoardState::empty("b", "B");
        let mut outbox = Outbox::default();
        outbox.push("k1".into(), add("mine"));
        outbox.committed("k1", 2);
        // Someone else's change at seq 1 arrives first: still rebased on top.
        let remote = execute(&confirmed, &add("theirs")).unwrap().state;
        assert_eq!(outbox.settle(remote.seq), 0);
        let shown = outbox.show(&Arc::new(remote.clone()));
        let titles: Vec<_> = shown.state.todos.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(titles, ["theirs", "mine"]);
    }

    #[test]
    fn a_refused_command_disappears_with_its_message_and_a_conflict_is_left_out() {
        let mut confirmed = execute(&BoardState::empty("b", "B"), &add("shared")).unwrap().state;
        let mut outbox = Outbox::default();
        outbox.push("k1".into(), Command::SetTodoStatus { id: 1, status: TodoStatus::Done, expected_version: None });
        outbox.push("k2".into(), add("after"));
        let shown = outbox.show(&Arc::new(confirmed.clone()));
        assert_eq!(shown.pending_todos, BTreeSet::from([1, 3]));
        assert_eq!(shown.provisional, BTreeSet::from([3]), "only the new todo's id is provisional");

        // Another tab deletes the todo: the pending status change no longer applies.
        confirmed = execute(&confirmed, &Command::DeleteTodo { id: 1, expected_version: None }).unwrap().state;
        let shown = outbox.show(&Arc::new(confirmed.clone()));
        assert_eq!(shown.conflicts, ["k1"]);
        assert_eq!(shown.state.todos.len(), 1, "the later command still shows");

        let refusal = outbox.refused("k1", Some(422), "no todo 1".into()).unwrap();
        assert_eq!((refusal.todo, refusal.message.as_str()), (Some(1), "no todo 1"));
        assert_eq!(outbox.len(), 1);
    }

    #[test]
    fn another_tabs_commands_take_their_place_by_when_they_were_made() {
        let mut outbox = Outbox::default();
        let made = |key: &str, at: i64| Pending::new(key.into(), add(key), at, None);
        assert!(outbox.put(made("a1", 10)));
        assert!(outbox.put(made("a2", 30)));
        assert!(outbox.put(made("b1", 20)), "another tab's, made between the two");
        let keys: Vec<_> = outbox.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["a1", "b1", "a2"]);
        // An update (the sender learnt its seq) keeps its place; a stale copy cannot
        // forget the seq.
        assert!(outbox.put(Pending { seq: Some(7), ..made("b1", 20) }));
        assert!(!outbox.put(made("b1", 20)), "nothing new");
        assert_eq!(outbox.get("b1").unwrap().seq, Some(7));
        assert!(outbox.drop_key("a1") && !outbox.drop_key("a1"));
        assert_eq!(outbox.len(), 2);
    }

    #[test]
    fn a_command_waiting_too_long_or_made_in_another_epoch_is_overdue_until_approved() {
        const DAY: i64 = 24 * 3_600_000;
        let mut pending = Pending::new("k".into(), add("old"), 1_000, Some("e1".into()));
        assert_eq!(pending.overdue(1_000 + DAY, DAY, Some("e1")), None, "a day old exactly: not yet");
        assert_eq!(pending.overdue(2_000 + DAY, DAY, Some("e1")), Some(Overdue::Old { age_ms: DAY + 1_000 }));
        assert_eq!(pending.overdue(2_000, DAY, Some("e2")), Some(Overdue::OtherEpoch), "the board was replaced");
        assert_eq!(pending.overdue(2_000, DAY, None), None, "an epoch not known yet says nothing");
        pending.approved = true;
        assert_eq!(pending.overdue(2_000 + DAY, DAY, Some("e2")), None, "the person chose to send it");
        // One the server answered is not waiting for anyone.
        let answered = Pending { seq: Some(3), ..Pending::new("j".into(), add("x"), 1, Some("e1".into())) };
        assert_eq!(answered.overdue(2 * DAY, DAY, Some("e2")), None);
    }

    #[test]
    fn the_outbox_survives_a_reload_with_its_keys() {
        let mut outbox = Outbox::default();
        outbox.push("k1".into(), add("offline"));
        outbox.push("k2".into(), add("still offline"));
        outbox.committed("k1", 4);
        assert_eq!(outbox.waiting(), 1, "k1 is answered, k2 waits");
        let stored = serde_json::to_string(&outbox).unwrap();
        let restored: Outbox = serde_json::from_str(&stored).unwrap();
        assert_eq!(restored, outbox);
        let keys: Vec<_> = restored.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["k1", "k2"]);
    }
}
