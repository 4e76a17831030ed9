//! The `demo` board that exists on a fresh start, filled through the normal command path
//! so its change log tells how it got there.
//!
//! It is public (anyone reads and edits its todos) and, like every board, has a write key
//! that administers it: `DEMO_WRITE_KEY` when configured, else one made when the board is
//! first seeded and printed once in the log. Open `/boards/demo?key=<it>` to administer
//! the demo from a browser.

use crate::access::keys::{self, KeyPair};
use crate::error::AppError;
use crate::service::commands;
use crate::state::AppState;
use crate::store::Envelope;
use crate::store::{NewBoard, Visibility};

pub const DEMO_BOARD: &str = "demo";

pub async fn seed_demo(app: &AppState, configured_key: Option<&str>) -> Result<(), AppError> {
    let pair = configured_key.map_or_else(KeyPair::generate, KeyPair::from_write);
    let hashes = (keys::hash(&pair.read), keys::hash(&pair.write));
    let demo = NewBoard {
        id: DEMO_BOARD,
        name: "Demo board",
        visibility: Visibility::Public,
        key_hashes: Some(hashes.clone()),
    };
    if app.store.create_board(&demo).await? {
        let script = board_core::domain::demo::script();
        for command in &script {
            commands::run(app, DEMO_BOARD, command, Envelope::default(), None).await?;
        }
        tracing::info!("seeded the demo board");
        if configured_key.is_none() {
            announce(&pair.write);
        }
        return Ok(());
    }
    // The board was there already: its key is the configured one, or it keeps the one it
    // has (printed when it was made), or it gets one if it had none (an older store).
    let access = app.store.board_access(DEMO_BOARD).await?;
    let has_key = access.as_ref().is_some_and(|a| a.write_hash.is_some());
    let current = access.as_ref().and_then(|a| a.write_hash.as_deref()) == Some(hashes.1.as_str());
    if configured_key.is_some() && !current || !has_key {
        app.store.set_keys(DEMO_BOARD, &hashes.0, &hashes.1).await?;
        if configured_key.is_none() {
            announce(&pair.write);
        }
    }
    Ok(())
}

/// The one time a generated demo key is shown.
fn announce(write_key: &str) {
    tracing::info!(
        key = write_key,
        "the demo board's write key, shown once: open /boards/demo?key=<key> to administer it (webhooks, keys, \
         the fault lab); set DEMO_WRITE_KEY to choose it"
    );
}
