//! Who is on the board: one entry per person (`data-presence-person`), their tabs with the
//! pattern and transport of each, and this browser's own name, which its person can
//! change. Ephemeral: it shows the latest `presence` frame, nothing stored. While this tab
//! is not connected the list is the last one it heard, and says so; this person's own
//! entry shows this tab's connection rather than a green dot it cannot vouch for (the
//! others see this tab leave their lists when its connection closes).

use leptos::prelude::*;

use crate::sync::{BoardClient, Connection};
use board_core::presence::Member;
use board_core::protocol::Transport;

#[component]
pub fn PresenceList(client: BoardClient, connection: Memo<Connection>) -> impl IntoView {
    let stale = move || connection.get() != Connection::Live;
    let me = move || client.me.get().map(|me| me.person);
    let rename = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        if let Some(_name) = client.rename(&value) {
            #[cfg(feature = "hydrate")]
            crate::sync::remember_name(&_name);
        }
    };
    view! {
        <aside class="presence" aria-label="Who is here" class:stale=stale data-stale=move || stale().to_string()>
            <h2>"Here now"</h2>
            {move || stale().then(|| view! {
                <p class="muted">"As last heard: this tab is not connected."</p>
            })}
            <ul class="people">
                <For
                    each=move || client.presence.get()
                    key=|m: &Member| format!("{m:?}")
                    children=move |m: Member| {
                        let mine = me() == Some(m.person.clone());
                        let this_tab = client.me.get_untracked().map(|me| me.client);
                        view! { <Person member=m mine this_tab connection/> }
                    }
                />
            </ul>
            {move || (client.presence_more.get() > 0).then(|| view! {
                <p class="muted" data-presence-more=move || client.presence_more.get()>
                    {move || format!("and {} more", client.presence_more.get())}
                </p>
            })}
            <Show when=move || client.me.with(Option::is_some)>
                <label class="my-name">
                    "Your name "
                    <input
                        data-my-name=""
                        maxlength=board_core::presence::MAX_NAME_CHARS.to_string()
                        prop:value=move || client.me.get().map(|me| me.name).unwrap_or_default()
                        on:change=rename
                    />
                </label>
            </Show>
        </aside>
    }
}

/// One person: their name, how many tabs, and how each tab is connected. A poll tab's dot
/// fades between its requests (it is present because it keeps asking); a held
/// connection's dot stays lit.
#[component]
fn Person(member: Member, mine: bool, this_tab: Option<String>, connection: Memo<Connection>) -> impl IntoView {
    let tabs = member.tabs;
    // This tab's dot is its connection as it is now, not as the list last said.
    let my_dot = move || match connection.get() {
        Connection::Live => "dot".to_owned(),
        other => format!("dot dot-{}", other.as_str()),
    };
    view! {
        <li class="person" class:me=mine data-presence-person=member.person.clone()>
            <span class="person-name">{member.name.clone()}</span>
            {mine.then(|| view! {
                <span class="muted" data-my-connection=move || connection.get().as_str()>
                    {move || match connection.get() {
                        Connection::Live => " (you)".to_owned(),
                        other => format!(" (you: {})", other.as_str()),
                    }}
                </span>
            })}
            {(tabs > 1).then(|| view! { <span class="tabs">{format!(" · {tabs} tabs")}</span> })}
            <ul class="via">
                {member.via.iter().map(|via| {
                    let dot = match via.transport {
                        Transport::Poll => "dot dot-fading",
                        _ => "dot",
                    };
                    let this = this_tab.as_deref() == Some(via.client.as_str());
                    let dot = move || if this { my_dot() } else { dot.to_owned() };
                    view! {
                        <li data-via-client=via.client.clone()>
                            <span class=dot></span>
                            {format!("{} · {}", via.pattern, via.transport)}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </li>
    }
}
