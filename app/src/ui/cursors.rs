//! Other tabs' pointers over the board, each with its person's name and how it arrives:
//! `p2p` over a WebRTC data channel, `relay` through the server (`data-link`). Positions
//! are fractions of the board's area, so windows of different sizes agree.

use leptos::prelude::*;

use crate::sync::BoardClient;

#[component]
pub fn Cursors(client: BoardClient) -> impl IntoView {
    let name_of = move |id: &str| {
        client.presence.with(|members| {
            members.iter().find(|m| m.clients.iter().any(|c| c == id)).map(|m| m.name.clone()).unwrap_or_default()
        })
    };
    view! {
        <div class="cursors" aria-hidden="true">
            <For
                each=move || client.cursors.with(|c| c.iter().map(|(id, cursor)| (id.clone(), cursor.link)).collect::<Vec<_>>())
                key=|entry| entry.clone()
                children=move |(id, link)| {
                    let at = {
                        let id = id.clone();
                        move || client.cursors.with(|c| c.get(&id).map(|c| (c.x, c.y)).unwrap_or_default())
                    };
                    let name = {
                        let id = id.clone();
                        move || name_of(&id)
                    };
                    let at_x = at.clone();
                    view! {
                        <div
                            class="cursor"
                            data-cursor-client=id.clone()
                            data-link=link.as_str()
                            style:left=move || format!("{:.2}%", at_x().0 * 100.0)
                            style:top=move || format!("{:.2}%", at().1 * 100.0)
                        >
                            <span class="cursor-name">{name}</span>
                            <span class=format!("badge badge-{}", link.as_str())>{link.as_str()}</span>
                        </div>
                    }
                }
            />
        </div>
    }
}
