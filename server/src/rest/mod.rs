//! The REST API of the contract: its handlers (the JSON shapes they speak are `board_core::api`,
//! shared with the browser). Each file is one resource:
//!
//! * [`boards`]: list, create, and read a board's state (ETag/304).
//! * [`commands`]: the one write endpoint (Idempotency-Key, expected_version).
//! * [`changes`]: backfill: the frames after a seq, or `410`.
//! * [`health`]: liveness, readiness, Prometheus metrics.
//! * [`history`]: the board at an earlier seq, and one todo's changes (time travel, undo).
//! * [`snapshots`]: the board at one seq, at an immutable (cacheable) URL.
//! * [`signals`]: presence's requests: a signal or relayed cursor between tabs, a tab leaving.
//! * [`server_fns`]: the command service as Leptos server functions (`/api/fn/...`).
//! * [`traces`]: a traced change's hops for the waterfall, and a tab's report of its apply.
//! * [`webhooks`]: register, list, remove and replay webhooks; their delivery log.
//! * [`lab`]: the fault lab's faults on this replica (`FAULTS=1`), read and set.
//! * [`docs`]: the project's docs as plain text (`/docs/{file}`), for the page's legend.
//! * [`extract`]: request extractors whose rejections are our JSON errors.

pub mod boards;
pub mod changes;
pub mod commands;
pub mod docs;
pub mod extract;
pub mod health;
pub mod history;
pub mod lab;
pub mod server_fns;
pub mod signals;
pub mod snapshots;
pub mod traces;
pub mod webhooks;
