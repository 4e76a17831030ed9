//! The board, shared by the server and the browser.
//!
//! * [`api`]: the JSON shapes of the REST API, decoded by the browser too.
//! * [`domain`]: the pure model, commands, events, ops, diffs and the reducer. No I/O.
//! * [`patterns`]: the five delivery patterns, each one file: encode on the server,
//!   apply on the client.
//! * [`presence`]: ephemeral state (who is here, signals between tabs, relayed cursors):
//!   never in the change log.
//! * [`protocol`]: the names of the protocol (patterns and transports) and their parsing.
//! * [`sync`] (browser): the client engine: one transport connection, seq and gap checks,
//!   backfill, reconnect with jittered backoff, and the reactive board it keeps current.
//! * [`ui`]: the Leptos components rendered by the server and hydrated in the browser.
//! * [`ssr`] (server): what the server must provide for rendering pages and for the
//!   server functions.
//! * [`server_fns`]: the command service as Leptos server functions (and the no-script
//!   "add a todo" form's target).
//!
//! Features: `ssr` for the server build, `hydrate` for the wasm build. The domain and the
//! patterns compile without either, which is how their tests run.

// Leptos view types nest deeply; the default limit is too low for the board page.
#![recursion_limit = "256"]

pub mod api;
pub mod domain;
pub mod patterns;
pub mod presence;
pub mod protocol;
pub mod server_fns;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod sync;
pub mod ui;

pub use ui::{shell, App};
