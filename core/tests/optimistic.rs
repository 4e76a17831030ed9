//! Property test of optimistic updates: a page that shows its pending commands at once, a
//! server, another tab, and everything between them happening in any order: the page's
//! commands reaching the server, the server's answers (commits and refusals) reaching the
//! page, the stream's frames reaching it (before or after the answers), the stream dropping
//! and catching up, the page reloading and resending what is pending. In every pattern:
//!
//! * the page's confirmed board is always the server's board at the same seq;
//! * the page never shows a change twice: a pending command that the confirmed board
//!   already contains is still pending only if the page jumped over its seq without seeing
//!   its key (a self-contained pattern catching up after a reconnect), never because a
//!   frame overtook the answer;
//! * a refused command leaves the outbox with the server's message;
//! * once everything has arrived, nothing is pending and the page shows the server's board.

use std::collections::{BTreeSet, HashMap, VecDeque};

use board_core::domain::{apply, decide::respace_due, execute, BoardState, Command, Event, TodoStatus};
use board_core::optimistic::Outbox;
use board_core::patterns::{ChangeRecord, PatternKind};
use board_core::step::{step, Step};
use proptest::prelude::*;

/// What a person (this page's or another tab's) does, with the todo picked by index among
/// those they can see.
#[derive(Clone, Debug)]
enum Intent {
    Add(String),
    Status(usize, TodoStatus),
    /// With `expected_version` taken from what they see: a `409` if it changed meanwhile.
    Rename(usize, String),
    Move(usize, Option<u32>),
    Delete(usize),
}

#[derive(Clone, Debug)]
enum Action {
    /// This page's person acts on the board the page shows.
    Local(Intent),
    /// Another tab's command commits at once.
    Remote(Intent),
    /// The server takes the oldest command sent to it.
    Serve,
    /// The oldest answer reaches the page.
    Answer,
    /// The stream's next frame reaches the page.
    Deliver,
    /// The stream drops (frames in flight are lost) and reconnects from the page's seq.
    Reconnect,
    /// The page reloads: its outbox comes back from storage and every pending command is
    /// sent again with its key; answers in flight are lost.
    Reload,
}

fn intent() -> impl Strategy<Value = Intent> {
    // An empty title is refused (422): refusals are part of the run.
    let title = prop_oneof![1 => Just(String::new()), 6 => "[a-z]{1,6}"];
    let status = prop_oneof![Just(TodoStatus::Todo), Just(TodoStatus::Doing), Just(TodoStatus::Done)];
    prop_oneof![
        3 => title.clone().prop_map(Intent::Add),
        2 => (0..8usize, status).prop_map(|(i, s)| Intent::Status(i, s)),
        2 => (0..8usize, title).prop_map(|(i, t)| Intent::Rename(i, t)),
        2 => (0..8usize, proptest::option::of(0..4u32)).prop_map(|(i, p)| Intent::Move(i, p)),
        1 => (0..8usize).prop_map(Intent::Delete),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => intent().prop_map(Action::Local),
        2 => intent().prop_map(Action::Remote),
        4 => Just(Action::Serve),
        3 => Just(Action::Answer),
        5 => Just(Action::Deliver),
        1 => Just(Action::Reconnect),
        1 => Just(Action::Reload),
    ]
}

/// The command a person means, on the board they see (`editable`: the todos they may touch).
fn command(intent: &Intent, seen: &BoardState, editable: &[i64]) -> Command {
    let pick = |i: usize| editable.get(i % editable.len().max(1)).copied();
    let version = |id| seen.todo(id).map(|t| t.version);
    match (intent, editable.is_empty()) {
        (Intent::Add(title), _) | (Intent::Rename(_, title), true) => {
            Command::AddTodo { title: title.clone(), sprint_id: None }
        }
        (_, true) => Command::AddTodo { title: "first".into(), sprint_id: None },
        (Intent::Status(i, status), _) => {
            Command::SetTodoStatus { id: pick(*i).unwrap(), status: *status, expected_version: None }
        }
        (Intent::Rename(i, title), _) => {
            let id = pick(*i).unwrap();
            Command::RenameTodo { id, title: title.clone(), expected_version: version(id) }
        }
        (Intent::Move(i, position), _) => {
            Command::MoveTodo { id: pick(*i).unwrap(), sprint_id: None, position: *position, expected_version: None }
        }
        (Intent::Delete(i), _) => Command::DeleteTodo { id: pick(*i).unwrap(), expected_version: None },
    }
}

