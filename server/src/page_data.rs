//! The server's side of page rendering: `app::ssr::PageData` over the store and the
//! snapshot cache, so a rendered page shows exactly what `GET` state would answer, and
//! only to a browser the access gate lets in (the page request's cookies hold its keys).

use app::ssr::PageData;
use board_core::api::{BoardSummary, Viewer};
use board_core::domain::BoardState;

use crate::access::{self, Presented, Role};
use crate::error::AppError;
use crate::service::boards;
use crate::state::AppState;

#[async_trait::async_trait]
impl PageData for AppState {
    async fn boards(&self, request: &http::HeaderMap) -> Result<Vec<BoardSummary>, String> {
        boards::visible(self, &Presented::from_headers(request)).await.map_err(|e| public_message(&e))
    }

    async fn board(&self, id: &str, request: &http::HeaderMap) -> Result<Option<(BoardState, Viewer)>, String> {
        let grant = match access::authorize(self, id, &Presented::from_headers(request), Role::Read).await {
            Ok(grant) => grant,
            Err(AppError::NotFound(_)) => return Ok(None),
            Err(err) => return Err(public_message(&err)),
        };
        match self.snapshot(id).await {
            Ok(snapshot) => Ok(Some(((*snapshot.state).clone(), boards::viewer(&grant)))),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(err) => Err(public_message(&err)),
        }
    }

    fn replica(&self) -> String {
        self.replica.to_string()
    }

    fn console(&self, request: &http::HeaderMap) -> board_core::console::Access {
        use board_core::console::Access;
        match &self.admin_token {
            None => Access::Off,
            Some(token) if crate::admin::session::signed_in(token, request) => Access::SignedIn,
            Some(_) => Access::SignedOut,
        }
    }
}

/// What a page may show of a failure: the same words an API client would get, never the
/// cause (which is logged).
fn public_message(err: &AppError) -> String {
    tracing::warn!(error = %err, "a page could not load its data");
    err.to_string()
}
