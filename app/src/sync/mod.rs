//! The client engine: keeps one board current in the browser.
//!
//! * [`client`]: [`BoardClient`], the reactive handle the components use: the board, the
//!   connection status, the wire log, and `send` for commands.
//! * [`step`]: what one frame means for the local state (apply, skip, backfill, pull,
//!   reset). Pure, so it is unit-tested natively.
//! * [`backoff`]: jittered exponential reconnect delays. Pure.
//! * [`wire`]: the wire inspector's record of received frames.
//! * `engine` (browser only): the one mechanism: the serial frame queue, gap backfill,
//!   coalesced pulls, reconnects with backoff, and command retries.
//! * `link` (browser only): the four transports as thin links that feed the engine.

pub mod backoff;
pub mod client;
#[cfg(feature = "hydrate")]
mod engine;
#[cfg(feature = "hydrate")]
pub mod http;
#[cfg(feature = "hydrate")]
mod link;
pub mod step;
pub mod wire;

/// The transport names live with the pattern names, in `protocol`.
pub use crate::protocol::Transport;
pub use client::{BoardClient, Conn};