struct Sim {
    pattern: PatternKind,
    // The server.
    server: BoardState,
    /// The change log: entry `n` is seq `n + 1`, with the board after it.
    log: Vec<(ChangeRecord, BoardState)>,
    /// The first answer to each key (a resend gets it again, as with Idempotency-Key).
    answered: HashMap<String, u64>,
    // Between them.
    to_server: VecDeque<(String, Command)>,
    answers: VecDeque<(String, Result<u64, String>)>,
    /// The last seq the stream has sent; the frames after it are on their way.
    stream_at: u64,
    // The page.
    confirmed: BoardState,
    outbox: Outbox,
    /// Seqs the page applied without their own frame (a catch-up to the head).
    jumped: BTreeSet<u64>,
    next_key: u64,
}

impl Sim {
    fn new(pattern: PatternKind) -> Sim {
        let mut sim = Sim {
            pattern,
            server: BoardState::empty("b", "Board"),
            log: Vec::new(),
            answered: HashMap::new(),
            to_server: VecDeque::new(),
            answers: VecDeque::new(),
            stream_at: 0,
            confirmed: BoardState::empty("b", "Board"),
            outbox: Outbox::default(),
            jumped: BTreeSet::new(),
            next_key: 0,
        };
        for title in ["one", "two", "three"] {
            sim.commit(&Command::AddTodo { title: title.into(), sprint_id: None }, None).unwrap();
        }
        // The page was rendered at the head.
        sim.confirmed = sim.server.clone();
        sim.stream_at = sim.server.seq;
        sim
    }

    /// The server decides and commits, followed (as the real one does) by a column's
    /// re-spacing when a position key grew long: a change of its own, without a key.
    fn commit(&mut self, command: &Command, key: Option<&str>) -> Result<u64, String> {
        let mut done = execute(&self.server, command).map_err(|e| e.to_string())?;
        let seq = done.state.seq;
        let mut key = key;
        loop {
            let respace = respace_due(&done.state, &done.event);
            self.server = done.state.clone();
            self.log.push((ChangeRecord::new(&done, 0).keyed(key.take()), done.state));
            match respace {
                Some(sprint_id) => done = apply(&self.server, Event::ColumnRespaced { sprint_id }),
                None => return Ok(seq),
            }
        }
    }

    fn at(&self, seq: u64) -> &BoardState {
        &self.log[seq as usize - 1].1
    }

