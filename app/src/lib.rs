//! The board's pages and the browser's engine, shared by the server (which renders the
//! pages) and the browser (which hydrates them). The rules, the patterns and the wire
//! shapes they use are the `board_core` crate's: this crate adds Leptos and the browser.
//!
//! * [`sync`] (browser): the client engine: one transport connection, seq and gap checks,
//!   backfill, reconnect with jittered backoff, and the reactive board it keeps current.
//! * [`ui`]: the Leptos components rendered by the server and hydrated in the browser.
//! * [`ssr`] (server): what the server must provide for rendering pages and for the
//!   server functions.
//! * [`refused`]: a refused command, as the server functions answer it.
//! * [`server_fns`]: the command service as Leptos server functions (and the no-script
//!   "add a todo" form's target).
//!
//! Features: `ssr` for the server build, `hydrate` for the wasm build. The engine compiles
//! without either, which is how its tests run (`tests/engine.rs`, on a fake platform).

// Leptos view types nest deeply; the default limit is too low for the board page.
#![recursion_limit = "256"]

pub mod refused;
pub mod server_fns;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod sync;
pub mod ui;

pub use ui::{shell, App};
