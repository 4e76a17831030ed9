//! The board's pure core, shared by the server, the browser and the fuzzer: what a board
//! is, what a change is, how each delivery pattern writes and reads it, and the shapes on
//! the wire. Nothing here does I/O, keeps time or knows a framework: no Leptos, no async
//! runtime, no database. Its dependencies are serde and thiserror, which is what makes the
//! line between "the rules" and "the machinery" a line the compiler draws (`cargo tree -p
//! board-core` shows it).
//!
//! * [`domain`]: the model, commands, events, ops, diffs, positions and the reducer
//!   (`decide` then `evolve`), which the server and a `push-events` client both run.
//! * [`patterns`]: the five delivery patterns, each one file: encode on the server, apply
//!   on the client; [`patterns::Frame`] is every frame on the wire.
//! * [`protocol`]: the names of the protocol (patterns and transports) and their parsing.
//! * [`api`]: the JSON shapes of the REST API, the WebSocket's messages and the headers'
//!   names, decoded by the browser too.
//! * [`console`]: the operator's console as it travels (each replica's report, the
//!   cluster view the console page shows).
//! * [`presence`]: ephemeral state (who is here, signals between tabs, relayed cursors):
//!   never in the change log.
//! * [`step`]: what one received frame means for a client's state (apply, skip, backfill,
//!   pull, reset), decided without a browser.
//! * [`optimistic`]: a client's outbox of pending commands and the board it shows (the
//!   confirmed one with them re-applied).
//! * [`backoff`]: jittered exponential reconnect delays (the browser's, and the scale
//!   benchmark's clients that reconnect as pages do).

pub mod api;
pub mod backoff;
pub mod console;
pub mod domain;
pub mod optimistic;
pub mod patterns;
pub mod presence;
pub mod protocol;
pub mod step;
