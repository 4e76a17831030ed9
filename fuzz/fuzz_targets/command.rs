//! Untrusted bytes as a command (what `POST /commands` and a WebSocket message carry),
//! then through `decide` and `evolve` on the demo board: whatever the bytes, decoding
//! either fails cleanly or yields a command that is applied or refused, never a panic,
//! and an applied command moves the board exactly one seq.
#![no_main]

use std::sync::LazyLock;

use app::domain::{demo, execute, BoardState, Command};
use libfuzzer_sys::fuzz_target;

/// The seeded demo board: sprints in every status, todos in every column.
static DEMO: LazyLock<BoardState> = LazyLock::new(demo::board);

fuzz_target!(|bytes: &[u8]| {
    let Ok(command) = serde_json::from_slice::<Command>(bytes) else { return };
    for start in [BoardState::empty("b", "B"), DEMO.clone()] {
        if let Ok(done) = execute(&start, &command) {
            assert_eq!(done.state.seq, start.seq + 1);
            // What the server stores and sends must serialise and read back the same.
            let event = serde_json::to_string(&done.event).expect("events serialise");
            assert_eq!(serde_json::from_str::<app::domain::Event>(&event).expect("events read back"), done.event);
        }
    }
});
