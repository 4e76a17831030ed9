//! The `demo` board that exists on a fresh start, filled through the normal command path
//! so its change log tells how it got there.

use crate::api::commands;
use crate::error::AppError;
use crate::state::AppState;

pub const DEMO_BOARD: &str = "demo";

pub async fn seed_demo(app: &AppState) -> Result<(), AppError> {
    if !app.store.create_board(DEMO_BOARD, "Demo board").await? {
        return Ok(());
    }
    let script = app::domain::demo::script();
    for command in &script {
        commands::run(app, DEMO_BOARD, command, None).await?;
    }
    tracing::info!("seeded the demo board");
    Ok(())
}
