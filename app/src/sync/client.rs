//! [`BoardClient`]: the reactive handle to one board that the components read and write.
//! It is signals only, plus the inbox of the engine that keeps it current (`engine`
//! attaches itself), where `switch` and `send` go. It knows nothing of the engine or the
//! links: on the server it only holds the rendered state.

use std::collections::BTreeMap;
use std::sync::Arc;

use leptos::prelude::*;

use super::away::Missed;
use super::connection::{Conn, Connection, Trouble};
use super::history::PastView;
use super::inbox::{Inbox, Input};
use super::lab::{Fault, LabFaults, LabInbox, LabShown, LabState};
use super::outbox::OverdueCommand;
use super::undo::{BlockedNote, UndoShown};
use super::wire::WireLog;
use board_core::domain::{BoardState, Command, Id};
use board_core::optimistic::{Outbox, Refusal, Shown};
use board_core::patterns::PatternKind;
use board_core::presence::{clean_name, Identity, Member, Signal};
use board_core::protocol::Transport;

/// The short-poll interval unless the page says otherwise.
pub const DEFAULT_POLL_MS: u32 = 2000;

/// Refusals kept to show at most (see `BoardClient::refused`).
pub const MAX_REFUSALS: usize = 50;

/// How long a delete can be undone before it is sent.
pub const UNDO_MS: u32 = 5_000;

/// A title being edited: what the person typed, and the todo as it was when the editor
/// opened, so that a save can tell whether someone else renamed it meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    pub text: String,
    /// The title the editor opened on.
    pub base_title: String,
}

/// How another tab's pointer reaches this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CursorLink {
    /// Over a WebRTC data channel between the two browsers.
    P2p,
    /// Through the server (`cursor` frames): the channel did not open.
    Relay,
}

impl CursorLink {
    pub fn as_str(self) -> &'static str {
        match self {
            CursorLink::P2p => "p2p",
            CursorLink::Relay => "relay",
        }
    }
}

/// Another tab's pointer, as fractions of the board's area.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RemoteCursor {
    pub x: f64,
    pub y: f64,
    pub link: CursorLink,
}

/// The browser's local copy of the board, shown before the connection is live.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocalShown {
    pub seq: u64,
    /// When a page saved it (Unix ms).
    pub saved_at: i64,
}

