//! Long-poll: ask for the frames after our seq; the server holds the request until there
//! are some (or its timeout), and we ask again at once. Near-SSE latency over plain
//! requests, one round trip per batch.

use std::cell::Cell;
use std::rc::Rc;

use super::request_loop;
use crate::patterns::PatternKind;
use crate::sync::client::BoardClient;

/// Shorter than the server's cap and typical proxy timeouts.
const HOLD_SECS: u32 = 25;

pub fn open(client: BoardClient, generation: u64, pattern: PatternKind, since: u64) -> Rc<Cell<bool>> {
    // The first request is not held: its answer tells us we are connected.
    let hold = |requests: u32| Some(if requests == 0 { 0 } else { HOLD_SECS });
    request_loop(client, generation, "long-poll", pattern, since, hold, || 0)
}
