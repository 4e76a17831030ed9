//! What the engine needs from the world, and nothing more: connections to the server
//! ([`Link`]s, which report [`LinkEvent`]s), the REST calls, time and chance. The browser
//! provides it (`browser`); the engine's tests provide a fake one, so the whole engine runs
//! natively (`app/tests/engine.rs`).

use std::future::Future;
use std::rc::Rc;

use super::optimistic::Outbox;
use crate::api::{CommandAnswer, FramesPage, Position};
use crate::domain::{BoardState, Command};
use crate::patterns::{Frame, PatternKind};
use crate::presence::{Identity, Signal};
use crate::protocol::Transport;

/// What a link reports to the engine. A link knows nothing else of it.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkEvent {
    /// Connected: a stream opened, or a poll got its first answer.
    Opened,
    /// One frame, and its size on the wire in bytes.
    Frame(Frame, usize),
    /// The board's epoch, as a poll answer tells it (streams say it in `hello`).
    Epoch(String),
    /// A request went out (the inspector counts them).
    Request,
    /// The connection failed or closed: the engine reconnects with backoff.
    Failed,
    /// The server says this page's key no longer opens the board.
    Revoked,
}

/// How a link reports: a callback from the engine, tagged with the connection it is for.
pub type Report = Rc<dyn Fn(LinkEvent)>;

/// An open connection to the server.
pub trait Link {
    /// Sends a command up the connection, if it can carry one (an open WebSocket).
    fn send_command(&self, _request_id: &str, _key: &str, _command: &Command) -> bool {
        false
    }

    /// Can a command go up this connection now (an open WebSocket)?
    fn carries_commands(&self) -> bool {
        false
    }

    /// Sends a signal up the connection, if it can carry one (an open WebSocket).
    fn send_signal(&self, _signal: &Signal) -> bool {
        false
    }

    /// Closes the connection: none of its callbacks reports anything after this.
    fn close(self: Box<Self>);
}

/// What a link is asked to open.
#[derive(Clone)]
pub struct Opening {
    pub board: String,
    pub transport: Transport,
    pub pattern: PatternKind,
    /// Where the client is: the stream starts after this seq, in this epoch.
    pub from: Position,
    /// The short-poll interval, read anew before each request (the page can change it).
    pub poll_ms: Rc<dyn Fn() -> u32>,
    /// Who this tab is on the presence list (`None`: it only watches).
    pub me: Option<Identity>,
    /// The secret that claims `me`'s client id (`presence::check_secret`).
    pub claim: Option<String>,
}

impl Opening {
    /// `&client=C&person=P&name=N[&secret=S]` for the stream URL, or nothing.
    pub fn identity_query(&self, encode: impl Fn(&str) -> String) -> String {
        self.me.as_ref().map_or_else(String::new, |me| {
            let secret = self.claim.as_ref().map(|s| format!("&secret={s}")).unwrap_or_default();
            format!("&client={}&person={}&name={}{secret}", me.client, me.person, encode(&me.name))
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum HttpError {
    /// No answer at all: offline, DNS, connection refused.
    Network(String),
    Status {
        status: u16,
        message: String,
    },
}

impl HttpError {
    /// Worth retrying with the same request (and Idempotency-Key)?
    pub fn retryable(&self) -> bool {
        match self {
            HttpError::Network(_) => true,
            HttpError::Status { status, .. } => matches!(status, 502..=504),
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Network(_) => None,
            HttpError::Status { status, .. } => Some(*status),
        }
    }

    pub fn message(&self) -> String {
        match self {
            HttpError::Network(_) => "the server cannot be reached".into(),
            HttpError::Status { message, .. } => message.clone(),
        }
    }
}

/// The world as the engine sees it. Everything runs on one thread (the browser's), so no
/// future here needs to be `Send`; the engine is generic over this trait, never boxed.
#[allow(async_fn_in_trait)]
pub trait Platform: 'static {
    /// Opens a connection that reports to `report`; `None` when it cannot even start.
    fn open(&self, opening: Opening, report: Report) -> Option<Box<dyn Link>>;
    /// `GET /changes`: one page of the frames after `from`.
    async fn changes(&self, board: &str, from: &Position, pattern: PatternKind) -> Result<FramesPage, HttpError>;
    /// `GET` state; `Ok(None)` for `304` (the board is still at `have`).
    async fn state(&self, board: &str, have: Option<&Position>) -> Result<Option<BoardState>, HttpError>;
    /// `GET /snapshots/{seq}`: the board at `seq` (an immutable, cacheable URL); `404`
    /// beyond the head, `410` when the server no longer holds it.
    async fn snapshot_at(&self, board: &str, seq: u64, epoch: Option<&str>) -> Result<BoardState, HttpError>;
    /// `POST /commands` with an Idempotency-Key.
    async fn command(&self, board: &str, command: &Command, key: &str) -> Result<CommandAnswer, HttpError>;
    /// `POST /signal`: a signal or relayed cursor for other tabs.
    async fn signal(&self, board: &str, signal: &Signal) -> Result<(), HttpError>;
    /// A signal or relayed cursor for this tab: the page's peer mesh takes it.
    fn letter(&self, frame: Frame);
    async fn sleep(&self, ms: u32);
    /// Uniform in [0, 1): jitter, keys, request ids.
    fn random(&self) -> f64;
    /// Unix milliseconds (a frame's latency).
    fn now_ms(&self) -> i64;
    /// Runs a task beside the engine (a command's retries).
    fn spawn(&self, task: impl Future<Output = ()> + 'static);
    /// Keeps the board's pending commands where a reload of this tab finds them (the
    /// browser's session storage).
    fn save_outbox(&self, board: &str, outbox: &Outbox);
    /// The pending commands a previous page of this board left (empty if none).
    fn load_outbox(&self, board: &str) -> Outbox;
    /// Calls `wake` whenever the device comes back online, for as long as the returned
    /// guard lives.
    fn on_online(&self, wake: Rc<dyn Fn()>) -> Box<dyn std::any::Any>;
}
