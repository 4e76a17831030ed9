//! The server's side of page rendering: `app::ssr::PageData` over the store and the
//! snapshot cache, so a rendered page shows exactly what `GET` state would answer.

use app::api::BoardSummary;
use app::domain::BoardState;
use app::ssr::PageData;

use crate::error::AppError;
use crate::state::AppState;

#[async_trait::async_trait]
impl PageData for AppState {
    async fn boards(&self) -> Result<Vec<BoardSummary>, String> {
        self.store.list_boards(200).await.map_err(|e| AppError::from(e).to_string())
    }

    async fn board(&self, id: &str) -> Result<Option<BoardState>, String> {
        match self.snapshot(id).await {
            Ok(snapshot) => Ok(Some((*snapshot.state).clone())),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(err) => {
                tracing::warn!(board = id, error = %err, "page could not load its board");
                Err(err.to_string())
            }
        }
    }

    fn replica(&self) -> String {
        self.replica.to_string()
    }
}
