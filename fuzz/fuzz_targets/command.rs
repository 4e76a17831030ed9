//! Untrusted bytes as a command (what `POST /commands` and a WebSocket message carry),
//! then through `decide` and `evolve` on the demo board: whatever the bytes, decoding
//! either fails cleanly or yields a command that is applied or refused, never a panic,
//! and an applied command moves the board exactly one seq.
//!
//! Bytes that decode as a list of commands run one after another, as the server's command
//! service runs them (a move that finds no room re-spaces its column first; a long key is
//! re-spaced after): after every one, each column's position keys are strictly increasing,
//! which is what keeps a move landing where it asked.
#![no_main]

use std::sync::LazyLock;

use board_core::domain::{apply, decide::respace_due, demo, execute, BoardState, Command, DomainError, Event, Id};
use libfuzzer_sys::fuzz_target;

/// The seeded demo board: sprints in every status, todos in every column.
static DEMO: LazyLock<BoardState> = LazyLock::new(demo::board);

fuzz_target!(|bytes: &[u8]| {
    if let Ok(commands) = serde_json::from_slice::<Vec<Command>>(bytes) {
        let mut state = DEMO.clone();
        for command in commands.iter().take(256) {
            serve(&mut state, command);
            assert_columns_in_order(&state);
        }
        return;
    }
    let Ok(command) = serde_json::from_slice::<Command>(bytes) else { return };
    for start in [BoardState::empty("b", "B"), DEMO.clone()] {
        if let Ok(done) = execute(&start, &command) {
            assert_eq!(done.state.seq, start.seq + 1);
            assert_columns_in_order(&done.state);
            // What the server stores and sends must serialise and read back the same.
            let event = serde_json::to_string(&done.event).expect("events serialise");
            assert_eq!(serde_json::from_str::<board_core::domain::Event>(&event).expect("events read back"), done.event);
        }
    }
});

/// One command as the server's command service runs it (`server::rest::commands::run`).
fn serve(state: &mut BoardState, command: &Command) {
    let done = match execute(state, command) {
        Err(DomainError::NoRoom { sprint_id }) => {
            *state = apply(state, Event::ColumnRespaced { sprint_id }).state;
            execute(state, command).expect("a re-spaced column has room for any move")
        }
        Ok(done) => done,
        Err(_) => return,
    };
    let respace = respace_due(&done.state, &done.event);
    *state = done.state;
    if let Some(sprint_id) = respace {
        *state = apply(state, Event::ColumnRespaced { sprint_id }).state;
    }
}

fn assert_columns_in_order(state: &BoardState) {
    let columns = std::iter::once(None).chain(state.sprints.iter().map(|s| Some(s.id as Id)));
    for column in columns {
        let todos = state.column(column);
        for pair in todos.windows(2) {
            assert!(pair[0].position < pair[1].position, "column {column:?}: {} then {}", pair[0].position, pair[1].position);
        }
    }
}
