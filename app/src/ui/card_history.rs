//! One todo's history: every retained change that touched it, when, and by whom (the
//! presence name its command was sent with), read from the log when the person opens it
//! (`GET /todos/{id}/history`) and again whenever the todo changes while it is open.

use leptos::prelude::*;

use super::history::clock;
use crate::sync::BoardClient;
use board_core::api::TodoHistoryPage;
use board_core::domain::Id;

#[component]
pub fn CardHistory(client: BoardClient, id: Id, version: Signal<u64>) -> impl IntoView {
    let open = RwSignal::new(false);
    let page: RwSignal<Option<Result<TodoHistoryPage, String>>> = RwSignal::new(None);
    // Fetched on open, and again when the todo changes while open (its version moves).
    Effect::new(move |_| {
        let (open, _) = (open.get(), version.get());
        if !open {
            return;
        }
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let answer = crate::sync::http::todo_history(&client.board_id(), id).await.answer;
            page.set(Some(answer.map_err(|err| err.message())));
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (client, id);
    });
    view! {
        <button
            class="icon"
            title="history"
            aria-label="History"
            aria-expanded=move || open.get().to_string()
            data-focus="history"
            on:click=move |_| open.update(|o| *o = !*o)
        >"\u{1f552}"</button>
        <Show when=move || open.get()>
            <div class="card-history" data-card-history=id>
                {move || match page.get() {
                    None => view! { <p class="muted">"Reading the log\u{2026}"</p> }.into_any(),
                    Some(Err(message)) => view! { <p class="notice">{message}</p> }.into_any(),
                    Some(Ok(page)) => view! {
                        <ol>
                            {page.changes.into_iter().map(|change| {
                                let who = change.actor.clone().unwrap_or_else(|| "someone".into());
                                view! {
                                    <li data-card-change=change.seq>
                                        <span class="muted">{format!("seq {} at {} ", change.seq, clock(change.at))}</span>
                                        <strong>{who}</strong>" "{change.event.describe()}
                                    </li>
                                }
                            }).collect_view()}
                        </ol>
                        {(page.floor > 0 || page.more).then(|| view! {
                            <p class="muted">{format!("Older changes are no longer kept (history starts at seq {}).", page.floor)}</p>
                        })}
                    }.into_any(),
                }}
            </div>
        </Show>
    }
}
