//! What the engine needs from the world, and nothing more: connections to the server
//! ([`Link`]s, which report [`LinkEvent`]s), the REST calls, time and chance. The browser
//! provides it (`browser`); the engine's tests provide a fake one, so the whole engine runs
//! natively (`app/tests/engine.rs`).

use std::future::Future;
use std::rc::Rc;

pub use super::answer::HttpError;
pub use super::outbox::Shared;
pub use super::wire::Exchange;
use board_core::api::{CommandAnswer, FramesPage, Position};
use board_core::domain::{BoardState, Command};
use board_core::optimistic::Outbox;
use board_core::patterns::{Frame, PatternKind};
use board_core::presence::{Identity, Signal};
use board_core::protocol::Transport;

/// What a link reports to the engine. A link knows nothing else of it.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkEvent {
    /// Connected: a stream opened, or a poll got its first answer.
    Opened,
    /// One frame, and its size on the wire in bytes (a poll's frames: their size inside
    /// the answer, which its `Exchange` counted).
    Frame(Frame, usize),
    /// The board's epoch, as a poll answer tells it (streams say it in `hello`).
    Epoch(String),
    /// A poll or long-poll request was answered, at this cost (the inspector counts it).
    Exchange(Exchange),
    /// A message went up the connection (a command or a signal up a WebSocket): its bytes,
    /// and whether it was ephemeral (a signal).
    Sent { bytes: usize, ephemeral: bool },
    /// The server named the board's head (a poll's answer; `hello` and heartbeats carry
    /// theirs in the frame).
    AtHead(u64),
    /// The connection failed or closed: the engine reconnects with backoff.
    Failed,
    /// The server says this page's key no longer opens the board.
    Revoked,
    /// How the stream reaches this tab, when the browser's connections are few (a link
    /// that never says is `Own`).
    Sharing(Sharing),
}

/// How a tab's stream reaches it. Over HTTP/1.1 a browser holds six connections to an
/// origin, so beyond a few streams a tab borrows another tab's (`link::shared`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Its own connection.
    Own,
    /// Another tab of this browser streams the board and relays each frame; this tab
    /// also asks the server now and then itself.
    Relayed,
    /// No connection is free and no tab relays the board: the tab asks the server every
    /// few seconds, and opens its own stream as soon as one is free.
    Waiting,
}

impl Sharing {
    pub fn as_str(self) -> &'static str {
        match self {
            Sharing::Own => "own",
            Sharing::Relayed => "relayed",
            Sharing::Waiting => "waiting",
        }
    }
}

/// How a link reports: a callback from the engine, tagged with the connection it is for.
pub type Report = Rc<dyn Fn(LinkEvent)>;

/// How the platform tells the engine the device went offline (`false`) or back (`true`).
pub type NetworkChange = Rc<dyn Fn(bool)>;

/// A command on its way, with what goes beside it: its Idempotency-Key (the same on
/// every resend) and its actor (this tab's presence name, kept in the log for history).
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub key: String,
    pub command: Command,
    pub actor: Option<String>,
    /// The W3C trace context, when the person traces this tab (`trace::traceparent`).
    pub traceparent: Option<String>,
}

