//! Long-poll: ask for the frames after our seq; the server holds the request until there
//! are some (or its timeout), and we ask again at once. Near-SSE latency over plain
//! requests, one round trip per batch.

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::next_since;
use crate::patterns::PatternKind;
use crate::sync::client::BoardClient;
use crate::sync::{engine, http};

/// Shorter than the server's cap and typical proxy timeouts.
const HOLD_SECS: u32 = 25;

pub fn open(client: BoardClient, generation: u64, board: String, pattern: PatternKind, since: u64) -> Rc<Cell<bool>> {
    let stopped = Rc::new(Cell::new(false));
    let flag = stopped.clone();
    spawn_local(async move {
        let mut since = since;
        // The first request is not held: its answer tells us we are connected.
        let mut hold = 0;
        while !flag.get() && engine::current(client, generation) {
            client.wire.update(|w| w.requests += 1);
            let answer = http::frames(&board, "long-poll", pattern, since, Some(hold)).await;
            hold = HOLD_SECS;
            match answer {
                Ok(batch) => {
                    if flag.get() {
                        return;
                    }
                    engine::opened(client, generation);
                    if let Some((page, sizes)) = batch {
                        since = next_since(since, &page.frames);
                        for (frame, bytes) in page.frames.into_iter().zip(sizes) {
                            engine::deliver(client, generation, frame, bytes);
                        }
                    }
                }
                Err(_) if flag.get() => return,
                Err(_) => return engine::failed(client, generation),
            }
        }
    });
    stopped
}
