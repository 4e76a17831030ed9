//! The operations below the handlers: what every way into the server shares (REST, the
//! WebSocket, the Leptos server functions, the pages, the seeding), so no handler calls
//! another handler's module. Handlers parse and answer HTTP; these decide and act.
//!
//! * [`commands`]: the command service: role, rate, Idempotency-Key, commit, announce,
//!   re-space.
//! * [`boards`]: the boards a client may see, creating a board, what a grant may do.
//! * [`signals`]: a signal or a relayed cursor from one tab, by HTTP or WebSocket.

pub mod boards;
pub mod commands;
pub mod signals;
