//! "Deleted “title”. Undo": the deletes this tab made that can still be taken back. A delete
//! waits in the outbox for `UNDO_MS` before it is sent (the card is gone from this page at
//! once); Undo drops it unsent, so there is nothing to invert and nobody else ever saw the
//! card go. The list is the outbox's held commands, so it needs no state of its own, and a
//! reload ends every hold (the delete goes).

use leptos::prelude::*;

use crate::sync::client::UNDO_MS;
use crate::sync::BoardClient;
use board_core::domain::{Command, Id};

#[component]
pub fn UndoDeletes(client: BoardClient) -> impl IntoView {
    // The held deletes, with the title the confirmed board still has for each.
    let held = move || {
        client.outbox.with(|outbox| {
            client.state.with(|state| {
                outbox
                    .iter()
                    .filter(|p| p.hold_until.is_some())
                    .filter_map(|p| match p.command {
                        Command::DeleteTodo { id, .. } => Some(id),
                        _ => None,
                    })
                    .map(|id: Id| (id, state.todo(id).map(|t| t.title.clone()).unwrap_or_default()))
                    .collect::<Vec<_>>()
            })
        })
    };
    view! {
        <div class="undo-list" role="status" aria-live="polite">
            <For
                each=held
                key=|(id, _)| *id
                children=move |(id, title)| view! {
                    <p class="undo" data-undo=id>
                        "Deleted \u{201c}" {title} "\u{201d}. "
                        <button class="small" data-focus="undo" on:click=move |_| client.undo(id)>"Undo"</button>
                        <span class="muted">{format!(" ({} s to change your mind)", UNDO_MS / 1000)}</span>
                    </p>
                }
            />
        </div>
    }
}
