//! Untrusted bytes as a stream frame (what the browser's engine reads from any transport),
//! applied by every pattern's client step to the demo board: a frame that decodes is
//! applied, skipped or answered with a resync, never a panic.
#![no_main]

use std::sync::LazyLock;

use board_core::domain::{demo, BoardState};
use board_core::patterns::{Frame, PatternKind};
use board_core::step::step;
use libfuzzer_sys::fuzz_target;

/// The seeded demo board: sprints in every status, todos in every column.
static DEMO: LazyLock<BoardState> = LazyLock::new(demo::board);

fuzz_target!(|bytes: &[u8]| {
    let Ok(frame) = serde_json::from_slice::<Frame>(bytes) else { return };
    for pattern in PatternKind::ALL {
        let mut state = DEMO.clone();
        let before = state.seq;
        if step(&mut state, pattern, &frame).is_ok() {
            assert!(state.seq >= before, "a client never moves backwards");
        }
    }
});
