//! The Leptos components, rendered on the server and hydrated in the browser.
//!
//! * [`shell`]: the HTML document; [`App`]: the router.
//! * [`home`]: `/`, the board list and the form that creates a board.
//! * [`board_page`]: `/boards/{board}?pattern=&transport=`: loads the board, starts the client.
//! * [`compare`]: `/boards/{board}/compare`, several clients of one board side by side.
//! * [`console`]: `/admin`, the operator's console (the cluster live; behind `ADMIN_TOKEN`).
//! * [`board`]: the kanban: header, columns, the forms that send commands.
//! * [`todo_card`]: one todo with its controls (none until a new todo has its id), its
//!   editor and the choice a lost rename offers.
//! * [`drag`]: dragging a card: what it carries and where it falls in a column.
//! * [`undo`]: Undo and Redo of this tab's changes (new commands), and the deletes it can
//!   still take back unsent (held for a few seconds).
//! * [`history`]: the history slider (the board as it was at any retained seq) and "you
//!   missed N changes"; [`card_history`]: one todo's changes and who made them.
//! * [`local_copy`]: the browser's copy of the board: queued changes too old (or made
//!   against a replaced board) to go by themselves, with Send and Discard; a board shown
//!   from the copy, and how old; a browser that keeps none.
//! * [`refusals`]: the server's refusals of this tab's commands, where the change was.
//! * [`focus`]: keeps keyboard focus on the control that acted when the board re-renders.
//! * [`connection`]: the connection state in words (live, reconnecting with a countdown and
//!   "try now", offline with the changes waiting, unreachable since when, withdrawn).
//! * [`announcer`]: the live region that tells a screen reader of connection changes and
//!   (together, every two seconds) of changes by others.
//! * [`inspector`]: the wire inspector (what this client received, and the timeline of
//!   faults and recovery steps); [`waterfall`]: its traces (trace this tab, and one
//!   change's hops from the command to this screen).
//! * [`lab`]: the fault lab's controls (this tab's faults, the replica's, the compare
//!   page's presets).
//! * [`one_line_form`]: the input-and-button form the add and create forms share.
//! * [`legend`]: what the patterns and transports are, beside the pickers, with the docs.
//! * [`length`]: text limits counted as the server counts them, shown near the limit.
//! * [`data`]: page data: read from the server's store while rendering, fetched in the browser.

pub mod announcer;
pub mod board;
pub mod board_page;
pub mod card_history;
pub mod compare;
pub mod connection;
pub mod console;
pub mod cursors;
pub mod data;
pub mod drag;
pub mod focus;
pub mod history;
pub mod home;
pub mod inspector;
pub mod lab;
pub mod legend;
pub mod length;
pub mod local_copy;
pub mod one_line_form;
pub mod presence;
pub mod refusals;
pub mod todo_card;
pub mod undo;
pub mod waterfall;
pub mod webhooks;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{path, SsrMode};

