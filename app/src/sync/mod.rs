//! The client engine: keeps one board current in the browser. Dependencies go one way:
//! links report to the engine, the engine writes the client's signals, the page reads them.
//!
//! * [`client`]: [`BoardClient`], the reactive handle the components use: the board, the
//!   connection status, the wire log (signals), and `switch` and `send`, which it hands to
//!   the engine.
//! * [`connection`]: the one connection state a person is told (live, reconnecting,
//!   offline, unreachable, withdrawn), from the link, the network and the failures. Pure.
//! * [`engine`]: the one loop that owns the connection: frames in order through [`step`],
//!   gap backfill, coalesced pulls, reconnects with backoff, command retries.
//! * [`answer`]: what the server answers a request: a command's seq and undo step, or
//!   why not (unreachable, or refused with a status).
//! * [`inbox`]: what the engine hears (link events, the page's requests), on one channel.
//! * [`platform`]: what the engine needs from the world (links, REST calls, time), as a
//!   trait, so the engine runs natively in its tests with a fake.
//! * [`lab`]: the fault lab, a platform in front of the real one that injects latency,
//!   lost frames, cuts and pauses for this tab, so the engine's recovery can be watched.
//! * From `board_core`, pure: `step` (what one frame means for the local state),
//!   `optimistic` (the outbox of pending commands and the board the page shows) and
//!   `backoff` (jittered exponential reconnect delays).
//! * [`outbox`]: the outbox the browser's tabs of a board share: what they tell each
//!   other, which one sends, and the commands overdue for the person to decide. Pure.
//! * [`undo`]: this tab's undo and redo (the domain's stack, and which commands on their
//!   way are undos). Pure.
//! * [`away`]: "you missed N changes": what the page applied while hidden or disconnected.
//!   Pure.
//! * [`history`]: the time-travel view's window of the log, fetched and replayed through
//!   the shared reducer.
//! * [`wire`]: the wire inspector's record of received frames.
//! * [`trace`]: the `traceparent` a traced tab's commands carry, and the traced changes it
//!   applied (the waterfall's last hops, reported to the server).
//! * `browser`, `http`, `link` (browser only): the platform of a real page: the REST calls
//!   and the four transports as links that report [`platform::LinkEvent`]s.
//! * `local`, `local_store` (browser only): the browser's durable copy of the board and
//!   the outbox (IndexedDB): read at start, written as the engine goes, memory (and a
//!   notice) when the browser keeps nothing.
//! * `shell` (browser only): registers the service worker that keeps the app's shell.
//! * `tabs` (browser only): the browser's other tabs of the board: the channel the shared
//!   outbox's changes cross on, and the Web Lock that elects the tab that sends.
//! * `identity`, `mesh` (browser only): who this tab is on the presence list (kept in
//!   local storage), and the WebRTC mesh that carries cursors between tabs.

pub mod answer;
pub mod away;
#[cfg(feature = "hydrate")]
mod browser;
pub mod client;
pub mod connection;
pub mod engine;
pub mod history;
#[cfg(feature = "hydrate")]
pub mod http;
#[cfg(feature = "hydrate")]
mod identity;
pub mod inbox;
pub mod lab;
#[cfg(feature = "hydrate")]
mod link;
#[cfg(feature = "hydrate")]
mod local;
#[cfg(feature = "hydrate")]
mod local_store;
#[cfg(feature = "hydrate")]
pub mod mesh;
pub mod outbox;
pub mod platform;
#[cfg(feature = "hydrate")]
mod shell;
#[cfg(feature = "hydrate")]
mod tabs;
pub mod trace;
pub mod undo;
pub mod wire;

pub use client::BoardClient;
pub use connection::{Conn, Connection};

/// Keeps a new display name for this browser's next tabs (local storage).
#[cfg(feature = "hydrate")]
pub fn remember_name(name: &str) {
    identity::save_name(name);
}

/// Where the page's pointer goes: the peer mesh, once it runs (browser only).
#[cfg(feature = "hydrate")]
#[derive(Clone, Default)]
pub struct Pointer {
    mesh: std::rc::Rc<std::cell::RefCell<Option<std::rc::Rc<mesh::Mesh>>>>,
}

#[cfg(feature = "hydrate")]
impl Pointer {
    /// The pointer is at (`x`, `y`), fractions of the board's area.
    pub fn moved(&self, x: f64, y: f64) {
        if let Some(mesh) = self.mesh.borrow().as_ref() {
            mesh.moved(x, y);
        }
    }
}

/// Starts keeping `client` current: the engine on the browser's platform, as a tab on the
/// presence list (with a cursor mesh when `cursors`). A no-op while rendering on the server.
pub fn start(client: BoardClient, cursors: bool) {
    #[cfg(feature = "hydrate")]
    client.attach_pointer(Pointer { mesh: browser::start(client, cursors) });
    #[cfg(not(feature = "hydrate"))]
    let _ = (client, cursors);
}
