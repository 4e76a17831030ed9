//! The connection as the page tells it: one state ([`Connection`]) in words beside the
//! board's name, with the commands waiting, a countdown to the next attempt and a "try now"
//! button; the page root marks it `data-connection`. The words come from the state alone,
//! so the pill, the root's mark and the live region never disagree.

use leptos::prelude::*;

use crate::sync::platform::Sharing;
use crate::sync::{BoardClient, Connection};

/// How often a countdown moves.
#[cfg(feature = "hydrate")]
const TICK_MS: u64 = 1_000;

/// The connection state, re-read every second while it is not live: the countdown moves,
/// and reconnecting turns into unreachable as the failures go on. Rendered on the server
/// as the page starts (connecting), like the browser's first render.
pub fn use_connection(client: BoardClient) -> Memo<Connection> {
    let tick = RwSignal::new(0u64);
    #[cfg(feature = "hydrate")]
    {
        let interval = set_interval_with_handle(
            move || {
                // Nothing moves while live: no work for a page that is fine.
                if client.connection(now_ms()) != Connection::Live {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_millis(TICK_MS),
        );
        if let Ok(interval) = interval {
            on_cleanup(move || interval.clear());
        }
    }
    Memo::new(move |_| {
        tick.track();
        client.connection(now_ms())
    })
}

/// The pill beside the board's name.
#[component]
pub fn ConnectionStatus(client: BoardClient, connection: Memo<Connection>) -> impl IntoView {
    let waiting = move || client.outbox.with(|o| o.waiting());
    let words = move || connection.get().words(waiting(), local_clock);
    view! {
        <span
            class=move || format!("conn conn-{}", connection.get().as_str())
            data-connection-words=""
            title="the connection: live means changes arrive as they happen"
        >
            {words}
        </span>
        {move || sharing_words(connection.get(), client.sharing.get()).map(|(words, title)| view! {
            <span class="conn-sharing" data-stream-words="" title=title>{words}</span>
        })}
        {move || connection.get().can_retry().then(|| view! {
            <button class="link try-now" data-try-now="" on:click=move |_| client.retry_now()>"try now"</button>
        })}
    }
}

/// What the page adds while live when the stream is not the tab's own: a person who sees
/// changes arrive a few seconds late knows why, and how it ends.
fn sharing_words(connection: Connection, sharing: Sharing) -> Option<(&'static str, &'static str)> {
    if connection != Connection::Live {
        return None;
    }
    match sharing {
        Sharing::Own => None,
        Sharing::Relayed => Some((
            "via another tab",
            "this browser's connections to the server are all in use, so another tab of it passes this board's changes on",
        )),
        Sharing::Waiting => Some((
            "checking every 5 s",
            "this browser's connections to the server are all in use: this tab asks every 5 seconds, and streams as soon as one is free",
        )),
    }
}

/// Unix milliseconds now (0 while rendering on the server, where nothing is under way).
fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    return js_sys::Date::now() as i64;
    #[cfg(not(feature = "hydrate"))]
    0
}

/// The local time of day of a Unix ms time, "12:04": when the server stopped answering,
/// on the person's own clock.
fn local_clock(at: i64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at as f64));
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
    }
    #[cfg(not(feature = "hydrate"))]
    crate::sync::wire::clock(at)[..5].to_owned()
}