/// The document around the app. The hydration scripts load `/pkg/{output_name}.js`; the
/// server sets `output_name` and the stylesheet's address (`crate::ssr::Stylesheet`) to
/// the fingerprinted names of the built site. The stylesheet is linked here, where only
/// the server renders, rather than in [`App`], where the browser would need its name too.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let stylesheet = use_context::<crate::ssr::Stylesheet>().map_or_else(|| "/main.css".into(), |s| s.0.to_string());
    #[cfg(not(feature = "ssr"))]
    let stylesheet = String::from("/main.css");
    // Read by the browser's engine as it starts (`sync::browser`).
    #[cfg(feature = "ssr")]
    let outbox_max_age = use_context::<crate::ssr::OutboxMaxAge>().map(|age| age.0.to_string());
    #[cfg(not(feature = "ssr"))]
    let outbox_max_age: Option<String> = None;
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // Every answer says `Referrer-Policy: no-referrer`, under which a browser
                // sends a form's `POST` with `Origin: null`, which the origin check refuses.
                // The page narrows the policy to `same-origin`: its own no-script forms
                // carry their origin, and no other site ever gets a `Referer` from it.
                <meta name="referrer" content="same-origin"/>
                <link rel="icon" href="data:,"/>
                <link rel="stylesheet" id="main" href=stylesheet/>
                {outbox_max_age.map(|seconds| view! { <meta name="outbox-max-age" content=seconds/> })}
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The skip link's click: focus (and so scroll to) the page's content.
fn skip_to_content(ev: leptos::ev::MouseEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let content = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("content"))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
        if let Some(content) = content {
            ev.prevent_default();
            let _ = content.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    #[cfg(feature = "ssr")]
    set_security_headers();
    view! {
        <Title text="Realtime board"/>
        <Router>
            // The first thing Tab reaches: past the top bar, straight to the page's content.
            // (Without the script the browser follows it; with it, the router would take the
            // click and only scroll, so it moves focus itself.)
            <a class="skip-link" href="#content" on:click=skip_to_content>"Skip to content"</a>
            <header class="topbar">
                <A href="/" attr:class="brand">"▦ Realtime board"</A>
                <span class="tagline">"five ways to deliver a change, side by side"</span>
            </header>
            <main id="content" tabindex="-1">
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=home::HomePage ssr=SsrMode::Async/>
                    // Async: the whole page renders before the response starts, so a missing board
                    // or a bad pattern can still set the status code (404, 400).
                    <Route path=path!("/boards/:id") view=board_page::BoardPage ssr=SsrMode::Async/>
                    <Route path=path!("/boards/:id/compare") view=compare::ComparePage ssr=SsrMode::Async/>
                    // The operator's console: `404` unless the server has `ADMIN_TOKEN`.
                    <Route path=path!("/admin") view=console::ConsolePage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// `404`. For a board (`board`): it may never have existed, or the link used for it was
/// withdrawn (a private board opened without a key that opens it looks the same, on
/// purpose: whether it exists is the owner's to tell).
#[component]
pub fn NotFound(#[prop(optional)] board: bool) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http_status::NOT_FOUND);
    }
    let why = match board {
        true => "No board opens here. Check the address; if you came by a link, it may have been withdrawn:                  a board's owner can change its keys, and old links stop working. Ask the owner for a new link. ",
        false => "There is nothing here. ",
    };
    view! {
        <section class="empty" data-not-found=board.then_some("board")>
            <h1>"Not found"</h1>
            <p>{why} <A href="/">"See all boards"</A></p>
        </section>
    }
}

#[cfg(feature = "ssr")]
mod http_status {
    pub use http::StatusCode;
    pub const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
    pub const BAD_REQUEST: StatusCode = StatusCode::BAD_REQUEST;
    pub const UNAVAILABLE: StatusCode = StatusCode::SERVICE_UNAVAILABLE;
}

/// The page's Content-Security-Policy: scripts only from this origin plus the hydration
/// script that carries this response's nonce, wasm compiled by that script, no framing by
/// any other page, forms and connections to this origin only. The server provides the
/// nonce (`leptos::nonce::provide_nonce`) for every page it renders.
#[cfg(feature = "ssr")]
fn set_security_headers() {
    use http::header::{HeaderName, HeaderValue};
    let (Some(response), Some(nonce)) = (use_context::<leptos_axum::ResponseOptions>(), leptos::nonce::use_nonce())
    else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    );
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        response.insert_header(HeaderName::from_static("content-security-policy"), policy);
    }
}

/// Marks the response as `400` while rendering (a bad `pattern=` or `transport=`).
pub fn set_bad_request() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http_status::BAD_REQUEST);
    }
}

/// Marks the response as `503` while rendering: the page could not read its data (the
/// database is unavailable), and says so in words; the status says so to machines.
pub fn set_unavailable() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http_status::UNAVAILABLE);
    }
}
