//! Taking changes back.
//!
//! [`UndoRedo`]: Undo and Redo of this tab's own changes, as new commands (`sync::undo`).
//!
//! [`UndoDeletes`]: "Deleted “title”. Undo": the deletes this tab made that can still be
//! taken back unsent. A delete waits in the outbox for `UNDO_MS` before it is sent (the
//! card is gone from this page at once); Undo drops it unsent, so there is nothing to
//! invert and nobody else ever saw the card go. The list is the outbox's held commands, so it needs no state of its own, and a
//! reload ends every hold (the delete goes).

use leptos::prelude::*;

use crate::sync::client::UNDO_MS;
use crate::sync::undo::Direction;
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
                        <button class="small" data-focus="undo" on:click=move |_| client.cancel_delete(id)>"Undo"</button>
                        <span class="muted">{format!(" ({} s to change your mind)", UNDO_MS / 1000)}</span>
                    </p>
                }
            />
        </div>
    }
}

/// Undo and Redo of this tab's own changes (buttons, and Ctrl+Z / Ctrl+Shift+Z or Ctrl+Y
/// outside a text field, whose own undo is the text's). Each is a new command computed by
/// the domain (`sync::undo`); one the domain refuses says who changed what since.
#[component]
pub fn UndoRedo(client: BoardClient) -> impl IntoView {
    // Looking at the past, the live board is not on the page: nothing to undo on it.
    let travelling = move || client.past.with(Option::is_some);
    let undo = move || client.undo.with(|u| u.undo.clone());
    let redo = move || client.undo.with(|u| u.redo.clone());
    keyboard(client);
    view! {
        <div class="undo-redo" data-undo-redo="">
            <button
                class="small"
                data-undo-last=move || undo().unwrap_or_default()
                title=move || undo().map(|u| format!("Undo {u}")).unwrap_or_else(|| "Nothing to undo".into())
                disabled=move || undo().is_none() || travelling()
                on:click=move |_| client.undo_last()
            >"Undo"</button>
            <button
                class="small"
                data-redo-last=move || redo().unwrap_or_default()
                title=move || redo().map(|r| format!("Redo {r}")).unwrap_or_else(|| "Nothing to redo".into())
                disabled=move || redo().is_none() || travelling()
                on:click=move |_| client.redo_last()
            >"Redo"</button>
            <span class="muted">{move || undo().map(|u| format!("Undo would take back {u}."))}</span>
            <Blocked client/>
        </div>
    }
}

/// The undo or redo the domain refused: who changed what since (the newest change of that
/// kind in the todo's history), and that nothing was overwritten.
#[component]
fn Blocked(client: BoardClient) -> impl IntoView {
    let who: RwSignal<Option<String>> = RwSignal::new(None);
    Effect::new(move |_| {
        let Some(note) = client.undo_blocked.get() else { return };
        who.set(None);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let page = crate::sync::http::todo_history(&client.board_id(), note.todo).await.answer;
            let actor = page.ok().and_then(|page| {
                page.changes.into_iter().rev().find(|c| note.field.changed_by(&c.event)).and_then(|c| c.actor)
            });
            who.set(Some(actor.unwrap_or_else(|| "Someone".into())));
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = note;
    });
    move || {
        client.undo_blocked.get().map(|note| {
            let verb = if note.direction == Direction::Undo { "undo" } else { "redo" };
            view! {
                <p class="notice" role="alert" data-undo-blocked=note.todo>
                    {move || who.get().unwrap_or_else(|| "Someone".into())}
                    {format!(" {} since your change, so this {verb} would overwrite theirs: nothing was sent. ", note.what)}
                    <button class="link" on:click=move |_| client.undo_blocked.set(None)>"dismiss"</button>
                </p>
            }
        })
    }
}

/// Ctrl+Z (⌘Z) undoes, Ctrl+Shift+Z or Ctrl+Y redoes, for the page's whole life; not in a
/// text field, where the keys belong to the text.
fn keyboard(client: BoardClient) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let handler = window_event_listener(leptos::ev::keydown, move |ev: web_sys::KeyboardEvent| {
            if !(ev.ctrl_key() || ev.meta_key()) || ev.alt_key() || client.past.with_untracked(Option::is_some) {
                return;
            }
            let in_text = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()).is_some_and(|el| {
                let tag = el.tag_name().to_ascii_lowercase();
                let typed = el.get_attribute("type").unwrap_or_default();
                tag == "textarea"
                    || el.is_content_editable()
                    || (tag == "input" && typed != "range" && typed != "checkbox")
            });
            if in_text {
                return;
            }
            match ev.key().as_str() {
                "z" | "Z" if ev.shift_key() => client.redo_last(),
                "z" | "Z" => client.undo_last(),
                "y" | "Y" => client.redo_last(),
                _ => return,
            }
            ev.prevent_default();
        });
        on_cleanup(move || handler.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = client;
}
