//! Registers the service worker (`/sw.js`, served by the server with this build's names)
//! that keeps the app's shell and the pages last seen, so the board opens with no network
//! and renders the browser's local copy (browser only). Where there are no service
//! workers (a page served over plain `http` from another host than `localhost`) the page
//! works as before, online only.

use wasm_bindgen::JsValue;

pub fn keep() {
    let Some(window) = web_sys::window() else { return };
    let navigator = window.navigator();
    let has = js_sys::Reflect::get(&navigator, &JsValue::from_str("serviceWorker")).is_ok_and(|v| !v.is_undefined());
    if has {
        // The browser fetches the worker and installs it beside the page; a failure (a
        // private window that refuses it) leaves the page as it was.
        let _ = navigator.service_worker().register("/sw.js");
    }
}
