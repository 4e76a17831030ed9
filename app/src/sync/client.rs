//! [`BoardClient`]: the reactive handle to one board that the components read and write.
//! It is signals only, plus the inbox of the engine that keeps it current (`engine`
//! attaches itself), where `switch` and `send` go. It knows nothing of the engine or the
//! links: on the server it only holds the rendered state.

use leptos::prelude::*;

use super::inbox::{Inbox, Input};
use super::wire::WireLog;
use crate::domain::{BoardState, Command};
use crate::patterns::PatternKind;
use crate::protocol::Transport;

/// The short-poll interval unless the page says otherwise.
pub const DEFAULT_POLL_MS: u32 = 2000;

/// The connection indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Live,
    Offline,
    /// The key this page used no longer opens the board (its keys were rotated): the
    /// engine stops and the page says so.
    Revoked,
}

impl Conn {
    pub fn as_str(self) -> &'static str {
        match self {
            Conn::Connecting => "connecting",
            Conn::Live => "live",
            Conn::Offline => "offline",
            Conn::Revoked => "revoked",
        }
    }
}

/// Every field is a signal or a stored value, so the handle is `Copy` and can be moved
/// into any event handler.
#[derive(Clone, Copy)]
pub struct BoardClient {
    pub board_id: StoredValue<String>,
    /// The board as this client has applied it; `state.seq` is the applied seq.
    pub state: RwSignal<BoardState>,
    pub conn: RwSignal<Conn>,
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
    /// May this browser change the board (it holds the write key, or the board is
    /// public)? Read-only viewers get no editing controls.
    pub can_write: RwSignal<bool>,
    /// The engine's inbox, once it runs: what the page asks for (switch, send) goes there.
    engine: StoredValue<Option<Inbox>>,
}

impl BoardClient {
    pub fn new(
        initial: BoardState,
        pattern: PatternKind,
        transport: Transport,
        replica: String,
        can_write: bool,
    ) -> Self {
        BoardClient {
            board_id: StoredValue::new(initial.board.id.clone()),
            state: RwSignal::new(initial),
            conn: RwSignal::new(Conn::Connecting),
            pattern: RwSignal::new(pattern),
            transport: RwSignal::new(transport),
            poll_ms: RwSignal::new(DEFAULT_POLL_MS),
            wire: RwSignal::new(WireLog::default()),
            notice: RwSignal::new(None),
            running: RwSignal::new(false),
            replica: RwSignal::new(replica),
            can_write: RwSignal::new(can_write),
            engine: StoredValue::new(None),
        }
    }

    pub fn board_id(&self) -> String {
        self.board_id.get_value()
    }

    /// The engine that keeps this client current attaches here (see `engine::start`).
    pub(super) fn attach(self, inbox: Inbox) {
        self.engine.set_value(Some(inbox));
    }

    /// Switches pattern and transport live: the new stream resumes from the applied seq.
    pub fn switch(self, pattern: PatternKind, transport: Transport) {
        self.pattern.set(pattern);
        self.transport.set(transport);
        self.tell(Input::Switch);
    }

    /// Sends a command. The result shows up as a frame like everyone else's change;
    /// a refusal shows in `notice`.
    pub fn send(self, command: Command) {
        self.tell(Input::Send(command));
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
