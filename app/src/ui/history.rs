//! The board's history on the page: a slider under the board that shows the board as it
//! was at any retained seq (read-only, the change at that seq described and its todos
//! marked), and "you missed N changes", which opens the same view at the first change the
//! page missed. The live board keeps following meanwhile: "Back to now" shows it again.
//! The data comes from `sync::history` (windows of the log, replayed by the shared reducer).

use leptos::prelude::*;

use crate::sync::history::PastView;
use crate::sync::BoardClient;
use board_core::api::HistoryEntry;

/// Goes to `seq` (the live board at or past the head).
fn go(client: BoardClient, seq: u64) {
    #[cfg(feature = "hydrate")]
    crate::sync::history::travel(client, Some(seq));
    #[cfg(not(feature = "hydrate"))]
    let _ = (client, seq);
}

fn back_to_now(client: BoardClient) {
    #[cfg(feature = "hydrate")]
    crate::sync::history::travel(client, None);
    #[cfg(not(feature = "hydrate"))]
    client.past.set(None);
}

/// A change in words: who (when the command said), what, and which todo.
pub fn describe(change: &HistoryEntry, past: Option<&PastView>) -> String {
    let what = change.event.describe();
    let todo = change.event.todo_id().and_then(|id| past.and_then(|p| p.state.todo(id)).map(|t| t.title.clone()));
    let what = match (todo, &change.event) {
        // The event names its title already.
        (_, board_core::domain::Event::TodoAdded { .. } | board_core::domain::Event::TodoRestored { .. }) => what,
        (Some(title), _) => format!("{what} (\u{201c}{title}\u{201d})"),
        (None, _) => what,
    };
    match &change.actor {
        Some(actor) => format!("{actor} {what}"),
        None => format!("Someone {what}"),
    }
}

/// A commit time (Unix ms) as the page's clock shows it.
pub fn clock(at: i64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at as f64));
        format!("{:02}:{:02}:{:02}", date.get_hours(), date.get_minutes(), date.get_seconds())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let secs = at.div_euclid(1000).rem_euclid(86_400);
        format!("{:02}:{:02}:{:02} UTC", secs / 3600, secs / 60 % 60, secs % 60)
    }
}

#[component]
pub fn TimeTravel(client: BoardClient) -> impl IntoView {
    let head = move || client.state.with(|s| s.seq);
    let past = move || client.past.with(|p| p.as_ref().map(|p| p.seq));
    let shown = move || past().unwrap_or_else(head);
    let floor = move || client.history_floor.get().min(head());
    let caption = move || {
        client.past.with(|past| {
            let past = past.as_ref()?;
            let change = past.change.as_ref()?;
            Some(format!("seq {} at {}: {}", change.seq, clock(change.at), describe(change, Some(past))))
        })
    };
    let stop = move || {
        let at_floor = client.past.with(|p| p.as_ref().map(|p| p.seq)) == Some(client.history_floor.get());
        at_floor.then(|| client.travel.with_value(|t| t.stop.clone())).flatten()
    };
    let on_input = move |ev: leptos::ev::Event| {
        if let Ok(seq) = event_target_value(&ev).parse::<u64>() {
            go(client, seq);
        }
    };
    view! {
        <section class="history" aria-label="History" data-history="">
            <div class="history-row">
                <label for="history-slider">"History"</label>
                <input
                    id="history-slider"
                    type="range"
                    step="1"
                    min=floor
                    max=head
                    prop:value=move || shown().to_string()
                    data-history-seq=shown
                    aria-valuetext=move || format!("seq {} of {}", shown(), head())
                    on:input=on_input
                />
                <button
                    class="small"
                    data-history-step="back"
                    aria-label="One change back"
                    disabled=move || shown() <= floor()
                    on:click=move |_| go(client, shown().saturating_sub(1))
                >"\u{2190}"</button>
                <button
                    class="small"
                    data-history-step="forward"
                    aria-label="One change forward"
                    disabled=move || past().is_none()
                    on:click=move |_| go(client, shown() + 1)
                >"\u{2192}"</button>
                <span class="muted">{move || format!("seq {} of {}", shown(), head())}</span>
                <Show when=move || past().is_some()>
                    <button class="small" data-history-now="" on:click=move |_| back_to_now(client)>"Back to now"</button>
                </Show>
                <a class="muted" href="/docs/history.md">"how history works"</a>
            </div>
            {move || past().map(|_| view! {
                <p class="history-caption" role="status" data-history-caption="">
                    "You are looking at the board as it was (read-only); it goes on changing meanwhile. "
                    {caption}
                </p>
            })}
            {move || stop().map(|why| view! { <p class="muted history-stop" data-history-stop="">{why}</p> })}
        </section>
    }
}

/// "You missed N changes": after the page was away (a background tab, a lost connection,
/// a reload), how many changes by others arrived meanwhile, with a way to step through
/// them in the history view.
#[component]
pub fn MissedBanner(client: BoardClient) -> impl IntoView {
    move || {
        client.missed.get().map(|missed| {
            let plural = if missed.count == 1 { "" } else { "s" };
            view! {
                <p class="missed" role="status" data-missed=missed.count>
                    {format!("You missed {} change{plural} while you were away. ", missed.count)}
                    <button
                        class="small"
                        data-missed-show=""
                        on:click=move |_| {
                            // The first change it missed; the arrows step to the rest.
                            go(client, missed.from + 1);
                        }
                    >"Step through them"</button>
                    <button class="link" on:click=move |_| client.missed.set(None)>"dismiss"</button>
                </p>
            }
        })
    }
}
