//! The client engine: keeps one board current in the browser. Dependencies go one way:
//! links report to the engine, the engine writes the client's signals, the page reads them.
//!
//! * [`client`]: [`BoardClient`], the reactive handle the components use: the board, the
//!   connection status, the wire log (signals), and `switch` and `send`, which it hands to
//!   the engine.
//! * [`engine`]: the one loop that owns the connection: frames in order through [`step`],
//!   gap backfill, coalesced pulls, reconnects with backoff, command retries.
//! * [`inbox`]: what the engine hears (link events, the page's requests), on one channel.
//! * [`platform`]: what the engine needs from the world (links, REST calls, time), as a
//!   trait, so the engine runs natively in its tests with a fake.
//! * [`step`]: what one frame means for the local state (apply, skip, backfill, pull,
//!   reset). Pure.
//! * [`backoff`]: jittered exponential reconnect delays. Pure.
//! * [`wire`]: the wire inspector's record of received frames.
//! * `browser`, `http`, `link` (browser only): the platform of a real page: the REST calls
//!   and the four transports as links that report [`platform::LinkEvent`]s.

pub mod backoff;
#[cfg(feature = "hydrate")]
mod browser;
pub mod client;
pub mod engine;
#[cfg(feature = "hydrate")]
pub mod http;
pub mod inbox;
#[cfg(feature = "hydrate")]
mod link;
pub mod platform;
pub mod step;
pub mod wire;

/// The transport names live with the pattern names, in `protocol`.
pub use crate::protocol::Transport;
pub use client::{BoardClient, Conn};

/// Starts keeping `client` current: the engine on the browser's platform (a no-op while
/// rendering on the server).
pub fn start(client: BoardClient) {
    #[cfg(feature = "hydrate")]
    browser::start(client);
    #[cfg(not(feature = "hydrate"))]
    let _ = client;
}
