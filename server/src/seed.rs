//! The `demo` board that exists on a fresh start, filled through the normal command path
//! so its change log tells how it got there.

use app::domain::{Command, TodoStatus};

use crate::api::commands;
use crate::error::AppError;
use crate::state::AppState;

pub const DEMO_BOARD: &str = "demo";

pub async fn seed_demo(app: &AppState) -> Result<(), AppError> {
    if !app.store.create_board(DEMO_BOARD, "Demo board").await? {
        return Ok(());
    }
    // Ids are the seq of the creating command: sprint 1, sprint 2, todos 3 to 7.
    let script = [
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
    ];
    for command in &script {
        commands::run(app, DEMO_BOARD, command, None).await?;
    }
    tracing::info!("seeded the demo board");
    Ok(())
}
