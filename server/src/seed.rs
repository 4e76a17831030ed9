//! The `demo` board that exists on a fresh start, filled through the normal command path
//! so its change log tells how it got there.

use crate::error::AppError;
use crate::rest::commands;
use crate::state::AppState;
use crate::store::{NewBoard, Visibility};

pub const DEMO_BOARD: &str = "demo";

pub async fn seed_demo(app: &AppState) -> Result<(), AppError> {
    // Public and keyless: anyone may read and change it, nobody can rotate keys it lacks.
    let demo = NewBoard { id: DEMO_BOARD, name: "Demo board", visibility: Visibility::Public, key_hashes: None };
    if !app.store.create_board(&demo).await? {
        return Ok(());
    }
    let script = app::domain::demo::script();
    for command in &script {
        commands::run(app, DEMO_BOARD, command, None).await?;
    }
    tracing::info!("seeded the demo board");
    Ok(())
}