/// Every field is a signal or a stored value, so the handle is `Copy` and can be moved
/// into any event handler.
#[derive(Clone, Copy)]
pub struct BoardClient {
    pub board_id: StoredValue<String>,
    /// The board as this client has applied it (the confirmed board); `state.seq` is the
    /// applied seq.
    /// Shared (`Arc`): the page's views of one board start from one copy.
    pub state: RwSignal<Arc<BoardState>>,
    /// `state`'s fingerprint, computed once per change however many places show it (a
    /// compare pane compares it with every other pane's).
    pub fingerprint: Memo<String>,
    /// Commands not yet in `state` nor refused (the engine keeps it; see `optimistic`).
    pub outbox: RwSignal<Outbox>,
    /// Pending commands too old, or made against an earlier epoch of the board, that wait
    /// for the person to send or discard them (`outbox::overdue`).
    pub overdue: RwSignal<Vec<OverdueCommand>>,
    /// How long a command may wait and still go by itself (ms; `outbox::MAX_AGE_MS`
    /// unless the server's configuration says otherwise).
    pub max_age_ms: StoredValue<i64>,
    /// Is this the tab that sends the outbox this browser's tabs of the board share?
    pub sends: RwSignal<bool>,
    /// The board shown is the browser's local copy (the page opened with no connection);
    /// `None` once the connection is live.
    pub local_copy: RwSignal<Option<LocalShown>>,
    /// Why this browser keeps no copy of the board and its outbox (no IndexedDB, storage
    /// full, evicted): they last only as long as the tab. `None`: kept.
    pub storage_failure: RwSignal<Option<String>>,
    /// Show the outbox's commands on the board before the server confirms them? (The
    /// page's switch: off, a change appears only once its frame is applied.)
    pub optimistic: RwSignal<bool>,
    /// What the page renders: `state` with the outbox re-applied (or `state` alone when
    /// `optimistic` is off), and which todos are pending; or, while the person looks at
    /// the past, the board at that seq (read-only).
    pub shown: Memo<Shown>,
    /// The board at an earlier seq that the history slider shows, instead of the live one
    /// (which keeps following meanwhile); `None`: the live board.
    pub past: RwSignal<Option<PastView>>,
    /// The oldest seq history reaches, once the server said (older changes were pruned).
    pub history_floor: RwSignal<u64>,
    /// The history view's window of the log and the seq last asked for (`history::travel`).
    pub travel: StoredValue<super::history::Travel>,
    /// What Undo and Redo would do now (kept by the engine).
    pub undo: RwSignal<UndoShown>,
    /// The undo or redo the domain refused last, until the next one or dismissed.
    pub undo_blocked: RwSignal<Option<BlockedNote>>,
    /// "You missed N changes": set when the page comes back from being away.
    pub missed: RwSignal<Option<Missed>>,
    /// Commands the server refused, with its message, shown where they were until dismissed
    /// (or until the person acts on the same todo again).
    pub refusals: RwSignal<Vec<Refusal>>,
    /// Titles being edited, by todo: kept here rather than in the card, so that neither a
    /// remote change nor the card moving to another column loses what was typed.
    pub drafts: RwSignal<BTreeMap<Id, Draft>>,
    pub conn: RwSignal<Conn>,
    /// How the stream reaches this tab: its own connection, or (HTTP/1.1, many tabs)
    /// another tab's relay. Kept by the engine from what the link says.
    pub sharing: RwSignal<super::platform::Sharing>,
    /// Does the browser say it has a network (`navigator.onLine`, its `online` and
    /// `offline` events)? Kept by the engine.
    pub online: RwSignal<bool>,
    /// Connections failed since the last one that opened (`None`: none failed). Kept by
    /// the engine; with `conn` and `online` it decides [`BoardClient::connection`].
    pub trouble: RwSignal<Option<Trouble>>,
    /// How many changes by others this client has applied (their seqs, less this tab's
    /// own commits): what the page's live region announces.
    pub remote_changes: RwSignal<u64>,
    pub pattern: RwSignal<PatternKind>,
    pub transport: RwSignal<Transport>,
    /// The short-poll interval in milliseconds.
    pub poll_ms: RwSignal<u32>,
    pub wire: RwSignal<WireLog>,
    /// The last refusal or failure, shown to the user until dismissed.
    pub notice: RwSignal<Option<String>>,
    /// `true` once the engine runs in the browser: the page is interactive.
    pub running: RwSignal<bool>,
    /// The replica that serves the stream (from `hello`).
    pub replica: RwSignal<String>,
    /// The person traces this tab: its commands carry a sampled `traceparent`.
    pub traced: RwSignal<bool>,
    /// The traced changes this tab applied, newest first (the inspector's waterfalls).
    pub traces: RwSignal<super::trace::Traces>,
    /// May this browser change the board (it holds the write key, or the board is
    /// public)? Read-only viewers get no editing controls.
    pub can_write: RwSignal<bool>,
    /// Does this browser hold the board's write key, so that it may administer the board
    /// (webhooks, the replica's faults on it)? Public boards are editable by anyone but
    /// administered by their owner only.
    pub can_admin: RwSignal<bool>,
    /// Who this tab is on the presence list; `None` until it runs in a browser.
    pub me: RwSignal<Option<Identity>>,
    /// The secret that claims this tab's client id on the server (sent with its streams,
    /// signals and leave; never shown); `None` until it runs in a browser.
    pub claim: StoredValue<Option<String>>,
    /// How many more people are on the board than the presence list names.
    pub presence_more: RwSignal<usize>,
    /// Who is on the board (ephemeral: the latest `presence` frame).
    pub presence: RwSignal<Vec<Member>>,
    /// Other tabs' pointers, by client id (kept by the page's peer mesh).
    pub cursors: RwSignal<BTreeMap<String, RemoteCursor>>,
    /// Where the page's pointer goes (the cursor mesh). Browser only: a local value must
    /// not exist on the server, whose rendering may drop it on another thread.
    #[cfg(feature = "hydrate")]
    pointer: StoredValue<super::Pointer, LocalStorage>,
    /// The fault lab's settings for this tab (see `lab`).
    pub lab: RwSignal<LabState>,
    /// The engine's inbox, once it runs: what the page asks for (switch, send) goes there.
    engine: StoredValue<Option<Inbox>>,
    /// The fault lab's inbox, once it runs: the page's faults go there.
    faults: StoredValue<Option<LabInbox>>,
}

