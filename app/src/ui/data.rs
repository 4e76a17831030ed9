//! Page data. While rendering on the server it comes from the store (through the
//! `PageData` context the server provides); in the browser from the REST API. Resources
//! built on these are serialised into the page, so hydration does not fetch again.

use std::future::Future;

use crate::api::BoardSummary;
use crate::domain::BoardState;

pub type BoardResult = Result<Option<BoardState>, String>;
pub type BoardsResult = Result<Vec<BoardSummary>, String>;

#[cfg(feature = "ssr")]
pub fn board(id: String) -> impl Future<Output = BoardResult> + Send + 'static {
    let data = leptos::prelude::use_context::<crate::ssr::SharedPageData>();
    async move {
        match data {
            Some(data) => data.board(&id).await,
            None => Err("the server provided no page data".into()),
        }
    }
}

#[cfg(feature = "ssr")]
pub fn boards() -> impl Future<Output = BoardsResult> + Send + 'static {
    let data = leptos::prelude::use_context::<crate::ssr::SharedPageData>();
    async move {
        match data {
            Some(data) => data.boards().await,
            None => Err("the server provided no page data".into()),
        }
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
        match crate::sync::http::state(&id, None).await {
            Ok(state) => Ok(state),
            Err(crate::sync::http::HttpError::Status { status: 404, .. }) => Ok(None),
            Err(err) => Err(err.message()),
        }
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
