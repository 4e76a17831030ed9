//! Page data. While rendering on the server it comes from the store (through the
//! `PageData` context the server provides); in the browser from the REST API. Resources
//! built on these are serialised into the page, so hydration does not fetch again.

use std::future::Future;

use board_core::api::{BoardSummary, Viewer};
use board_core::domain::BoardState;

/// The board and what this browser may do with it; `None`: not found (or not ours to see).
pub type BoardResult = Result<Option<(BoardState, Viewer)>, String>;
pub type BoardsResult = Result<Vec<BoardSummary>, String>;

/// The page request's headers (its cookies carry the browser's board keys).
#[cfg(feature = "ssr")]
fn request_headers() -> http::HeaderMap {
    leptos::prelude::use_context::<http::request::Parts>().map(|parts| parts.headers).unwrap_or_default()
}

#[cfg(feature = "ssr")]
pub fn board(id: String) -> impl Future<Output = BoardResult> + Send + 'static {
    let data = leptos::prelude::use_context::<crate::ssr::SharedPageData>();
    let headers = request_headers();
    async move {
        match data {
            Some(data) => data.board(&id, &headers).await,
            None => Err("the server provided no page data".into()),
        }
    }
}

#[cfg(feature = "ssr")]
pub fn boards() -> impl Future<Output = BoardsResult> + Send + 'static {
    let data = leptos::prelude::use_context::<crate::ssr::SharedPageData>();
    let headers = request_headers();
    async move {
        match data {
            Some(data) => data.boards(&headers).await,
            None => Err("the server provided no page data".into()),
        }
    }
}

/// Whether this browser may see the operator's console: on the server, from its cookie;
/// in the browser, from what the console's API answers it.
pub fn console() -> impl Future<Output = board_core::console::Access> + Send + 'static {
    use board_core::console::Access;
    #[cfg(feature = "ssr")]
    {
        let data = leptos::prelude::use_context::<crate::ssr::SharedPageData>();
        let headers = request_headers();
        async move { data.map_or(Access::Off, |data| data.console(&headers)) }
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        send_wrapper::SendWrapper::new(async move {
            match crate::sync::http::console_status().await {
                Some(200) => Access::SignedIn,
                Some(401) => Access::SignedOut,
                _ => Access::Off,
            }
        })
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    async {
        Access::Off
    }
}

/// The replica that rendered the page (empty in the browser: `hello` tells it there).
pub fn replica() -> String {
    #[cfg(feature = "ssr")]
    if let Some(data) = leptos::prelude::use_context::<crate::ssr::SharedPageData>() {
        return data.replica();
    }
    String::new()
}

// In the browser fetch futures are not `Send`; wasm has one thread, so wrapping them is sound.
#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
pub fn board(id: String) -> impl Future<Output = BoardResult> + Send + 'static {
    send_wrapper::SendWrapper::new(async move {
        let state = match crate::sync::http::state(&id, None).await.answer {
            Ok(Some(state)) => state,
            Ok(None) => return Ok(None),
            Err(crate::sync::http::HttpError::Status { status: 404, .. }) => return Ok(None),
            Err(err) => return Err(err.message()),
        };
        let viewer = crate::sync::http::viewer(&id).await.map_err(|e| e.message())?;
        Ok(Some((state, viewer)))
    })
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
pub fn boards() -> impl Future<Output = BoardsResult> + Send + 'static {
    send_wrapper::SendWrapper::new(async move { crate::sync::http::boards().await.map_err(|e| e.message()) })
}

// Neither feature: the library is being tested natively; pages are never rendered.
#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
pub fn board(_id: String) -> impl Future<Output = BoardResult> + Send + 'static {
    async { Err("no backend in this build".to_string()) }
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
pub fn boards() -> impl Future<Output = BoardsResult> + Send + 'static {
    async { Err("no backend in this build".to_string()) }
}