impl BoardClient {
    pub fn new(
        initial: Arc<BoardState>,
        pattern: PatternKind,
        transport: Transport,
        replica: String,
        can_write: bool,
    ) -> Self {
        let state = RwSignal::new(initial);
        let outbox = RwSignal::new(Outbox::default());
        let optimistic = RwSignal::new(true);
        let past: RwSignal<Option<PastView>> = RwSignal::new(None);
        let shown = Memo::new(move |_| {
            if let Some(past) = past.with(|p| p.as_ref().map(|p| p.state.clone())) {
                return Outbox::default().show(&past);
            }
            if optimistic.get() {
                outbox.with(|outbox| state.with(|state| outbox.show(state)))
            } else {
                Outbox::default().show(&state.get())
            }
        });
        BoardClient {
            board_id: StoredValue::new(state.with_untracked(|s| s.board.id.clone())),
            state,
            fingerprint: Memo::new(move |_| state.with(|s| s.fingerprint())),
            outbox,
            overdue: RwSignal::new(Vec::new()),
            max_age_ms: StoredValue::new(super::outbox::MAX_AGE_MS),
            sends: RwSignal::new(false),
            local_copy: RwSignal::new(None),
            storage_failure: RwSignal::new(None),
            optimistic,
            shown,
            past,
            history_floor: RwSignal::new(0),
            travel: StoredValue::new(Default::default()),
            undo: RwSignal::new(UndoShown::default()),
            undo_blocked: RwSignal::new(None),
            missed: RwSignal::new(None),
            refusals: RwSignal::new(Vec::new()),
            drafts: RwSignal::new(BTreeMap::new()),
            conn: RwSignal::new(Conn::Connecting),
            sharing: RwSignal::new(super::platform::Sharing::Own),
            online: RwSignal::new(true),
            trouble: RwSignal::new(None),
            remote_changes: RwSignal::new(0),
            pattern: RwSignal::new(pattern),
            transport: RwSignal::new(transport),
            poll_ms: RwSignal::new(DEFAULT_POLL_MS),
            wire: RwSignal::new(WireLog::default()),
            notice: RwSignal::new(None),
            running: RwSignal::new(false),
            replica: RwSignal::new(replica),
            traced: RwSignal::new(false),
            traces: RwSignal::new(Default::default()),
            can_write: RwSignal::new(can_write),
            can_admin: RwSignal::new(false),
            me: RwSignal::new(None),
            claim: StoredValue::new(None),
            presence_more: RwSignal::new(0),
            presence: RwSignal::new(Vec::new()),
            cursors: RwSignal::new(BTreeMap::new()),
            #[cfg(feature = "hydrate")]
            pointer: StoredValue::new_local(super::Pointer::default()),
            lab: RwSignal::new(LabState::default()),
            engine: StoredValue::new(None),
            faults: StoredValue::new(None),
        }
    }

    pub fn board_id(&self) -> String {
        self.board_id.get_value()
    }

    /// The engine that keeps this client current attaches here (see `engine::start`).
    pub(super) fn attach(self, inbox: Inbox) {
        self.engine.set_value(Some(inbox));
    }

    /// Opens this client to a fault lab (`lab::Faulty::new` takes the answer): the faults
    /// the page injects go to the receiver, and the lab shows what it does in this client's
    /// signals.
    pub fn open_lab(self) -> (LabShown, LabFaults) {
        let (sender, faults) = futures::channel::mpsc::unbounded();
        self.faults.set_value(Some(sender));
        (LabShown { settings: self.lab, wire: self.wire }, faults)
    }

    /// Injects a fault into this tab's connection (the fault lab; nothing else sees it).
    pub fn fault(self, fault: Fault) {
        self.faults.with_value(|faults| {
            if let Some(faults) = faults {
                let _ = faults.unbounded_send(fault);
            }
        });
    }

