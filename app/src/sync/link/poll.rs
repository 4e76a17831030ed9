//! Short poll: ask every `poll_ms` (default 2 s) for the frames after our seq; `304` means
//! nothing new. Cheap to implement, costly at scale, and the latency is the interval.

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::next_since;
use crate::patterns::PatternKind;
use crate::sync::client::BoardClient;
use crate::sync::{engine, http};

pub fn open(client: BoardClient, generation: u64, board: String, pattern: PatternKind, since: u64) -> Rc<Cell<bool>> {
    let stopped = Rc::new(Cell::new(false));
    let flag = stopped.clone();
    spawn_local(async move {
        let mut since = since;
        while !flag.get() && engine::current(client, generation) {
            client.wire.update(|w| w.requests += 1);
            match http::frames(&board, "poll", pattern, since, None).await {
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
            gloo_timers::future::TimeoutFuture::new(client.poll_ms.get_untracked().max(100)).await;
        }
    });
    stopped
}
