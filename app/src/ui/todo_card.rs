//! One todo: its title (click to rename), status, and where it sits.

use leptos::prelude::*;

use super::refusals::Refusals;
use crate::domain::{Command, Id, Todo, TodoStatus};
use crate::sync::BoardClient;

/// `ends` is the first and last todo of the card's column (the up and down buttons of
/// those are disabled); `targets` the sprints it can be moved to (the board's, computed
/// once for every card). A `pending` card shows a change the server has not confirmed yet:
/// it is marked, and cannot be edited until then (a new todo's id is provisional until its
/// seq is known, so a command naming it could reach another todo).
#[component]
pub fn TodoCard(
    client: BoardClient,
    todo: Todo,
    pending: bool,
    ends: Memo<(Option<Id>, Option<Id>)>,
    targets: Memo<Vec<(Id, String)>>,
) -> impl IntoView {
    let id = todo.id;
    let version = todo.version;
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(todo.title.clone());
    let title = todo.title.clone();
    let original = StoredValue::new(todo.title.clone());
    let sprint_id = todo.sprint_id;

    let rename = move || {
        editing.set(false);
        let text = draft.get_untracked();
        if original.with_value(|o| text.trim() != o.as_str()) {
            client.send(Command::RenameTodo { id, title: text, expected_version: Some(version) });
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
        let index = client.shown.with_untracked(|s| s.state.column(sprint_id).iter().position(|t| t.id == id));
        let Some(index) = index else { return };
        let to = (index as i64 + delta).max(0) as u32;
        client.send(Command::MoveTodo { id, sprint_id, position: Some(to), expected_version: None });
    };
    let status_class = format!("todo todo-{}{}", todo.status.as_str(), if pending { " pending" } else { "" });
    let status = todo.status;
    let editable = move || client.can_write.get() && !pending;

    view! {
        <li
            class=status_class
            data-todo-id=id
            data-version=version
            data-pending=pending.then_some("true")
            // Drag to another column or place (the column's drop sends `move_todo`); the
            // move select and the arrow buttons do the same from the keyboard.
            draggable=move || if editable() { "true" } else { "false" }
            on:dragstart=move |ev: leptos::ev::DragEvent| {
                #[cfg(feature = "hydrate")]
                if let Some(data) = ev.data_transfer() {
                    let _ = data.set_data(super::board::DRAGGED_TODO, &id.to_string());
                    data.set_effect_allowed("move");
                }
                #[cfg(not(feature = "hydrate"))]
                let _ = ev;
            }
        >
            <Show
                when=move || editing.get()
                fallback=move || {
                    let title = title.clone();
                    view! {
                        <button
                            class="todo-title"
                            title="click to rename"
                            disabled=move || !editable()
                            on:click=move |_| editing.set(true)
                        >{title}</button>
                    }
                }
            >
                <form class="rename" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); rename(); }>
                    <input
                        name="rename"
                        aria-label="Todo title"
                        maxlength="500"
                        prop:value=move || draft.get()
                        on:input:target=move |ev| draft.set(ev.target().value())
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { editing.set(false) }
                    />
                    <button type="submit" class="small">"Save"</button>
                </form>
            </Show>
            <Show when=editable>
            <div class="todo-controls">
                <select name="status" aria-label="Status" on:change=on_status>
                    {TodoStatus::ALL.iter().map(|st| view! {
                        <option value=st.as_str() selected=status == *st>{st.as_str()}</option>
                    }).collect_view()}
                </select>
                <select name="move" aria-label="Move to" on:change=on_move>
                    <option value="backlog" selected=sprint_id.is_none()>"Backlog"</option>
                    {move || targets.get().into_iter().map(|(sid, name)| {
                        let selected = sprint_id == Some(sid);
                        view! { <option value=sid.to_string() selected=selected>{name}</option> }
                    }).collect_view()}
                </select>
                <button class="icon" title="move up" aria-label="Move up" disabled=move || ends.get().0 == Some(id) on:click=move |_| nudge(-1)>"↑"</button>
                <button class="icon" title="move down" aria-label="Move down" disabled=move || ends.get().1 == Some(id) on:click=move |_| nudge(1)>"↓"</button>
                <button class="icon danger" title="delete" aria-label="Delete" on:click=move |_| client.send(Command::DeleteTodo { id, expected_version: None })>"✕"</button>
            </div>
            </Show>
            // The server's refusals of commands about this todo.
            <Refusals client here=|r, todo| r.todo == todo at=Some(id)/>
        </li>
    }
}