    /// The page's pointer goes to `pointer` (the cursor mesh, once it runs).
    #[cfg(feature = "hydrate")]
    pub(super) fn attach_pointer(self, pointer: super::Pointer) {
        self.pointer.set_value(pointer);
    }

    /// The pointer is at (`x`, `y`), fractions of the board's area: other tabs see it.
    pub fn pointer_moved(self, x: f64, y: f64) {
        #[cfg(feature = "hydrate")]
        if (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y) {
            self.pointer.with_value(|pointer| pointer.moved(x, y));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (x, y);
    }

    /// What the page tells a person about the connection at `now` (Unix ms). Tracks
    /// `conn`, `online` and `trouble`, not the clock: a countdown re-reads it as it ticks.
    pub fn connection(self, now: i64) -> Connection {
        Connection::of(self.conn.get(), self.online.get(), self.trouble.get(), now)
    }

    /// "Try now": the next connection attempt, and any command waiting out a retry delay,
    /// go at once.
    pub fn retry_now(self) {
        self.tell(Input::RetryNow);
    }

    /// Switches pattern and transport live: the new stream resumes from the applied seq.
    pub fn switch(self, pattern: PatternKind, transport: Transport) {
        self.pattern.set(pattern);
        self.transport.set(transport);
        self.tell(Input::Switch);
    }

    /// Sends a command. The result shows up as a frame like everyone else's change; a
    /// refusal shows where the action was (`refusals`). A new command about a todo clears
    /// the refusals of earlier ones about it: they are no longer what the person sees.
    pub fn send(self, command: Command) {
        self.forget_refusals_about(&command);
        self.tell(Input::Send(command));
    }

    /// A new command about a todo: the refusals of earlier ones about it are no longer what
    /// the person sees.
    fn forget_refusals_about(self, command: &Command) {
        if let Some(todo) = board_core::optimistic::subject(command) {
            self.refusals.update(|all| all.retain(|r| r.todo != Some(todo)));
        }
    }

    /// Deletes a todo after `UNDO_MS`, during which the card is gone from the page and the
    /// person can take it back (`undo`): nothing to invert, nobody else saw it go.
    pub fn delete_with_undo(self, command: Command) {
        self.forget_refusals_about(&command);
        self.tell(Input::SendHeld { command, ms: UNDO_MS });
    }

    /// Takes back the held delete of `todo`, if its time is not over.
    pub fn cancel_delete(self, todo: Id) {
        self.tell(Input::CancelHeld(todo));
    }

    /// Sends the overdue command with `key` all the same (it goes in its turn).
    pub fn send_overdue(self, key: String) {
        self.tell(Input::Approve(key));
    }

    /// Discards the overdue command with `key`: it leaves every tab's outbox unsent.
    pub fn discard(self, key: String) {
        self.tell(Input::Discard(key));
    }

    /// Undoes this tab's newest change (a new command, the inverse of it).
    pub fn undo_last(self) {
        self.tell(Input::Undo);
    }

    /// Does again the change this tab undid last.
    pub fn redo_last(self) {
        self.tell(Input::Redo);
    }

    /// Keeps a refusal to show where its action was; the oldest go first beyond
    /// `MAX_REFUSALS` (a page left open for a day must not grow without end).
    pub fn refused(self, refusal: Refusal) {
        self.refusals.update(|all| {
            all.push(refusal);
            let over = all.len().saturating_sub(MAX_REFUSALS);
            all.drain(..over);
        });
    }

    /// Changes this tab's display name (trimmed; ignored if empty or too long): the
    /// stream reconnects carrying it, so everyone sees it.
    pub fn rename(self, name: &str) -> Option<String> {
        let name = clean_name(name)?;
        let mut me = self.me.get_untracked()?;
        if me.name == name {
            return None;
        }
        me.name = name.clone();
        self.me.set(Some(me));
        self.tell(Input::Switch);
        Some(name)
    }

    /// Sends a signal or a relayed cursor to other tabs (up the WebSocket, or `POST`).
    pub fn signal(self, signal: Signal) {
        self.tell(Input::Signal(signal));
    }

    /// Hands an input to the engine, if it runs (not while rendering on the server).
    fn tell(self, input: Input) {
        self.engine.with_value(|engine| {
            if let Some(engine) = engine {
                let _ = engine.unbounded_send(input);
            }
        });
    }
}