    fn act(&mut self, action: &Action) {
        match action {
            Action::Local(intent) => {
                let shown = self.outbox.show(&std::sync::Arc::new(self.confirmed.clone()));
                let editable: Vec<_> =
                    shown.state.todos.iter().map(|t| t.id).filter(|id| !shown.pending_todos.contains(id)).collect();
                let command = command(intent, &shown.state, &editable);
                self.next_key += 1;
                let key = format!("k{}", self.next_key);
                self.outbox.push(key.clone(), command.clone());
                self.to_server.push_back((key, command));
            }
            Action::Remote(intent) => {
                let editable: Vec<_> = self.server.todos.iter().map(|t| t.id).collect();
                let command = command(intent, &self.server.clone(), &editable);
                let _ = self.commit(&command, None);
            }
            Action::Serve => {
                if let Some((key, command)) = self.to_server.pop_front() {
                    let answer = match self.answered.get(&key) {
                        Some(seq) => Ok(*seq),
                        None => self.commit(&command, Some(&key)),
                    };
                    if let Ok(seq) = answer {
                        self.answered.insert(key.clone(), seq);
                    }
                    self.answers.push_back((key, answer));
                }
            }
            Action::Answer => {
                if let Some((key, answer)) = self.answers.pop_front() {
                    match answer {
                        Ok(seq) => {
                            self.outbox.committed(&key, seq);
                            self.outbox.settle(self.confirmed.seq);
                        }
                        Err(message) => {
                            // Gone, unless an earlier answer to the same key already settled it.
                            if let Some(refusal) = self.outbox.refused(&key, Some(409), message.clone()) {
                                assert_eq!(refusal.message, message);
                            }
                            assert!(self.outbox.iter().all(|p| p.key != key), "a refused command leaves");
                        }
                    }
                }
            }
            Action::Deliver => {
                if self.stream_at < self.server.seq {
                    self.stream_at += 1;
                    let (record, after) = self.log[self.stream_at as usize - 1].clone();
                    let frame = self.pattern.frame_for(&record, &after);
                    self.receive(&frame);
                }
            }
            Action::Reconnect => {
                // Frames in flight are lost; the new stream starts from the page's seq.
                self.stream_at = self.confirmed.seq;
                if self.pattern.self_contained() && self.server.seq > self.confirmed.seq {
                    // A self-contained catch-up is one frame at the head, with the head's key.
                    let head = self.server.seq;
                    let (record, after) = self.log[head as usize - 1].clone();
                    let frame = self.pattern.snapshot_frame(&after, 0).unwrap().keyed(record.key.clone());
                    self.jumped.extend(self.confirmed.seq + 1..head);
                    self.stream_at = head;
                    self.receive(&frame);
                }
            }
            Action::Reload => {
                let stored = serde_json::to_string(&self.outbox).unwrap();
                self.outbox = serde_json::from_str(&stored).unwrap();
                self.answers.clear();
                for p in self.outbox.iter() {
                    self.to_server.push_back((p.key.clone(), p.command.clone()));
                }
                // The reloaded page starts from a fresh snapshot at the head.
                self.jumped.extend(self.confirmed.seq + 1..=self.server.seq);
                self.confirmed = self.server.clone();
                self.stream_at = self.server.seq;
                self.outbox.settle(self.confirmed.seq);
            }
        }
    }

    /// The page's engine: a frame through `step`, its key to the outbox, settle.
    fn receive(&mut self, frame: &board_core::patterns::Frame) {
        let seq = frame.seq().expect("a data frame");
        if let Some(key) = frame.key() {
            self.outbox.committed(key, seq);
        }
        match step(&mut self.confirmed, self.pattern, frame).unwrap() {
            Step::Applied | Step::Skip => {}
            // poke-pull pulls the board at the poked seq (`/snapshots/{seq}`).
            Step::Pull => {
                self.jumped.extend(self.confirmed.seq + 1..seq);
                self.confirmed = self.at(seq).clone();
            }
            other => panic!("frames arrive in order here, got {other:?}"),
        }
        self.outbox.settle(self.confirmed.seq);
    }

    fn check(&self) {
        let expected =
            if self.confirmed.seq == 0 { &BoardState::empty("b", "Board") } else { self.at(self.confirmed.seq) };
        assert_eq!(&self.confirmed, expected, "the confirmed board is the server's at its seq");
        let shown = self.outbox.show(&std::sync::Arc::new(self.confirmed.clone()));
        assert_eq!(shown.state.seq, self.confirmed.seq);
        for p in self.outbox.iter() {
            if let Some(&seq) = self.answered.get(&p.key) {
                assert!(
                    seq > self.confirmed.seq || self.jumped.contains(&seq),
                    "{:?}: {} is in the confirmed board (seq {seq}) and still pending",
                    self.pattern,
                    p.key
                );
            }
        }
    }

    /// Everything in flight arrives.
    fn drain(&mut self) {
        while !self.to_server.is_empty() || !self.answers.is_empty() || self.stream_at < self.server.seq {
            self.act(&Action::Serve);
            self.act(&Action::Answer);
            self.act(&Action::Deliver);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_page_shows_confirmed_plus_pending_and_converges(actions in proptest::collection::vec(action(), 1..60)) {
        for pattern in PatternKind::ALL {
            let mut sim = Sim::new(pattern);
            for action in &actions {
                sim.act(action);
                sim.check();
            }
            sim.drain();
            sim.check();
            prop_assert!(sim.outbox.is_empty(), "{pattern}: still pending after everything arrived: {:?}", sim.outbox);
            prop_assert_eq!(&*sim.outbox.show(&std::sync::Arc::new(sim.confirmed.clone())).state, &sim.server, "{} shows the server's board", pattern);
        }
    }
}
