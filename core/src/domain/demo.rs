//! The demo board's history: the commands that build the `demo` board on a fresh start.
//! Shared by the server's seeding and the wire-size measurement, so the docs measure the
//! board people see.

use super::command::Command;
use super::model::{BoardState, TodoStatus};

/// Ids are the seq of the creating command: sprints 1 and 2, todos 3 to 7.
pub fn script() -> Vec<Command> {
    vec![
        Command::AddSprint { name: "Sprint 1".into() },
        Command::AddSprint { name: "Sprint 2".into() },
        Command::AddTodo { title: "Sketch the board layout".into(), sprint_id: Some(1) },
        Command::AddTodo { title: "Write the change log".into(), sprint_id: Some(1) },
        Command::AddTodo { title: "Stream changes over SSE".into(), sprint_id: Some(1) },
        Command::AddTodo { title: "Try every delivery pattern".into(), sprint_id: None },
        Command::AddTodo { title: "Invite the team".into(), sprint_id: None },
        Command::StartSprint { id: 1 },
        Command::SetTodoStatus { id: 3, status: TodoStatus::Done, expected_version: None },
        Command::SetTodoStatus { id: 4, status: TodoStatus::Doing, expected_version: None },
    ]
}

/// The demo board as the script leaves it (seq 10): what measurements and fuzzers start from.
pub fn board() -> BoardState {
    script().iter().fold(BoardState::empty("demo", "Demo board"), |board, command| {
        super::execute(&board, command).expect("the demo script applies").state
    })
}
