#![recursion_limit = "256"]
//! The browser entry point. The server renders the whole page; this crate only
//! attaches the same components to that HTML ("hydration") and starts the client
//! sync engine that the components own. Everything else lives in `app`.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Panics show up in the browser console with a Rust backtrace instead of "unreachable".
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
