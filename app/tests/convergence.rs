//! Property tests: for any sequence of commands, a client of every pattern that applies the
//! frames the server would send ends with exactly the server's board.

use app::domain::{execute, BoardState, Command, Id, TodoStatus};
use app::patterns::{Applied, ChangeRecord, Frame, PatternKind};
use proptest::prelude::*;

/// A command with its ids picked from small ranges, so that many of them hit existing
/// todos and sprints (ids are seqs, so 1..=40 covers a 40-step run) and some do not.
fn command() -> impl Strategy<Value = Command> {
    let id = 1..=40i64;
    let status = prop_oneof![Just(TodoStatus::Todo), Just(TodoStatus::Doing), Just(TodoStatus::Done)];
    let title = prop_oneof![Just("".to_string()), "[a-z <>&\"]{1,12}"];
    prop_oneof![
        3 => (title.clone(), proptest::option::of(id.clone()))
            .prop_map(|(title, sprint_id)| Command::AddTodo { title, sprint_id }),
        1 => (id.clone(), title).prop_map(|(id, title)| Command::RenameTodo { id, title, expected_version: None }),
        2 => (id.clone(), status).prop_map(|(id, status)| Command::SetTodoStatus { id, status, expected_version: None }),
        2 => (id.clone(), proptest::option::of(id.clone()), proptest::option::of(0..6u32))
            .prop_map(|(id, sprint_id, position)| Command::MoveTodo { id, sprint_id, position, expected_version: None }),
        1 => id.clone().prop_map(|id| Command::DeleteTodo { id, expected_version: None }),
        1 => "[a-z]{1,8}".prop_map(|name| Command::AddSprint { name }),
        1 => id.clone().prop_map(|id| Command::StartSprint { id }),
        1 => id.prop_map(|id| Command::CompleteSprint { id }),
    ]
}

/// Runs the commands as the server would: refused ones change nothing and commit no seq.
fn server_run(commands: &[Command]) -> (BoardState, Vec<(ChangeRecord, BoardState)>) {
    let mut state = BoardState::empty("b", "Board");
    let mut log = Vec::new();
    for command in commands {
        if let Ok(done) = execute(&state, command) {
            let record = ChangeRecord { seq: done.state.seq, at: 0, event: done.event, ops: done.ops, diff: done.diff };
            state = done.state;
            log.push((record, state.clone()));
        }
    }
    (state, log)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_pattern_converges_to_the_server(commands in proptest::collection::vec(command(), 1..40)) {
        let (server, log) = server_run(&commands);
        for pattern in PatternKind::ALL {
            let mut client = BoardState::empty("b", "Board");
            for (record, after) in &log {
                let frame = pattern.encode(record, after);
                // Frames travel as JSON: apply what the client would decode.
                let frame: Frame = serde_json::from_str(&frame.to_json()).unwrap();
                prop_assert_eq!(frame.seq(), Some(client.seq + 1));
                match pattern.apply(&mut client, &frame).unwrap() {
                    Applied::Applied => {}
                    // A poke carries no data: the client pulls the server's state at that seq.
                    Applied::NeedsPull => client = after.clone(),
                }
                prop_assert_eq!(&client, after, "{} diverged at seq {}", pattern, record.seq);
            }
            prop_assert_eq!(&client, &server);
        }
    }

    #[test]
    fn seqs_are_contiguous_and_positions_dense(commands in proptest::collection::vec(command(), 1..40)) {
        let (server, log) = server_run(&commands);
        for (i, (record, _)) in log.iter().enumerate() {
            prop_assert_eq!(record.seq, i as u64 + 1);
        }
        let mut columns: Vec<Option<Id>> = server.todos.iter().map(|t| t.sprint_id).collect();
        columns.dedup();
        for column in columns {
            let positions: Vec<u32> = server.column(column).iter().map(|t| t.position).collect();
            prop_assert_eq!(positions, (0..server.column(column).len() as u32).collect::<Vec<_>>());
        }
    }
}
