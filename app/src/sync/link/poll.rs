//! Short poll: ask every `poll_ms` (default 2 s) for the frames after our seq; `304` means
//! nothing new. Cheap to implement, costly at scale, and the latency is the interval.

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;

use super::request_loop;
use crate::patterns::PatternKind;
use crate::sync::client::BoardClient;

pub fn open(client: BoardClient, generation: u64, pattern: PatternKind, since: u64) -> Rc<Cell<bool>> {
    // Never held; the pause between requests is the interval, read anew each time so the
    // page's control takes effect at once.
    request_loop(client, generation, "poll", pattern, since, |_| None, move || client.poll_ms.get_untracked().max(100))
}