/// An open connection to the server.
pub trait Link {
    /// Sends a command up the connection, if it can carry one (an open WebSocket; it then
    /// reports what it sent as `LinkEvent::Sent`).
    fn send_command(&self, _request_id: &str, _outgoing: &Outgoing) -> bool {
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

/// A REST call's answer and what it cost on the wire (`None`: nothing reached the network,
/// as when the fault lab cuts it).
#[derive(Clone, Debug, PartialEq)]
pub struct Metered<T> {
    pub answer: Result<T, HttpError>,
    pub cost: Option<Exchange>,
}

/// What earlier pages of this board left in the browser (its durable local copy).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocalCopy {
    pub board: Option<Kept>,
    /// The commands pending in the browser's tabs of the board, oldest first.
    pub outbox: Outbox,
}

/// A board as a page left it in the browser.
#[derive(Clone, Debug, PartialEq)]
pub struct Kept {
    pub state: BoardState,
    pub epoch: Option<String>,
    /// When it was saved (Unix ms): the page says how old the copy it shows is.
    pub saved_at: i64,
}

/// The world as the engine sees it. Everything runs on one thread (the browser's), so no
/// future here needs to be `Send`; the engine is generic over this trait, never boxed.
#[allow(async_fn_in_trait)]
pub trait Platform: 'static {
    /// Opens a connection that reports to `report`; `None` when it cannot even start.
    fn open(&self, opening: Opening, report: Report) -> Option<Box<dyn Link>>;
    // Each REST call says what it cost, so the inspector counts every byte a pattern causes.
    /// `GET /changes`: one page of the frames after `from`.
    async fn changes(&self, board: &str, from: &Position, pattern: PatternKind) -> Metered<FramesPage>;
    /// `GET` state; `Ok(None)` for `304` (the board is still at `have`).
    async fn state(&self, board: &str, have: Option<&Position>) -> Metered<Option<BoardState>>;
    /// `GET /snapshots/{seq}`: the board at `seq` (an immutable, cacheable URL); `404`
    /// beyond the head, `410` when the server no longer holds it.
    async fn snapshot_at(&self, board: &str, seq: u64, epoch: Option<&str>) -> Metered<BoardState>;
    /// `POST /commands` with an Idempotency-Key and the actor (`Board-Actor`).
    async fn command(&self, board: &str, outgoing: &Outgoing) -> Metered<CommandAnswer>;
    /// `POST /signal`: a signal or relayed cursor for other tabs.
    async fn signal(&self, board: &str, signal: &Signal) -> Metered<()>;
    /// `POST /traces/{trace}/apply`: when this tab received and applied a traced change.
    async fn report_applied(&self, board: &str, trace: &str, report: &board_core::api::Applied) -> Metered<()>;
    /// A signal or relayed cursor for this tab: the page's peer mesh takes it.
    fn letter(&self, frame: Frame);
    async fn sleep(&self, ms: u32);
    /// Uniform in [0, 1): jitter, keys, request ids.
    fn random(&self) -> f64;
    /// Unix milliseconds (a frame's latency).
    fn now_ms(&self) -> i64;
    /// Runs a task beside the engine (a command's retries).
    fn spawn(&self, task: impl Future<Output = ()> + 'static);
    /// Keeps the board's pending commands where the browser's next page of the board finds
    /// them, after a reload or a restart (IndexedDB).
    fn save_outbox(&self, board: &str, outbox: &Outbox);
    /// Keeps the confirmed board (at most now and then: it can be large) where the next
    /// page finds it, to render before any network answers.
    fn save_board(&self, board: &str, state: &std::sync::Arc<BoardState>, epoch: Option<&str>);
    /// What earlier pages of the board left: its copy and the pending commands.
    async fn load_local(&self, board: &str) -> LocalCopy;
    /// Does the device have a network now (the browser's `navigator.onLine`)?
    fn online(&self) -> bool {
        true
    }
    /// Calls `change(false)` when the device goes offline and `change(true)` when it comes
    /// back, for as long as the returned guard lives.
    fn on_network(&self, change: NetworkChange) -> Box<dyn std::any::Any>;
    /// Calls `change(false)` when the page goes to the background (another tab, a closed
    /// lid, a reload) and `change(true)` when it is in front again, while the guard lives.
    fn on_visibility(&self, _change: NetworkChange) -> Box<dyn std::any::Any> {
        Box::new(())
    }
    /// Keeps the seq this page has seen of the board where a reload of the tab finds it,
    /// to say what it missed meanwhile.
    fn save_seen(&self, _board: &str, _seq: u64) {}
    /// The seq a previous page of this tab had seen of the board, if any.
    fn load_seen(&self, _board: &str) -> Option<u64> {
        None
    }
    // The three below have no default, so that no platform (nor one wrapping another,
    // as the fault lab does) can leave them out by mistake and send from every tab.
    /// Tells this browser's other tabs of the board a change to the outbox they share.
    fn share(&self, board: &str, change: &Shared);
    /// Calls `heard` with each change another tab shares, while the guard lives.
    fn on_shared(&self, board: &str, heard: Rc<dyn Fn(Shared)>) -> Box<dyn std::any::Any>;
    /// Calls `elected` once this tab is the one of the browser's tabs of the board that
    /// sends the shared outbox: a lock it holds while the guard lives, which the next
    /// waiting tab gets when it goes. With no other tab to share with, at once.
    fn lead(&self, board: &str, elected: Rc<dyn Fn()>) -> Box<dyn std::any::Any>;
}
