//! `GET /sw.js`: the service worker that keeps the app's shell, so a board page opens with
//! no network at all and renders the browser's local copy (see `docs/local-first.md`).
//!
//! The worker's text is `worker.js` with this build's names filled in: its version (the
//! bundle's fingerprinted name) and the files of the shell. A new build is a new worker
//! (the browser compares the bytes at every page load, as `no-cache` makes it ask), whose
//! caches replace the old ones whole: a page never pairs one build's HTML with another's
//! script. Built once at startup; an answer is a copy of about 3 KB.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::assets::{Assets, PKG_DIR};
use crate::state::AppState;

const TEMPLATE: &str = include_str!("worker.js");

/// The worker for the site `assets` serves.
pub fn worker(assets: &Assets) -> String {
    let output = &assets.output_name;
    let shell =
        [format!("/{PKG_DIR}/{output}.js"), format!("/{PKG_DIR}/{output}_bg.wasm"), assets.stylesheet.to_string()];
    let shell = serde_json::to_string(&shell).expect("names serialise");
    TEMPLATE.replace("__VERSION__", output).replace("__SHELL__", &shell)
}

pub async fn get(State(app): State<AppState>) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
        // Asked again at every page load: a new build is found at once.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, app.service_worker.to_string()).into_response()
}
