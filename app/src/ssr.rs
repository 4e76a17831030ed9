//! What the server gives the components while rendering a page. The server crate
//! implements [`PageData`] over its store and provides it as context; the components read
//! it through [`crate::ui::data`], which in the browser calls the REST API instead.

use std::sync::Arc;

use board_core::api::{BoardSummary, Viewer};
use board_core::domain::BoardState;

/// Every method gets the page request's headers: what a page shows depends on the keys the
/// browser presents (its cookies), checked by the server's access gate.
#[async_trait::async_trait]
pub trait PageData: Send + Sync + 'static {
    /// The boards this browser may see.
    async fn boards(&self, request: &http::HeaderMap) -> Result<Vec<BoardSummary>, String>;
    /// The board and what this browser may do with it. `Ok(None)`: no such board, or a
    /// private one the request holds no key for (the same answer, on purpose).
    async fn board(&self, id: &str, request: &http::HeaderMap) -> Result<Option<(BoardState, Viewer)>, String>;
    /// This replica's id, shown in the page footer.
    fn replica(&self) -> String;
    /// Whether the operator's console is on, and this browser signed in to it (its cookie).
    fn console(&self, request: &http::HeaderMap) -> board_core::console::Access;
}

/// The context value the server provides.
pub type SharedPageData = Arc<dyn PageData>;

/// The command service, as the server functions (`server_fns`) call it. The server
/// implements it with the same gate, limits and checks as `POST /api/boards/{board}/commands`
/// and provides it as context to its server-function handler.
#[async_trait::async_trait]
pub trait Commands: Send + Sync + 'static {
    /// Runs `command` on `board` for the client that sent `request` (its keys, its address).
    async fn run(
        &self,
        board: &str,
        request: &http::request::Parts,
        command: board_core::domain::Command,
        idempotency_key: Option<String>,
    ) -> Result<board_core::api::CommandAnswer, crate::refused::Refused>;
}

/// The context value the server provides to server functions.
pub type SharedCommands = Arc<dyn Commands>;

/// The stylesheet's address, which the shell links: `/main-<hash>.css`, a name by content
/// that the server reads from the site's manifest at startup and provides to every page
/// (without it, `/main.css`).
#[derive(Clone, Debug)]
pub struct Stylesheet(pub Arc<str>);

/// How long (seconds) a change queued in a browser may wait and still be sent by itself
/// (`OUTBOX_MAX_AGE`, never more than `IDEMPOTENCY_TTL`: an older command's key may be
/// forgotten, and sending it again could apply it twice). The shell says it in a `meta`.
#[derive(Clone, Copy, Debug)]
pub struct OutboxMaxAge(pub u64);
