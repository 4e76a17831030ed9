//! One todo: its title (click to rename), status, and where it sits.
//!
//! A card lives as long as its todo stays in its column: remote changes update it in place
//! (its `<For>` is keyed by id alone), so focus and an open editor survive them. What is
//! typed lives in the client's `drafts`, so it survives even the card moving to another
//! column. Every control carries `data-focus`, the name `focus` uses to put keyboard focus
//! back after a re-render.

use leptos::prelude::*;

use super::card_history::CardHistory;
use super::length::{too_long, LengthHint};
use super::refusals::Refusals;
use crate::sync::client::Draft;
use crate::sync::BoardClient;
use board_core::domain::{Command, Id, Todo, TodoStatus, MAX_TITLE_CHARS};
use board_core::optimistic::Refusal;

/// `card` is this todo as the page shows it, and whether a pending command touched it;
/// `ends` the first and last todo of the card's column (the up and down buttons of those
/// are disabled); `targets` the sprints it can be moved to (the board's, computed once for
/// every card). A `pending` card shows a change the server has not confirmed yet: it is
/// marked; a new todo's card cannot be edited until the server gives it its id.
#[component]
pub fn TodoCard(
    client: BoardClient,
    id: Id,
    card: Memo<(Todo, bool)>,
    ends: Memo<(Option<Id>, Option<Id>)>,
    targets: Memo<Vec<(Id, String)>>,
) -> impl IntoView {
    let pending = move || card.with(|(_, p)| *p);
    let title = move || card.with(|(t, _)| t.title.clone());
    let sprint_id = move || card.with(|(t, _)| t.sprint_id);
    // A new todo's card waits for its real id; a pending change to an existing one does not
    // stop the next (commands go in order), and the controls stay where focus is.
    let editable = move || client.can_write.get() && !client.shown.with(|s| s.provisional.contains(&id));
    let draft = move || client.drafts.with(|d| d.get(&id).map(|d| d.text.clone()));
    let editing = move || client.drafts.with(|d| d.contains_key(&id));
    // Someone renamed the todo while this editor was open: shown above the draft.
    let changed_underneath =
        move || client.drafts.with(|d| d.get(&id).map(|d| d.base_title.clone())).filter(|base| *base != title());

    let open_editor = move |text: String| {
        let base_title = title();
        client.drafts.update(|d| {
            d.insert(id, Draft { text, base_title });
        });
    };
    let close_editor = move || client.drafts.update(|d| _ = d.remove(&id));
    // Save: sent on top of the todo as it is now when only other fields changed (a status
    // change does not conflict with a rename); if the title itself changed since the editor
    // opened, nothing is sent and the card offers both values (as when the server refuses
    // a rename that lost a race on the wire: see `lost`).
    let save = move || {
        let Some(Draft { text, base_title }) = client.drafts.get_untracked().get(&id).cloned() else { return };
        // Too long: the editor stays open with the text and says why (`LengthHint`).
        if too_long(&text, MAX_TITLE_CHARS) {
            return;
        }
        let (now, version) = card.with_untracked(|(t, _)| (t.title.clone(), t.version));
        close_editor();
        if text.trim() == now {
            return;
        }
        let command = Command::RenameTodo { id, title: text, expected_version: Some(version) };
        if now != base_title {
            let message = format!("renamed to \u{201c}{now}\u{201d} while you were editing");
            client.refused(Refusal { command, todo: Some(id), status: Some(409), message });
        } else {
            client.send(command);
        }
    };
    // The rename this card lost, if any: the title typed here.
    let lost = move || client.refusals.with(|all| all.iter().find_map(|r| r.lost_rename(id).map(str::to_owned)));
    let resolve = move |keep_mine: bool| {
        let Some(mine) = lost() else { return };
        client.refusals.update(|all| all.retain(|r| r.lost_rename(id).is_none()));
        if keep_mine {
            let version = card.with_untracked(|(t, _)| t.version);
            client.send(Command::RenameTodo { id, title: mine, expected_version: Some(version) });
        }
    };
    let edit_mine = move || {
        if let Some(mine) = lost() {
            client.refusals.update(|all| all.retain(|r| r.lost_rename(id).is_none()));
            open_editor(mine);
        }
    };

    let on_status = move |ev: leptos::ev::Event| {
        if let Some(status) = TodoStatus::parse(&event_target_value(&ev)) {
            client.send(Command::SetTodoStatus { id, status, expected_version: None });
        }
    };
    let on_move = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let target = if value == "backlog" { None } else { value.parse().ok() };
        client.send(Command::MoveTodo { id, sprint_id: target, position: None, expected_version: None });
    };
    // One place up or down: the index in the column (as it will be without this todo)
    // that the command asks for; the server picks the key between the new neighbours.
    let nudge = move |delta: i64| {
        let column = sprint_id();
        let index = client.shown.with_untracked(|s| s.state.column(column).iter().position(|t| t.id == id));
        let Some(index) = index else { return };
        let to = (index as i64 + delta).max(0) as u32;
        client.send(Command::MoveTodo { id, sprint_id: column, position: Some(to), expected_version: None });
    };
    let class =
        move || card.with(|(t, p)| format!("todo todo-{}{}", t.status.as_str(), if *p { " pending" } else { "" }));
    // Looking at the past: the change at that seq made or changed this todo.
    let changed_then = move || client.past.with(|p| p.as_ref().is_some_and(|p| p.touched.contains(&id)));
    let input = NodeRef::<leptos::html::Input>::new();
    // The editor takes focus when it opens (and keeps it: the card is not re-created).
    input.on_load(move |input| {
        let _ = input.focus();
    });

    view! {
        <li
            class=class
            data-todo-id=id
            class:history-changed=changed_then
            data-history-changed=move || changed_then().then_some("true")
            data-version=move || card.with(|(t, _)| t.version)
            data-pending=move || pending().then_some("true")
            // Drag to another column or place (the column's drop sends `move_todo`); the
            // move select and the arrow buttons do the same from the keyboard.
            draggable=move || if editable() && !editing() { "true" } else { "false" }
            on:dragstart=move |ev: leptos::ev::DragEvent| super::drag::started(&ev, id)
        >
            <Show
                when=editing
                fallback=move || view! {
                    <button
                        class="todo-title"
                        title="rename"
                        data-focus="title"
                        disabled=move || !editable()
                        on:click=move |_| open_editor(title())
                    >{title}</button>
                }
            >
                <form class="rename" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); save(); }>
                    {move || changed_underneath().map(|_| view! {
                        <p class="underneath" data-underneath="">
                            "Meanwhile renamed to \u{201c}" {title} "\u{201d}"
                        </p>
                    })}
                    <input
                        node_ref=input
                        name="rename"
                        aria-label="Todo title"
                        data-focus="title"
                        prop:value=move || draft().unwrap_or_default()
                        on:input:target=move |ev| {
                            let text = ev.target().value();
                            client.drafts.update(|d| if let Some(draft) = d.get_mut(&id) { draft.text = text });
                        }
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { close_editor() }
                    />
                    <button type="submit" class="small">"Save"</button>
                    <LengthHint text=Signal::derive(move || draft().unwrap_or_default()) max=MAX_TITLE_CHARS/>
                </form>
            </Show>
            {move || lost().map(|mine| view! {
                <div class="conflict" role="group" aria-label="Rename conflict" data-conflict="">
                    <p>
                        "Renamed to \u{201c}" {title} "\u{201d} while you were editing; yours was \u{201c}"
                        <span data-mine="">{mine}</span> "\u{201d}."
                    </p>
                    <button class="small" data-focus="keep-mine" on:click=move |_| resolve(true)>"Keep yours"</button>
                    <button class="small" data-focus="take-theirs" on:click=move |_| resolve(false)>"Take theirs"</button>
                    <button class="small link" data-focus="edit-mine" on:click=move |_| edit_mine()>"Edit yours"</button>
                </div>
            })}
            <Show when=editable>
            <div class="todo-controls">
                <select
                    name="status"
                    aria-label="Status"
                    data-focus="status"
                    on:change=on_status
                    prop:value=move || card.with(|(t, _)| t.status.as_str())
                >
                    {TodoStatus::ALL.iter().map(|st| view! {
                        <option value=st.as_str() selected=move || card.with(|(t, _)| t.status == *st)>{st.as_str()}</option>
                    }).collect_view()}
                </select>
                <select
                    name="move"
                    aria-label="Move to"
                    data-focus="move"
                    on:change=on_move
                    prop:value=move || sprint_id().map(|s| s.to_string()).unwrap_or_else(|| "backlog".into())
                >
                    <option value="backlog" selected=move || sprint_id().is_none()>"Backlog"</option>
                    {move || targets.get().into_iter().map(|(sid, name)| {
                        view! { <option value=sid.to_string() selected=move || sprint_id() == Some(sid)>{name}</option> }
                    }).collect_view()}
                </select>
                <button class="icon" title="move up" aria-label="Move up" data-focus="up" disabled=move || ends.get().0 == Some(id) on:click=move |_| nudge(-1)>"↑"</button>
                <button class="icon" title="move down" aria-label="Move down" data-focus="down" disabled=move || ends.get().1 == Some(id) on:click=move |_| nudge(1)>"↓"</button>
                <button class="icon danger" title="delete" aria-label="Delete" data-focus="delete" on:click=move |_| client.delete_with_undo(Command::DeleteTodo { id, expected_version: None })>"✕"</button>
            </div>
            </Show>
            <CardHistory client id version=Signal::derive(move || card.with(|(t, _)| t.version))/>
            // The server's other refusals of commands about this todo (a lost rename is
            // offered above instead).
            <Refusals client here=|r, todo| r.todo == todo && todo.is_some_and(|t| r.lost_rename(t).is_none()) at=Some(id)/>
        </li>
    }
}
