//! Who is on the board: one entry per person (`data-presence-person`), their tabs with the
//! pattern and transport of each, and this browser's own name, which its person can
//! change. Ephemeral: it shows the latest `presence` frame, nothing stored.

use leptos::prelude::*;

use crate::presence::Member;
use crate::protocol::Transport;
use crate::sync::BoardClient;

#[component]
pub fn PresenceList(client: BoardClient) -> impl IntoView {
    let me = move || client.me.get().map(|me| me.person);
    let rename = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        if let Some(_name) = client.rename(&value) {
            #[cfg(feature = "hydrate")]
            crate::sync::remember_name(&_name);
        }
    };
    view! {
        <aside class="presence" aria-label="Who is here">
            <h2>"Here now"</h2>
            <ul class="people">
                <For
                    each=move || client.presence.get()
                    key=|m: &Member| format!("{m:?}")
                    children=move |m: Member| {
                        let mine = me() == Some(m.person.clone());
                        view! { <Person member=m mine/> }
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
                        maxlength=crate::presence::MAX_NAME_CHARS.to_string()
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
fn Person(member: Member, mine: bool) -> impl IntoView {
    let tabs = member.tabs;
    view! {
        <li class="person" class:me=mine data-presence-person=member.person.clone()>
            <span class="person-name">{member.name.clone()}</span>
            {mine.then(|| view! { <span class="muted">" (you)"</span> })}
            {(tabs > 1).then(|| view! { <span class="tabs">{format!(" · {tabs} tabs")}</span> })}
            <ul class="via">
                {member.via.iter().map(|via| {
                    let dot = match via.transport {
                        Transport::Poll => "dot dot-fading",
                        _ => "dot",
                    };
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
