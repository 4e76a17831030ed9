//! What the server gives the components while rendering a page. The server crate
//! implements [`PageData`] over its store and provides it as context; the components read
//! it through [`crate::ui::data`], which in the browser calls the REST API instead.

use std::sync::Arc;

use crate::api::BoardSummary;
use crate::domain::BoardState;

#[async_trait::async_trait]
pub trait PageData: Send + Sync + 'static {
    async fn boards(&self) -> Result<Vec<BoardSummary>, String>;
    /// `Ok(None)`: no such board.
    async fn board(&self, id: &str) -> Result<Option<BoardState>, String>;
    /// This replica's id, shown in the page footer.
    fn replica(&self) -> String;
}

/// The context value the server provides.
pub type SharedPageData = Arc<dyn PageData>;
